"""How many threads the compiled loop of `grunet.native` uses for a call.

Threads (`threads_for`): one thread where a step's work is too small to share, else up to torch's thread count. A
thread takes the next tile not yet taken, so a thread that another program slows down takes fewer tiles; the tiles
depend on the shape alone, so the results are bitwise the same for any thread count. `CHOOSER` (a `ThreadChooser`)
times that count against one thread on the calls themselves and keeps the faster.
"""

from __future__ import annotations

import os
from typing import Any

import torch

# The work of one step of one layer, in multiply-adds (batch x 3 gates x hidden x (hidden + input)), below which a
# second thread does not pay; see benchmarks/NOTES.md, "Threads".
MIN_STEP_WORK_PER_THREAD = 500_000


# From this hidden size on, gru.cpp cuts a batch of 17-32 float32 columns into two tiles (its WIDE_HIDDEN): a
# thread may then take one SIMD vector of 16 columns, where it otherwise takes 32 (benchmarks/NOTES.md, "Wide
# layers").
WIDE_HIDDEN = 512


def threads_for(batch: int, hidden_size: int, input_size: int) -> int:
    """How many threads the compiled loop uses for a layer: torch's thread count, fewer where a step's work
    (batch x 3 x hidden_size x (hidden_size + input_size) multiply-adds) gives a thread less than
    `MIN_STEP_WORK_PER_THREAD` or a thread would get fewer than 32 columns (two float32 SIMD vectors; from
    `WIDE_HIDDEN` on, one vector: batch 17 gets two threads)."""
    work = batch * 3 * hidden_size * (hidden_size + input_size)
    available = LOOP_THREADS if LOOP_THREADS is not None else torch.get_num_threads()
    vectors = -(-batch // 16) if hidden_size >= WIDE_HIDDEN else batch // 32
    return max(1, min(available, work // MIN_STEP_WORK_PER_THREAD, vectors))


# The threads the compiled loop may use when torch itself is held to fewer (`grunet.training.threads.step_threads`:
# torch on one thread around a step whose heavy work is the loop's); None: torch's own count
LOOP_THREADS: int | None = None


class ThreadChooser:
    """Between the thread count of `threads_for` and one thread, the faster one for a call of a given shape, found by
    timing them on the calls themselves: in every `EVERY` calls of a shape, the first 2 x `PROBES` alternate the two
    counts, and the rest use the one whose median time was lower. A machine's load changes (another program takes
    a core, then leaves): a second thread that waits for a core costs more than it gives, and this follows it. The
    compiled loop's results are bitwise the same for any thread count (tiles of the batch, summed in tile order), so
    the choice changes the speed only. `GRUNET_THREADS=fixed` keeps `threads_for`'s count."""

    PROBES = 3
    EVERY = 100
    MAX_SHAPES = 1024  # shapes remembered (then forgotten all at once)

    def __init__(self) -> None:
        self.fixed = os.environ.get("GRUNET_THREADS", "") == "fixed"
        self.shapes: dict[tuple, dict[str, Any]] = {}

    def threads(self, key: tuple, most: int) -> int:
        """The thread count for this call of shape `key`, where the rule allows `most`."""
        if most <= 1 or self.fixed:
            return most
        if len(self.shapes) >= self.MAX_SHAPES and key not in self.shapes:
            self.shapes.clear()
        state = self.shapes.setdefault(key, {"calls": 0, "choice": most, "times": {}})
        phase = state["calls"] % self.EVERY
        state["calls"] += 1
        if phase < 2 * self.PROBES:
            return most if phase % 2 == 0 else 1
        return state["choice"]

    def record(self, key: tuple, threads: int, seconds: float) -> None:
        """The time of a call made with `threads`; after the probes of a round, the faster count is chosen."""
        state = self.shapes.get(key)
        if state is None or self.fixed:
            return
        phase = (state["calls"] - 1) % self.EVERY
        if phase >= 2 * self.PROBES:
            return
        state["times"].setdefault(threads, []).append(seconds)
        if phase == 2 * self.PROBES - 1:
            times = state["times"]
            state["choice"] = min(times, key=lambda count: sorted(times[count])[len(times[count]) // 2])
            state["times"] = {}


CHOOSER = ThreadChooser()
