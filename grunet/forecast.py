"""A forecasting run, from series to metrics: load, split by time, scale, window, train, evaluate against baselines,
and forecast past the end of the data. Library code: returns values, prints nothing.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from grunet import baselines, distributed
from grunet.datasets import DataConfig, SeriesSet, load_series
from grunet.metrics import average_metrics, forecast_metrics, naive_scale
from grunet.model import GRUNet, ModelConfig
from grunet.train import FitResult, TrainConfig, fit, predict
from grunet.scaling import Scaler
from grunet.windows import SplitSizes, WindowSet, split_series


@dataclass
class Prepared:
    """Series split, scaled and windowed. raw: (total, F) all kept series flat, in original units."""
    series: SeriesSet
    config: DataConfig
    kept: list[int]                  # indices into series of the series used
    skipped: list[str]               # names of series too short for window + horizon
    scaler: Scaler                   # one row per kept series
    offsets: np.ndarray              # (len(kept) + 1,) where each kept series starts in the flat arrays
    splits: list[SplitSizes]
    raw: np.ndarray
    train: WindowSet
    val: WindowSet
    test: WindowSet


def _starts(offsets: np.ndarray, splits: list[SplitSizes], part: str) -> tuple[np.ndarray, np.ndarray]:
    starts, series = [], []
    for index, split in enumerate(splits):
        first, last = getattr(split, part)
        if last >= first:
            starts.append(offsets[index] + np.arange(max(first, 0), last + 1))
            series.append(np.full(last + 1 - max(first, 0), index))
    if not starts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts), np.concatenate(series)


def prepare(series: SeriesSet, config: DataConfig) -> Prepared:
    """Splits every series by time, fits the scaler on the train parts, and builds the three window sets.

    `config` must be resolved. A series too short for one training window and its test windows is skipped
    (named in `skipped`); if none is left, ValueError.
    """
    window, horizon, test_size, val_size = config.window, config.horizon, config.test_size, config.val_size
    kept, skipped, splits = [], [], []
    for index, values in enumerate(series.values):
        split = split_series(len(values), window, horizon, test_size, val_size)
        if split.train[1] < 0 or split.test[0] < 0:
            skipped.append(series.names[index])
            continue
        kept.append(index)
        splits.append(split)
    if not kept:
        shortest = min(len(values) for values in series.values)
        raise ValueError(f"every series is too short: window ({window}) + horizon ({horizon}) + test size "
                         f"({test_size}) + validation size ({val_size}) needs at least "
                         f"{window + 2 * horizon + test_size + val_size} points, the longest has "
                         f"{max(len(values) for values in series.values)} (shortest {shortest})")
    if config.log and any((series.values[index] <= 0).any() for index in kept):
        raise ValueError("--log needs positive values, but the data has values <= 0")
    scaler = Scaler.fit([series.values[index][:split.train_end] for index, split in zip(kept, splits)],
                        config.scale, config.log)
    raw = np.concatenate([series.values[index] for index in kept])
    scaled = np.concatenate([scaler.transform(series.values[index], position) for position, index in enumerate(kept)])
    offsets = np.concatenate([[0], np.cumsum([len(series.values[index]) for index in kept])])
    values = torch.tensor(scaled, dtype=torch.float32)
    sets = {}
    for part in ("train", "val", "test"):
        starts, owners = _starts(offsets, splits, part)
        sets[part] = WindowSet(values, torch.from_numpy(starts), torch.from_numpy(owners), window, horizon)
    return Prepared(series, config, kept, skipped, scaler, offsets, splits, raw, sets["train"], sets["val"],
                    sets["test"])


def _origins(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """Flat index of the first forecast point of each window."""
    return windows.starts.cpu().numpy() + windows.window


def _truth(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """(N, horizon) targets in original units."""
    index = _origins(prepared, windows)[:, None] + np.arange(windows.horizon)[None, :]
    return prepared.raw[index, 0]


def baseline_forecasts(prepared: Prepared) -> dict[str, np.ndarray]:
    """Each baseline's (N_test, horizon) forecasts in original units, on exactly the test windows."""
    test, horizon, window = prepared.test, prepared.config.horizon, prepared.config.window
    owners = test.series.cpu().numpy()
    origins = _origins(prepared, test)
    raw_inputs = prepared.raw[origins[:, None] - window + np.arange(window)[None, :], 0]  # (N, W)
    forecasts = {"persistence": baselines.persistence(raw_inputs, horizon)}
    if prepared.config.season > 1:
        seasonal = np.empty((len(origins), horizon))
        for position in range(len(prepared.kept)):
            rows = owners == position
            start = prepared.offsets[position]
            history = prepared.raw[start:prepared.offsets[position + 1], 0]
            seasonal[rows] = baselines.seasonal_naive(history, origins[rows] - start, horizon, prepared.config.season)
        forecasts["seasonal_naive"] = seasonal
    train = prepared.train
    model = baselines.LinearAR().fit(train.inputs()[..., 0].double().numpy(), train.targets().double().numpy())
    scaled = model.predict(test.inputs()[..., 0].double().numpy())
    forecasts["linear_ar"] = prepared.scaler.inverse_target(scaled, owners)
    return forecasts


def score(prepared: Prepared, forecast: np.ndarray) -> dict:
    """Metrics of (N_test, horizon) forecasts in original units: averaged over series, and per series."""
    test = prepared.test
    truth, owners = _truth(prepared, test), test.series.cpu().numpy()
    per_series = {}
    for position, index in enumerate(prepared.kept):
        rows = owners == position
        if not rows.any():
            continue
        start, split = prepared.offsets[position], prepared.splits[position]
        in_sample = prepared.raw[start:start + split.train_end + prepared.config.val_size, 0]
        scale = naive_scale(in_sample, prepared.config.season)
        per_series[prepared.series.names[index]] = forecast_metrics(truth[rows], forecast[rows], scale)
    return {**average_metrics(list(per_series.values())), "per_series": per_series}


@dataclass
class RunSetup:
    """A run ready to train: resolved configs, prepared data, and the initialised model on its device."""
    data_config: DataConfig
    model_config: ModelConfig
    train_config: TrainConfig
    prepared: Prepared
    model: GRUNet


@dataclass
class RunResult:
    model: GRUNet
    data_config: DataConfig          # resolved
    model_config: ModelConfig        # resolved
    train_config: TrainConfig        # resolved
    prepared: Prepared
    fit: FitResult
    metrics: dict                    # what metrics.json holds
    test_forecast: np.ndarray        # (N_test, horizon), original units
    baseline_forecasts: dict         # name -> (N_test, horizon), original units, the same test windows


def setup_run(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig,
              series: SeriesSet | None = None) -> RunSetup:
    """Loads and checks the data, resolves every 'auto' setting, prepares the windows and seeds the model."""
    data_config.check()
    train_config.check()
    series = load_series(data_config) if series is None else series
    data_config = data_config.resolve(series)
    prepared = prepare(series, data_config)
    for name in prepared.skipped:
        warnings.warn(f"series {name!r} is shorter than window + horizon + test and validation parts; skipped")
    tutorial = data_config.data == "sine"
    train_config = train_config.resolve(len(prepared.val) > 0, tutorial)
    train_config.device = distributed.device_for(train_config.device)  # under torchrun: cuda -> cuda:LOCAL_RANK
    model_config = copy.copy(model_config)
    model_config.input_size, model_config.output_size = series.num_features, data_config.horizon
    if model_config.window_norm is None:
        model_config.window_norm = "none" if tutorial else "last"
    torch.manual_seed(train_config.seed)
    model = GRUNet.from_config(model_config).to(torch.device(train_config.device))
    return RunSetup(data_config, model_config, train_config, prepared, model)


def fit_run(setup: RunSetup, on_epoch: Callable[[dict], None] | None = None,
            on_checkpoint: Callable[[dict, bool], None] | None = None, resume: dict | None = None) -> RunResult:
    """Trains the set-up model (or continues from `resume`), then scores it and the baselines on the test part."""
    device = torch.device(setup.train_config.device)
    prepared = setup.prepared
    result = fit(setup.model, prepared.train.to(device), prepared.val.to(device), setup.train_config, on_epoch,
                 on_checkpoint, resume)
    forecast = forecast_test(setup.model, prepared)
    model_metrics = score(prepared, forecast)
    baselines = baseline_forecasts(prepared)
    baseline_metrics = {name: score(prepared, values) for name, values in baselines.items()}
    # one series: rank by MSE; many: by mean MASE, which does not let the largest series decide alone
    best_by = "mse" if len(model_metrics["per_series"]) == 1 else "mase"
    ranking = {"model": model_metrics[best_by], **{name: m[best_by] for name, m in baseline_metrics.items()}}
    metrics = {"test": model_metrics, "baselines": baseline_metrics, "best_by": best_by,
               "best": min(ranking, key=lambda name: np.inf if np.isnan(ranking[name]) else ranking[name]),
               "epochs": len(result.history), "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
               "train_seconds": result.train_seconds, "test_windows": len(prepared.test),
               "skipped_series": prepared.skipped,
               **({"processes": distributed.world_size()} if distributed.active() else {})}
    return RunResult(setup.model, setup.data_config, setup.model_config, setup.train_config, prepared, result,
                     metrics, forecast, baselines)


def train_run(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig,
              on_epoch: Callable[[dict], None] | None = None, series: SeriesSet | None = None) -> RunResult:
    """The main job in one call: `setup_run`, then `fit_run`."""
    return fit_run(setup_run(data_config, model_config, train_config, series), on_epoch)


def forecast_test(model: GRUNet, prepared: Prepared) -> np.ndarray:
    """The model's (N_test, horizon) forecasts of the test windows, in original units."""
    device = next(model.parameters()).device
    test = prepared.test.to(device)
    scaled = distributed.predict_all(model, test) if distributed.active() else predict(model, test)
    return prepared.scaler.inverse_target(scaled, prepared.test.series.cpu().numpy())
