"""How grunet scales with the data: a panel of daily series (long format, `--id-col`) made up here, along two axes:
points per series (one series of 1e3 ... 1e6 points) and series (10 ... 100,000 series of 200 points). For each: the
seconds to load and window the CSV file, `grunet train` (defaults but the given epochs) with its seconds per epoch and
the whole process's peak RSS, and `grunet predict` with its seconds and peak RSS.

    python benchmarks/scale.py [--series 10,1000,10000] [--points 1000,100000] [--epochs 1] [--search auto]

Each command runs in a process of its own (peak RSS: that process's own, read from the kernel when it ends). The
files are written to a temporary folder and removed afterwards. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# runs a command and prints its wall seconds and peak RSS (MiB) as JSON: RUSAGE_CHILDREN of a process that has just
# this one child is that child's own peak
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": peak, "code": code.returncode, "err": code.stderr[-400:]}))
"""
_LOAD = """
import sys, time
from grunet.data.config import DataConfig, load_series
from grunet.windows import prepare
start = time.perf_counter()  # after the imports: the load itself
config = DataConfig(data=sys.argv[1], target="value", time_col="date", id_col="id", horizon=7, window=14)
series = load_series(config)
loaded = time.perf_counter()
prepare(series, config.resolve(series))
print(loaded - start, time.perf_counter() - start)
"""


def write_panel(path: Path, series: int, points: int, seed: int = 0) -> None:
    """`series` daily series of `points` values each (a weekly cycle around a level of their own, and noise)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2000-01-01", periods=points, freq="D").strftime("%Y-%m-%d").to_numpy()
    level = rng.uniform(10, 100, (series, 1))
    cycle = 1 + 0.2 * np.sin(np.arange(points) * 2 * np.pi / 7)
    values = (level * cycle + rng.normal(0, 1, (series, points))).round(3)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "date", "value"])
        for index in range(series):
            writer.writerows(zip([f"s{index}"] * points, stamps, values[index]))


def measure(command: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, env=env)
    return json.loads(result.stdout)


def one_case(folder: Path, series: int, points: int, epochs: int, search: str) -> dict:
    data = folder / f"panel_{series}x{points}.csv"
    write_panel(data, series, points)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load = subprocess.run([sys.executable, "-c", _LOAD, str(data)], capture_output=True, text=True, env=env)
    load_seconds, windowed_seconds = (
        (float(value) for value in load.stdout.split())
        if load.returncode == 0
        else (
            float("nan"),
            float("nan"),
        )
    )
    run = folder / f"run_{series}x{points}"
    grunet = [sys.executable, "-m", "grunet"]
    train = measure(
        grunet + ["train", "--data", str(data), "--target", "value", "--time-col", "date", "--id-col", "id",
                  "--horizon", "7", "--epochs", str(epochs), "--search", search, "--out", str(run)]
    )  # fmt: skip
    epoch_seconds = float("nan")
    if (run / "history.csv").is_file():
        with open(run / "history.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        epoch_seconds = sum(float(row["seconds"]) for row in rows) / max(1, len(rows))
    predict = measure(grunet + ["predict", "--run", str(run), "--out", str(folder / "forecast.csv")])
    data.unlink()
    return {
        "series": series,
        "points": points,
        "load_s": load_seconds,
        "load_window_s": windowed_seconds,
        "epoch_s": epoch_seconds,
        "train_s": train["seconds"],
        "train_peak_mib": train["peak_mib"],
        "predict_s": predict["seconds"],
        "predict_peak_mib": predict["peak_mib"],
        "error": (train["err"] if train["code"] else predict["err"] if predict["code"] else "").strip()[-200:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="10,1000,10000", help="series counts (of 200 points each)")
    parser.add_argument("--points", default="1000,100000", help="points of one series")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--search", default="auto")
    args = parser.parse_args()
    cases = [(int(count), 200) for count in args.series.split(",") if count] + [
        (1, int(count)) for count in args.points.split(",") if count
    ]
    python = sys.version.split()[0]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print("| series | points each | load s | load + windows s | s / epoch | train s | train peak MiB | predict s "
          "| predict peak MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for series, points in cases:
            row = one_case(Path(folder), series, points, args.epochs, args.search)
            print(
                f"| {series:,} | {points:,} | {row['load_s']:.2f} | {row['load_window_s']:.2f} | {row['epoch_s']:.2f} "
                f"| {row['train_s']:.1f} | {row['train_peak_mib']:.0f} | {row['predict_s']:.2f} "
                f"| {row['predict_peak_mib']:.0f} |" + (f" error: {row['error']}" if row["error"] else ""),
                flush=True,
            )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
