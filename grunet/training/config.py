"""How a model is trained: `TrainConfig`, its ranges (`LIMITS`) and the values chosen from the data where a setting is
left to None (`TrainConfig.resolve`), and the device it names (`resolve_device`)."""

from __future__ import annotations

import copy
import math
import re
import warnings
from dataclasses import dataclass

import torch

from grunet import devices
from grunet.files import check_settings, is_number


@dataclass
class TrainConfig:
    """How a model is trained. None means 'chosen from the data' (see `resolve`); the resolved values are saved."""

    epochs: int | None = None  # None: 200 for the sine (the tutorial); else STEPS optimiser steps' worth
    batch_size: int | None = None  # None: full batch for the sine (the tutorial) and up to FULL_BATCH windows,
    #                                    else MINI_BATCH; 0: full batch
    lr: float | None = None  # None: 1e-3 for the sine (the tutorial), 1e-2 full batch, 3e-3 mini-batches
    weight_decay: float = 0.0  # Adam's L2 penalty (the tutorial's "overfitting" tip)
    clip: float = 0.0  # max gradient norm, 0 = off
    patience: int | None = None  # early stopping on the validation loss; None: 20 with a validation part, 0 = off
    lr_schedule: str = "none"  # none | plateau (halve on a stalled loss) | cosine
    seed: int = 0
    ensemble: int = 1  # models trained (seeds seed*N, seed*N + 1, ...); the forecast is their median
    device: str = "auto"  # auto (CUDA with the Triton kernel, else CPU) | cpu | cuda | cuda:N
    checkpoint_every: int = 10  # epochs between resumable checkpoints (and at each best validation loss)

    def resolve(self, has_validation: bool, tutorial: bool = False, windows: int = 0) -> TrainConfig:
        """A copy with every None replaced by the value used for this data (`tutorial`: the sine exercise, with the
        tutorial's loop; `windows`: the number of training windows)."""
        resolved = copy.copy(self)
        if resolved.batch_size is None:
            resolved.batch_size = 0 if tutorial or windows <= FULL_BATCH else MINI_BATCH
        full = resolved.batch_size == 0 or resolved.batch_size >= windows
        if resolved.lr is None:
            resolved.lr = 1e-3 if tutorial else 1e-2 if full else 3e-3
        if resolved.epochs is None:
            steps_per_epoch = 1 if full else math.ceil(windows / resolved.batch_size)
            resolved.epochs = 200 if tutorial else max(20, math.ceil(STEPS / steps_per_epoch))
        if resolved.patience is None:
            resolved.patience = max(20, resolved.epochs // 10) if has_validation else 0
        resolved.device = str(resolve_device(self.device))
        return resolved

    def check(self) -> None:
        """Raises TypeError for a setting of the wrong type, ValueError naming the first out-of-range setting (the
        ranges: `LIMITS`; None is 'chosen from the data')."""

        def within(name: str, low: int, note: str = "") -> tuple[str, bool, str]:
            value = getattr(self, name)
            return name, value is None or low <= value <= LIMITS[name], f">= {low} ({note}at most {LIMITS[name]})"

        check_settings(
            self,
            lambda: [
                within("epochs", 0, "0: the model as it starts, untrained; "),
                ("lr", self.lr is None or (is_number(self.lr) and self.lr > 0), "> 0 (a finite number)"),
                ("weight_decay", is_number(self.weight_decay) and self.weight_decay >= 0, ">= 0 (a finite number)"),
                ("clip", is_number(self.clip) and self.clip >= 0, ">= 0 (a finite number; 0 = off)"),
                within("ensemble", 1),
                within("batch_size", 0, "0 = full batch; "),
                within("patience", 0, "0 = off; "),
                within("checkpoint_every", 0, "0 = only at the end; "),
                within("seed", 0),
                ("lr_schedule", self.lr_schedule in ("none", "plateau", "cosine"), "one of none, plateau, cosine"),
                ("device", DEVICE.fullmatch(self.device) is not None, "auto, cpu, cuda or cuda:N"),
            ],
        )


# the ranges of the training settings: beyond them a run would not end in any sensible time (or the seed would not
# fit the 64 bits torch's generators take, with seed x ensemble + member)
LIMITS = {
    "epochs": 100_000,
    "ensemble": 100,
    "batch_size": 1_000_000_000,
    "patience": 100_000,
    "checkpoint_every": 100_000,
    "seed": 2**32 - 1,
}
DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,3})?")
FULL_BATCH = 512  # up to this many training windows, each step takes them all (as the tutorial)
MINI_BATCH = 64  # beyond: shuffled mini-batches of this size
STEPS = 400  # optimiser steps a model gets by default (early stopping usually ends it sooner)


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA where it is faster (`grunet.devices.cuda_is_faster`), else CPU, with a warning saying why when
    CUDA is present; anything else must name an available device."""
    if name == "auto":
        use_cuda, reason = devices.cuda_is_faster()
        if not use_cuda and torch.cuda.is_available():
            warnings.warn(f"device auto chose the CPU: {reason}")
        return torch.device("cuda" if use_cuda else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {name!r} was asked for but this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return device
