"""Forecast accuracy on real series: grunet's GRU against its baselines and published reference figures.

Runs `grunet train`'s pipeline in-process on each protocol and seed and prints a markdown table (mean ± sd over
seeds). Usage (from the repository root):

    python benchmarks/accuracy.py                 # seeds 0 1 2, every protocol
    python benchmarks/accuracy.py --seeds 0 --only airline

Protocols (the command-line flags that reproduce each are printed with the table):
- airline: monthly passengers, the last 12 months (1960) held out, horizon 12, season 12. Reference (statsmodels,
  ../shared/BENCHMARKS.md): seasonal naive RMSE 50.71, SARIMA 18.59, Holt-Winters 15.81.
- sunspots: yearly, one step ahead over the last 67 years of the file (1942-2008).
- macro: 12 US quarterly series in long format, one global model, the last 8 quarters held out, horizon 8; mean MASE.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data"

PROTOCOLS = {
    "airline": (dict(data="airline", window=24, horizon=12, test_size=12, season=12), {},
                ["rmse", "mape"], {"seasonal naive (statsmodels)": 50.71, "SARIMA(0,1,1)(0,1,1)12": 18.59,
                                   "Holt-Winters": 15.81}),
    "sunspots": (dict(data=str(DATA / "sunspots_yearly.csv"), time_col="YEAR", window=20, test_size=67), {},
                 ["mse", "mae"], {}),
    "macro": (dict(data=str(DATA / "macro_quarterly_long.csv"), id_col="series", time_col="time", target="value",
                   window=24, horizon=8, test_size=8), {}, ["mase", "smape"], {}),
}


def _flags(data: dict) -> str:
    return " ".join(f"--{key.replace('_', '-')} {Path(value).name if key == 'data' and '/' in str(value) else value}"
                    for key, value in data.items())


def run(name: str, seeds: list[int]) -> tuple[list[str], dict]:
    import torch

    from grunet.datasets import DataConfig
    from grunet.forecast import train_run
    from grunet.model import ModelConfig
    from grunet.train import TrainConfig
    data, model, metrics, references = PROTOCOLS[name]
    results = {"GRU (grunet)": {metric: [] for metric in metrics}}
    seconds = []
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            result = train_run(DataConfig(**data), ModelConfig(**model), TrainConfig(seed=seed, device="cpu"))
            seconds.append(time.perf_counter() - started)
        for metric in metrics:
            results["GRU (grunet)"][metric].append(result.metrics["test"][metric])
        for baseline, values in result.metrics["baselines"].items():
            row = results.setdefault(baseline.replace("_", " "), {metric: [] for metric in metrics})
            for metric in metrics:
                row[metric].append(values[metric])
    lines = [f"### {name}: `grunet train {_flags(data)}` (seeds {', '.join(map(str, seeds))})", "",
             "| model | " + " | ".join(metrics) + " | fit seconds |", "|---" * (len(metrics) + 2) + "|"]
    for label, values in results.items():
        cells = []
        for metric in metrics:
            mean = statistics.fmean(values[metric])
            sd = statistics.stdev(values[metric]) if len(values[metric]) > 1 else 0.0
            cells.append(f"{mean:.4g} ± {sd:.2g}" if label.startswith("GRU") and len(seeds) > 1 else f"{mean:.4g}")
        fit = f"{statistics.median(seconds):.2f} (median)" if label.startswith("GRU") else ""
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fit} |")
    for label, value in references.items():
        lines.append(f"| {label} (reference) | {value} |" + " |" * len(metrics))
    lines.append(f"\ntorch threads: {torch.get_num_threads()}")
    return lines, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=list(PROTOCOLS), nargs="+", default=list(PROTOCOLS))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    for name in args.only:
        lines, _ = run(name, args.seeds)
        print("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
