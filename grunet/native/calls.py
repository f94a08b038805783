"""The two calls into the compiled library of `grunet.native`: `forward` and `backward` of one layer, their
arguments packed into the ctypes structs of `grunet.native.library`, on the threads `grunet.native.threads` chooses.
"""

from __future__ import annotations

import ctypes
import time
from typing import cast

import torch
from torch import Tensor

from grunet.native import library, threads
from grunet.native.library import BackwardArgs, ForwardArgs


def _pair(tensor: Tensor | None):
    """Row and step strides of a (features, steps, batch) buffer with unit batch stride."""
    if tensor is None:
        return (ctypes.c_int64 * 2)(0, 0)
    assert tensor.stride(2) == 1 or tensor.shape[2] == 1
    return (ctypes.c_int64 * 2)(tensor.stride(0), tensor.stride(1))


def _strides(tensor: Tensor | None, count: int):
    return (ctypes.c_int64 * count)(*(tensor.stride() if tensor is not None else (0,) * count))


def _pointer(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _dtype(dtype: torch.dtype) -> int:
    return {torch.float32: 0, torch.float64: 1}[dtype]


def forward(
    x: Tensor,
    weight_ih: Tensor,
    bias: Tensor,
    weight_hh: Tensor,
    bias_hn: Tensor,
    hidden: Tensor,
    gates: Tensor | None,
    rh: Tensor | None,
    reset_after: bool,
    reverse: bool,
) -> None:
    """Runs the recurrence in place, the input projection included. x (T, B, I), any strides; weight_ih (3H, I)
    and weight_hh (3H, H) rows z, r, n, contiguous; bias (3H,) what adds to W_i· x (reset_after: b_iz + b_hz,
    b_ir + b_hr, b_in; else all of b_ih + b_hh); bias_hn (H,) (reset_after); hidden (H, T+1, B) with h0 in
    place; when training, gates (z, r, h~ and for reset_after hn: 4H or 3H, T, B) and rh (H, T, B) are filled."""
    steps, batch, input_size = x.shape
    hidden_size = weight_hh.shape[1]
    args = ForwardArgs(
        dtype=_dtype(x.dtype),
        steps=steps,
        batch=batch,
        hidden_size=hidden_size,
        input_size=input_size,
        reset_after=reset_after,
        reverse=reverse,
        training=gates is not None,
        threads=threads.CHOOSER.threads(
            ("forward", batch, hidden_size, input_size, steps), threads.threads_for(batch, hidden_size, input_size)
        ),
        x_strides=_strides(x, 3),
        hidden_strides=_pair(hidden),
        gates_strides=_pair(gates),
        rh_strides=_pair(rh),
        x=x.data_ptr(),
        weight_ih=weight_ih.data_ptr(),
        bias=bias.data_ptr(),
        weight_hh=weight_hh.data_ptr(),
        bias_hn=bias_hn.data_ptr(),
        hidden=hidden.data_ptr(),
        gates=_pointer(gates),
        rh=_pointer(rh),
    )
    started = time.perf_counter()
    if cast(ctypes.CDLL, library.load()).grunet_forward(ctypes.byref(args)) != 0:  # called only when `available`
        raise RuntimeError(f"grunet.native: the compiled forward refused dtype {x.dtype}")
    threads.CHOOSER.record(
        ("forward", batch, hidden_size, input_size, steps), args.threads, time.perf_counter() - started
    )


# The backward sums the weight and bias gradients itself, as per-tile partial sums of one 64-byte SIMD vector per
# weight (3H (H + I) + 4H of them), when these stay in the L2 cache (here at most 4096 vectors, 256 KiB): tutorial
# size, H = 20. Beyond, the partial sums thrash the cache (H = 64, I = 8: 880 KiB, train 20 % slower than below), and
# the backward writes the gate gradients for single GEMMs over all T·B columns instead (`grunet.columns`).
ACCUMULATE_MAX_WEIGHTS = 4096


def accumulates(hidden_size: int, input_size: int) -> bool:
    """Whether `backward` computes the weight, bias and input gradients itself (see `ACCUMULATE_MAX_WEIGHTS`)."""
    return 3 * hidden_size * (hidden_size + input_size) + 4 * hidden_size <= ACCUMULATE_MAX_WEIGHTS


def backward(
    gates: Tensor,
    hidden: Tensor,
    grad_output: Tensor | None,
    grad_h_n: Tensor | None,
    weight_t: Tensor,
    weight_hn_t: Tensor | None,
    grads: Tensor | None,
    grad_h0: Tensor,
    reset_after: bool,
    reverse: bool,
    x: Tensor | None = None,
    weight_ih_t: Tensor | None = None,
    grad_x: Tensor | None = None,
    grad_w_hh: Tensor | None = None,
    grad_w_ih: Tensor | None = None,
    grad_bias: Tensor | None = None,
) -> None:
    """Backward through time. gates (4H or 3H, T, B) and hidden (H, T+1, B) from `forward`; grad_output
    (T, B, H) and grad_h_n (B, H), any strides, or None; weight_t (H, 3H) = [W_hn; W_hz; W_hr]^T for
    reset_after, else (H, 2H) = [W_hz; W_hr]^T, and weight_hn_t (H, H) = W_hn^T; fills grad_h0 (H, B) and either
    grads (4H or 3H, T, B) rows (dhn,) dz, dr, dn, or (grads None: `accumulates`) from x (T, B, I), any strides,
    and weight_ih_t (I, 3H) = W_ih^T (columns z, r, n): grad_w_hh (3H, H) rows (n, z, r) for reset_after, else
    (z, r, n); grad_w_ih (3H, I) rows (z, r, n); grad_bias (4H,) rows (hn, z, r, n) or (3H,) rows (z, r, n), sums of
    the gate gradients; grad_x (I, T, B) with unit batch stride, when given."""
    steps, batch = gates.shape[1:]
    hidden_size = hidden.shape[0]
    accumulate = grads is None
    input_size = cast(Tensor, x).shape[2] if accumulate else 0  # x: given to accumulate
    args = BackwardArgs(
        dtype=_dtype(gates.dtype),
        steps=steps,
        batch=batch,
        hidden_size=hidden_size,
        input_size=input_size,
        reset_after=reset_after,
        reverse=reverse,
        accumulate=accumulate,
        threads=threads.CHOOSER.threads(
            ("backward", batch, hidden_size, input_size, steps), threads.threads_for(batch, hidden_size, hidden_size)
        ),
        gates_strides=_pair(gates),
        hidden_strides=_pair(hidden),
        grads_strides=_pair(grads),
        grad_h0_row=grad_h0.stride(0),
        grad_output_strides=_strides(grad_output, 3),
        grad_h_n_strides=_strides(grad_h_n, 2),
        x_strides=_strides(x if accumulate else None, 3),
        grad_x_strides=_pair(grad_x),
        gates=gates.data_ptr(),
        hidden=hidden.data_ptr(),
        grad_output=_pointer(grad_output),
        grad_h_n=_pointer(grad_h_n),
        weight_t=weight_t.data_ptr(),
        weight_hn_t=_pointer(weight_hn_t),
        grads=_pointer(grads),
        grad_h0=grad_h0.data_ptr(),
        x=_pointer(x if accumulate else None),
        weight_ih_t=_pointer(weight_ih_t),
        grad_x=_pointer(grad_x),
        grad_w_hh=_pointer(grad_w_hh),
        grad_w_ih=_pointer(grad_w_ih),
        grad_bias=_pointer(grad_bias),
    )
    started = time.perf_counter()
    if cast(ctypes.CDLL, library.load()).grunet_backward(ctypes.byref(args)) != 0:  # called only when `available`
        raise RuntimeError(f"grunet.native: the compiled backward refused dtype {gates.dtype}")
    threads.CHOOSER.record(
        ("backward", batch, hidden_size, input_size, steps), args.threads, time.perf_counter() - started
    )
