"""Prints grunet.GRU against torch.nn.GRU (times, ratios, peak memory) and the inference latency of onnxruntime, as
markdown tables; the same as `grunet bench`.

    python benchmarks/bench_gru.py [--repeats 20] [--warmup 3] [--threads 2] [--device cpu] [--shapes 0,1]

The measurement itself is in `grunet.bench`; see its module docstring for the method.
"""

import sys

from grunet.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
