"""Where a second thread starts to pay in grunet's compiled loop: one GRU layer, one thread against N, by batch size.

For each (batch, hidden_size, input_size), one grunet.GRU layer (T steps) is timed forward + backward
(``out[:, -1].sum().backward()``, as `grunet bench` times it) with the compiled loop forced to 1 thread and to N
(torch's own ops keep N threads in both), alternated call by call in one process; the figure is the median of the
per-pair ratios (1-thread time / N-thread time: > 1 means the threads pay). The work of one step is
batch x 3 x hidden_size x (hidden_size + input_size) multiply-adds, what `grunet.native.threads.threads_for` decides
by. With --busy the same runs beside `grunet.bench.busy_core`. On a shared machine, --wait-quiet S waits (up to S
seconds) before each line until the other programs use less than a quarter of a core; the last column says how
many cores they used while the line was measured.

    python benchmarks/threads.py                      # the default grid
    python benchmarks/threads.py --busy --hidden 20 --batches 32,64,128,256 --wait-quiet 300

--step B,T,I,H,L times instead the whole training step of `grunet train` (GRUNet forward, MSE, backward, grunet's
Adam) with torch's thread count 1 and N alternated step by step (the compiled loop follows `threads_for`): what
`OMP_NUM_THREADS=1` changes, without the process's start. Run it with the environment to compare, for instance
``GOMP_SPINCOUNT=2000`` (what the CLI sets) against libgomp's own 300,000.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import torch
from contention import _machine_busy_seconds, _process_seconds  # benchmarks/contention.py

from grunet import native
from grunet.bench import _train, busy_core
from grunet.layer import GRU
from grunet.model import GRUNet
from grunet.native import threads as native_threads
from grunet.training.optim import Adam


def other_load(seconds: float, busy_pid: int | None) -> float | None:
    """Cores the rest of the machine kept busy over the next `seconds` (this process and the busy one excluded)."""
    before, ours, busy = _machine_busy_seconds(), sum(os.times()[:2]), _process_seconds(busy_pid) if busy_pid else 0
    time.sleep(seconds)
    if before is None:
        return None
    used = sum(os.times()[:2]) - ours + ((_process_seconds(busy_pid) - busy) if busy_pid else 0)
    return (_machine_busy_seconds() - before - used) / seconds


def wait_quiet(limit: float, busy_pid: int | None) -> None:
    """Returns once the other programs used under a quarter of a core for 2 s, or after `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        load = other_load(2.0, busy_pid)
        if load is None or load < 0.25:
            return


def speedup(batch: int, hidden_size: int, input_size: int, steps: int, threads: int, pairs: int) -> tuple[float, ...]:
    """Median (and quartiles) of 1-thread time / `threads`-thread time of one layer's train call."""
    torch.manual_seed(0)
    gru = GRU(input_size, hidden_size, batch_first=True)
    x = torch.randn(batch, steps, input_size)  # (B, T, I)
    chosen = native_threads.threads_for
    ratios = []
    try:
        for pair in range(pairs + 3):
            seconds = {}
            for count in (1, threads) if pair % 2 == 0 else (threads, 1):
                native_threads.threads_for = lambda *shape, count=count: count
                start = time.perf_counter()
                _train(gru, x)
                seconds[count] = time.perf_counter() - start
            if pair >= 3:  # warm-up
                ratios.append(seconds[1] / seconds[threads])
    finally:
        native_threads.threads_for = chosen
    quartiles = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), quartiles[0], quartiles[2]


def step_speedup(shape: str, threads: int, pairs: int) -> tuple[float, ...]:
    """Median (and quartiles) of 1-thread time / `threads`-thread time of the training step, and the two medians."""
    batch, steps, input_size, hidden_size, layers = map(int, shape.split(","))
    torch.manual_seed(0)
    model = GRUNet(input_size, hidden_size, 1, layers)
    x, y = torch.randn(batch, steps, input_size), torch.randn(batch, 1)  # (B, T, I), (B, 1)
    optimizer = Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = {1: [], threads: []}
    ratios = []
    try:
        for pair in range(pairs + 3):
            for count in (1, threads) if pair % 2 == 0 else (threads, 1):
                torch.set_num_threads(count)
                start = time.perf_counter()
                step()
                seconds[count].append(time.perf_counter() - start)
            if pair >= 3:  # warm-up
                ratios.append(seconds[1][-1] / seconds[threads][-1])
    finally:
        torch.set_num_threads(threads)
    quartiles = statistics.quantiles(ratios, n=4)
    return (
        statistics.median(ratios),
        quartiles[0],
        quartiles[2],
        statistics.median(seconds[1][3:]),
        statistics.median(seconds[threads][3:]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="16,32,64,96,128,192,256,512,1024")
    parser.add_argument("--hidden", default="20,64,128", help="hidden sizes (input_size = hidden_size)")
    parser.add_argument("--input-size", type=int, default=None, help="default: the hidden size")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--busy", action="store_true", help="beside one busy core (grunet.bench.busy_core)")
    parser.add_argument("--step", metavar="B,T,I,H,L", help="time the training step instead (see above)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each line, wait up to SECONDS for the other programs to go quiet",
    )
    args = parser.parse_args()
    if not native.available():
        print("grunet.native is not available here", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    if args.step:
        with busy_core() if args.busy else contextlib.nullcontext():
            median, low, high, one, several = step_speedup(args.step, args.threads, args.pairs)
        print(
            f"training step {args.step}, {'one busy core' if args.busy else 'no busy core'}, GOMP_SPINCOUNT "
            f"{os.environ.get('GOMP_SPINCOUNT', 'unset')}, load average {os.getloadavg()[0]:.2f}: 1 thread "
            f"{1e3 * one:.2f} ms, {args.threads} threads {1e3 * several:.2f} ms, 1-thread / {args.threads}-thread "
            f"time {median:.3f} ({low:.3f}-{high:.3f})"
        )
        return 0
    print(
        f"{os.cpu_count()} cores, torch threads {args.threads}, T = {args.steps}, {args.pairs} pairs, "
        f"{'one busy core' if args.busy else 'no busy core'}, load average {os.getloadavg()[0]:.2f}\n"
    )
    print(
        f"| batch | hidden | input | work of a step (multiply-adds) | 1-thread / {args.threads}-thread time "
        f"| quartiles | threads_for | other programs, cores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with busy_core() if args.busy else contextlib.nullcontext() as busy:
        busy_pid = busy.pid if busy is not None else None
        for hidden_size in map(int, args.hidden.split(",")):
            input_size = args.input_size or hidden_size
            for batch in map(int, args.batches.split(",")):
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet, busy_pid)
                machine, ours = _machine_busy_seconds(), sum(os.times()[:2])
                busy_before, start = _process_seconds(busy_pid) if busy_pid else 0, time.perf_counter()
                median, low, high = speedup(batch, hidden_size, input_size, args.steps, args.threads, args.pairs)
                other = "n/a"
                if machine is not None:
                    used = sum(os.times()[:2]) - ours + ((_process_seconds(busy_pid) - busy_before) if busy_pid else 0)
                    other = f"{(_machine_busy_seconds() - machine - used) / (time.perf_counter() - start):.2f}"
                work = batch * 3 * hidden_size * (hidden_size + input_size)
                print(
                    f"| {batch} | {hidden_size} | {input_size} | {work:,} | {median:.2f} | {low:.2f}-{high:.2f} "
                    f"| {native_threads.threads_for(batch, hidden_size, input_size)} | {other} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
