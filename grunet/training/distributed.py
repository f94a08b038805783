"""Data-parallel training on torch.distributed, launched by torchrun: the process group, ranks, reductions and the
sharding of windows. Nothing here runs in a plain single process: `active()` is False unless torchrun (or any
launcher that sets the same environment) started more than one process, and every caller keeps its one-process
path untouched.

    torchrun --nproc_per_node=2 -m grunet train ...

How the work is split (see README, "Running on a cluster"):

- `--batch-size` is the GLOBAL batch. Every rank draws the same permutation from the run's seeded generator (the
  one a single process draws; its state moves on every epoch, so each epoch is shuffled anew, as a
  DistributedSampler with the epoch in its seed) and takes every world-th window of each batch. Full batch: each
  rank takes every world-th window of all of them (its 1/world), gathered once.
- Shards are equal-sized: when a batch does not divide by the world size, the short shards are padded with a copy
  of one of their windows at weight 0. Each rank's loss is its weighted sum of squared errors times
  world / (global batch x horizon), so DDP's average of the ranks' gradients is exactly the gradient of the
  global batch's mean squared error: the same optimisation as one process with the same batch, up to float
  rounding.
- Validation and test windows are split in contiguous chunks; squared errors and counts are summed over ranks
  (validation), predictions gathered (test). Every value that decides something (a step's loss, the validation
  loss) is reduced and then broadcast from rank 0, so that all ranks take the same decisions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from grunet.windows import WindowSet

T = TypeVar("T")


def launched() -> bool:
    """True when this process is one of several started by torchrun (WORLD_SIZE > 1 in the environment)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def active() -> bool:
    """True when a process group with more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or a plain single process: the one that prints and writes files."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_processes() -> int:
    """The processes torchrun started on this machine (LOCAL_WORLD_SIZE; WORLD_SIZE where it is not set)."""
    for name in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        try:
            return int(os.environ[name])
        except (KeyError, ValueError):
            continue
    return 1


def check_devices(device: str | None) -> None:
    """Refuses, before any process group or NCCL communicator exists, more processes on this machine than CUDA
    devices when the run trains on CUDA (`device` cuda or cuda:N, or auto where auto picks CUDA): NCCL cannot put
    two ranks on one GPU ("Duplicate GPU detected"). ValueError with what to do; every rank raises it, rank 0
    alone prints it."""
    if device is None or not launched():
        return
    if device == "auto":
        from grunet import devices

        if not devices.cuda_is_faster()[0]:
            return
    elif not str(device).startswith("cuda"):
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    processes = local_processes()
    if processes > count:
        error = ValueError(
            f"--device {device}: this machine has no CUDA device (torch sees none); train on the CPU with --device "
            f"cpu (gloo, any number of processes)"
            if count == 0
            else f"torchrun started {processes} processes on this machine, but it has {count} CUDA "
            f"device(s) and each process needs its own: start at most {count} (--nproc_per_node="
            f"{count}), or train on the CPU with --device cpu (gloo, any number of processes)"
        )
        if local_rank() != 0 or os.environ.get("RANK", "0") not in ("", "0"):
            error.reported_by_rank_0 = True  # type: ignore[attr-defined]  # the command line prints it once
        raise error


def init(device: str | None = None) -> bool:
    """Joins the process group when torchrun started several processes; does nothing otherwise.

    Backend: gloo, plus nccl for CUDA tensors when CUDA is present (each rank on cuda:LOCAL_RANK). The rendezvous
    (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE) comes from torchrun's environment. Returns whether it joined.
    `device`: the device the run asked for, when known: a CUDA run with more processes on this machine than CUDA
    devices is refused first (`check_devices`); `device_for` checks again once a run's device is resolved.
    """
    if not launched() or active():
        return active()
    if not dist.is_available():
        raise RuntimeError("torchrun started several processes, but this torch has no torch.distributed")
    check_devices(device)
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank() % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return True


def teardown(together: bool = False) -> None:
    """Leaves the process group. together: this rank finished without an error, so every rank gets here: wait for
    the others first (a barrier), so that no rank takes its connections down while a peer is still writing the run's
    results (gloo then aborted the early rank at times, "terminate called without an active exception", and torchrun
    reported a finished run as failed). After an error a rank leaves at once: torchrun ends the others."""
    if dist.is_available() and dist.is_initialized():
        if together:
            dist.barrier()
        dist.destroy_process_group()


def device_for(name: str) -> str:
    """The device this rank trains on: a CUDA device becomes cuda:LOCAL_RANK (one GPU per process)."""
    if active() and torch.device(name).type == "cuda":
        check_devices(name)
        return f"cuda:{local_rank() % torch.cuda.device_count()}"
    return name


def on_main(function: Callable[[], T]) -> T:
    """Runs `function` on rank 0 alone and hands its result, or its ValueError/FileNotFoundError, to every rank."""
    if not active():
        return function()
    payload: list[Any] = [None]
    if is_main():
        try:
            payload[0] = ("ok", function())
        except (ValueError, FileNotFoundError) as error:
            payload[0] = ("error", error)
    dist.broadcast_object_list(payload, src=0)
    kind, value = payload[0]
    if kind == "error":
        if not is_main():
            value.reported_by_rank_0 = True  # the command line prints it once, on rank 0
        raise value
    return value


def _same_everywhere(values: Tensor) -> Tensor:
    """A sum over ranks that is bitwise the same on every rank: all_reduce, then rank 0's result broadcast."""
    values = values.detach().to("cpu", torch.float64).clone()
    dist.all_reduce(values)
    dist.broadcast(values, src=0)
    return values


def sum_over_ranks(*values: float) -> list[float]:
    """The sums over all ranks of each value, identical on every rank."""
    return _same_everywhere(torch.tensor(values, dtype=torch.float64)).tolist()


def chunk(count: int) -> Tensor:
    """This rank's contiguous share of `count` items (sizes differ by at most one; may be empty)."""
    return torch.arange(count).tensor_split(world_size())[rank()]


class DataParallel:
    """One training run's data-parallel side: the DDP-wrapped model and this rank's shards of the batches."""

    def __init__(self, model: nn.Module, train: WindowSet, batch_size: int) -> None:
        from torch.nn.parallel import DistributedDataParallel

        device = next(model.parameters()).device
        self.module = model
        self.wrapped = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        self.train, self.world, self.rank = train, world_size(), rank()
        self.full = batch_size == 0 or batch_size >= len(train)
        if self.full:  # the whole set every epoch: this rank's share is fixed, gathered once
            self._full_batch = self._gather(self._share(torch.arange(len(train))), len(train))

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Dropout masks: a stream per (seed, epoch, rank), so ranks do not draw the same masks for their different
        windows, and a resumed run draws what the uninterrupted one would have."""
        torch.manual_seed((seed * 1_000_003 + epoch) * 1_009 + self.rank)

    def _share(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """This rank's windows of a global batch (every world-th) and their weights, padded to ceil(len / world)."""
        size = -(-len(batch) // self.world)
        mine = batch[self.rank :: self.world]
        weights = torch.ones(size)
        if len(mine) < size:  # pad with one window (this rank's first, else the batch's first) at weight 0
            filler = (mine if len(mine) else batch)[:1]
            weights[len(mine) :] = 0
            mine = torch.cat([mine, filler.expand(size - len(mine))])
        return mine, weights

    def _gather(self, share: tuple[Tensor, Tensor], global_count: int):
        index, weights = share
        device = self.train.starts.device
        index = index.to(device)
        return (
            self.train.model_inputs(index),
            self.train.targets(index),
            None if bool((weights == 1).all()) else weights.to(device),
            global_count,
        )

    def batches(self, global_batches: list[Tensor | None]) -> list:
        """This rank's (inputs, targets, weights, global batch size) for each global batch of `train._batches`."""
        if self.full:
            return [self._full_batch]
        # not the full set: every global batch is a tensor of indices (None stands only for the full set)
        return [self._gather(self._share(batch), len(batch)) for batch in cast(list[Tensor], global_batches)]

    def loss(self, batch) -> tuple[Tensor, float]:
        """The loss to backpropagate on this rank, and the global batch's mean squared error (same on all ranks).

        DDP averages the ranks' gradients, so each rank's loss is its (weighted) sum of squared errors scaled by
        world / (global batch x horizon): the average is then the gradient of the global mean.
        """
        inputs, targets, weights, global_count = batch
        errors = (self.wrapped(*inputs) - targets).pow(2)
        if weights is not None:
            errors = errors * weights[:, None]
        total = errors.sum()
        scale = self.world / (global_count * targets.shape[1])
        global_mean = _same_everywhere(total.reshape(1)).item() / (global_count * targets.shape[1])
        return total * scale, global_mean


@torch.no_grad()
def evaluate_loss(model: nn.Module, windows: WindowSet) -> float:
    """The mean squared error over all ranks' chunks of `windows`, identical on every rank."""
    from grunet.training.evaluate import predict

    index = chunk(len(windows)).to(windows.starts.device)
    share = windows.subset(index)
    errors = (predict(model, share) - share.targets().double().cpu().numpy()) ** 2
    total, count = sum_over_ranks(float(errors.sum()), float(errors.size))
    return total / count if count else float("nan")


@torch.no_grad()
def predict_all(model: nn.Module, windows: WindowSet) -> np.ndarray:
    """The model's (N, horizon) outputs for all `windows`: each rank predicts its chunk, every rank gets all."""
    from grunet.training.evaluate import predict

    index = chunk(len(windows)).to(windows.starts.device)
    share = windows.subset(index)
    mine = torch.from_numpy(predict(model, share))
    sizes = [len(part) for part in torch.arange(len(windows)).tensor_split(world_size())]
    padded = torch.zeros(max(sizes), windows.horizon, dtype=torch.float64)
    padded[: len(mine)] = mine
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)]).numpy()
