"""What both forms of grunet's Triton kernels are built from: `dot` (a product at the operand precision torch's
float32 matmul setting asks for, rounded as the tensor cores read it under the interpreter), `tanh` (as
`grunet.torch_loop`: 2σ(2a) − 1) and `step_backward` (the elementwise part of one step's backward).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _rounded(x, DROPPED: tl.constexpr):
    """float32 x rounded to nearest even at 23 - DROPPED mantissa bits (13: TF32, 16: bfloat16)."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + ((1 << (DROPPED - 1)) - 1) + ((bits >> DROPPED) & 1)) & (0xFFFFFFFF - ((1 << DROPPED) - 1))
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def dot(a, b, acc, MATMUL: tl.constexpr, INTERPRETED: tl.constexpr):
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
def tanh(a):
    return 2 * tl.sigmoid(2 * a) - 1  # tanh(a) = 2σ(2a) − 1, as grunet.torch_loop


@triton.jit
def step_backward(dh, h_prev, r, z, n):
    """The elementwise part of a step's backward: ∂a_n, ∂a_z and the direct path (1 − z) ∂h into h_{t-1}."""
    d_n = dh * z * (1 - n * n)  # ∂a_n = ∂h z (1 − h̃²)
    d_z = dh * (n - h_prev) * z * (1 - z)  # ∂a_z = ∂h (h̃ − h) z (1 − z)
    return d_n, d_z, dh * (1 - z)
