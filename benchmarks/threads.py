"""Where a second thread starts to pay in grunet's compiled loop: one GRU layer, one thread against N, by batch size.

For each (batch, hidden_size, input_size), one grunet.GRU layer (T steps) is timed forward + backward
(``out[:, -1].sum().backward()``, as `grunet bench` times it) with the compiled loop forced to 1 thread and to N
(torch's own ops keep N threads in both), alternated call by call in one process; the figure is the median of the
per-pair ratios (1-thread time / N-thread time: > 1 means the threads pay). The work of one step is
batch x 3 x hidden_size x (hidden_size + input_size) multiply-adds, what `grunet.native.threads_for` decides by.
With --busy the same runs beside `grunet.bench.busy_core`.

    python benchmarks/threads.py                      # the default grid, quiet
    python benchmarks/threads.py --busy --hidden 20 --batches 32,64,128,256
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import torch

from grunet import native
from grunet.bench import _train, busy_core
from grunet.layer import GRU


def speedup(batch: int, hidden_size: int, input_size: int, steps: int, threads: int, pairs: int) -> tuple[float, ...]:
    """Median (and quartiles) of 1-thread time / `threads`-thread time of one layer's train call."""
    torch.manual_seed(0)
    gru = GRU(input_size, hidden_size, batch_first=True)
    x = torch.randn(batch, steps, input_size)  # (B, T, I)
    chosen = native.threads_for
    ratios = []
    try:
        for pair in range(pairs + 3):
            seconds = {}
            for count in (1, threads) if pair % 2 == 0 else (threads, 1):
                native.threads_for = lambda *shape, count=count: count
                start = time.perf_counter()
                _train(gru, x)
                seconds[count] = time.perf_counter() - start
            if pair >= 3:  # warm-up
                ratios.append(seconds[1] / seconds[threads])
    finally:
        native.threads_for = chosen
    quartiles = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), quartiles[0], quartiles[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="16,32,64,96,128,192,256,512,1024")
    parser.add_argument("--hidden", default="20,64,128", help="hidden sizes (input_size = hidden_size)")
    parser.add_argument("--input-size", type=int, default=None, help="default: the hidden size")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--busy", action="store_true", help="beside one busy core (grunet.bench.busy_core)")
    args = parser.parse_args()
    if not native.available():
        print("grunet.native is not available here", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} cores, torch threads {args.threads}, T = {args.steps}, {args.pairs} pairs, "
          f"{'one busy core' if args.busy else 'no busy core'}, load average {os.getloadavg()[0]:.2f}\n")
    print(f"| batch | hidden | input | work of a step (multiply-adds) | 1-thread / {args.threads}-thread time "
          f"| quartiles | threads_for |")
    print("|---|---|---|---|---|---|---|")
    with busy_core() if args.busy else contextlib.nullcontext():
        for hidden_size in map(int, args.hidden.split(",")):
            input_size = args.input_size or hidden_size
            for batch in map(int, args.batches.split(",")):
                median, low, high = speedup(batch, hidden_size, input_size, args.steps, args.threads, args.pairs)
                work = batch * 3 * hidden_size * (hidden_size + input_size)
                print(f"| {batch} | {hidden_size} | {input_size} | {work:,} | {median:.2f} | {low:.2f}-{high:.2f} "
                      f"| {native.threads_for(batch, hidden_size, input_size)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
