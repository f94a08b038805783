"""The peers' forecasts on the validation corpus: statsforecast's AutoETS, AutoARIMA, AutoTheta, SeasonalNaive (when
the season is > 1) and Naive, on every manifest entry and protocol (see corpus_common.py), written to peers.json.

    peers-venv/bin/python benchmarks/peers.py [--corpus valdata] [--only a10,UKgas] [--protocol dev]

statsforecast is NOT a grunet dependency: this script runs in a separate venv (pip install statsforecast pandas numpy).
Without statsforecast it only reads the cached peers.json and prints its tables (versus_peers.py needs only that file).

Each model is fitted per series on the train part, with statsforecast's defaults and the entry's season, except:
AutoARIMA gets `approximation=True` when the season is above 12 (weekly, hourly, half-hourly: R's auto.arima does so
by default for such data; without it one half-hourly series took over 4 minutes). A series on which a model raises
(AutoETS and AutoTheta refuse fewer than 8 and 4 points: "tiny datasets") or returns a non-finite forecast gets the
Naive forecast instead, counted in `fallbacks`. Figures per file: the means over series of per-series RMSE, MAE, MASE
(in-sample seasonal naive scale of the train part) and sMAPE (%), the forecasts, the fit seconds (all series).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus_common import DEFAULT_FOLDER, PROTOCOLS, file_metrics, load_manifest, split  # noqa: E402

DEFAULT_OUT = HERE / "peers.json"
MODELS = ("AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive", "Naive")


def make_model(name: str, season: int):
    from statsforecast import models

    if name == "AutoARIMA":
        return models.AutoARIMA(season_length=season, **({"approximation": True} if season > 12 else {}))
    if name == "Naive":
        return models.Naive()
    return getattr(models, name)(season_length=season)


def forecast_one(name: str, season: int, y: np.ndarray, h: int) -> tuple[np.ndarray, bool]:
    """(forecast, fell back to Naive)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean = np.asarray(make_model(name, season).forecast(y=y, h=h)["mean"], float)
        if mean.shape == (h,) and np.all(np.isfinite(mean)):
            return mean, False
    except Exception:  # noqa: BLE001 (any refusal of a model counts as a fallback)
        pass
    return np.repeat(y[-1], h).astype(float), True


def run_entry(folder, entry: dict, protocol: str, models) -> dict:
    _, train, truth = split(folder, entry, protocol)
    season, h = entry["season"], entry["horizon"]
    out = dict(n_series=len(truth), models={})
    for name in models:
        if name == "SeasonalNaive" and season <= 1:
            continue
        start = time.perf_counter()
        forecasts, fallbacks = {}, 0
        for series, y in train.items():
            f, fell = forecast_one(name, season, y, h)
            forecasts[series] = [float(f"{v:.7g}") for v in f]
            fallbacks += fell
        seconds = time.perf_counter() - start
        figures = file_metrics(train, truth, forecasts, season)
        out["models"][name] = dict(figures, seconds=round(seconds, 3), fallbacks=fallbacks, forecasts=forecasts)
    return out


def summary(results: dict, manifest: dict | None, protocols) -> str:
    lines = []
    for protocol in protocols:
        lines += [
            f"\n### peers, protocol {protocol} (RMSE; MASE in brackets; seconds over all series)\n",
            "| file | series | " + " | ".join(MODELS) + " | best of ETS/ARIMA |",
            "|---|---|" + "---|" * (len(MODELS) + 1),
        ]
        names = [e["name"] for e in manifest["files"]] if manifest else sorted(results["files"])
        for name in names:
            res = results["files"].get(name, {}).get(protocol)
            if not res:
                continue
            cells = []
            for m in MODELS:
                r = res["models"].get(m)
                cells.append(
                    "-"
                    if r is None
                    else f"{r['rmse']:.4g} ({r['mase']:.2f}) {r['seconds']:.1f}s"
                    + (f" fb{r['fallbacks']}" if r["fallbacks"] else "")
                )
            ets, arima = res["models"]["AutoETS"]["rmse"], res["models"]["AutoARIMA"]["rmse"]
            lines.append(
                f"| {name} | {res['n_series']} | "
                + " | ".join(cells)
                + f" | {'AutoETS' if ets <= arima else 'AutoARIMA'} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=DEFAULT_FOLDER, help="folder built by corpus.py (default %(default)s)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="peers.json to update (default %(default)s)")
    parser.add_argument("--only", help="comma-separated file names (manifest `name`)")
    parser.add_argument("--protocol", choices=PROTOCOLS + ("both",), default="both")
    parser.add_argument("--models", default=",".join(MODELS), help="subset of " + ",".join(MODELS))
    parser.add_argument("--cached", action="store_true", help="only print the tables of the cached --out")
    args = parser.parse_args(argv)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else dict(files={})
    try:
        import statsforecast
    except ImportError:
        statsforecast = None
    if args.cached or statsforecast is None:
        if not results["files"]:
            raise SystemExit(f"no statsforecast and no cached {out}: pip install statsforecast, or fetch peers.json")
        if statsforecast is None:
            print(f"statsforecast is not installed: the cached figures of {out}", file=sys.stderr)
        print(summary(results, None, protocols))
        return
    manifest = load_manifest(args.corpus)
    only = set(args.only.split(",")) if args.only else None
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}: choose from {','.join(MODELS)}")
    results.update(
        statsforecast=statsforecast.__version__,
        numpy=np.__version__,
        python=platform.python_version(),
        threads=os.environ.get("NUMBA_NUM_THREADS", "default"),
        settings="statsforecast defaults with the entry's season; AutoARIMA approximation=True when "
        "season > 12; Naive fallback per series when a model raises or gives non-finite values",
    )
    started = time.perf_counter()
    for entry in manifest["files"]:
        if only and entry["name"] not in only:
            continue
        slot = results["files"].setdefault(entry["name"], {})
        for protocol in protocols:
            t0 = time.perf_counter()
            res = run_entry(args.corpus, entry, protocol, models)
            res.update(sha256=entry["sha256"], horizon=entry["horizon"], season=entry["season"])
            if protocol in slot:  # keep models not rerun
                for m, r in slot[protocol]["models"].items():
                    res["models"].setdefault(m, r)
            slot[protocol] = res
            print(
                f"{entry['name']:>20} {protocol:>5}: "
                + ", ".join(f"{m} {r['rmse']:.4g}" for m, r in res["models"].items())
                + f"  ({time.perf_counter() - t0:.1f}s)",
                flush=True,
            )
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=None, separators=(",", ":")) + "\n")
            tmp.replace(out)
    print(f"total {time.perf_counter() - started:.0f}s")
    print(summary(results, manifest, protocols))


if __name__ == "__main__":
    main()
