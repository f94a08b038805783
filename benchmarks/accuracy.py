"""Forecast accuracy on real series: grunet's GRU against its baselines and published reference figures.

Runs `grunet train`'s pipeline in-process on each protocol and seed and prints markdown tables (mean ± sd over
seeds), with the fit seconds per model. Usage (from the repository root):

    python benchmarks/accuracy.py                 # seeds 0 1 2, every protocol
    python benchmarks/accuracy.py --seeds 0 --only airline

Each protocol runs grunet twice: with the README's recommended flags for that kind of data, and with the plain
defaults (only the protocol's data flags). The flags were chosen on a validation protocol one period earlier (see
benchmarks/NOTES.md), not on the test part.

Protocols:
- airline: monthly passengers 1949-1960, the last 12 months (1960) held out, horizon 12, season 12. References,
  measured on this protocol (../shared/BENCHMARKS.md and the issue): seasonal naive 50.71, SARIMA 18.59,
  Holt-Winters 15.81, Darts GRU 25.2 ± 3.1 (13.9 ± 1.9 with month/year covariates), NeuralForecast GRU 29.0 ± 8.3.
- sunspots: yearly 1700-1987, trained on 1700-1920, forecast one step ahead over 1921-1987 (67 points). The AR(9)
  reference (least squares, MSE ≈ 305) is computed here on the same points.
- macro: the US quarterly series of macro_quarterly_long.csv (12 in the file), one global model, the last 8 quarters
  held out, horizon 8; mean MASE over series against naive and linear AR.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grunet.evaluation.baselines import LinearAR  # noqa: E402 (after the path: runs from a checkout too)

DATA = ROOT / "tests" / "data"

# per protocol: data flags, recommended extra flags (data, model, train), metrics, reference figures
POSITIVE = dict(scale="none")  # per-window scaling replaces per-series scaling for positive series
PROTOCOLS = {
    "airline": dict(
        data=dict(data="airline", window=24, horizon=12, test_size=12, season=12),
        recommended=(dict(POSITIVE, val_size=0), dict(window_norm="meanabs", hidden_size=32, num_layers=1),
                     dict(batch_size=0, lr=0.01, epochs=500, ensemble=5)),
        metrics=["rmse", "mape"],
        references={"seasonal naive (statsmodels)": "50.71 / 9.99 %", "SARIMA(0,1,1)(0,1,1)12": "18.59 / 2.90 %",
                    "Holt-Winters (add. trend, mult. season)": "15.81 / 2.21 %",
                    "Darts GRU, no covariates": "25.2 ± 3.1", "Darts GRU, month/year covariates": "13.9 ± 1.9",
                    "NeuralForecast GRU": "29.0 ± 8.3"}),
    "sunspots": dict(
        data=dict(time_col="YEAR", window=20, test_size=67),
        recommended=(dict(POSITIVE), dict(window_norm="meanabs"), dict(ensemble=5)),
        metrics=["mse", "mae"], references={}),
    "macro": dict(
        data=dict(data=str(DATA / "macro_quarterly_long.csv"), id_col="series", time_col="time", target="value",
                  window=24, horizon=8, test_size=8),
        recommended=({}, {}, dict(ensemble=5)),
        metrics=["mase", "smape"], references={}),
}


def sunspots_file(folder: Path) -> Path:
    """The sunspot file cut at 1987 (the protocol's last test year)."""
    lines = (DATA / "sunspots_yearly.csv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[0].strip('"')) <= 1987]
    path = folder / "sunspots_1700_1987.csv"
    path.write_text("\n".join(kept) + "\n")
    return path


def ar_reference(path: Path, order: int = 9, test: int = 67) -> dict:
    """Least-squares AR(order) with intercept (grunet's LinearAR baseline) on the train part, one step ahead over the
    last `test` points."""
    values = np.loadtxt(path, delimiter=",", skiprows=1)[:, 1]
    windows = np.lib.stride_tricks.sliding_window_view(values, order + 1)  # row k: values[k .. k + order]
    train_end = len(values) - test
    fitted = LinearAR().fit(windows[:train_end - order, :-1], windows[:train_end - order, -1:])
    errors = fitted.predict(windows[train_end - order:, :-1])[:, 0] - values[train_end:]
    return {"mse": float(np.mean(errors ** 2)), "mae": float(np.mean(np.abs(errors)))}


def _flags(*sections: dict) -> str:
    parts = []
    for section in sections:
        for key, value in section.items():
            value = Path(value).name if key == "data" and "/" in str(value) else value
            parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(parts)


def run(name: str, seeds: list[int], folder: Path) -> list[str]:
    import torch

    from grunet.data.config import DataConfig
    from grunet.fitting import train_run
    from grunet.model import ModelConfig
    from grunet.training.train import TrainConfig
    protocol = PROTOCOLS[name]
    data = dict(protocol["data"])
    if name == "sunspots":
        data["data"] = str(sunspots_file(folder))
    metrics = protocol["metrics"]
    extra_data, extra_model, extra_train = protocol["recommended"]
    variants = {"GRU, recommended flags": (dict(data, **extra_data), extra_model, extra_train),
                "GRU, defaults": (data, {}, {})}
    rows, seconds, baselines = {}, {}, {}
    for label, (data_flags, model_flags, train_flags) in variants.items():
        rows[label] = {metric: [] for metric in metrics}
        seconds[label] = []
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = train_run(DataConfig(**data_flags), ModelConfig(**model_flags),
                                   TrainConfig(seed=seed, device="cpu", **train_flags))
            seconds[label].append(result.metrics["train_seconds"] / result.train_config.ensemble)
            for metric in metrics:
                rows[label][metric].append(result.metrics["test"][metric])
            for baseline, values in result.metrics["baselines"].items():
                baselines[baseline.replace("_", " ")] = [values[metric] for metric in metrics]
    lines = [f"### {name}", "",
             "| model | " + " / ".join(metrics) + " | fit seconds per model (median) |", "|---|---|---|"]
    for label, values in rows.items():
        cells = " / ".join(f"{statistics.fmean(values[m]):.4g} ± {statistics.stdev(values[m]):.2g}"
                           if len(seeds) > 1 else f"{values[m][0]:.4g}" for m in metrics)
        lines.append(f"| {label} | {cells} | {statistics.median(seconds[label]):.2f} |")
    for label, values in baselines.items():
        lines.append(f"| {label} | " + " / ".join(f"{value:.4g}" for value in values) + " | |")
    if name == "sunspots":
        reference = ar_reference(Path(data["data"]))
        lines.append(f"| AR(9), least squares (computed here) | {reference['mse']:.4g} / {reference['mae']:.4g} | |")
    for label, value in protocol["references"].items():
        lines.append(f"| {label} (reference) | {value} | |")
    lines += ["", f"recommended: `grunet train {_flags(data, extra_data, extra_model, extra_train)}`",
              f"defaults: `grunet train {_flags(data)}`", f"seeds {', '.join(map(str, seeds))}; torch threads "
              f"{torch.get_num_threads()}"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=list(PROTOCOLS), nargs="+", default=list(PROTOCOLS))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}\n")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only:
            print("\n".join(run(name, args.seeds, Path(folder))) + "\n", flush=True)


if __name__ == "__main__":
    main()
