"""Forecast accuracy on real series, as a user gets it: `grunet train` with no flag beyond the data's columns and the
horizon (its defaults: the settings searched, an ensemble, a refit), then `grunet predict`. Prints markdown tables
(mean ± sd over seeds), the prediction intervals' coverage over every held-out point, and what the search chose.

    python benchmarks/accuracy.py                 # seeds 0 1 2, every protocol
    python benchmarks/accuracy.py --seeds 0 --only airline

Protocols (the held-out parts are these protocols' test parts; nothing was tuned on them):
- airline: monthly passengers, trained on 1949-1959, `grunet predict` forecasts 1960 (h = 12). References on the
  same 12 months: seasonal naive 50.71, SARIMA(0,1,1)(0,1,1)12 18.59, Holt-Winters 15.81, Darts GRU 25.2 ± 3.1
  (13.9 ± 1.9 with month/year covariates), NeuralForecast GRU 29.0 ± 8.3.
- sunspots: yearly 1700-1987, the last 67 years (1921-1987) held out, one step ahead (--test-size 67): the test MSE
  of metrics.json, against AR(9) by least squares on the same points (computed here, about 305).
- macro: 12 US quarterly series, the last 8 quarters held out, h = 8 (--test-size 8): mean MASE against naive and
  the linear AR.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
AIRLINE = ROOT / "grunet" / "data" / "airline.csv"


def grunet(*args: str) -> None:
    """`grunet ...` in a process of its own, as a user runs it (a failure ends the benchmark with its message)."""
    done = subprocess.run(
        [sys.executable, "-m", "grunet", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"grunet {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")


def ar_reference(values: np.ndarray, order: int = 9, test: int = 67) -> float:
    """MSE of a least-squares AR(order) with intercept, fitted before the last `test` points, one step ahead over
    them."""
    windows = np.lib.stride_tricks.sliding_window_view(values, order + 1)  # row k: values[k .. k + order]
    train_end = len(values) - test
    design = np.hstack([windows[:, :-1], np.ones((len(windows), 1))])
    coef, *_ = np.linalg.lstsq(design[: train_end - order], windows[: train_end - order, -1], rcond=None)
    errors = design[train_end - order :] @ coef - values[train_end:]
    return float(np.mean(errors**2))


def airline(seed: int, folder: Path) -> dict:
    frame = pd.read_csv(AIRLINE)
    train, truth = frame.iloc[:-12], frame.iloc[-12:]["Passengers"].to_numpy(float)
    data = folder / "airline_1949_1959.csv"
    train.to_csv(data, index=False)
    run = folder / f"airline_{seed}"
    grunet(
        "train",
        "--data",
        str(data),
        "--target",
        "Passengers",
        "--time-col",
        "Date",
        "--horizon",
        "12",
        "--seed",
        str(seed),
        "--quiet",
        "--no-plots",
        "--out",
        str(run),
    )
    grunet("predict", "--run", str(run))
    forecast = pd.read_csv(run / "forecast.csv")
    inside = {
        level: ((truth >= forecast[f"lo-{level}"]) & (truth <= forecast[f"hi-{level}"])).to_numpy()
        for level in (80, 95)
    }
    return {"score": float(np.sqrt(np.mean((forecast["value"].to_numpy() - truth) ** 2))), "inside": inside, "run": run}


def sunspots(seed: int, folder: Path) -> dict:
    frame = pd.read_csv(DATA / "sunspots_yearly.csv")
    frame = frame[frame["YEAR"] <= 1987]
    data = folder / "sunspots_1700_1987.csv"
    frame.to_csv(data, index=False)
    return _scored(
        data,
        seed,
        folder / f"sunspots_{seed}",
        "mse",
        "--time-col",
        "YEAR",
        "--target",
        "SUNACTIVITY",
        "--horizon",
        "1",
        "--test-size",
        "67",
    )


def macro(seed: int, folder: Path) -> dict:
    return _scored(
        DATA / "macro_quarterly_long.csv",
        seed,
        folder / f"macro_{seed}",
        "mase",
        "--id-col",
        "series",
        "--time-col",
        "time",
        "--target",
        "value",
        "--horizon",
        "8",
        "--test-size",
        "8",
    )


def _scored(data: Path, seed: int, run: Path, metric: str, *flags: str) -> dict:
    """A run's test score and its intervals' coverage on the test part (metrics.json)."""
    grunet("train", "--data", str(data), *flags, "--seed", str(seed), "--quiet", "--no-plots", "--out", str(run))
    metrics = json.loads((run / "metrics.json").read_text())
    points = metrics["test_windows"] * int(json.loads((run / "config.json").read_text())["data"]["horizon"])
    coverage = metrics["test"].get("coverage", {})
    inside = {
        int(level): np.repeat([True, False], [round(points * share / 100), points - round(points * share / 100)])
        for level, share in coverage.items()
    }
    return {"score": metrics["test"][metric], "inside": inside, "run": run, "metrics": metrics}


PROTOCOLS = {
    "airline": (airline, "RMSE of `predict` on 1960"),
    "sunspots": (sunspots, "test MSE, 1921-1987"),
    "macro": (macro, "test mean MASE, 12 series"),
}


def chosen(run: Path) -> str:
    """What the search chose, from the run's config.json."""
    config = json.loads((run / "config.json").read_text())
    members = config.get("members") or [{}]
    first = members[0]
    seasonal = first.get("seasonal") or 0
    return (
        f"window {config['data']['window']}, {first.get('window_norm', config['model']['window_norm'])} "
        f"(scale {config['data']['scale']}{', log' if config['data'].get('log') else ''})"
        f"{f', the change from {seasonal} steps back' if seasonal else ''}, hidden {first.get('hidden_size')}, "
        f"layers {first.get('num_layers')}, skip {first.get('ar')}, lr {first.get('lr')}; {len(members)} members"
    )


