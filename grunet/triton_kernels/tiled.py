"""The tiled form of grunet's Triton kernels, for any H (used above `grunet.triton_gru.MAX_ON_CHIP_HIDDEN`): a step
works on column blocks of h, multiplying by W_hh in tiles re-read every step (`_times_matrix`), with h in memory
between the phases of a step. `forward_tiled` and `backward_tiled` run all T steps of one layer and direction;
`grunet.triton_gru` launches them (its docstring gives the design, the buffers and the saved gates).
"""

from __future__ import annotations

import triton
import triton.language as tl

from grunet.triton_kernels.blocks import dot, step_backward, tanh


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
        acc = dot(a, m, acc, MATMUL, INTERPRETED)
    return acc


@triton.jit
def forward_tiled(
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
    """`on_chip.forward_on_chip` for any H. gates always receives r, z, h̃ and hn or r ∗ h (the phases read them back);
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
                n = tanh(tl.load(x_t + in_x + 2 * H, mask=keep, other=0.0) + r * hn)
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
                n = tanh(
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
def backward_tiled(
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
    """`on_chip.backward_on_chip` for any H; d_hidden holds the running ∂L/∂h between the phases of a step."""
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
            d_n, d_z, direct = step_backward(
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
