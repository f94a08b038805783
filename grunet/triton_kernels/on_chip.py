"""The on-chip form of grunet's Triton kernels, for padded H up to `grunet.triton_gru.MAX_ON_CHIP_HIDDEN`: the state
h and the three (H, H) blocks of W_hh stay in registers for the whole sequence. `forward_on_chip` runs all T steps of
one layer and direction, `backward_on_chip` the same steps in reverse order; `grunet.triton_gru` launches them (its
docstring gives the design, the buffers and the saved gates).
"""

from __future__ import annotations

import triton
import triton.language as tl

from grunet.triton_kernels.blocks import dot, step_backward, tanh


@triton.jit
def forward_on_chip(
    gates_x,
    weight_hh,
    bias_hn,
    hidden,
    gates,
    batch,
    steps,
    H,
    RESET_AFTER: tl.constexpr,
    REVERSE: tl.constexpr,
    SAVE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    MATMUL: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """gates_x (T, B, 3H) columns r, z, n: W_i· x_t + biases; hidden (T+1, B, H) with h0 in place, receives every
    h_t; gates (T, B, 4H) receives r, z, h̃ and hn or r ∗ h (when SAVE)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_H)
    keep = (rows < batch)[:, None] & (cols < H)[None, :]  # (BLOCK_B, BLOCK_H); padding stays 0 in h
    square = (cols < H)[:, None] & (cols < H)[None, :]
    # W_h·ᵀ (H_in, H_out) of each gate: read once, loop-invariant
    w_t = weight_hh + cols[:, None] + cols[None, :] * H
    w_r = tl.load(w_t, mask=square, other=0.0)
    w_z = tl.load(w_t + H * H, mask=square, other=0.0)
    w_n = tl.load(w_t + 2 * H * H, mask=square, other=0.0)
    b_hn = tl.load(bias_hn + cols, mask=cols < H, other=0.0)
    in_h, in_x, in_s = (
        rows[:, None] * H + cols[None, :],
        rows[:, None] * 3 * H + cols[None, :],
        rows[:, None] * 4 * H + cols[None, :],
    )  # offsets in one step of hidden, gates_x, gates
    h0_rows = tl.cast(steps, tl.int64) * batch if REVERSE else 0  # h0's slot: T for reverse, else 0
    h = tl.load(hidden + h0_rows * H + in_h, mask=keep, other=0.0)  # (BLOCK_B, BLOCK_H)
    for step in range(steps):
        if REVERSE:
            t = steps - 1 - step
        else:
            t = step
        rows_before = t.to(tl.int64) * batch  # rows of all earlier steps in a (T·B, ·) buffer
        x_t = gates_x + rows_before * 3 * H + in_x
        r = tl.sigmoid(dot(h, w_r, tl.load(x_t, mask=keep, other=0.0), MATMUL, INTERPRETED))
        z = tl.sigmoid(dot(h, w_z, tl.load(x_t + H, mask=keep, other=0.0), MATMUL, INTERPRETED))
        if RESET_AFTER:
            hn = dot(h, w_n, tl.zeros_like(h) + b_hn[None, :], MATMUL, INTERPRETED)  # W_hn h + b_hn
            n = tanh(tl.load(x_t + 2 * H, mask=keep, other=0.0) + r * hn)
            extra = hn
        else:
            extra = r * h
            n = tanh(dot(extra, w_n, tl.load(x_t + 2 * H, mask=keep, other=0.0), MATMUL, INTERPRETED))
        h = h + z * (n - h)  # h' = (1 − z) h + z h̃
        tl.store(hidden + (rows_before + (0 if REVERSE else batch)) * H + in_h, h, mask=keep)
        if SAVE:
            saved = gates + rows_before * 4 * H + in_s
            tl.store(saved, r, mask=keep)
            tl.store(saved + H, z, mask=keep)
            tl.store(saved + 2 * H, n, mask=keep)
            tl.store(saved + 3 * H, extra, mask=keep)


@triton.jit
def backward_on_chip(
    grad_output,
    d_hidden,
    hidden,
    gates,
    weight_hh,
    d_gates,
    batch,
    steps,
    H,
    RESET_AFTER: tl.constexpr,
    REVERSE: tl.constexpr,
    HAS_GRAD_OUTPUT: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    MATMUL: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """d_hidden (B, H): ∂L/∂h_n in, ∂L/∂h0 out; d_gates (T, B, 3H or 4H) receives ∂a_r, ∂a_z, ∂a_n (, ∂hn)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_H)
    keep = (rows < batch)[:, None] & (cols < H)[None, :]
    square = (cols < H)[:, None] & (cols < H)[None, :]
    # W_h· (H_out, H_in) of each gate: ∂h_{t-1} += ∂a W_h·
    w = weight_hh + cols[:, None] * H + cols[None, :]
    w_r = tl.load(w, mask=square, other=0.0)
    w_z = tl.load(w + H * H, mask=square, other=0.0)
    w_n = tl.load(w + 2 * H * H, mask=square, other=0.0)
    D: tl.constexpr = 4 if RESET_AFTER else 3
    in_h, in_s, in_d = (
        rows[:, None] * H + cols[None, :],
        rows[:, None] * 4 * H + cols[None, :],
        rows[:, None] * D * H + cols[None, :],
    )
    dh = tl.load(d_hidden + in_h, mask=keep, other=0.0)
    for step in range(steps):  # the forward's steps in reverse order
        if REVERSE:
            t = step
        else:
            t = steps - 1 - step
        rows_before = t.to(tl.int64) * batch  # type: ignore[attr-defined]  # t: a tl tensor in the compiled kernel
        if HAS_GRAD_OUTPUT:
            dh += tl.load(grad_output + rows_before * H + in_h, mask=keep, other=0.0)
        saved = gates + rows_before * 4 * H + in_s
        r = tl.load(saved, mask=keep, other=0.0)
        z = tl.load(saved + H, mask=keep, other=0.0)
        n = tl.load(saved + 2 * H, mask=keep, other=0.0)
        h_prev = tl.load(hidden + (rows_before + (batch if REVERSE else 0)) * H + in_h, mask=keep, other=0.0)
        d_n, d_z, dh_prev = step_backward(dh, h_prev, r, z, n)
        out = d_gates + rows_before * D * H + in_d
        if RESET_AFTER:
            hn = tl.load(saved + 3 * H, mask=keep, other=0.0)
            d_hn = d_n * r  # ∂(W_hn h + b_hn)
            d_r = d_n * hn * r * (1 - r)
            dh_prev = dot(d_hn, w_n, dh_prev, MATMUL, INTERPRETED)
            tl.store(out + 3 * H, d_hn, mask=keep)
        else:
            d_rh = dot(d_n, w_n, tl.zeros_like(dh), MATMUL, INTERPRETED)  # ∂(r ∗ h) = ∂a_n W_hn
            d_r = d_rh * h_prev * r * (1 - r)
            dh_prev += d_rh * r
        dh_prev = dot(d_z, w_z, dh_prev, MATMUL, INTERPRETED)
        dh_prev = dot(d_r, w_r, dh_prev, MATMUL, INTERPRETED)
        tl.store(out, d_r, mask=keep)
        tl.store(out + H, d_z, mask=keep)
        tl.store(out + 2 * H, d_n, mask=keep)
        dh = dh_prev
    tl.store(d_hidden + in_h, dh, mask=keep)
