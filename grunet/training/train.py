"""Training: the tutorial's loop (Adam, MSE, full batch) with mini-batches, early stopping, a learning-rate schedule,
gradient clipping and weight decay as switches. The loop knows nothing about data sets or files: it takes
`WindowSet`s and returns the history; progress is reported through a callback.
"""

from __future__ import annotations

import copy
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from grunet import devices, memory
from grunet.files import check_settings, is_number
from grunet.training import distributed
from grunet.training.evaluate import evaluate_loss
from grunet.training.optim import Adam, CosineAnnealingLR, ReduceLROnPlateau
from grunet.windows import WindowSet


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


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. `largest`: the largest absolute value of the data as the model reads it
    (scaled, float32); when that is itself beyond what float32 can square, the data is to blame, not the learning
    rate, and the message says so."""

    def __init__(self, epoch: int, step: int, loss: float, largest: float | None = None) -> None:
        if largest is not None and not largest <= FLOAT32_SQUARABLE:
            beyond = "not finite in float32" if not math.isfinite(largest) else f"as large as {largest:.3g}"
            super().__init__(
                f"the training loss became {loss} at epoch {epoch}, step {step}: the data as the model "
                f"reads it is {beyond}, beyond what float32 (the model's precision) can hold or square; "
                f"scale the series (--scale standard, or --log for positive series) instead of "
                f"lowering --lr"
            )
        else:
            super().__init__(
                f"the training loss became {loss} at epoch {epoch}, step {step}; "
                f"try a lower learning rate (--lr) or gradient clipping (--clip 1.0)"
            )
        self.epoch, self.step, self.loss, self.largest = epoch, step, loss, largest


FLOAT32_SQUARABLE = 1e18  # |x| up to this squares, and sums over thousands of points, within float32 (max 3.4e38)


def _largest(windows: WindowSet) -> float:
    """The largest absolute value of the windows' data (inf if some value is not finite)."""
    values = windows.values.detach()
    if not bool(torch.isfinite(values).all()):
        return math.inf
    return float(values.abs().max()) if values.numel() else 0.0


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


@dataclass
class FitResult:
    history: list[dict]  # one row per epoch: epoch, train_loss, val_loss, lr, seconds
    best_epoch: int  # the epoch whose weights the model holds at the end
    stopped_early: bool
    train_seconds: float


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor | None]:
    if batch_size == 0 or batch_size >= count:
        return [None]  # the whole set, in order, as the tutorial's loop
    order = torch.randperm(count, generator=generator)
    return list(order.split(batch_size))


def fit(
    model: nn.Module,
    train: WindowSet,
    val: WindowSet | None,
    config: TrainConfig,
    on_epoch: Callable[[dict], None] | None = None,
    on_checkpoint: Callable[[dict, bool], None] | None = None,
    resume: dict | None = None,
    keep_start: bool = False,
) -> FitResult:
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
    check_memory(model, train, config)
    # `config` is resolved: none of these is None
    epochs, batch_size, lr = cast(int, config.epochs), cast(int, config.batch_size), cast(float, config.lr)
    patience = cast(int, config.patience)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = Adam(model.parameters(), lr=lr, weight_decay=config.weight_decay)  # torch's, without dynamo
    scheduler = _make_scheduler(optimizer, config)
    criterion = nn.MSELoss()
    full_batch = (train.model_inputs(), train.targets()) if batch_size == 0 or batch_size >= len(train) else None
    has_val = val is not None and len(val) > 0
    val_set = cast(WindowSet, val)  # read only when has_val
    progress: dict[str, Any] = {
        "epoch": 0,
        "best_loss": math.inf,
        "best_epoch": 0,
        "best_state": None,
        "waited": 0,
        "history": [],
        "stopped_early": False,
        "train_seconds": 0.0,
    }
    if resume is not None:
        progress = _restore(resume, model, optimizer, scheduler, generator)
    elif keep_start and has_val:
        progress.update(
            best_loss=evaluate_loss(model, val_set),
            best_state={name: value.detach().clone() for name, value in model.state_dict().items()},
        )
    # under torchrun: DDP, this rank's shares of the global batches, losses reduced over ranks (training.distributed)
    parallel = distributed.DataParallel(model, train, batch_size) if distributed.active() else None
    started = time.perf_counter() - progress["train_seconds"]

    def snapshot() -> dict:
        progress["train_seconds"] = time.perf_counter() - started
        return _snapshot(progress, model, optimizer, scheduler, generator)

    train_threads = step_threads(model, len(train) if batch_size == 0 else min(batch_size, len(train)))
    val_threads = step_threads(model, min(len(val_set), 4096) if has_val else 1)
    for epoch in range(progress["epoch"] + 1, epochs + 1):
        if progress["stopped_early"]:
            break
        model.train()
        if parallel is not None:
            parallel.seed_epoch(config.seed, epoch)
        epoch_start, total, count = time.perf_counter(), 0.0, 0
        batches = _batches(len(train), batch_size, generator)
        with train_threads:
            for step, index in enumerate(parallel.batches(batches) if parallel else batches, start=1):
                if parallel is not None:
                    loss, value = parallel.loss(index)
                    size = index[3]
                else:
                    inputs, targets = (
                        full_batch if full_batch is not None else (train.model_inputs(index), train.targets(index))
                    )
                    loss = criterion(model(*inputs), targets)
                    value, size = loss.item(), len(targets)
                if not math.isfinite(value):
                    raise TrainingDiverged(epoch, step, value, _largest(train))
                optimizer.zero_grad()
                loss.backward()
                if config.clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip)
                optimizer.step()
                total, count = total + value * size, count + size
        train_loss = total / count
        with val_threads:
            val_loss = (
                (distributed.evaluate_loss(model, val_set) if parallel else evaluate_loss(model, val_set))
                if has_val
                else float("nan")
            )
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_start,
        }
        progress["history"].append(row)
        progress["epoch"] = epoch
        if on_epoch is not None:
            on_epoch(row)
        if scheduler is not None:
            scheduler.step(val_loss if has_val else train_loss) if config.lr_schedule == "plateau" else scheduler.step()
        improved = has_val and val_loss < progress["best_loss"]
        if improved:
            progress.update(
                best_loss=val_loss,
                best_epoch=epoch,
                waited=0,
                best_state={name: value.detach().clone() for name, value in model.state_dict().items()},
            )
        elif has_val:
            progress["waited"] += 1
            progress["stopped_early"] = patience > 0 and progress["waited"] >= patience
        last = epoch == epochs or progress["stopped_early"]
        periodic = config.checkpoint_every > 0 and epoch % config.checkpoint_every == 0
        if on_checkpoint is not None and (improved or periodic or last):
            on_checkpoint(snapshot(), improved)
    if progress["best_state"] is not None:
        model.load_state_dict(progress["best_state"])
    else:
        progress["best_epoch"] = progress["epoch"]
    return FitResult(
        progress["history"], progress["best_epoch"], progress["stopped_early"], time.perf_counter() - started
    )


def check_memory(model: nn.Module, train: WindowSet, config: TrainConfig) -> None:
    """Refuses, before anything is allocated, training that would not fit in the device's memory (`grunet.memory`):
    the model's state and one batch of windows through the forward and backward pass."""
    settings = getattr(model, "config", None)
    if settings is None or not hasattr(settings, "hidden_size") or not len(train):
        return
    batch = len(train) if not config.batch_size else min(config.batch_size, len(train))
    needed = memory.training_bytes(settings, train.window, batch, config.ensemble)
    memory.check_fits(
        needed,
        f"training (hidden_size {settings.hidden_size}, num_layers {settings.num_layers}, "
        f"batches of {batch} windows of {train.window} steps)",
        config.device,
        "choose a smaller --hidden-size, --num-layers, --window or --batch-size",
    )


class step_threads:
    """Threads for a step (or a validation pass) of `batch` windows through a GRUNet on the CPU. Where the compiled
    loop does a step's heavy work (the recurrence with its input projection, and for small layers the weight
    gradients: `grunet.native.accumulates`), torch's own operations (the window norm, the head, the loss, Adam) run
    on one thread and the loop keeps torch's count for itself (`native.LOOP_THREADS`), using a second thread where
    the rule of `native.threads_for` and its timed choice (`native.ThreadChooser`) find it pays; torch's results do
    not depend on that choice, so a run stays reproducible. Where the loop does not run (no compiler, GRUNET_NATIVE=0)
    or leaves the weight gradients to torch's GEMMs, torch keeps its count, lowered to one only where the rule gives
    the step one thread. A context manager: the counts it found are set back on leaving, also after an error."""

    def __init__(self, model: nn.Module, batch: int) -> None:
        self.previous = self.wanted = torch.get_num_threads()
        self.loop: int | None = None
        config = getattr(model, "config", None)
        parameter = next(model.parameters(), None)
        hidden = getattr(config, "hidden_size", None)
        if not isinstance(hidden, int) or parameter is None or parameter.device.type != "cpu" or self.previous == 1:
            return
        from grunet import native

        layers = getattr(config, "num_layers", 1) or 1
        widest = max(getattr(config, "input_size", 1), hidden if layers > 1 else 0)
        loop_runs = native.available()
        if loop_runs and native.accumulates(hidden, widest):
            self.wanted, self.loop = 1, self.previous
        else:
            self.wanted = native.threads_for(batch, hidden, widest)

    def __enter__(self) -> None:
        from grunet import native

        self.saved_loop = native.LOOP_THREADS
        if self.loop is not None:
            native.LOOP_THREADS = self.loop
        if self.wanted < self.previous:
            torch.set_num_threads(self.wanted)

    def __exit__(self, *exc_info) -> None:
        from grunet import native

        native.LOOP_THREADS = self.saved_loop
        if self.wanted < self.previous:
            torch.set_num_threads(self.previous)


def _snapshot(progress: dict, model: nn.Module, optimizer, scheduler, generator: torch.Generator) -> dict:
    """The whole training state as tensors and plain data (loadable with torch.load(weights_only=True))."""
    return {
        **{key: value for key, value in progress.items() if key != "history"},
        "history": [dict(row) for row in progress["history"]],
        "model": {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _restore(state: dict, model: nn.Module, optimizer, scheduler, generator: torch.Generator) -> dict:
    """Puts a `_snapshot` back; returns the loop's progress. ValueError for a state that lacks what it needs or
    does not fit the model (a damaged or edited checkpoint.pt)."""
    missing = [key for key in STATE_KEYS if key not in state]
    if missing:
        raise ValueError(
            f"the checkpoint to resume lacks the training state's {', '.join(missing[:4])}: it is not a "
            f"complete grunet checkpoint; start the run anew"
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ValueError(f"the checkpoint to resume does not fit this run's model or optimizer: {first}") from None
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    keys = ("epoch", "best_loss", "best_epoch", "best_state", "waited", "history", "stopped_early", "train_seconds")
    return {key: state[key] for key in keys}


# what a checkpoint's training state must hold for `fit` to continue it (`_snapshot`)
STATE_KEYS = (
    "epoch",
    "best_loss",
    "best_epoch",
    "best_state",
    "waited",
    "history",
    "stopped_early",
    "train_seconds",
    "model",
    "optimizer",
    "scheduler",
    "generator",
    "torch_rng",
    "cuda_rng",
)


def _make_scheduler(optimizer: Adam, config: TrainConfig):
    if config.lr_schedule == "plateau":
        return ReduceLROnPlateau(optimizer, factor=0.5, patience=10)
    if config.lr_schedule == "cosine":
        return CosineAnnealingLR(optimizer, T_max=cast(int, config.epochs))
    return None
