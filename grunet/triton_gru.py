"""The fused GRU recurrence for CUDA, in Triton: all T steps of one layer and one direction in one kernel launch.

The equations, gate convention and saved gates are `grunet.fast`'s (tested against `grunet.equations`): with a_·
the pre-activations and grunet's z (it multiplies the candidate),

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    h̃_t = tanh(W_in x_t + b_in + W_hn (r_t ∗ h_{t-1}) + b_hn)      reset_after=False (the tutorial's)
    h̃_t = tanh(W_in x_t + b_in + r_t ∗ (W_hn h_{t-1} + b_hn))      reset_after=True (torch's / cuDNN's)
    h_t = (1 − z_t) ∗ h_{t-1} + z_t ∗ h̃_t

Design. The input projection x·W_ihᵀ of every step is one torch GEMM over T·B rows before the launch, and every
weight gradient and dx one GEMM after the backward launch (no reduction across programs inside a kernel, so the
results do not depend on scheduling). Only the sequential part runs in Triton: the grid is ceil(B / tile.batch)
programs; each owns a tile of batch rows (columns of a GRU's batch never interact) and loops over all T steps
alone: no launch per step, no synchronisation between programs. Two forms of each kernel:

- on chip (padded H <= `MAX_ON_CHIP_HIDDEN`): the state h (tile.batch, H) stays in registers from step to step,
  and the three (H, H) blocks of W_hh are read once before the loop (loop-invariant, so they stay on chip).
- tiled over H (any larger H): a step works on column blocks of `TILE_HIDDEN` features, multiplying by W_hh in
  (TILE_HIDDEN, TILE_HIDDEN) tiles re-read every step, and the state makes the round trip through the output
  buffer it is written to anyway. Up to H = 256 both stay on chip in L2 (W_hh is 3H² floats, 768 KiB at 256, read
  by every program at every step; registers could not hold it: 192 KiB at H = 128 already). Triton cannot slice
  a register tensor, so a product over all of h needs h in memory; the phases of a step (e.g. r ∗ h before
  W_hn (r ∗ h)) are separated by barriers of the program's threads. The same kernels serve H > 256, chosen over
  falling back to the pure-torch loop there: the loop costs ~10 launches a step (the issue's table: 4x slower
  than cuDNN even at H = 512), the kernel one launch for the whole sequence.

Saved for backward (per element of the (T, B, H) output, float32), as `grunet.fast`'s compiled loop: the output
itself (one (T+1, B, H) buffer holding h0 too) and the gates r, z, h̃ plus hn = W_hn h + b_hn (reset_after) or
r ∗ h_{t-1} (reset_after=False, for dW_hn): 16 bytes. Transient: the input projection (12 bytes) in the forward,
the pre-activation gradients (12 or 16 bytes) in the backward.

Precision. Elementwise work and accumulation are float32 (or the inputs' dtype). The recurrent products follow
``torch.get_float32_matmul_precision()``, as torch's own CUDA matmuls (and so the GEMMs around the kernel) do:
"highest" (torch's default): IEEE float32, parity with the CPU; "high": TF32 tensor-core operands (10-bit
mantissa); "medium": bfloat16 operands (7-bit mantissa); float32 accumulation in all three. Largest error against
float64 (outputs; gradients as max|error| / max|gradient|) of one layer, measured under the interpreter with the
operands rounded to nearest as the tensor cores read them (``benchmarks/triton_precision.py``; unmeasured on a
GPU, whose TF32 may truncate instead):

    B 800, T 50, I 1, H 20 (on chip):   highest 1.6e-7 / 4.2e-6   high 1.5e-4 / 1.2e-4   medium 1.3e-3 / 8.2e-4
    B 64, T 50, I 32, H 128 (tiled):    highest 1.9e-7 / 3.9e-7   high 1.3e-4 / 1.1e-4   medium 1.0e-3 / 9.0e-4

("highest" at H 20: the 4.2e-6 is dW_ih, a float32 GEMM over T·B = 40 000 rows outside the kernel; grunet.fast's
CPU loop gives 2.0e-7 / 5.9e-7.) See benchmarks/NOTES.md, "GPU: the Triton kernel".

Under ``TRITON_INTERPRET=1`` (set before triton's import) the same kernels run on the CPU with numpy: the tests.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import cast

import torch
import triton
import triton.language as tl
from torch import Tensor

# whether the kernels below are defined for Triton's interpreter (TRITON_INTERPRET=1 at this module's import)
INTERPRETED = bool(triton.knobs.runtime.interpret)

# Tile sizes, chosen from what ptxas reports for sm_80 and sm_90 (benchmarks/triton_compile.py compiles every
# configuration without a GPU): at most 40 bytes of register spill in float32, none in most; 4 warps at H 64 spilled
# 17-25 KiB, a tiled form of 64 columns 2.5 KiB. Their speed is unmeasured.
MAX_ON_CHIP_HIDDEN = 64  # padded H up to this: the on-chip kernels, with H / 4 warps (16, 32, 64 -> 4, 8, 16)
TILE_HIDDEN = 32  # column block and reduction chunk of the tiled kernels, with 8 warps (64 spills at 8)
BLOCK_BATCH = 16  # batch rows per program; the grid is ceil(B / 16) programs


@dataclass(frozen=True)
class Tiles:
    """How the kernels cut the work: `batch` rows per program, `hidden` features per tile (the whole padded H when
    `on_chip`), which form of the kernels runs, and the warps of a program."""

    batch: int
    hidden: int
    on_chip: bool
    warps: int


def tiles_for(batch: int, hidden_size: int) -> Tiles:
    """The tiles for a (batch, hidden_size) layer (see the module docstring); a power of two >= 16 per dimension.
    The product over H runs on CUDA cores (IEEE float32) where each thread holds whole columns of W_hh, so wider
    tiles need more warps to stay in registers."""
    padded = max(16, triton.next_power_of_2(hidden_size))
    if padded <= MAX_ON_CHIP_HIDDEN:
        return Tiles(BLOCK_BATCH, padded, on_chip=True, warps=padded // 4)
    return Tiles(BLOCK_BATCH, TILE_HIDDEN, on_chip=False, warps=8)


_MATMUL = {"highest": "ieee", "high": "tf32", "medium": "bf16"}


def matmul_precision(dtype: torch.dtype) -> str:
    """The recurrent products' operand precision: 'ieee', 'tf32' or 'bf16', from torch's float32 matmul setting."""
    return _MATMUL[torch.get_float32_matmul_precision()] if dtype == torch.float32 else "ieee"


# ---------------------------------------------------------------------------------------------------------------
# building blocks


@triton.jit
def _rounded(x, DROPPED: tl.constexpr):
    """float32 x rounded to nearest even at 23 - DROPPED mantissa bits (13: TF32, 16: bfloat16)."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + ((1 << (DROPPED - 1)) - 1) + ((bits >> DROPPED) & 1)) & (0xFFFFFFFF - ((1 << DROPPED) - 1))
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _dot(a, b, acc, MATMUL: tl.constexpr, INTERPRETED: tl.constexpr):
    """acc + a @ b with operands of precision MATMUL. The interpreter's dot is numpy's at the inputs' precision
    whatever MATMUL says (and would read bfloat16 as integers): there the operands are rounded as the tensor cores
    read them, and multiplied exactly."""
    if MATMUL == "ieee":
        out = tl.dot(a, b, acc, input_precision="ieee")
    elif INTERPRETED:
        dropped: tl.constexpr = 13 if MATMUL == "tf32" else 16
        out = tl.dot(_rounded(a, dropped), _rounded(b, dropped), acc, input_precision="ieee")
    elif MATMUL == "tf32":
        out = tl.dot(a, b, acc, input_precision="tf32")
    else:
        out = tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16), acc)
    return out


