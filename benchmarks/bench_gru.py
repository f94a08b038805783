"""Prints grunet.GRU against torch.nn.GRU (times, ratios, peak memory) as a markdown table.

    python benchmarks/bench_gru.py [--repeats 20] [--warmup 3] [--threads 2] [--device cpu] [--shapes 0,1]

The measurement itself is `grunet.bench.run_benchmark`; see its module docstring for the method.
"""
from __future__ import annotations

import argparse
import platform

import torch

from grunet import native
from grunet.bench import SHAPES, format_table, run_benchmark


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default=None, help="comma-separated indices into grunet.bench.SHAPES")
    args = parser.parse_args()
    shapes = SHAPES if args.shapes is None else [SHAPES[int(i)] for i in args.shapes.split(",")]
    rows = run_benchmark(shapes, repeats=args.repeats, warmup=args.warmup, threads=args.threads, device=args.device)
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else cpu_model()
    print(f"device: {device}; threads: {args.threads}; torch {torch.__version__}; "
          f"grunet.native compiled loop: {'yes' if native.available() else 'no (pure-torch loop)'}; "
          f"medians of {args.repeats} after {args.warmup} warm-up rounds, batch_first, float32")
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
