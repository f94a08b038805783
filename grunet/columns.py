"""The (features, T, B) buffers of grunet's CPU loops (`grunet.torch_loop` and the compiled one behind `grunet.fast`).

One step is a (features, B) matrix and all steps a (features, T·B) one, so what does not depend on the step before
is one GEMM over all T·B columns: the input projection (`matmul_into`) and, after the backward loop, the gradients of
x, the weights and the biases (`input_and_weight_grads`). Gate blocks are kept in the order (z, r, n) here (`zrn`);
the weights' rows are torch's (r, z, n) (`rzn`).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor


def empty(rows: int, steps: int, batch: int, feature_rows: bool, like: Tensor) -> Tensor:
    """A logical (rows, steps, batch) buffer, stored (steps, rows, batch) or (steps, batch, rows)."""
    factory: dict[str, Any] = {"dtype": like.dtype, "device": like.device}
    if feature_rows:
        return torch.empty(steps, rows, batch, **factory).permute(1, 0, 2)
    return torch.empty(steps, batch, rows, **factory).permute(2, 0, 1)


def padded(rows: int, steps: int, batch: int, like: Tensor) -> Tensor:
    """A (rows, steps, batch) buffer whose rows are an odd number of 64-byte lines apart.

    The compiled loop reads a few columns of every row per step; rows a power-of-two-ish number of bytes apart
    would all fall into the same few L1 sets. Still viewable as a (rows, steps * batch) matrix.
    """
    line = 64 // like.element_size()
    row = -(-steps * batch // line) * line
    if (row // line) % 2 == 0 and row * like.element_size() >= 4096:  # short rows cannot collide: no padding
        row += line
    storage = torch.empty(rows * row, dtype=like.dtype, device=like.device)
    return storage.as_strided((rows, steps, batch), (row, batch, 1))


def _flat(tensor: Tensor) -> Tensor | None:
    """(F, T, B) -> (F, T*B) as a view, or None when the strides do not allow one."""
    features, steps, batch = tensor.shape
    if steps == 1 or batch == 1 or tensor.stride(1) == batch * tensor.stride(2):
        return tensor.reshape(features, steps * batch)
    return None


def matmul_into(weight: Tensor, source: Tensor, out: Tensor, bias: Tensor | None = None) -> None:
    """out (R, T, B) = weight (R, K) @ source (K, T, B) (+ bias (R,)), as one GEMM over all T*B columns."""
    out_flat = _flat(out)
    if out_flat is not None:
        source_flat = source.reshape(source.shape[0], -1)  # (K, T*B), a copy only if x's strides need one
        if bias is None:
            torch.mm(weight, source_flat, out=out_flat)
        else:
            torch.addmm(bias.unsqueeze(1), weight, source_flat, out=out_flat)
        return
    steps = source.shape[1]
    batched = weight.expand(steps, *weight.shape)  # (T, R, K)
    if bias is None:
        torch.bmm(batched, source.permute(1, 0, 2), out=out.permute(1, 0, 2))
    else:
        torch.baddbmm(bias.unsqueeze(1), batched, source.permute(1, 0, 2), out=out.permute(1, 0, 2))


def _sum_outer(left: Tensor, right: Tensor, out: Tensor) -> Tensor:
    """out (Fa, Fb) = Σ over steps and batch of left (Fa, T, B) ⊗ right (Fb, T, B): one GEMM when the layout
    allows (else a batched GEMM over T, summed)."""
    left_flat = _flat(left)
    if left_flat is not None:
        return torch.mm(left_flat, right.reshape(right.shape[0], -1).t(), out=out)
    return torch.sum(torch.bmm(left.permute(1, 0, 2), right.permute(1, 2, 0)), 0, out=out)  # (T, Fa, Fb) over T


def zrn(tensor: Tensor) -> Tensor:
    """Gate blocks (r, z, n) -> (z, r, n) along dim 0."""
    r, z, n = tensor.chunk(3, dim=0)
    return torch.cat([z, r, n])


def rzn(z: Tensor, r: Tensor, n: Tensor) -> Tensor:
    return torch.cat([r, z, n])


def input_and_weight_grads(
    d_rows: Tensor,
    x: Tensor,
    hidden: Tensor,
    rh: Tensor | None,
    weight_ih: Tensor,
    has_bias: bool,
    reset_after: bool,
    reverse: bool,
    needs: tuple[bool, ...],
    feature_rows: bool,
):
    """grad of x, weight_ih, weight_hh, bias_ih, bias_hh from the pre-activation gradients of all steps.

    d_rows: (4H, T, B) rows (∂hn, ∂a_z, ∂a_r, ∂a_n) for reset_after, else (3H, T, B) rows (∂a_z, ∂a_r, ∂a_n).
    Each result is one GEMM or reduction over all T*B columns.
    """
    H = hidden.shape[0]
    steps, batch = d_rows.shape[1:]
    d_gates = d_rows[H:] if reset_after else d_rows  # (3H, T, B) rows z, r, n
    grad_x = grad_w_ih = grad_w_hh = grad_b_ih = grad_b_hh = None
    if needs[0]:
        w_ih = zrn(weight_ih)  # (3H, I)
        d_flat = _flat(d_gates)
        if d_flat is not None:  # one GEMM straight into a contiguous (T, B, I)
            grad_x = torch.mm(d_flat.t(), w_ih).view(steps, batch, w_ih.shape[1])
        else:
            grad_x_features = empty(w_ih.shape[1], steps, batch, feature_rows, d_rows)  # (I, T, B)
            matmul_into(w_ih.t(), d_gates, grad_x_features)
            grad_x = grad_x_features.permute(1, 2, 0)  # (T, B, I)
    # weight gradients: each gate's block written straight into its rows (r, z, n) of the result
    d_z, d_r, d_n = d_gates.chunk(3)
    if needs[2]:
        x_features = x.permute(2, 0, 1)  # (I, T, B)
        if _flat(x_features) is None and _flat(d_gates) is not None:
            x_features = x_features.contiguous()
        grad_w_ih = d_rows.new_empty(3 * H, x.shape[2])
        for rows, block in zip(grad_w_ih.chunk(3), (d_r, d_z, d_n)):
            _sum_outer(block, x_features, out=rows)
    if needs[3]:
        h_prev = hidden[:, 1:] if reverse else hidden[:, :-1]  # (H, T, B)
        grad_w_hh = d_rows.new_empty(3 * H, H)
        g_r, g_z, g_n = grad_w_hh.chunk(3)
        _sum_outer(d_r, h_prev, out=g_r)
        _sum_outer(d_z, h_prev, out=g_z)
        _sum_outer(d_rows[:H] if reset_after else d_n, h_prev if reset_after else cast(Tensor, rh), out=g_n)
    if has_bias and (needs[4] or needs[5]):
        sums = d_rows.sum((1, 2))
        via_n, (s_z, s_r, s_n) = (sums[:H], sums[H:].chunk(3)) if reset_after else (None, sums.chunk(3))
        grad_b_ih = rzn(s_z, s_r, s_n)
        grad_b_hh = rzn(s_z, s_r, cast(Tensor, via_n) if reset_after else s_n)
    return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh
