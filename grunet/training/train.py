"""Training: the tutorial's loop (Adam, MSE, full batch) with mini-batches, early stopping, a learning-rate schedule,
gradient clipping and weight decay as switches. The loop knows nothing about data sets or files: it takes
`WindowSet`s and returns the history; progress is reported through a callback. Its settings are a `TrainConfig`
(`grunet.training.config`); the threads of a step, `grunet.training.threads`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from grunet import memory
from grunet.torch_compat import with_marks
from grunet.training import distributed
from grunet.training.config import TrainConfig
from grunet.training.evaluate import evaluate_loss
from grunet.training.optim import Adam, CosineAnnealingLR, ReduceLROnPlateau
from grunet.training.threads import step_threads
from grunet.windows import WindowSet


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
        model.load_state_dict(with_marks(model, state["model"]))
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
