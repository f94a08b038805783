"""The threads of a training step on the CPU (`step_threads`): torch's own operations and the compiled loop of
`grunet.native` share the cores so that the step's heavy work gets them."""

from __future__ import annotations

import torch
from torch import nn


class step_threads:
    """Threads for a step (or a validation pass) of `batch` windows through a GRUNet on the CPU. Where the compiled
    loop does a step's heavy work (the recurrence with its input projection, and for small layers the weight
    gradients: `grunet.native.accumulates`), torch's own operations (the window norm, the head, the loss, Adam) run
    on one thread and the loop keeps torch's count for itself (`grunet.native.threads.LOOP_THREADS`), using a second
    thread where the rule of `grunet.native.threads.threads_for` and its timed choice (`ThreadChooser`) find it pays;
    torch's results do not depend on that choice, so a run stays reproducible. Where the loop does not run (no
    compiler, GRUNET_NATIVE=0) or leaves the weight gradients to torch's GEMMs, torch keeps its count, lowered to one
    only where the rule gives the step one thread. A context manager: the counts it found are set back on leaving,
    also after an error."""

    def __init__(self, model: nn.Module, batch: int) -> None:
        self.previous = self.wanted = torch.get_num_threads()
        self.loop: int | None = None
        config = getattr(model, "config", None)
        parameter = next(model.parameters(), None)
        hidden = getattr(config, "hidden_size", None)
        if not isinstance(hidden, int) or parameter is None or parameter.device.type != "cpu" or self.previous == 1:
            return
        from grunet import native
        from grunet.native import threads as loop_threads

        layers = getattr(config, "num_layers", 1) or 1
        widest = max(getattr(config, "input_size", 1), hidden if layers > 1 else 0)
        loop_runs = native.available()
        if loop_runs and native.accumulates(hidden, widest):
            self.wanted, self.loop = 1, self.previous
        else:
            self.wanted = loop_threads.threads_for(batch, hidden, widest)

    def __enter__(self) -> None:
        from grunet.native import threads as loop_threads

        self.saved_loop = loop_threads.LOOP_THREADS
        if self.loop is not None:
            loop_threads.LOOP_THREADS = self.loop
        if self.wanted < self.previous:
            torch.set_num_threads(self.wanted)

    def __exit__(self, *exc_info) -> None:
        from grunet.native import threads as loop_threads

        loop_threads.LOOP_THREADS = self.saved_loop
        if self.wanted < self.previous:
            torch.set_num_threads(self.previous)
