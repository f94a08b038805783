"""Training throughput (windows per second) of the sine exercise with 1 and with 2 processes on this machine.

    python benchmarks/distributed.py [--epochs 30] [--repeat 2]

Runs `grunet train` end to end as a user would: one plain process (with 1 thread, and with as many threads as
processes for the largest count), and `torchrun --nproc_per_node=N` (1 thread per process, torchrun's default).
Throughput = epochs x training windows / train_seconds from metrics.json (the training loop only: not the start-up,
the rendezvous or the evaluation). The best of --repeat runs is shown. Prints the machine first: other load on it
(the load average) changes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN_WINDOWS = 800  # the sine exercise


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(processes: int, threads: int, flags: list[str], out: Path) -> float:
    """Windows per second of one `grunet train` run."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "--master_port",
            str(_port()),
            "-m",
            "grunet",
        ]
        if processes > 1
        else [sys.executable, "-m", "grunet"]
    )
    subprocess.run(
        launcher + ["train", *flags, "--quiet", "--no-plots", "--out", str(out)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics["epochs"] * TRAIN_WINDOWS / metrics["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per full-batch run (mini-batches: a sixth)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per cell; the best is shown")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import torch

    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} logical cores, load average before "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, gloo"
    )
    cases = [
        ("full batch (800)", ["--epochs", str(args.epochs)]),
        ("batch 32", ["--epochs", str(max(1, args.epochs // 6)), "--batch-size", "32"]),
    ]
    setups = [(1, 1)] + [(n, 1) for n in args.processes if n > 1]
    if max(args.processes) > 1:
        setups.insert(1, (1, max(args.processes)))
    header = f"{'setup':<28}" + "".join(f"{label:>20}" for label, _ in cases)
    print(f"\nwindows per second, sine exercise (hidden 20, 2 layers, window 50), best of {args.repeat}")
    print(header)
    print("-" * len(header))
    base = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes, threads in setups:
            label = (
                f"{processes} process{'es' if processes > 1 else ''} (torchrun)"
                if processes > 1
                else f"1 process, {threads} thread{'s' if threads > 1 else ''}"
            )
            cells = []
            for name, flags in cases:
                speed = max(
                    _run(processes, threads, flags, Path(folder) / f"{processes}-{threads}-{name[:4]}-{i}")
                    for i in range(args.repeat)
                )
                base.setdefault(name, speed)
                cells.append(f"{speed:>11,.0f} ({speed / base[name]:.2f}x)")
            print(f"{label:<28}" + "".join(f"{cell:>20}" for cell in cells), flush=True)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
