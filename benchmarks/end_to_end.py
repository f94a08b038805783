"""`grunet train` (its defaults: the tutorial's exercise, with run folder, progress bar and plots) against the
tutorial's own code (`benchmarks/tutorial_exercise.py`), each a whole process, run in turn: the median of the
pairwise ratios, and each side's median wall time.

    python benchmarks/end_to_end.py [--pairs 6] [--grunet PATH_TO_GRUNET_EXECUTABLE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-1000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--grunet", default=shutil.which("grunet") or str(Path(sys.executable).with_name("grunet")))
    args = parser.parse_args()
    ours, theirs, ratios = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for pair in range(args.pairs + 1):  # the first pair warms up the caches and is not counted
            grunet = wall([args.grunet, "train", "--out", str(Path(folder) / f"run{pair}")])
            script = wall([sys.executable, str(HERE / "tutorial_exercise.py"), "0"])
            if pair:
                ours.append(grunet)
                theirs.append(script)
                ratios.append(script / grunet)
    print(
        f"grunet train {statistics.median(ours):.2f} s, the tutorial's code {statistics.median(theirs):.2f} s "
        f"(medians of {args.pairs}); ratio, median of pairs: {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}x-{max(ratios):.2f}x); load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
