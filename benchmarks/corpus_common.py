"""Shared by benchmarks/peers.py (the peers' venv) and benchmarks/versus_peers.py (grunet's venv): reading the
validation corpus built by benchmarks/corpus.py, cutting a file into its train part and truth for a protocol, and
the accuracy figures. Needs only numpy and pandas; no grunet, no statsforecast.

Protocols (per series, on the rows of the file in their time order):
- dev:   train on every point but the last `horizon`, forecast those `horizon` points;
- early: one period earlier: drop the last `horizon` points first, then the same.
A series whose train part would have fewer than the entry's `min_train` points is left out of that protocol
(train file and truth alike); the manifest records how many series each protocol keeps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

PROTOCOLS = ("dev", "early")
DEFAULT_FOLDER = os.environ.get("GRUNET_CORPUS", "valdata")  # the corpus folder (corpus.py builds it)


def load_manifest(folder: str | Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise SystemExit(f"{path} not found: build the corpus first (python benchmarks/corpus.py {folder})")
    return json.loads(path.read_text())


def cut_for(entry: dict, protocol: str) -> int:
    """Points dropped from the end of each series before the train/truth split."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
    return entry["horizon"] * (1 if protocol == "dev" else 2)


def read_raw(folder: str | Path, entry: dict) -> pd.DataFrame:
    """The file's rows as text, exactly as written (formats kept), in file order."""
    return pd.read_csv(Path(folder) / entry["file"], dtype=str, keep_default_na=False)


def _groups(raw: pd.DataFrame, id_col: str | None) -> list[tuple[str, np.ndarray]]:
    """(series id, row positions) in order of first appearance; one series '' without an id column."""
    if not id_col:
        return [("", np.arange(len(raw)))]
    ids = raw[id_col].to_numpy()
    order = list(dict.fromkeys(ids))
    return [(str(name), np.flatnonzero(ids == name)) for name in order]


def split(
    folder: str | Path, entry: dict, protocol: str
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train rows as text, {series: train values}, {series: truth values}) for one protocol."""
    raw = read_raw(folder, entry)
    cols = entry["columns"]
    horizon, cut = entry["horizon"], cut_for(entry, protocol)
    keep_rows, train, truth = [], {}, {}
    for name, rows in _groups(raw, cols.get("id_col")):
        end = len(rows) - cut  # the train part is rows[:end], the truth rows[end:end + horizon]
        if end < entry.get("min_train", 3):
            continue
        values = pd.to_numeric(raw[cols["target"]].iloc[rows], errors="coerce").to_numpy(float)
        keep_rows.append(rows[:end])
        train[name] = values[:end]
        truth[name] = values[end : end + horizon]
    kept = raw.iloc[np.concatenate(keep_rows)] if keep_rows else raw.iloc[:0]
    return kept, train, truth


def season_for_scale(train: np.ndarray, season: int) -> int:
    return season if season > 1 and len(train) > season else 1


def series_metrics(train: np.ndarray, truth: np.ndarray, forecast: np.ndarray, season: int) -> dict:
    """RMSE, MAE, MASE (scaled by the in-sample seasonal naive MAE of the train part; the naive one when the train
    part is not longer than a season; NaN when that scale is 0) and sMAPE (%) of one series."""
    forecast = np.asarray(forecast, float)
    if forecast.shape != truth.shape or not np.all(np.isfinite(forecast)):
        nan = float("nan")
        return dict(rmse=nan, mae=nan, mase=nan, smape=nan)
    err = forecast - truth
    m = season_for_scale(train, season)
    scale = float(np.mean(np.abs(train[m:] - train[:-m]))) if len(train) > m else float("nan")
    denom = np.abs(truth) + np.abs(forecast)
    ratio = np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    return dict(
        rmse=float(np.sqrt(np.mean(err**2))),
        mae=float(np.mean(np.abs(err))),
        mase=float(np.mean(np.abs(err)) / scale) if scale and np.isfinite(scale) else float("nan"),
        smape=float(100 * np.mean(ratio)),
    )


def file_metrics(train: dict, truth: dict, forecasts: dict, season: int) -> dict:
    """Means over series of the per-series figures (series without a finite forecast counted in `missing`)."""
    per = {
        name: series_metrics(train[name], truth[name], np.asarray(forecasts.get(name, []), float), season)
        for name in truth
    }
    out = {}
    for key in ("rmse", "mae", "mase", "smape"):
        vals = np.array([p[key] for p in per.values()], float)
        out[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out["missing"] = int(sum(not np.isfinite(p["rmse"]) for p in per.values()))
    return out


def geomean(values) -> float:
    vals = np.array([v for v in values if v is not None and np.isfinite(v) and v > 0], float)
    return float(np.exp(np.mean(np.log(vals)))) if vals.size else float("nan")
