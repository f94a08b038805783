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
alone: no launch per step, no synchronisation between programs. Two forms of each kernel, in `grunet.triton_kernels`:

- on chip (`on_chip`, padded H <= `MAX_ON_CHIP_HIDDEN`): the state h (tile.batch, H) stays in registers from step
  to step, and the three (H, H) blocks of W_hh are read once before the loop (loop-invariant, so they stay on chip).
- tiled over H (`tiled`, any larger H): a step works on column blocks of `TILE_HIDDEN` features, multiplying by W_hh
  in (TILE_HIDDEN, TILE_HIDDEN) tiles re-read every step, and the state makes the round trip through the output
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
from torch import Tensor

from grunet.triton_kernels.on_chip import backward_on_chip, forward_on_chip
from grunet.triton_kernels.tiled import backward_tiled, forward_tiled

# whether the kernels are defined for Triton's interpreter (TRITON_INTERPRET=1 when this module imports them)
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
# the loop interface of grunet.fast (as `grunet.torch_loop.forward` / `backward`)


def launch_options(tiles: Tiles) -> dict:
    """The kernels' launch (and compile) options for these tiles. The tiled kernels' loads must stay after the
    barriers: no software pipelining across them; multiply-adds fused (Triton's default, which it warns will
    change)."""
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
        **launch_options(tiles),
    }
    weight_hh = weight_hh.contiguous()
    with _on_device(x):
        if tiles.on_chip:
            forward_on_chip[grid](gates_x, weight_hh, bias_hn, hidden, gates, batch, steps, H, SAVE=training, **common)
        else:
            forward_tiled[grid](
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
    kernel = backward_on_chip if tiles.on_chip else backward_tiled
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
            **launch_options(tiles),
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
