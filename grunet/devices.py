"""Where a GRU runs: whether the fused Triton kernel (`grunet.triton_gru`) takes a layer's tensors, and which device
``--device auto`` picks (`cuda_is_faster`).

Neither question imports triton: the kernel's module (and triton with it, about a second) is imported on the first
call that runs it, so a CPU-only run never pays for it.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch
from torch import Tensor

# The kernel's ops need a GPU that Triton compiles for: compute capability 8.0 (Ampere) or later
MIN_CAPABILITY = (8, 0)


@functools.cache
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def _why_no_kernel(device: torch.device) -> str | None:
    """None when the Triton kernel can run on this CUDA device, else the reason it cannot."""
    if os.environ.get("GRUNET_TRITON", "1") == "0":
        return "GRUNET_TRITON=0 turns the fused Triton kernel off"
    if not _triton_installed():
        return "triton is not installed (pip install 'grunet[gpu]')"
    capability = torch.cuda.get_device_capability(device)
    if capability < MIN_CAPABILITY:
        return f"the GPU's compute capability {capability[0]}.{capability[1]} is below the kernel's 8.0"
    return None


def triton_runs(x: Tensor) -> bool:
    """Whether `grunet.fast` runs the fused Triton kernel for this layer input: float32 on CUDA, triton installed,
    a GPU Triton supports, and ``GRUNET_TRITON`` not set to 0 (which forces the pure-torch loop)."""
    return x.is_cuda and x.dtype == torch.float32 and _why_no_kernel(x.device) is None


def cuda_is_faster() -> tuple[bool, str]:
    """Whether ``--device auto`` should train on CUDA rather than the CPU, and why, in a few words.

    CUDA when the fused kernel runs there: one launch per layer and direction for the whole sequence. Without it,
    grunet's pure-torch loop launches ~10 kernels per step and at small models spends its time on launches: on an
    H200 the tutorial's sine trained in 4.2 s on CUDA against 1.8 s with ``--device cpu`` (issue 17). Then the CPU.
    """
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    reason = _why_no_kernel(torch.device("cuda"))
    if reason is not None:
        return False, (
            f"CUDA is present but {reason}; grunet's pure-torch loop on CUDA is slower than the CPU at small sizes"
        )
    return True, "CUDA with the fused Triton kernel"
