"""Times two versions of grunet's compiled loop against each other in one process, step by step.

On a shared machine, separate runs (or blocks of steps) drift by more than the 5-10 % a change to the C++ loop
makes; alternating the two libraries every step and taking the median of the per-pair ratios cancels that drift
(an A/A run gives 0.99-1.00). Usage:

    python benchmarks/ab_native.py --dump before.cpp          # the current grunet/native/gru.cpp, to edit a copy
    python benchmarks/ab_native.py before.cpp after.cpp       # the tutorial's training step, 2 threads
    python benchmarks/ab_native.py before.cpp after.cpp --reset-after --shape 64,100,32,128,1 --mode gru
    python benchmarks/ab_native.py same.cpp same.cpp --after-flags=-fno-finite-math-only   # compiler flags

--mode train: GRUNet forward, MSE, backward and grunet's Adam (the step `grunet train` runs); gru: the layer alone,
`out[:, -1].sum().backward()` (what `grunet bench` times); forward: the layer under no_grad. It also prints the
largest difference between the two versions' gradients (0 when the arithmetic is unchanged).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from grunet import bench
from grunet.model import GRUNet
from grunet.native import library as native_library
from grunet.training.optim import Adam


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", nargs="?")
    parser.add_argument("after", nargs="?")
    parser.add_argument("--dump", metavar="FILE", help="write the current grunet/native/gru.cpp to FILE and stop")
    parser.add_argument("--shape", default="800,50,1,20,2", help="B,T,I,H,L (default: the tutorial's)")
    parser.add_argument("--reset-after", action="store_true")
    parser.add_argument("--mode", choices=("train", "gru", "forward"), default="train")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--after-flags", default="", help="compiler flags added for the second file (space-separated)")
    args = parser.parse_args()
    if args.dump:
        Path(args.dump).write_text(native_library.SOURCE.read_text())
        return 0
    if not (args.before and args.after):
        parser.error("give two C++ files (or --dump FILE)")
    libraries = {}
    flags = native_library.FLAGS
    for name, path in (("before", args.before), ("after", args.after)):
        native_library.FLAGS = flags + (args.after_flags.split() if name == "after" else [])
        libraries[name] = native_library.build(Path(path).read_text())
        native_library.FLAGS = flags
        if libraries[name] is None:
            print(f"{path} did not compile", file=sys.stderr)
            return 1
    native_library._tried = True  # from here on `native_library._library` is whichever is set below
    torch.set_num_threads(args.threads)
    batch, steps, inputs, hidden, layers = map(int, args.shape.split(","))
    torch.manual_seed(0)
    model = GRUNet(inputs, hidden, 1, layers, reset_after=args.reset_after)
    x, y = torch.randn(batch, steps, inputs), torch.randn(batch, 1)
    optimizer = Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        if args.mode == "forward":
            bench._forward(model.gru, x)
        elif args.mode == "gru":
            bench._train(model.gru, x)  # exactly what `grunet bench` times
        else:
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    gradients = {}
    for name, library in libraries.items():
        native_library._library = library
        bench._train(model.gru, x)
        gradients[name] = [parameter.grad.clone() for parameter in model.gru.parameters()]
    for library in libraries.values():  # warm-up (in train mode this changes the weights: after the gradients)
        native_library._library = library
        for _ in range(5):
            step()
    difference = max((a - b).abs().max().item() for a, b in zip(gradients["before"], gradients["after"]))
    times = {"before": [], "after": []}
    ratios = []
    for pair in range(args.pairs):
        for name in ("before", "after") if pair % 2 == 0 else ("after", "before"):
            native_library._library = libraries[name]
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
        ratios.append(times["after"][-1] / times["before"][-1])
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"shape {args.shape}, reset_after={args.reset_after}, mode {args.mode}, {args.threads} threads, "
        f"{args.pairs} pairs"
    )
    print(
        f"median ms: before {1000 * statistics.median(times['before']):.2f}, "
        f"after {1000 * statistics.median(times['after']):.2f}"
    )
    print(
        f"after / before, median of the pairs: {statistics.median(ratios):.3f} "
        f"(quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f})"
    )
    print(f"largest gradient difference: {difference:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