@triton.jit
def _tanh(a):
    return 2 * tl.sigmoid(2 * a) - 1  # tanh(a) = 2σ(2a) − 1, as grunet.fast


@triton.jit
def _times_matrix(
    acc,
    source,
    source_stride,
    rows,
    row_ok,
    matrix,
    stride_k,
    stride_j,
    j0,
    H,
    BLOCK_H: tl.constexpr,
    MATMUL: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """acc (BLOCK_B, BLOCK_H) + source[rows, :H] @ M[:H, j0:j0+BLOCK_H] where M[k, j] is at matrix + k·stride_k +
    j·stride_j (W_h·ᵀ: 1, H; W_h·: H, 1), in BLOCK_H-wide chunks of k read from memory (the tiled kernels)."""
    cols = tl.arange(0, BLOCK_H)
    j = j0 + cols
    for k0 in range(0, H, BLOCK_H):
        k = k0 + cols
        a = tl.load(
            source + rows[:, None] * source_stride + k[None, :], mask=row_ok[:, None] & (k < H)[None, :], other=0.0
        )  # (BLOCK_B, BLOCK_H)
        m = tl.load(
            matrix + k[:, None] * stride_k + j[None, :] * stride_j, mask=(k < H)[:, None] & (j < H)[None, :], other=0.0
        )  # (BLOCK_H, BLOCK_H)
        acc = _dot(a, m, acc, MATMUL, INTERPRETED)
    return acc


@triton.jit
def _step_backward(dh, h_prev, r, z, n):
    """The elementwise part of a step's backward: ∂a_n, ∂a_z and the direct path (1 − z) ∂h into h_{t-1}."""
    d_n = dh * z * (1 - n * n)  # ∂a_n = ∂h z (1 − h̃²)
    d_z = dh * (n - h_prev) * z * (1 - z)  # ∂a_z = ∂h (h̃ − h) z (1 − z)
    return d_n, d_z, dh * (1 - z)


# ---------------------------------------------------------------------------------------------------------------
# on chip: h and W_hh in registers


@triton.jit
def _forward_on_chip(
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
        r = tl.sigmoid(_dot(h, w_r, tl.load(x_t, mask=keep, other=0.0), MATMUL, INTERPRETED))
        z = tl.sigmoid(_dot(h, w_z, tl.load(x_t + H, mask=keep, other=0.0), MATMUL, INTERPRETED))
        if RESET_AFTER:
            hn = _dot(h, w_n, tl.zeros_like(h) + b_hn[None, :], MATMUL, INTERPRETED)  # W_hn h + b_hn
            n = _tanh(tl.load(x_t + 2 * H, mask=keep, other=0.0) + r * hn)
            extra = hn
        else:
            extra = r * h
            n = _tanh(_dot(extra, w_n, tl.load(x_t + 2 * H, mask=keep, other=0.0), MATMUL, INTERPRETED))
        h = h + z * (n - h)  # h' = (1 − z) h + z h̃
        tl.store(hidden + (rows_before + (0 if REVERSE else batch)) * H + in_h, h, mask=keep)
        if SAVE:
            saved = gates + rows_before * 4 * H + in_s
            tl.store(saved, r, mask=keep)
            tl.store(saved + H, z, mask=keep)
            tl.store(saved + 2 * H, n, mask=keep)
            tl.store(saved + 3 * H, extra, mask=keep)


@triton.jit
def _backward_on_chip(
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
        d_n, d_z, dh_prev = _step_backward(dh, h_prev, r, z, n)
        out = d_gates + rows_before * D * H + in_d
        if RESET_AFTER:
            hn = tl.load(saved + 3 * H, mask=keep, other=0.0)
            d_hn = d_n * r  # ∂(W_hn h + b_hn)
            d_r = d_n * hn * r * (1 - r)
            dh_prev = _dot(d_hn, w_n, dh_prev, MATMUL, INTERPRETED)
            tl.store(out + 3 * H, d_hn, mask=keep)
        else:
            d_rh = _dot(d_n, w_n, tl.zeros_like(dh), MATMUL, INTERPRETED)  # ∂(r ∗ h) = ∂a_n W_hn
            d_r = d_rh * h_prev * r * (1 - r)
            dh_prev += d_rh * r
        dh_prev = _dot(d_z, w_z, dh_prev, MATMUL, INTERPRETED)
        dh_prev = _dot(d_r, w_r, dh_prev, MATMUL, INTERPRETED)
        tl.store(out, d_r, mask=keep)
        tl.store(out + H, d_z, mask=keep)
        tl.store(out + 2 * H, d_n, mask=keep)
        dh = dh_prev
    tl.store(d_hidden + in_h, dh, mask=keep)


# ---------------------------------------------------------------------------------------------------------------
# tiled over H: column blocks, W_hh and the state read from memory at every step


@triton.jit
def _forward_tiled(
    gates_x,
    weight_hh,
    bias_hn,
    hidden,
    gates,
    gates_stride,
    batch,
    steps,
    H,
    RESET_AFTER: tl.constexpr,
    REVERSE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    MATMUL: tl.constexpr,
    INTERPRETED: tl.constexpr,
):
    """`_forward_on_chip` for any H. gates always receives r, z, h̃ and hn or r ∗ h (the phases read them back);
    gates_stride is B·4H, or 0 for one reused slot when nothing is saved."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < batch
    cols = tl.arange(0, BLOCK_H)
    for step in range(steps):
        if REVERSE:
            t = steps - 1 - step
        else:
            t = step
        rows_before = t.to(tl.int64) * batch
        x_t = gates_x + rows_before * 3 * H
        h_prev = hidden + (rows_before + (batch if REVERSE else 0)) * H  # (B, H) step slots
        h_next = hidden + (rows_before + (0 if REVERSE else batch)) * H
        saved = gates + t.to(tl.int64) * gates_stride
        for j0 in range(0, H, BLOCK_H):  # r and z (and everything, for reset_after) of column block j0
            j = j0 + cols
            keep = row_ok[:, None] & (j < H)[None, :]
            in_x, in_s = rows[:, None] * 3 * H + j[None, :], rows[:, None] * 4 * H + j[None, :]
            r = tl.sigmoid(
                _times_matrix(
                    tl.load(x_t + in_x, mask=keep, other=0.0),
                    h_prev,
                    H,
                    rows,
                    row_ok,
                    weight_hh,
                    1,
                    H,
                    j0,
                    H,
                    BLOCK_H,
                    MATMUL,
                    INTERPRETED,
                )
            )
            z = tl.sigmoid(
                _times_matrix(
                    tl.load(x_t + in_x + H, mask=keep, other=0.0),
                    h_prev,
                    H,
                    rows,
                    row_ok,
                    weight_hh + H * H,
                    1,
                    H,
                    j0,
                    H,
                    BLOCK_H,
                    MATMUL,
                    INTERPRETED,
                )
            )
            h_old = tl.load(h_prev + rows[:, None] * H + j[None, :], mask=keep, other=0.0)
            tl.store(saved + in_s, r, mask=keep)
            tl.store(saved + in_s + H, z, mask=keep)
            if RESET_AFTER:
                b_hn = tl.load(bias_hn + j, mask=j < H, other=0.0)
                hn = _times_matrix(
                    tl.zeros_like(r) + b_hn[None, :],
                    h_prev,
                    H,
                    rows,
                    row_ok,
                    weight_hh + 2 * H * H,
                    1,
                    H,
                    j0,
                    H,
                    BLOCK_H,
                    MATMUL,
                    INTERPRETED,
                )
                n = _tanh(tl.load(x_t + in_x + 2 * H, mask=keep, other=0.0) + r * hn)
                tl.store(saved + in_s + 2 * H, n, mask=keep)
                tl.store(saved + in_s + 3 * H, hn, mask=keep)
                tl.store(h_next + rows[:, None] * H + j[None, :], h_old + z * (n - h_old), mask=keep)
            else:
                tl.store(saved + in_s + 3 * H, r * h_old, mask=keep)
        if not RESET_AFTER:
            tl.debug_barrier()  # every column of r ∗ h is in memory
            for j0 in range(0, H, BLOCK_H):
                j = j0 + cols
                keep = row_ok[:, None] & (j < H)[None, :]
                in_x, in_s = rows[:, None] * 3 * H + j[None, :], rows[:, None] * 4 * H + j[None, :]
                n = _tanh(
                    _times_matrix(
                        tl.load(x_t + in_x + 2 * H, mask=keep, other=0.0),
                        saved + 3 * H,
                        4 * H,
                        rows,
                        row_ok,
                        weight_hh + 2 * H * H,
                        1,
                        H,
                        j0,
                        H,
                        BLOCK_H,
                        MATMUL,
                        INTERPRETED,
                    )
                )
                z = tl.load(saved + in_s + H, mask=keep, other=0.0)
                h_old = tl.load(h_prev + rows[:, None] * H + j[None, :], mask=keep, other=0.0)
                tl.store(saved + in_s + 2 * H, n, mask=keep)
                tl.store(h_next + rows[:, None] * H + j[None, :], h_old + z * (n - h_old), mask=keep)
        tl.debug_barrier()  # h_t is in memory before the next step reads it


@triton.jit
def _backward_tiled(
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
    """`_backward_on_chip` for any H; d_hidden holds the running ∂L/∂h between the phases of a step."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < batch
    cols = tl.arange(0, BLOCK_H)
    D: tl.constexpr = 4 if RESET_AFTER else 3
    for step in range(steps):
        if REVERSE:
            t = step
        else:
            t = steps - 1 - step
        rows_before = t.to(tl.int64) * batch  # type: ignore[attr-defined]  # t: a tl tensor in the compiled kernel
        saved = gates + rows_before * 4 * H
        h_prev = hidden + (rows_before + (batch if REVERSE else 0)) * H
        out = d_gates + rows_before * D * H
        # the elementwise part; d_hidden becomes the direct path (1 − z) ∂h
        for j0 in range(0, H, BLOCK_H):
            j = j0 + cols
            keep = row_ok[:, None] & (j < H)[None, :]
            in_h, in_s, in_d = (
                rows[:, None] * H + j[None, :],
                rows[:, None] * 4 * H + j[None, :],
                rows[:, None] * D * H + j[None, :],
            )
            dh = tl.load(d_hidden + in_h, mask=keep, other=0.0)
            if HAS_GRAD_OUTPUT:
                dh += tl.load(grad_output + rows_before * H + in_h, mask=keep, other=0.0)
            r = tl.load(saved + in_s, mask=keep, other=0.0)
            d_n, d_z, direct = _step_backward(
                dh,
                tl.load(h_prev + in_h, mask=keep, other=0.0),
                r,
                tl.load(saved + in_s + H, mask=keep, other=0.0),
                tl.load(saved + in_s + 2 * H, mask=keep, other=0.0),
            )
            tl.store(out + in_d + H, d_z, mask=keep)
            tl.store(out + in_d + 2 * H, d_n, mask=keep)
            if RESET_AFTER:
                hn = tl.load(saved + in_s + 3 * H, mask=keep, other=0.0)
                tl.store(out + in_d, d_n * hn * r * (1 - r), mask=keep)
                tl.store(out + in_d + 3 * H, d_n * r, mask=keep)
            tl.store(d_hidden + in_h, direct, mask=keep)
        tl.debug_barrier()
        if not RESET_AFTER:  # ∂(r ∗ h) = ∂a_n W_hn needs every column of ∂a_n
            for j0 in range(0, H, BLOCK_H):
                j = j0 + cols
                keep = row_ok[:, None] & (j < H)[None, :]
                in_h, in_s, in_d = (
                    rows[:, None] * H + j[None, :],
                    rows[:, None] * 4 * H + j[None, :],
                    rows[:, None] * D * H + j[None, :],
                )
                d_rh = _times_matrix(
                    tl.zeros((BLOCK_B, BLOCK_H), hidden.dtype.element_ty),
                    out + 2 * H,
                    D * H,
                    rows,
                    row_ok,
                    weight_hh + 2 * H * H,
                    H,
                    1,
                    j0,
                    H,
                    BLOCK_H,
                    MATMUL,
                    INTERPRETED,
                )
                r = tl.load(saved + in_s, mask=keep, other=0.0)
                h_old = tl.load(h_prev + in_h, mask=keep, other=0.0)
                tl.store(out + in_d, d_rh * h_old * r * (1 - r), mask=keep)
                tl.store(d_hidden + in_h, tl.load(d_hidden + in_h, mask=keep, other=0.0) + d_rh * r, mask=keep)
            tl.debug_barrier()
        # every path into h_{t-1}: ∂a_r W_hr + ∂a_z W_hz (+ ∂hn W_hn)
        for j0 in range(0, H, BLOCK_H):
            j = j0 + cols
            keep = row_ok[:, None] & (j < H)[None, :]
            in_h = rows[:, None] * H + j[None, :]
            acc = tl.load(d_hidden + in_h, mask=keep, other=0.0)
            acc = _times_matrix(acc, out, D * H, rows, row_ok, weight_hh, H, 1, j0, H, BLOCK_H, MATMUL, INTERPRETED)
            acc = _times_matrix(
                acc, out + H, D * H, rows, row_ok, weight_hh + H * H, H, 1, j0, H, BLOCK_H, MATMUL, INTERPRETED
            )
            if RESET_AFTER:
                acc = _times_matrix(
                    acc,
                    out + 3 * H,
                    D * H,
                    rows,
                    row_ok,
                    weight_hh + 2 * H * H,
                    H,
                    1,
                    j0,
                    H,
                    BLOCK_H,
                    MATMUL,
                    INTERPRETED,
                )
            tl.store(d_hidden + in_h, acc, mask=keep)
        tl.debug_barrier()


# ---------------------------------------------------------------------------------------------------------------
# the loop interface of grunet.fast (`_forward_loop` / `_backward_loop`)


def _launch_options(tiles: Tiles) -> dict:
    # the tiled kernels' loads must stay after the barriers: no software pipelining across them; multiply-adds
    # fused (Triton's default, which it warns will change)
    return {"num_warps": tiles.warps, "num_stages": 3 if tiles.on_chip else 1, "enable_fp_fusion": True}


def _on_device(x: Tensor):
    """Triton launches on the current CUDA device: make it x's (cuda:N); nothing for the interpreter's CPU tensors."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


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
    """Runs the recurrence. Returns hidden (H, T+1, B) (a view of a (T+1, B, H) buffer: h0 at index 0 and h_t at
    t+1, or for reverse h_t at t and h0 at T), the saved gates (T, B, 4H) when training (else None), and None."""
    steps, batch, input_size = x.shape
    H = weight_hh.shape[1]
    # input projection of every step, one GEMM over T·B rows; b_hn stays apart for reset_after (inside r ∗ (...))
    bias_hn = x.new_zeros(H)
    if bias_ih is None:
        bias_x = None
    elif reset_after:
        bias_h = cast(Tensor, bias_hh)  # the biases come in pairs
        bias_x = torch.cat([bias_ih[: 2 * H] + bias_h[: 2 * H], bias_ih[2 * H :]])
        bias_hn = bias_h[2 * H :].contiguous()
    else:
        bias_x = bias_ih + cast(Tensor, bias_hh)
    x_rows = x.reshape(steps * batch, input_size)  # (T·B, I)
    gates_x = torch.mm(x_rows, weight_ih.t()) if bias_x is None else torch.addmm(bias_x, x_rows, weight_ih.t())
    hidden = x.new_empty(steps + 1, batch, H)  # (T+1, B, H)
    hidden[steps if reverse else 0].copy_(h0)
    tiles = tiles_for(batch, H)
    gates = x.new_empty(steps if training else 1, batch, 4 * H)  # (T, B, 4H) r, z, h̃, hn or r ∗ h
    grid = (triton.cdiv(batch, tiles.batch),)
    common = {
        "RESET_AFTER": reset_after,
        "REVERSE": reverse,
        "BLOCK_B": tiles.batch,
        "BLOCK_H": tiles.hidden,
        "MATMUL": matmul_precision(x.dtype),
        "INTERPRETED": INTERPRETED,
        **_launch_options(tiles),
    }
    weight_hh = weight_hh.contiguous()
    with _on_device(x):
        if tiles.on_chip:
            _forward_on_chip[grid](gates_x, weight_hh, bias_hn, hidden, gates, batch, steps, H, SAVE=training, **common)
        else:
            _forward_tiled[grid](
                gates_x, weight_hh, bias_hn, hidden, gates, batch * 4 * H if training else 0, batch, steps, H, **common
            )
    return hidden.permute(2, 0, 1), gates if training else None, None


def backward(
    grad_output: Tensor | None,
    grad_h_n: Tensor | None,
    hidden: Tensor,
    gates: Tensor,
    rh: None,
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    has_bias: bool,
    reset_after: bool,
    reverse: bool,
    needs: tuple[bool, ...],
):
    """Gradients of (x, h0, weight_ih, weight_hh, bias_ih, bias_hh) from those of output and h_n."""
    hidden = hidden.permute(1, 2, 0)  # (T+1, B, H), contiguous again
    steps, batch, input_size = x.shape
    H = hidden.shape[2]
    d_hidden = torch.zeros_like(hidden[0]) if grad_h_n is None else grad_h_n.contiguous().clone()  # (B, H)
    width = 4 * H if reset_after else 3 * H
    d_gates = x.new_empty(steps, batch, width)  # (T, B, 3H or 4H) ∂a_r, ∂a_z, ∂a_n (, ∂hn)
    tiles = tiles_for(batch, H)
    grid = (triton.cdiv(batch, tiles.batch),)
    kernel = _backward_on_chip if tiles.on_chip else _backward_tiled
    has_grad_output = grad_output is not None  # None when the loss uses h_n alone
    with _on_device(x):
        kernel[grid](
            cast(Tensor, grad_output).contiguous() if has_grad_output else d_hidden,
            d_hidden,
            hidden,
            gates,
            weight_hh.contiguous(),
            d_gates,
            batch,
            steps,
            H,
            RESET_AFTER=reset_after,
            REVERSE=reverse,
            HAS_GRAD_OUTPUT=has_grad_output,
            BLOCK_B=tiles.batch,
            BLOCK_H=tiles.hidden,
            MATMUL=matmul_precision(x.dtype),
            INTERPRETED=INTERPRETED,
            **_launch_options(tiles),
        )

    # every other gradient: one GEMM or one reduction over all T·B rows, in a fixed order (deterministic)
    d_rows = d_gates.view(steps * batch, width)
    d_gate_rows = d_rows[:, : 3 * H]  # (T·B, 3H) columns r, z, n: the rows of weight_ih
    grad_x = grad_w_ih = grad_w_hh = grad_b_ih = grad_b_hh = None
    if needs[0]:
        grad_x = torch.mm(d_gate_rows, weight_ih).view(steps, batch, input_size)
    if needs[2]:
        grad_w_ih = torch.mm(d_gate_rows.t(), x.reshape(steps * batch, input_size))
    if needs[3]:
        h_prev = (hidden[1:] if reverse else hidden[:-1]).reshape(steps * batch, H)  # (T·B, H), a view
        grad_w_hh = x.new_empty(3 * H, H)
        torch.mm(d_rows[:, : 2 * H].t(), h_prev, out=grad_w_hh[: 2 * H])
        if reset_after:  # ∂hn ⊗ h
            torch.mm(d_rows[:, 3 * H :].t(), h_prev, out=grad_w_hh[2 * H :])
        else:  # ∂a_n ⊗ (r ∗ h)
            torch.mm(d_rows[:, 2 * H : 3 * H].t(), gates.view(steps * batch, 4 * H)[:, 3 * H :], out=grad_w_hh[2 * H :])
    if has_bias and (needs[4] or needs[5]):
        sums = d_rows.sum(0)  # (3H or 4H)
        grad_b_ih = sums[: 3 * H]
        grad_b_hh = torch.cat([sums[: 2 * H], sums[3 * H :] if reset_after else sums[2 * H : 3 * H]])
    return grad_x, d_hidden if needs[1] else None, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh
