"""The pure-torch loop of `grunet.fast`: `forward` and `backward` through time of one layer and direction, on any
device (CUDA included) and any float dtype, where neither the compiled loop nor the Triton kernel runs.

Per step only the recurrent GEMM(s) and fused elementwise work into preallocated (features, T, B) buffers
(`grunet.columns`); `grunet.fast`'s docstring maps each equation to its line here and says what is saved.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from grunet.columns import empty, input_and_weight_grads, matmul_into, zrn


def _feature_rows(batch: int, hidden_size: int) -> bool:
    """Physical layout: (T, features, B) when rows of B are long enough for elementwise ops to run well."""
    return batch >= 2 * hidden_size


def forward(
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
    w_ih = zrn(weight_ih) * scale_n.unsqueeze(1)  # (3H, I) rows z, r, 2n
    w_hh = zrn(weight_hh) * scale_n.unsqueeze(1)  # (3H, H)
    if bias_ih is None:
        bias_i = bias_h = None
    else:
        bias_i, bias_h = zrn(bias_ih) * scale_n, zrn(cast(Tensor, bias_hh)) * scale_n  # the biases come in pairs
    x_features = x.permute(2, 0, 1)  # (I, T, B)

    # input projection of all steps; reset_after=True keeps a row block for W_hn h + b_hn: rows (z, r, hn, n)
    rows = 4 * H if reset_after else 3 * H
    gates_in = empty(rows, steps, batch, feature_rows, x)  # (rows, T, B)
    if reset_after:
        matmul_into(
            w_ih[: 2 * H],
            x_features,
            gates_in[: 2 * H],
            None if bias_i is None else bias_i[: 2 * H] + cast(Tensor, bias_h)[: 2 * H],
        )
        matmul_into(w_ih[2 * H :], x_features, gates_in[3 * H :], None if bias_i is None else bias_i[2 * H :])
        if bias_h is None:
            gates_in[2 * H : 3 * H].zero_()
        else:
            gates_in[2 * H : 3 * H].copy_(bias_h[2 * H :].view(H, 1, 1).expand(H, steps, batch))
    else:
        matmul_into(w_ih, x_features, gates_in, None if bias_i is None else bias_i + cast(Tensor, bias_h))

    hidden = empty(H, steps + 1, batch, feature_rows, x)  # (H, T+1, B)
    saved = steps if training else 1
    factors = empty(5 * H, saved, batch, feature_rows, x)  # slots during the loop: z, r, -, -, h̃
    rh = None if reset_after else empty(H, saved, batch, feature_rows, x)
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


def backward(
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
    w_hh = zrn(weight_hh)  # (3H, H) rows z, r, n
    w_hz, w_hr, w_hn = w_hh[:H], w_hh[H : 2 * H], w_hh[2 * H :]
    eye = torch.eye(H, dtype=w_hh.dtype, device=w_hh.device)
    w_back = torch.cat([eye, w_hn if reset_after else eye, w_hz, w_hr]).t().contiguous()  # (H, 4H)
    w_hn_t = None if reset_after else w_hn.t().contiguous()  # (H, H)

    # dh_t for every step, starting as the output's gradient; each step adds its GEMM in place onto dh_{t-1}
    dh_all = empty(H, steps, batch, feature_rows, factors)  # (H, T, B)
    if grad_output is None:
        dh_all.zero_()
    else:
        dh_all.copy_(grad_output.permute(2, 0, 1))
    order = list(range(steps)) if reverse else list(range(steps - 1, -1, -1))
    if grad_h_n is not None:
        dh_all[:, order[0]].add_(grad_h_n.t())
    dh0 = torch.empty(H, batch, dtype=factors.dtype, device=factors.device)

    grads = empty(5 * H, steps, batch, feature_rows, factors)  # slots: direct, via n, ∂a_z, ∂a_r, ∂a_n
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
    grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = input_and_weight_grads(
        d_rows, x, hidden, rh, weight_ih, has_bias, reset_after, reverse, needs, feature_rows
    )
    return grad_x, dh0.t() if needs[1] else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh
