"""The four GRU equations of `grunet.equations` with a hand-written backward through time: `gru_layer`.

One layer, one direction, both variants; the same arguments and results as `gru_layer_reference` and the same
numbers up to rounding (`tests/test_fast.py` holds both loops below to it, values and gradients). Gates are kept in
the order (z, r, n) here; the weights' rows are torch's (r, z, n).

Three loops compute the recurrence, behind one `torch.autograd.Function` (`GRULayerFunction`), picked by `_loops`:

- the fused Triton kernel, `grunet.triton_gru` (CUDA, float32, triton installed; ``GRUNET_TRITON=0`` turns it
  off): one launch per layer and direction for all T steps, the same saved gates as the compiled loop.
- the compiled loop, `grunet.native` (C++ built on first use; CPU, float32/float64, any hidden_size): one call
  runs all T steps of a slice of the batch per thread. Used whenever it is available: it is the fast one.
- the pure-torch loop, `_forward_loop` / `_backward_loop`: any device (CUDA included), any float dtype, and the
  fallback where no C++ compiler is found (or ``GRUNET_NATIVE=0``), or triton is not (or ``GRUNET_TRITON=0``).

Where each equation lives. Pure-torch `_forward_loop` (comments mark the lines) and native `forward_columns`:

    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)     "z, r = σ(...)": one addmm_ over the z and r rows, one sigmoid
    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      (the input part W_i· x_t + b_i· comes precomputed)
    h̃_t = tanh(W_in x_t + b_in + W_hn (r_t ∗ h_{t-1}) + b_hn)     "h̃ = tanh(...)" reset_after=False: mul, addmm_
    h̃_t = tanh(W_in x_t + b_in + r_t ∗ (W_hn h_{t-1} + b_hn))     "h̃ = tanh(...)" reset_after=True: addcmul
    h_t = (1 − z_t) ∗ h_{t-1} + z_t ∗ h̃_t                          "h' = ...": lerp(h_{t-1}, h̃_t, z_t)

and the backward (`_backward_loop`, native `backward_columns`). With dh = ∂L/∂h_t (from h_{t+1} and from the
output at t) and a_· the gates' pre-activations:

    ∂a_n = dh ∗ Kn,  Kn = z (1 − h̃²)
    ∂a_z = dh ∗ Kz,  Kz = (h̃ − h_{t-1}) z (1 − z)
    direct = dh ∗ Kd, Kd = 1 − z
    reset_after=True,  hn = W_hn h_{t-1} + b_hn:  ∂hn = ∂a_n ∗ r,        ∂a_r = ∂a_n ∗ Kr,  Kr = hn r (1 − r)
    reset_after=False, g = W_hnᵀ ∂a_n:            ∂h (via r∗h) = g ∗ r,  ∂a_r = g ∗ Kr,     Kr = h_{t-1} r (1 − r)
    ∂h_{t-1} = direct + (W_hnᵀ ∂hn or ∂h via r∗h) + W_hzᵀ ∂a_z + W_hrᵀ ∂a_r

What makes them fast:

- Input projection of all steps as one GEMM over T·B rows (pure-torch loop), or fused into the per-tile GEMM of
  the compiled loop (no (T, B, 3H) buffer at all). Per step only the recurrent GEMM(s) and fused elementwise work
  into preallocated buffers: pure-torch forward 6 ops per step (addmm_, sigmoid, addcmul or mul + addmm_, sigmoid_
  + add for tanh = 2σ(2a) − 1, lerp), backward 3 or 4 (mul, [mm,] mul, addmm_); compiled: no per-step dispatch.
- Backward factors computed in a few big ops over all T·B rows (pure-torch) or on the fly (compiled); one GEMM per
  step with a stacked weight [I; W_hn or I; W_hz; W_hr] sums every path into dh_{t-1}.
- After the backward loop, dW_ih, dW_hh, the bias gradients and dx are single GEMMs / reductions over all T·B
  columns (`_input_and_weight_grads`).
- Buffers are logically (features, T, B): one step is a (features, B) matrix, all steps a (features, T·B) one.

Memory saved for backward, per element of the (T, B, H) output and per step, float32 (float64: twice), besides the
output itself (the returned tensor, plus one (B, H) slot for h0) and the input x (kept as given):

- compiled loop: the gates z, r, h̃: 12 bytes; reset_after=True adds hn = W_hn h + b_hn (16 bytes),
  reset_after=False adds r ∗ h_{t-1} for dW_hn (16 bytes). Transient in backward: the gate gradients, 12 or 16
  bytes. No input-projection buffer.
- pure-torch loop: the five factors Kd, r, Kz, Kr, Kn: 20 bytes (+4 for r ∗ h_{t-1} when reset_after=False).
  Transient: the input projection in the forward (12 or 16 bytes), in the backward the five gradient slots
  (20 bytes) and a copy of the output's gradient (4 bytes).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from grunet import devices, native


def _feature_rows(batch: int, hidden_size: int) -> bool:
    """Physical layout: (T, features, B) when rows of B are long enough for elementwise ops to run well."""
    return batch >= 2 * hidden_size


def _empty(rows: int, steps: int, batch: int, feature_rows: bool, like: Tensor) -> Tensor:
    """A logical (rows, steps, batch) buffer, stored (steps, rows, batch) or (steps, batch, rows)."""
    factory: dict[str, Any] = {"dtype": like.dtype, "device": like.device}
    if feature_rows:
        return torch.empty(steps, rows, batch, **factory).permute(1, 0, 2)
    return torch.empty(steps, batch, rows, **factory).permute(2, 0, 1)


def _padded(rows: int, steps: int, batch: int, like: Tensor) -> Tensor:
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


def _matmul_into(weight: Tensor, source: Tensor, out: Tensor, bias: Tensor | None = None) -> None:
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


def _zrn(tensor: Tensor) -> Tensor:
    """Gate blocks (r, z, n) -> (z, r, n) along dim 0."""
    r, z, n = tensor.chunk(3, dim=0)
    return torch.cat([z, r, n])


def _rzn(z: Tensor, r: Tensor, n: Tensor) -> Tensor:
    return torch.cat([r, z, n])


def _forward_loop(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reset_after: bool,
    reverse: bool,
    training: bool,
):
    """Runs the recurrence. Returns hidden (H, T+1, B) and, when training, factors (5H, T, B) and rh (H, T, B).

    ``hidden`` holds h0 and every h_t (logical layout): h_t at index t+1 and h0 at 0, or for reverse h_t at t and
    h0 at T.
    """
    steps, batch, input_size = x.shape
    H = weight_hh.shape[1]
    feature_rows = _feature_rows(batch, H)
    scale_n = torch.tensor([1.0] * (2 * H) + [2.0] * H, dtype=x.dtype, device=x.device)  # tanh(a) = 2σ(2a) − 1
    w_ih = _zrn(weight_ih) * scale_n.unsqueeze(1)  # (3H, I) rows z, r, 2n
    w_hh = _zrn(weight_hh) * scale_n.unsqueeze(1)  # (3H, H)
    if bias_ih is None:
        bias_i = bias_h = None
    else:
        bias_i, bias_h = _zrn(bias_ih) * scale_n, _zrn(cast(Tensor, bias_hh)) * scale_n  # the biases come in pairs
    x_features = x.permute(2, 0, 1)  # (I, T, B)

    # input projection of all steps; reset_after=True keeps a row block for W_hn h + b_hn: rows (z, r, hn, n)
    rows = 4 * H if reset_after else 3 * H
    gates_in = _empty(rows, steps, batch, feature_rows, x)  # (rows, T, B)
    if reset_after:
        _matmul_into(
            w_ih[: 2 * H],
            x_features,
            gates_in[: 2 * H],
            None if bias_i is None else bias_i[: 2 * H] + cast(Tensor, bias_h)[: 2 * H],
        )
        _matmul_into(w_ih[2 * H :], x_features, gates_in[3 * H :], None if bias_i is None else bias_i[2 * H :])
        if bias_h is None:
            gates_in[2 * H : 3 * H].zero_()
        else:
            gates_in[2 * H : 3 * H].copy_(bias_h[2 * H :].view(H, 1, 1).expand(H, steps, batch))
    else:
        _matmul_into(w_ih, x_features, gates_in, None if bias_i is None else bias_i + cast(Tensor, bias_h))

    hidden = _empty(H, steps + 1, batch, feature_rows, x)  # (H, T+1, B)
    saved = steps if training else 1
    factors = _empty(5 * H, saved, batch, feature_rows, x)  # slots during the loop: z, r, -, -, h̃
    rh = None if reset_after else _empty(H, saved, batch, feature_rows, x)
    w_zr, w_n = w_hh[: 2 * H], w_hh[2 * H :]
    minus_one = torch.tensor(-1.0, dtype=x.dtype, device=x.device)

    # per-step views, made once
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    out_offset = 0 if reverse else 1
    hidden[:, steps if reverse else 0].copy_(h0.t())
    h_steps = hidden.unbind(1)
    z_r_steps, z_steps, r_steps = factors[: 2 * H].unbind(1), factors[:H].unbind(1), factors[H : 2 * H].unbind(1)
    n_steps = factors[4 * H :].unbind(1)
    if reset_after:
        zrh_in, zr_in, hn_in, n_in = (
            gates_in[: 3 * H].unbind(1),
            gates_in[: 2 * H].unbind(1),
            gates_in[2 * H : 3 * H].unbind(1),
            gates_in[3 * H :].unbind(1),
        )
    else:
        zr_in, n_in, rh_steps = gates_in[: 2 * H].unbind(1), gates_in[2 * H :].unbind(1), cast(Tensor, rh).unbind(1)

    for t in order:
        s = t if training else 0
        h, h_next = h_steps[t + 1 - out_offset], h_steps[t + out_offset]  # (H, B)
        z, r, n = z_steps[s], r_steps[s], n_steps[s]
        if reset_after:
            zrh_in[t].addmm_(w_hh, h)  # z, r pre-activations; hn = W_hn h + b_hn (×2)
            torch.sigmoid(zr_in[t], out=z_r_steps[s])  # z, r = σ(...)
            torch.addcmul(n_in[t], r, hn_in[t], out=n)  # h̃ = tanh(W_in x + b_in + r ∗ (W_hn h + b_hn))
            n.sigmoid_()
            torch.add(minus_one, n, alpha=2, out=n)  #   tanh(a) = 2σ(2a) − 1
        else:
            zr_in[t].addmm_(w_zr, h)
            torch.sigmoid(zr_in[t], out=z_r_steps[s])  # z, r = σ(...)
            torch.mul(r, h, out=rh_steps[s])
            n_in[t].addmm_(w_n, rh_steps[s])  # h̃ = tanh(W_in x + b_in + W_hn (r ∗ h) + b_hn)
            torch.sigmoid(n_in[t], out=n)
            torch.add(minus_one, n, alpha=2, out=n)  #   tanh(a) = 2σ(2a) − 1
        torch.lerp(h, n, z, out=h_next)  # h' = (1 − z) ∗ h + z ∗ h̃

    if not training:
        return hidden, None, None
    # gates (z, r, -, -, h̃) -> factors (Kd, r, Kz, Kr, Kn), over all steps at once
    z, r, kz, kr, n = factors.view(5, H, steps, batch).unbind(0)
    h_prev = hidden[:, 1:] if reverse else hidden[:, :-1]  # (H, T, B)
    scratch = torch.addcmul(r, r, r, value=-1)  # r(1 − r)
    if reset_after:
        torch.mul(gates_in[2 * H : 3 * H], scratch, out=kr)
        kr.mul_(0.5)  # Kr = hn r(1 − r) (rows hold 2 hn)
    else:
        torch.mul(h_prev, scratch, out=kr)  # Kr = h r(1 − r)
    del gates_in
    torch.addcmul(z, z, z, value=-1, out=scratch)  # z(1 − z)
    torch.sub(n, h_prev, out=kz)
    kz.mul_(scratch)  # Kz = (h̃ − h) z(1 − z)
    torch.addcmul(-minus_one, n, n, value=-1, out=scratch)  # 1 − h̃²
    torch.mul(z, scratch, out=n)  # Kn = z(1 − h̃²)
    torch.add(-minus_one, z, alpha=-1, out=z)  # Kd = 1 − z
    return hidden, factors, rh


def _backward_loop(
    grad_output: Tensor | None,
    grad_h_n: Tensor | None,
    hidden: Tensor,
    factors: Tensor,
    rh: Tensor | None,
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    has_bias: bool,
    reset_after: bool,
    reverse: bool,
    needs: tuple[bool, ...],
):
    """Gradients of (x, h0, weight_ih, weight_hh, bias_ih, bias_hh) from those of output and h_n."""
    H5, steps, batch = factors.shape
    H = H5 // 5
    feature_rows = _feature_rows(batch, H)
    w_hh = _zrn(weight_hh)  # (3H, H) rows z, r, n
    w_hz, w_hr, w_hn = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
    eye = torch.eye(H, dtype=w_hh.dtype, device=w_hh.device)
    w_back = torch.cat([eye, w_hn if reset_after else eye, w_hz, w_hr]).t().contiguous()  # (H, 4H)
    w_hn_t = None if reset_after else w_hn.t().contiguous()  # (H, H)

    # dh_t for every step, starting as the output's gradient; each step adds its GEMM in place onto dh_{t-1}
    dh_all = _empty(H, steps, batch, feature_rows, factors)  # (H, T, B)
    if grad_output is None:
        dh_all.zero_()
    else:
        dh_all.copy_(grad_output.permute(2, 0, 1))
    order = list(range(steps)) if reverse else list(range(steps - 1, -1, -1))
    if grad_h_n is not None:
        dh_all[:, order[0]].add_(grad_h_n.t())
    dh0 = torch.empty(H, batch, dtype=factors.dtype, device=factors.device)

    grads = _empty(5 * H, steps, batch, feature_rows, factors)  # slots: direct, via n, ∂a_z, ∂a_r, ∂a_n
    grads5, factors5 = grads.view(5, H, steps, batch), factors.view(5, H, steps, batch)
    even_g, odd_g, even_f, odd_f = (
        grads5[0::2].unbind(2),
        grads5[1::2].unbind(2),
        factors5[0::2].unbind(2),
        factors5[1::2].unbind(2),
    )
    d_n, stacked = grads5[4].unbind(1), grads[: 4 * H].unbind(1)
    dh_steps = dh_all.unbind(1)
    drh = None if reset_after else torch.empty(H, batch, dtype=factors.dtype, device=factors.device)
    for index, t in enumerate(order):
        dh = dh_steps[t]
        torch.mul(dh, even_f[t], out=even_g[t])  # direct, ∂a_z, ∂a_n
        if reset_after:
            torch.mul(d_n[t], odd_f[t], out=odd_g[t])  # ∂hn, ∂a_r
        else:
            # not reset_after: w_hn_t and drh are tensors
            torch.mm(cast(Tensor, w_hn_t), d_n[t], out=drh)  # ∂(r ∗ h)
            torch.mul(cast(Tensor, drh), odd_f[t], out=odd_g[t])  # ∂h via r ∗ h, ∂a_r
        if index + 1 < steps:
            dh_steps[order[index + 1]].addmm_(w_back, stacked[t])  # ∂h_{t-1} += all paths
        else:
            torch.mm(w_back, stacked[t], out=dh0)

    d_rows = grads[H:] if reset_after else grads[2 * H :]  # ((∂hn,) ∂a_z, ∂a_r, ∂a_n, T, B)
    grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = _input_and_weight_grads(
        d_rows, x, hidden, rh, weight_ih, has_bias, reset_after, reverse, needs, feature_rows
    )
    return grad_x, dh0.t() if needs[1] else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


def _forward_native(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reset_after: bool,
    reverse: bool,
    training: bool,
):
    """`_forward_loop` with the recurrence in `grunet.native`; buffers are (features, T, B) (`_padded`)."""
    steps, batch, _ = x.shape
    H = weight_hh.shape[1]
    factory: dict[str, Any] = {"dtype": x.dtype, "device": x.device}
    bias_hn = torch.zeros(H, **factory)
    bias = torch.zeros(3 * H, **factory)
    if bias_ih is not None:
        bias_i, bias_h = _zrn(bias_ih), _zrn(cast(Tensor, bias_hh))  # the biases come in pairs
        if reset_after:  # b_hn stays inside r ∗ (W_hn h + b_hn)
            bias = torch.cat([bias_i[: 2 * H] + bias_h[: 2 * H], bias_i[2 * H :]])
            bias_hn = bias_h[2 * H :].contiguous()
        else:
            bias = bias_i + bias_h
    hidden = _padded(H, steps + 1, batch, x)  # (H, T+1, B)
    hidden[:, steps if reverse else 0].copy_(h0.t())
    gates = _padded((4 if reset_after else 3) * H, steps, batch, x) if training else None  # z, r, h~ (, hn)
    # r ∗ h_{t-1} for dW_hn, unless the backward sums the weight gradients itself (it then has r and h at hand)
    keep_rh = training and not reset_after and not native.accumulates(H, x.shape[2])
    rh = _padded(H, steps, batch, x) if keep_rh else None
    native.forward(
        x,
        _zrn(weight_ih).contiguous(),
        bias.contiguous(),
        _zrn(weight_hh).contiguous(),
        bias_hn,
        hidden,
        gates,
        rh,
        reset_after,
        reverse,
    )
    return hidden, gates, rh


def _backward_native(
    grad_output: Tensor | None,
    grad_h_n: Tensor | None,
    hidden: Tensor,
    factors: Tensor,
    rh: Tensor | None,
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    has_bias: bool,
    reset_after: bool,
    reverse: bool,
    needs: tuple[bool, ...],
):
    """`_backward_loop` with the recurrence in `grunet.native`."""
    steps, batch = factors.shape[1:]
    H = hidden.shape[0]
    w_hh = _zrn(weight_hh)  # (3H, H) rows z, r, n
    if reset_after:  # (H, 3H) columns n, z, r
        weight_t, weight_hn_t = torch.cat([w_hh[2 * H :], w_hh[: 2 * H]]).t().contiguous(), None
    else:
        weight_t, weight_hn_t = w_hh[: 2 * H].t().contiguous(), w_hh[2 * H :].t().contiguous()  # (H, 2H), (H, H)
    dh0 = torch.empty(H, batch, dtype=factors.dtype, device=factors.device)
    if native.accumulates(H, x.shape[2]):  # weight, bias and input gradients summed inside the compiled loop
        input_size = x.shape[2]
        grad_x_features = _padded(input_size, steps, batch, x) if needs[0] else None  # (I, T, B)
        grad_w_hh = factors.new_empty(3 * H, H)  # rows (n, z, r) for reset_after, else (z, r, n)
        grad_w_ih_zrn = factors.new_empty(3 * H, input_size)
        sums = factors.new_empty((4 if reset_after else 3) * H)  # rows ((hn,) z, r, n)
        native.backward(
            factors,
            hidden,
            grad_output,
            grad_h_n,
            weight_t,
            weight_hn_t,
            None,
            dh0,
            reset_after,
            reverse,
            x,
            _zrn(weight_ih).t().contiguous(),
            grad_x_features,
            grad_w_hh,
            grad_w_ih_zrn,
            sums,
        )
        if reset_after:
            g_n, g_z, g_r = grad_w_hh.chunk(3)
            via_n, (s_z, s_r, s_n) = sums[:H], sums[H:].chunk(3)
        else:
            (g_z, g_r, g_n), via_n, (s_z, s_r, s_n) = grad_w_hh.chunk(3), None, sums.chunk(3)
        grad_b_ih = grad_b_hh = None
        if has_bias:
            grad_b_ih = _rzn(s_z, s_r, s_n)
            # a new tensor, never grad_b_ih itself; via_n is a tensor for reset_after
            grad_b_hh = _rzn(s_z, s_r, cast(Tensor, via_n) if reset_after else s_n)
        return (
            cast(Tensor, grad_x_features).permute(1, 2, 0) if needs[0] else None,
            dh0.t() if needs[1] else None,
            _zrn(grad_w_ih_zrn) if needs[2] else None,
            _rzn(g_z, g_r, g_n) if needs[3] else None,
            grad_b_ih,
            grad_b_hh,
        )
    d_rows = _padded(4 * H if reset_after else 3 * H, steps, batch, factors)
    native.backward(factors, hidden, grad_output, grad_h_n, weight_t, weight_hn_t, d_rows, dh0, reset_after, reverse)
    grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = _input_and_weight_grads(
        d_rows, x, hidden, rh, weight_ih, has_bias, reset_after, reverse, needs, feature_rows=True
    )
    return grad_x, dh0.t() if needs[1] else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


def _input_and_weight_grads(
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
        w_ih = _zrn(weight_ih)  # (3H, I)
        d_flat = _flat(d_gates)
        if d_flat is not None:  # one GEMM straight into a contiguous (T, B, I)
            grad_x = torch.mm(d_flat.t(), w_ih).view(steps, batch, w_ih.shape[1])
        else:
            grad_x_features = _empty(w_ih.shape[1], steps, batch, feature_rows, d_rows)  # (I, T, B)
            _matmul_into(w_ih.t(), d_gates, grad_x_features)
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
        grad_b_ih = _rzn(s_z, s_r, s_n)
        grad_b_hh = _rzn(s_z, s_r, cast(Tensor, via_n) if reset_after else s_n)
    return grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


def _loops(x: Tensor, hidden_size: int):
    """(forward, backward) of the loop that runs these tensors: Triton on CUDA, compiled on the CPU, else pure torch."""
    if devices.triton_runs(x):
        from grunet import (
            triton_gru,  # imports triton (about a second): only where the kernel runs
        )

        return triton_gru.forward, triton_gru.backward
    if native.supports(x, hidden_size):
        return _forward_native, _backward_native
    return _forward_loop, _backward_loop


class GRULayerFunction(torch.autograd.Function):
    """One layer, one direction, with the hand-written backward through time. Use `gru_layer`."""

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse):
        run, ctx.run_backward = _loops(x, weight_hh.shape[1])
        hidden, factors, rh = run(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse, training=True)
        steps = x.shape[0]
        ctx.reset_after, ctx.reverse, ctx.has_bias = reset_after, reverse, bias_ih is not None
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(hidden, factors, rh, x, weight_ih, weight_hh)
        output = (hidden[:, :steps] if reverse else hidden[:, 1:]).permute(1, 2, 0)  # (T, B, H)
        h_n = hidden[:, 0 if reverse else steps].t().contiguous()  # (B, H)
        return output, h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output, grad_h_n):
        hidden, factors, rh, x, weight_ih, weight_hh = ctx.saved_tensors
        grads = ctx.run_backward(
            grad_output,
            grad_h_n,
            hidden,
            factors,
            rh,
            x,
            weight_ih,
            weight_hh,
            ctx.has_bias,
            ctx.reset_after,
            ctx.reverse,
            ctx.needs_input_grad[:6],
        )
        return (*grads, None, None)


def gru_layer(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reset_after: bool = False,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """One direction of one layer over a whole sequence: what `gru_layer_reference` computes, fast.

    Args:
        x: (seq, batch, input_size).  h0: (batch, hidden_size).
        weight_ih: (3*hidden_size, input_size), weight_hh: (3*hidden_size, hidden_size), rows r, z, n.
        bias_ih, bias_hh: (3*hidden_size,), or both None.
        reset_after: False for the tutorial's candidate, True for torch's.  reverse: run from the last step back.
    Returns:
        output (seq, batch, hidden_size), the state after each step in input order (a strided view), and
        h_n (batch, hidden_size).
    """
    tensors = (x, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return GRULayerFunction.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)
    run, _ = _loops(x, weight_hh.shape[1])
    hidden, _, _ = run(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse, training=False)
    steps = x.shape[0]
    output = (hidden[:, :steps] if reverse else hidden[:, 1:]).permute(1, 2, 0)  # (T, B, H)
    return output, hidden[:, 0 if reverse else steps].t().contiguous()
