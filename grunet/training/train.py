"""Training: the tutorial's loop (Adam, MSE, full batch) with mini-batches, early stopping, a learning-rate schedule,
gradient clipping and weight decay as switches. The loop knows nothing about data sets or files: it takes
`WindowSet`s and returns the history; progress is reported through a callback.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from grunet import devices
from grunet.training import distributed
from grunet.training.evaluate import evaluate_loss
from grunet.training.optim import Adam, CosineAnnealingLR, ReduceLROnPlateau
from grunet.windows import WindowSet


@dataclass
class TrainConfig:
    """How a model is trained. None means 'chosen from the data' (see `resolve`); the resolved values are saved."""
    epochs: int | None = None          # None: 200 for the sine (the tutorial); else STEPS optimiser steps' worth
    batch_size: int | None = None      # None: full batch for the sine (the tutorial) and up to FULL_BATCH windows,
    #                                    else MINI_BATCH; 0: full batch
    lr: float | None = None            # None: 1e-3 for the sine (the tutorial), 1e-2 full batch, 3e-3 mini-batches
    weight_decay: float = 0.0          # Adam's L2 penalty (the tutorial's "overfitting" tip)
    clip: float = 0.0                  # max gradient norm, 0 = off
    patience: int | None = None        # early stopping on the validation loss; None: 20 with a validation part, 0 = off
    lr_schedule: str = "none"          # none | plateau (halve on a stalled loss) | cosine
    seed: int = 0
    ensemble: int = 1                  # models trained (seeds seed*N, seed*N + 1, ...); the forecast is their median
    device: str = "auto"               # auto (CUDA with the Triton kernel, else CPU) | cpu | cuda | cuda:N
    checkpoint_every: int = 10         # epochs between resumable checkpoints (and at each best validation loss)

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
        """Raises ValueError naming the first out-of-range setting."""
        checks = [("epochs", self.epochs is None or self.epochs >= 0, ">= 0 (0: the model as it starts, untrained)"),
                  ("lr", self.lr is None or self.lr > 0, "> 0"),
                  ("weight_decay", self.weight_decay >= 0, ">= 0"), ("clip", self.clip >= 0, ">= 0"),
                  ("ensemble", self.ensemble >= 1, ">= 1"),
                  ("batch_size", self.batch_size is None or self.batch_size >= 0, ">= 0 (0 = full batch)"),
                  ("patience", self.patience is None or self.patience >= 0, ">= 0 (0 = off)"),
                  ("checkpoint_every", self.checkpoint_every >= 0, ">= 0 (0 = only at the end)"),
                  ("lr_schedule", self.lr_schedule in ("none", "plateau", "cosine"), "one of none, plateau, cosine")]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")


FULL_BATCH = 512   # up to this many training windows, each step takes them all (as the tutorial)
MINI_BATCH = 64    # beyond: shuffled mini-batches of this size
STEPS = 400        # optimiser steps a model gets by default (early stopping usually ends it sooner)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"the training loss became {loss} at epoch {epoch}, step {step}; "
                         f"try a lower learning rate (--lr) or gradient clipping (--clip 1.0)")
        self.epoch, self.step, self.loss = epoch, step, loss


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
    except RuntimeError as error:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available on this machine")
    return device


@dataclass
class FitResult:
    history: list[dict]          # one row per epoch: epoch, train_loss, val_loss, lr, seconds
    best_epoch: int              # the epoch whose weights the model holds at the end
    stopped_early: bool
    train_seconds: float


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor | None]:
    if batch_size == 0 or batch_size >= count:
        return [None]  # the whole set, in order, as the tutorial's loop
    order = torch.randperm(count, generator=generator)
    return list(order.split(batch_size))


def fit(model: nn.Module, train: WindowSet, val: WindowSet | None, config: TrainConfig,
        on_epoch: Callable[[dict], None] | None = None,
        on_checkpoint: Callable[[dict, bool], None] | None = None, resume: dict | None = None,
        keep_start: bool = False) -> FitResult:
    """Trains `model` in place with Adam on the mean squared error; `config` must be resolved (epochs 0: no
    training, the model as it starts).

    With a validation set, the weights of the epoch with the lowest validation loss are restored at the end, and
    with patience > 0 training stops when that loss has not improved for `patience` epochs. `keep_start`: the
    starting weights compete too (best_epoch 0), for a model that starts as a forecaster (a least-squares skip).

    on_checkpoint(state, improved) is called every `config.checkpoint_every` epochs, at each new best validation
    loss (improved=True) and at the end; `state` holds everything needed to continue: pass it back as `resume`
    and the run goes on exactly as if it had never stopped (on the CPU: bitwise the same weights).
    Raises TrainingDiverged when the loss stops being finite.
    """
    config.check()
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)  # torch's, without dynamo
    scheduler = _make_scheduler(optimizer, config)
    criterion = nn.MSELoss()
    full_batch = (train.model_inputs(), train.targets()) if config.batch_size == 0 or config.batch_size >= len(train) \
        else None
    has_val = val is not None and len(val) > 0
    progress = {"epoch": 0, "best_loss": math.inf, "best_epoch": 0, "best_state": None, "waited": 0,
                "history": [], "stopped_early": False, "train_seconds": 0.0}
    if resume is not None:
        progress = _restore(resume, model, optimizer, scheduler, generator)
    elif keep_start and has_val:
        progress.update(best_loss=evaluate_loss(model, val),
                        best_state={name: value.detach().clone() for name, value in model.state_dict().items()})
    # under torchrun: DDP, this rank's shares of the global batches, losses reduced over ranks (training.distributed)
    parallel = distributed.DataParallel(model, train, config.batch_size) if distributed.active() else None
    started = time.perf_counter() - progress["train_seconds"]

    def snapshot() -> dict:
        progress["train_seconds"] = time.perf_counter() - started
        return _snapshot(progress, model, optimizer, scheduler, generator)

    for epoch in range(progress["epoch"] + 1, config.epochs + 1):
        if progress["stopped_early"]:
            break
        model.train()
        if parallel is not None:
            parallel.seed_epoch(config.seed, epoch)
        epoch_start, total, count = time.perf_counter(), 0.0, 0
        batches = _batches(len(train), config.batch_size, generator)
        for step, index in enumerate(parallel.batches(batches) if parallel else batches, start=1):
            if parallel is not None:
                loss, value = parallel.loss(index)
                size = index[3]
            else:
                inputs, targets = full_batch if full_batch is not None else (train.model_inputs(index),
                                                                             train.targets(index))
                loss = criterion(model(*inputs), targets)
                value, size = loss.item(), len(targets)
            if not math.isfinite(value):
                raise TrainingDiverged(epoch, step, value)
            optimizer.zero_grad()
            loss.backward()
            if config.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            total, count = total + value * size, count + size
        train_loss = total / count
        val_loss = ((distributed.evaluate_loss(model, val) if parallel else evaluate_loss(model, val)) if has_val
                    else float("nan"))
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
               "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start}
        progress["history"].append(row)
        progress["epoch"] = epoch
        if on_epoch is not None:
            on_epoch(row)
        if scheduler is not None:
            scheduler.step(val_loss if has_val else train_loss) if config.lr_schedule == "plateau" else scheduler.step()
        improved = has_val and val_loss < progress["best_loss"]
        if improved:
            progress.update(best_loss=val_loss, best_epoch=epoch, waited=0,
                            best_state={name: value.detach().clone() for name, value in model.state_dict().items()})
        elif has_val:
            progress["waited"] += 1
            progress["stopped_early"] = config.patience > 0 and progress["waited"] >= config.patience
        last = epoch == config.epochs or progress["stopped_early"]
        periodic = config.checkpoint_every > 0 and epoch % config.checkpoint_every == 0
        if on_checkpoint is not None and (improved or periodic or last):
            on_checkpoint(snapshot(), improved)
    if progress["best_state"] is not None:
        model.load_state_dict(progress["best_state"])
    else:
        progress["best_epoch"] = progress["epoch"]
    return FitResult(progress["history"], progress["best_epoch"], progress["stopped_early"],
                     time.perf_counter() - started)


def _snapshot(progress: dict, model: nn.Module, optimizer, scheduler, generator: torch.Generator) -> dict:
    """The whole training state as tensors and plain data (loadable with torch.load(weights_only=True))."""
    return {**{key: value for key, value in progress.items() if key != "history"},
            "history": [dict(row) for row in progress["history"]],
            "model": {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _restore(state: dict, model: nn.Module, optimizer, scheduler, generator: torch.Generator) -> dict:
    """Puts a `_snapshot` back; returns the loop's progress."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    keys = ("epoch", "best_loss", "best_epoch", "best_state", "waited", "history", "stopped_early", "train_seconds")
    return {key: state[key] for key in keys}


def _make_scheduler(optimizer: Adam, config: TrainConfig):
    if config.lr_schedule == "plateau":
        return ReduceLROnPlateau(optimizer, factor=0.5, patience=10)
    if config.lr_schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None
