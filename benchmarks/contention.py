"""`grunet train` with its default threads against `OMP_NUM_THREADS=1`, on a quiet machine and beside one busy core.

Three runs of the command line, each in a fresh process, on data generated in a temporary folder:

- daily: one synthetic daily series of 10,000 points, the default model and training (mini-batches of 64),
  ``--search none --epochs 3`` (the threads are timed on the training, not on the settings search);
- sine: the tutorial's exercise, ``grunet train`` (full batch of 800 windows, 200 epochs);
- panel: 1,000 synthetic daily series of 80 points in long format (id, date, value), ``--search none --epochs 3``.

Each figure is the median of a run's epoch seconds (the ``seconds`` column of its history.csv: the training steps and
the validation pass, not the process's start-up). The two thread settings run in turn, A B B A ..., and the speed
ratio is taken pair by pair (1-thread seconds / default seconds: >= 1 means the default threads are at least as
fast); the table gives the median of the pairs and their range. "busy" runs them while `grunet.bench.busy_core`
keeps one core busy with another process. The load line says how much CPU the rest of the machine used meanwhile
(other users' programs distort both columns).

    python benchmarks/contention.py                # 3 pairs per line
    python benchmarks/contention.py --pairs 5 --cases daily,sine
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grunet.bench import busy_core


def write_daily(path: Path, length: int = 10_000, seed: int = 0) -> list[str]:
    """One daily series: level, trend, weekly and yearly cycles, noise. Returns its `grunet train` flags."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    value = (
        10 + 0.001 * t + np.sin(2 * np.pi * t / 7) + 0.5 * np.sin(2 * np.pi * t / 365.25) + rng.normal(0, 0.3, length)
    )
    dates = pd.date_range("1990-01-01", periods=length, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "value": value}).to_csv(path, index=False)
    return ["--data", str(path), "--time-col", "date", "--search", "none", "--epochs", "3"]


def write_panel(path: Path, series: int = 1_000, length: int = 80, seed: int = 0) -> list[str]:
    """`series` daily series in long format (id, date, value), each its own level, weekly cycle and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level, amplitude = rng.uniform(5, 50, (series, 1)), rng.uniform(0.5, 3, (series, 1))
    phase = rng.uniform(0, 2 * np.pi, (series, 1))
    value = level + amplitude * np.sin(2 * np.pi * t / 7 + phase) + rng.normal(0, 0.5, (series, length))  # (S, n)
    dates = pd.date_range("2020-01-01", periods=length, freq="D").strftime("%Y-%m-%d").to_numpy()
    pd.DataFrame(
        {
            "id": np.repeat([f"s{i:04d}" for i in range(series)], length),
            "date": np.tile(dates, series),
            "value": value.ravel(),
        }
    ).to_csv(path, index=False)
    return ["--data", str(path), "--time-col", "date", "--id-col", "id", "--search", "none", "--epochs", "3"]


def epoch_seconds(flags: list[str], one_thread: bool, out: Path) -> float:
    """Median epoch seconds of one `grunet train` process."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if one_thread:
        env["OMP_NUM_THREADS"] = "1"
    subprocess.run(
        [sys.executable, "-m", "grunet", "train", *flags, "--out", str(out), "--overwrite", "--no-plots", "--quiet"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with open(out / "history.csv") as history:
        seconds = [float(row["seconds"]) for row in csv.DictReader(history)]
    if not seconds:
        raise SystemExit(f"grunet train {' '.join(flags)} trained no epoch: nothing to time")
    return statistics.median(seconds)


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot (Linux), else None."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:8]]
    except OSError:
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def _process_seconds(pid: int) -> float:
    """CPU seconds of a running process (Linux), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(flags: list[str], pairs: int, folder: Path, busy_pid: int | None) -> dict:
    """`pairs` pairs of runs, default threads and one thread in turn; their times, ratios and the other load."""
    times = {False: [], True: []}
    ratios = []
    busy_before = _machine_busy_seconds()
    ours_before = os.times()
    busy_process_before = _process_seconds(busy_pid) if busy_pid else 0.0
    start = time.perf_counter()
    for pair in range(pairs):
        for one_thread in (False, True) if pair % 2 == 0 else (True, False):
            times[one_thread].append(epoch_seconds(flags, one_thread, folder / "run"))
        ratios.append(times[True][-1] / times[False][-1])
    wall = time.perf_counter() - start
    busy_after = _machine_busy_seconds()
    ours = sum(os.times()[:4]) - sum(ours_before[:4])
    busy_process = (_process_seconds(busy_pid) if busy_pid else 0.0) - busy_process_before
    other = None if busy_before is None else (busy_after - busy_before - ours - busy_process) / wall
    return {
        "default": statistics.median(times[False]),
        "one": statistics.median(times[True]),
        "ratio": statistics.median(ratios),
        "low": min(ratios),
        "high": max(ratios),
        "other_cores": other,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="pairs of runs per line (default 3)")
    parser.add_argument("--cases", default="daily,sine,panel", help="which of daily, sine, panel (default all)")
    parser.add_argument("--conditions", default="quiet,busy", help="quiet, busy or both (default both)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cases = {
            "daily": lambda: write_daily(folder / "daily.csv"),
            "sine": lambda: [],
            "panel": lambda: write_panel(folder / "panel.csv"),
        }
        flags = {name: cases[name]() for name in args.cases.split(",")}
        for condition in args.conditions.split(","):
            for name, case_flags in flags.items():
                print(f"{name}, {condition} ...", file=sys.stderr, flush=True)
                if condition == "busy":
                    with busy_core() as busy:
                        result = measure(case_flags, args.pairs, folder, busy.pid)
                else:
                    result = measure(case_flags, args.pairs, folder, None)
                rows.append({"case": name, "condition": condition, **result})
                print(f"  {result}", file=sys.stderr, flush=True)
    print(
        f"machine: {os.cpu_count()} cores; {args.pairs} pairs per line; median epoch seconds; "
        f"speed = 1-thread seconds / default seconds, median of the pairs (range)\n"
    )
    print(
        "| case | machine | default threads, s | OMP_NUM_THREADS=1, s | speed of the default | pairs | "
        "other programs' load, cores |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        other = "n/a" if row["other_cores"] is None else f"{row['other_cores']:.2f}"
        print(
            f"| {row['case']} | {'one busy core' if row['condition'] == 'busy' else 'quiet'} | {row['default']:.4f} "
            f"| {row['one']:.4f} | {row['ratio']:.2f} | {row['low']:.2f}-{row['high']:.2f} | {other} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
