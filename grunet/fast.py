"""The four GRU equations of `grunet.equations` with a hand-written backward through time: `gru_layer`.

One layer, one direction, both variants; the same arguments and results as `gru_layer_reference` and the same
numbers up to rounding (`tests/test_fast.py` holds both CPU loops to it, values and gradients). Gates are kept in
the order (z, r, n) here; the weights' rows are torch's (r, z, n).

Three loops compute the recurrence, behind one `torch.autograd.Function` (`GRULayerFunction`), picked by `_loops`:

- the fused Triton kernel, `grunet.triton_gru` (CUDA, float32, triton installed; ``GRUNET_TRITON=0`` turns it
  off): one launch per layer and direction for all T steps, the same saved gates as the compiled loop.
- the compiled loop, `grunet.native` (C++ built on first use; CPU, float32/float64, any hidden_size): one call
  runs all T steps of a slice of the batch per thread. Used whenever it is available: it is the fast one.
- the pure-torch loop, `grunet.torch_loop`: any device (CUDA included), any float dtype, and the fallback where
  no C++ compiler is found (or ``GRUNET_NATIVE=0``), or triton is not (or ``GRUNET_TRITON=0``).

This module holds `gru_layer`, its Function, the choice of loop, and the compiled loop's side in torch
(`_forward_native`, `_backward_native`: its buffers, and the GEMMs after its backward).

Where each equation lives. Pure-torch `torch_loop.forward` (comments mark the lines) and gru.cpp's `forward_impl`:

    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)     "z, r = σ(...)": one addmm_ over the z and r rows, one sigmoid
    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)      (the input part W_i· x_t + b_i· comes precomputed)
    h̃_t = tanh(W_in x_t + b_in + W_hn (r_t ∗ h_{t-1}) + b_hn)     "h̃ = tanh(...)" reset_after=False: mul, addmm_
    h̃_t = tanh(W_in x_t + b_in + r_t ∗ (W_hn h_{t-1} + b_hn))     "h̃ = tanh(...)" reset_after=True: addcmul
    h_t = (1 − z_t) ∗ h_{t-1} + z_t ∗ h̃_t                          "h' = ...": lerp(h_{t-1}, h̃_t, z_t)

and the backward (`torch_loop.backward`, native `backward_impl`). With dh = ∂L/∂h_t (from h_{t+1} and from the
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
  columns (`grunet.columns.input_and_weight_grads`).
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

from grunet import devices, native, torch_loop
from grunet.columns import input_and_weight_grads, padded, rzn, zrn


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
    """`torch_loop.forward` with the recurrence in `grunet.native`; buffers are (features, T, B) (`columns.padded`)."""
    steps, batch, _ = x.shape
    H = weight_hh.shape[1]
    factory: dict[str, Any] = {"dtype": x.dtype, "device": x.device}
    bias_hn = torch.zeros(H, **factory)
    bias = torch.zeros(3 * H, **factory)
    if bias_ih is not None:
        bias_i, bias_h = zrn(bias_ih), zrn(cast(Tensor, bias_hh))  # the biases come in pairs
        if reset_after:  # b_hn stays inside r ∗ (W_hn h + b_hn)
            bias = torch.cat([bias_i[: 2 * H] + bias_h[: 2 * H], bias_i[2 * H :]])
            bias_hn = bias_h[2 * H :].contiguous()
        else:
            bias = bias_i + bias_h
    hidden = padded(H, steps + 1, batch, x)  # (H, T+1, B)
    hidden[:, steps if reverse else 0].copy_(h0.t())
    gates = padded((4 if reset_after else 3) * H, steps, batch, x) if training else None  # z, r, h~ (, hn)
    # r ∗ h_{t-1} for dW_hn, unless the backward sums the weight gradients itself (it then has r and h at hand)
    keep_rh = training and not reset_after and not native.accumulates(H, x.shape[2])
    rh = padded(H, steps, batch, x) if keep_rh else None
    native.forward(
        x,
        zrn(weight_ih).contiguous(),
        bias.contiguous(),
        zrn(weight_hh).contiguous(),
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
    """`torch_loop.backward` with the recurrence in `grunet.native`."""
    steps, batch = factors.shape[1:]
    H = hidden.shape[0]
    w_hh = zrn(weight_hh)  # (3H, H) rows z, r, n
    if reset_after:  # (H, 3H) columns n, z, r
        weight_t, weight_hn_t = torch.cat([w_hh[2 * H :], w_hh[: 2 * H]]).t().contiguous(), None
    else:
        weight_t, weight_hn_t = w_hh[: 2 * H].t().contiguous(), w_hh[2 * H :].t().contiguous()  # (H, 2H), (H, H)
    dh0 = torch.empty(H, batch, dtype=factors.dtype, device=factors.device)
    if native.accumulates(H, x.shape[2]):  # weight, bias and input gradients summed inside the compiled loop
        input_size = x.shape[2]
        grad_x_features = padded(input_size, steps, batch, x) if needs[0] else None  # (I, T, B)
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
            zrn(weight_ih).t().contiguous(),
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
            grad_b_ih = rzn(s_z, s_r, s_n)
            # a new tensor, never grad_b_ih itself; via_n is a tensor for reset_after
            grad_b_hh = rzn(s_z, s_r, cast(Tensor, via_n) if reset_after else s_n)
        return (
            cast(Tensor, grad_x_features).permute(1, 2, 0) if needs[0] else None,
            dh0.t() if needs[1] else None,
            zrn(grad_w_ih_zrn) if needs[2] else None,
            rzn(g_z, g_r, g_n) if needs[3] else None,
            grad_b_ih,
            grad_b_hh,
        )
    d_rows = padded(4 * H if reset_after else 3 * H, steps, batch, factors)
    native.backward(factors, hidden, grad_output, grad_h_n, weight_t, weight_hn_t, d_rows, dh0, reset_after, reverse)
    grad_x, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh = input_and_weight_grads(
        d_rows, x, hidden, rh, weight_ih, has_bias, reset_after, reverse, needs, feature_rows=True
    )
    return grad_x, dh0.t() if needs[1] else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh


def _loops(x: Tensor, hidden_size: int):
    """(forward, backward) of the loop that runs these tensors: Triton on CUDA, compiled on the CPU, else pure torch."""
    if devices.triton_runs(x):
        from grunet import (
            triton_gru,  # imports triton (about a second): only where the kernel runs
        )

        return triton_gru.forward, triton_gru.backward
    if native.supports(x, hidden_size):
        return _forward_native, _backward_native
    return torch_loop.forward, torch_loop.backward


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