def weight(run: Path) -> float:
    """The Holt-Winters weight the run forecast with (its config.json repeats it)."""
    return float(json.loads((run / "config.json").read_text())["search"]["smoothing"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=list(PROTOCOLS), nargs="+", default=list(PROTOCOLS))
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; `grunet train` with its defaults, seeds {', '.join(map(str, args.seeds))}\n"
    )
    pooled: dict[int, list] = {80: [], 95: []}
    print(
        "| data | metric | GRU, defaults (mean ± sd) | per seed (Holt-Winters weight) | baselines on the same points "
        "| 80 % / 95 % intervals cover | what the search chose (seed 0) |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            function, metric = PROTOCOLS[name]
            results = [function(seed, Path(folder)) for seed in args.seeds]
            scores = [result["score"] for result in results]
            spread = f" ± {statistics.stdev(scores):.3g}" if len(scores) > 1 else ""
            covered = {}
            for level in (80, 95):
                inside = np.concatenate([result["inside"][level] for result in results])
                pooled[level].append(inside)
                covered[level] = 100 * inside.mean()
            baselines = ""
            if "metrics" in results[0]:
                key = "mse" if name == "sunspots" else "mase"
                baselines = ", ".join(
                    f"{label.replace('_', ' ')} {values[key]:.4g}"
                    for label, values in results[0]["metrics"]["baselines"].items()
                )
                if name == "sunspots":
                    values = pd.read_csv(DATA / "sunspots_yearly.csv").query("YEAR <= 1987")["SUNACTIVITY"]
                    baselines += f", AR(9) {ar_reference(values.to_numpy(float)):.4g}"
            per_seed = ", ".join(f"{result['score']:.4g} ({weight(result['run']):.2g})" for result in results)
            print(
                f"| {name} | {metric} | **{statistics.fmean(scores):.4g}{spread}** | "
                f"{per_seed} | "
                f"{baselines} | {covered[80]:.0f} % / "
                f"{covered[95]:.0f} % | {chosen(results[0]['run'])} |",
                flush=True,
            )
    total = {level: 100 * np.concatenate(values).mean() for level, values in pooled.items() if values}
    count = sum(len(values) for values in pooled[80])
    print(
        f"\nover all {count} held-out points: the 80 % intervals cover {total[80]:.1f} %, the 95 % ones "
        f"{total[95]:.1f} %"
    )


if __name__ == "__main__":
    main()
