"""Optional compiled inner loop for `grunet.fast`: the whole recurrence of one layer in one C++ call (`gru.cpp`).

Why: at small hidden sizes a GRU step is a few microseconds of arithmetic and torch spends far more dispatching its
~10 ops per step. The batch columns of a GRU never interact, so the batch is cut into tiles of columns and each
thread takes a tile and runs all T steps on it alone: no per-step synchronisation, no per-step dispatch. Inside, a
step of a tile is the input projection and the recurrent product as small register-blocked GEMMs (weights times a
(features, tile) block, SIMD over the batch) followed by the fused elementwise work. Buffers are (features, T, B),
allocated by the caller with torch; at larger hidden sizes the weight gradients and dx stay single torch GEMMs over
all T·B columns (`grunet.columns`).

It is strictly optional: `gru.cpp` is compiled on first use with the system's C++ compiler (``$CXX`` or ``c++``),
``-O3 -march=native -ffast-math`` (compile step only: the link step leaves it out, so loading the library does not
switch the process to flush-to-zero), plus ``-fopenmp`` when that works (the threads are then torch's own libgomp
pool), into ``~/.cache/grunet`` (``$XDG_CACHE_HOME``), and loaded with ctypes. Nothing is compiled at install time
and torch's headers are not needed. Where there is no compiler, the build fails, the tensors are not float32/float64
on the CPU, or ``GRUNET_NATIVE=0`` is set, `grunet.fast` runs the pure-torch loop (`grunet.torch_loop`) instead
(same numbers up to rounding). Any hidden size runs here (measured up to 1024, see benchmarks/NOTES.md, "Wide
layers").

Its modules: `library` (building, caching, verifying and loading the library; the argument structs), `calls`
(`forward`, `backward`), `threads` (how many threads a call uses: `threads_for`, `ThreadChooser`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from grunet.native.calls import accumulates, backward, forward
from grunet.native.library import available

__all__ = ["accumulates", "available", "backward", "forward", "supports"]


def supports(x: Tensor, hidden_size: int) -> bool:
    """Whether `grunet.fast` should use the compiled loop for this input: float32/float64 on the CPU, where the
    loop is available; any hidden size (`hidden_size` is kept for the callers)."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and available()
