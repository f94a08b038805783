"""What each process-level trick of the `grunet` command saves: `grunet train` (the tutorial's sine, its defaults) as
a whole process, with everything on, and with one trick taken out at a time, interleaved run by run (the order
rotates each round); medians, and the share of the whole process each trick saves as the median of its per-round
ratios (a round's variants run back to back, so a drift of the machine's speed cancels). A trick stays only if it
saves at least 5 % (benchmarks/NOTES.md).

    python benchmarks/startup.py [--runs 7] [--epochs 200]

The tricks (grunet/startup.py, grunet/training/optim.py): the plot worker started before torch's import,
glibc keeping freed memory (mallopt), grunet's own Adam instead of torch.optim's (whose first use imports
torch._dynamo). Each is taken out by a small wrapper around the console entry, not by a switch in the package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a wrapper per variant: Python run before the console entry `grunet.cli.run`
WITHOUT = {
    "everything on": "",
    "no plot worker": "import grunet.startup as s; s.start_plot_worker = lambda *args: None",
    "no mallopt": "import grunet.startup as s; s.keep_freed_memory = lambda *args: False",
    "torch.optim's Adam": "import torch.optim, grunet.training.train as t; t.Adam = torch.optim.Adam",
}


def command(variant: str, out: Path, epochs: int) -> list[str]:
    code = (
        WITHOUT[variant]
        + "\nimport sys; from grunet.cli import run; sys.argv[1:] = "
        + repr(["train", "--epochs", str(epochs), "--out", str(out)])
        + "; run()"
    )
    return [sys.executable, "-c", code]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds: dict[str, list[float]] = {variant: [] for variant in WITHOUT}
    with tempfile.TemporaryDirectory() as folder:
        variants = list(WITHOUT)
        for run in range(args.runs + 1):  # the first round warms the caches up and is not counted
            for variant in variants[run % len(variants) :] + variants[: run % len(variants)]:
                out = Path(folder) / f"{run}-{len(seconds[variant])}-{variant.replace(' ', '_')}"
                started = time.perf_counter()
                done = subprocess.run(command(variant, out, args.epochs), env=env, capture_output=True, text=True)
                elapsed = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(f"{variant}: {done.stderr.strip()[-1000:]}")
                if run:
                    seconds[variant].append(elapsed)
    base = seconds["everything on"]
    print(
        f"`grunet train --epochs {args.epochs}` (the sine), whole process, median of {args.runs} interleaved runs; "
        f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}\n"
    )
    print("| variant | median s | min-max s | the trick saves: median (min-max) of 1 - on / without, per round |")
    print("|---|---|---|---|")
    for variant, values in seconds.items():
        saved = ""
        if variant != "everything on":
            shares = [100 * (1 - on / without) for on, without in zip(base, values)]
            saved = f"{statistics.median(shares):.1f} % ({min(shares):.1f} to {max(shares):.1f} %)"
        print(f"| {variant} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} | {saved} |")


if __name__ == "__main__":
    main()
