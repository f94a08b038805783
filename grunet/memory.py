"""How much memory a model and its training take, estimated before anything is allocated, and how much the machine
has: a setting that cannot fit is refused with one line (the estimate and what is available) instead of an
allocation error, or minutes of swapping, halfway through a run.

The estimate, in float32 (4 bytes a number), for a GRUNet of P parameters (`parameter_count`):

- building the model: its P weights (`model_bytes`);
- training it (`training_bytes`): 12 P for the weights, their gradients, Adam's two moments, the best weights kept
  for early stopping and a checkpoint's copies of the weights and the optimizer's state; 2 P for each earlier
  ensemble member kept in memory (its weights and its checkpointed copy); and for one batch of B windows of T
  steps, what the backward pass keeps per step and layer (the hidden state, the gates' factors and the input
  projection: about 12 H numbers per window, step and layer, `SAVED_PER_HIDDEN`) plus the batch's inputs.

Measured against the real peak of `grunet train` on the sine (800 windows of 50 steps, full batch, 2 layers, on the
CPU; resident memory beyond a run with a 4-unit model) the estimate is an upper bound: 965 MiB for 560 MiB used
with 256 units (the compiled loop), 1.9 GiB for 1.7 GiB with 512 (then the pure-torch loop, which keeps more than
the compiled loop that now runs every width). It is meant to refuse what cannot fit, never what can
(tests/test_hostile.py holds it between 1x and 4x the measured peak).
"""

from __future__ import annotations

import os
from pathlib import Path

FLOAT = 4  # bytes of a float32
SAVED_PER_HIDDEN = 12  # numbers the backward keeps per window, step, layer and hidden unit (see above)
STATE_COPIES = 12  # numbers per parameter while training: weights, gradients, Adam's moments, best and checkpoint


def parameter_count(config) -> int:
    """The parameters of a GRUNet of this resolved `grunet.model.ModelConfig`: per layer 3H x (inputs + H) weights
    and 6H biases, the head's (H + horizon x K) x horizon weights and horizon biases, and the skip's ar x horizon."""
    hidden, layers = config.hidden_size, config.num_layers
    count = 0
    for layer in range(layers):
        inputs = config.input_size if layer == 0 else hidden
        count += 3 * hidden * (inputs + hidden) + 6 * hidden
    head_inputs = hidden + config.output_size * config.future_size
    count += (head_inputs + 1) * config.output_size
    count += (config.ar or 0) * config.output_size
    return count


def model_bytes(config) -> int:
    """Bytes of a GRUNet's weights (float32)."""
    return parameter_count(config) * FLOAT


def training_bytes(config, window: int, batch: int, members: int = 1) -> int:
    """Bytes that training one member of `members` takes at its peak: the model's state (weights, gradients, Adam,
    the best and checkpointed copies), the earlier members kept, and one batch of `batch` windows of `window` steps
    through the forward and the backward pass."""
    parameters = parameter_count(config)
    state = STATE_COPIES * parameters + 2 * parameters * (members - 1)
    per_step = SAVED_PER_HIDDEN * config.hidden_size * config.num_layers + 2 * config.input_size
    activations = batch * window * per_step + batch * config.output_size * (2 + config.future_size)
    return (state + activations) * FLOAT


def available_bytes(device: str = "cpu") -> int | None:
    """Memory a new allocation can take now: on a CUDA device its free memory; else the system's MemAvailable
    (/proc/meminfo), or free pages where there is no /proc, lowered to what the process's cgroup still allows.
    None when it cannot be told."""
    if str(device).startswith("cuda"):
        try:
            import torch

            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, ValueError, AssertionError, AttributeError):
            return None
    found = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    limit = _cgroup_room()
    return found if limit is None else min(found, limit)


def _cgroup_room() -> int | None:
    """What the process's cgroup (v2) still allows: memory.max - memory.current; None without a limit."""
    try:
        group = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[1]
        folder = Path("/sys/fs/cgroup") / group.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((folder / "memory.current").read_text()))
    except (OSError, ValueError, IndexError):
        return None


def size(count: int) -> str:
    """Bytes as a person reads them: '512 MiB', '35.2 GiB'."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def check_fits(
    needed: int, what: str, device: str = "cpu", advice: str = "choose a smaller --hidden-size or --num-layers"
) -> None:
    """ValueError when `needed` bytes exceed the memory available on `device` (nothing is checked where it cannot
    be told): one line with `what`, the estimate, what is available, and `advice`."""
    available = available_bytes(device)
    if available is not None and needed > available:
        where = "on the GPU" if str(device).startswith("cuda") else "on this machine"
        raise ValueError(
            f"{what} needs about {size(needed)} of memory, more than the {size(available)} available {where}: {advice}"
        )
