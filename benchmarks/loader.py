"""Loading a long-format panel: `load_csv` plus windowing (`prepare`, as `grunet train` windows the series) and
`grunet predict` on a run trained on it, for this tree and, side by side, for other checkouts of grunet (e.g. the
commit before a change: `git archive <commit> | tar -x -C /tmp/before`), run after run in fresh processes; medians.

    python benchmarks/loader.py --make 10000 --data /tmp/panel10000.csv      # write a panel: 10,000 series x 200 days
    python benchmarks/loader.py --data /tmp/panel10000.csv --run RUN --tree /tmp/before --repeats 3

RUN: a run trained on the panel (`grunet train --data PANEL --target value --time-col date --id-col id --horizon 7
--search none --epochs 1 --out RUN`). Each process times only its own work (after its imports, for the load); the
predict time is the whole `grunet predict` process, as a user waits for it.
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

LOAD = """
import sys, time
from grunet.data.config import DataConfig
from grunet.data.csvfile import load_csv
from grunet.windows import prepare
path = sys.argv[1]
start = time.perf_counter()
series = load_csv(path, target="value", time_col="date", id_col="id")
loaded = time.perf_counter()
prepare(series, DataConfig(data=path, target="value", time_col="date", id_col="id", horizon=7).resolve(series))
print(loaded - start, time.perf_counter() - loaded)
"""


def make_panel(count: int, path: Path, length: int = 200) -> None:
    """`count` daily series of `length` points, long format (id, date, value), sorted by id and date."""
    import numpy as np
    import pandas as pd

    dates = pd.date_range("2020-01-01", periods=length, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame(
        {
            "id": np.repeat([f"s{i}" for i in range(count)], length),
            "date": np.tile(dates, count),
            "value": np.random.default_rng(0).normal(50, 5, count * length).round(3),
        }
    ).to_csv(path, index=False)


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree)}


def time_load(tree: Path, data: str) -> tuple[float, float]:
    """(load, windowing) seconds in a fresh process importing grunet from `tree`."""
    out = subprocess.run([sys.executable, "-c", LOAD, data], env=_env(tree), capture_output=True, text=True, cwd="/")
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr[-2000:]}")
    load, windowing = map(float, out.stdout.split()[-2:])
    return load, windowing


def time_predict(tree: Path, run: str) -> float:
    """Seconds of a whole `grunet predict --run RUN` process importing grunet from `tree`."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "grunet", "predict", "--run", run, "--out", str(Path(folder) / "f.csv")]
        start = time.perf_counter()
        out = subprocess.run(command, env=_env(tree), capture_output=True, text=True, cwd="/")
        took = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the panel (long format: id, date, value)")
    parser.add_argument("--make", type=int, help="write a panel of this many daily series to --data first")
    parser.add_argument("--run", help="a run trained on the panel, for grunet predict")
    parser.add_argument("--tree", action="append", default=[], help="another grunet checkout to time beside this one")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.make:
        make_panel(args.make, Path(args.data))
    trees = [ROOT, *map(Path, args.tree)]
    loads: dict[Path, list] = {tree: [] for tree in trees}
    predicts: dict[Path, list] = {tree: [] for tree in trees}
    for _ in range(args.repeats):  # interleaved: load on the machine hits every tree alike
        for tree in trees:
            loads[tree].append(time_load(tree, args.data))
            if args.run:
                predicts[tree].append(time_predict(tree, args.run))
    print(f"{args.data}: medians of {args.repeats} (seconds; fastest-slowest)")
    print(f"{'tree':<32} {'load':>16} {'windows':>16} {'both':>16} {'predict':>18}")
    for tree in trees:
        columns = [
            [load for load, _ in loads[tree]],
            [windows for _, windows in loads[tree]],
            [load + windows for load, windows in loads[tree]],
            predicts[tree],
        ]
        cells = [_spread(values) if values else "-" for values in columns]
        print(f"{str(tree):<32} {cells[0]:>16} {cells[1]:>16} {cells[2]:>16} {cells[3]:>18}")


def _spread(values: list) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
