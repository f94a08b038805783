"""Scoring on held-out windows: the truth, the baselines' forecasts on exactly the same windows, and the metrics of
any forecast, in the series' original units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch

from grunet.evaluation import baselines
from grunet.evaluation.metrics import average_metrics, forecast_metrics, naive_scale
from grunet.model import Ensemble, GRUNet
from grunet.training import distributed
from grunet.training.evaluate import predict
from grunet.windows import Prepared, WindowSet


def origins(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """Flat index of the first forecast point of each window."""
    return windows.starts.cpu().numpy() + windows.window


def rows_of_series(owners: np.ndarray, count: int) -> list[np.ndarray]:
    """Per series position 0 .. count - 1, the indices (ascending) of the windows it owns: one sort of the owners,
    not a scan of every window per series (100,000 series)."""
    order = np.argsort(owners, kind="stable")
    bounds = np.searchsorted(owners[order], np.arange(count + 1))
    return [order[bounds[position] : bounds[position + 1]] for position in range(count)]


def truth(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """(N, horizon) targets in original units."""
    index = origins(prepared, windows)[:, None] + np.arange(windows.horizon)[None, :]
    return prepared.raw[index, 0]


def baseline_forecasts(
    prepared: Prepared, windows: WindowSet | None = None, smoothed: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each baseline's (N, horizon) forecasts in original units, on exactly `windows` (default: the test part).
    Holt-Winters' are `smoothed` (`smoothed_forecasts` of these windows, found here if not given), with persistence
    for a series too short to fit (as exponential smoothing reduces to a level alone), so that the baseline is
    scored on every window the others are."""
    test = prepared.test if windows is None else windows
    horizon, window = prepared.config.horizon, cast(int, prepared.config.window)  # the config is resolved
    season = cast(int, prepared.config.season)
    owners = test.series.cpu().numpy()
    firsts = origins(prepared, test)
    raw_inputs = prepared.raw[firsts[:, None] - window + np.arange(window)[None, :], 0]  # (N, W)
    forecasts = {"persistence": baselines.persistence(raw_inputs, horizon)}
    if season > 1:
        seasonal = np.empty((len(firsts), horizon))
        for position, rows in enumerate(rows_of_series(owners, len(prepared.kept))):
            start = prepared.bounds(position)[0]
            history = prepared.history(position)
            seasonal[rows] = baselines.seasonal_naive(history, firsts[rows] - start, horizon, season)
        forecasts["seasonal_naive"] = seasonal
    train = prepared.train
    model = baselines.LinearAR().fit_chunks(
        (train.inputs(index)[..., 0].double().numpy(), train.targets(index).double().numpy())
        for index in chunks(len(train))
    )
    scaled = (
        np.concatenate([model.predict(test.inputs(index)[..., 0].double().numpy()) for index in chunks(len(test))])
        if len(test)
        else np.empty((0, horizon))
    )
    forecasts["linear_ar"] = prepared.scaler.inverse_target(scaled, owners)
    smoothed = smoothed_forecasts(prepared, test) if smoothed is None else smoothed
    forecasts["holt_winters"] = np.where(np.isnan(smoothed), forecasts["persistence"], smoothed)
    return forecasts


def unfitted_series(smoothed: np.ndarray, windows: WindowSet) -> int:
    """How many series own windows that `smoothed` (`smoothed_forecasts` of `windows`) has no forecast for."""
    return len(np.unique(windows.series.cpu().numpy()[np.isnan(smoothed).any(axis=1)]))


def smoothed_forecasts(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """(N, horizon) Holt-Winters forecasts of `windows` in original units (`grunet.smoothing`), each series' model
    fitted on its points before the part (as MASE's scale); NaN for a series too short to fit."""
    from grunet import smoothing

    owners, firsts = windows.series.cpu().numpy(), origins(prepared, windows)
    rows = rows_of_series(owners, len(prepared.kept))
    histories, fitted_on, points = [], [], []
    for position, chosen in enumerate(rows):
        histories.append(prepared.history(position))
        fitted_on.append(histories[-1][: _points_before(prepared, position, windows)])
        points.append(firsts[chosen] - prepared.bounds(position)[0])
    model = smoothing.fit(fitted_on, cast(int, prepared.config.season))
    forecasts = np.full((len(firsts), windows.horizon), np.nan)
    for chosen, made in zip(rows, smoothing.forecasts_at(model, histories, points, windows.horizon)):
        forecasts[chosen] = made
    return forecasts


CHUNK = 65536  # windows at a time: the baselines never hold every window's copy at once


def chunks(count: int) -> list[torch.Tensor]:
    """Index tensors of consecutive windows, `CHUNK` at a time."""
    return [torch.arange(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]


def score(prepared: Prepared, forecast: np.ndarray, windows: WindowSet | None = None) -> dict:
    """Metrics of (N, horizon) forecasts of `windows` (default: the test part) in original units: averaged over
    series, and per series. MASE's scale is each series' in-sample naive error, over the points before the part
    scored (train and validation for the test part, train alone for the validation part)."""
    return score_all(prepared, {"forecast": forecast}, windows)["forecast"]


def score_all(prepared: Prepared, forecasts: dict[str, np.ndarray], windows: WindowSet | None = None) -> dict:
    """`score` of each of several forecasts of the same windows (the model's and the baselines'), the truth, each
    series' windows and MASE scales found once."""
    windows = prepared.test if windows is None else windows
    actual, owners = truth(prepared, windows), windows.series.cpu().numpy()
    series = [
        (prepared.series.names[index], rows, _naive_scale(prepared, position, windows))
        for position, (index, rows) in enumerate(zip(prepared.kept, rows_of_series(owners, len(prepared.kept))))
        if len(rows)
    ]
    scored = {}
    for name, forecast in forecasts.items():
        per_series = {key: forecast_metrics(actual[rows], forecast[rows], scale) for key, rows, scale in series}
        scored[name] = {**average_metrics(list(per_series.values())), "per_series": per_series}
    return scored


def window_mase(prepared: Prepared, forecast: np.ndarray, windows: WindowSet) -> np.ndarray:
    """(N,) the MASE of each window's forecast (N, horizon): its mean absolute error over the series' in-sample
    naive error (`score`'s scale); NaN where a series has no scale."""
    return window_scorer(prepared, windows)(forecast)


def window_scorer(prepared: Prepared, windows: WindowSet) -> Callable[[np.ndarray], np.ndarray]:
    """`window_mase` of `windows` for any number of forecasts, the truth and each series' scale found once."""
    actual, owners = truth(prepared, windows), windows.series.cpu().numpy()
    scales = np.array([_naive_scale(prepared, position, windows) for position in range(len(prepared.kept))])
    divisor = np.where(scales[owners] > 0, scales[owners], np.nan)
    return lambda forecast: np.abs(actual - forecast).mean(axis=1) / divisor


def _points_before(prepared: Prepared, position: int, windows: WindowSet) -> int:
    """How many of the series' points come before the part `windows` is of: the train part, and the validation
    part too for the test part."""
    split = prepared.splits[position]
    return split.train_end + (cast(int, prepared.config.val_size) if windows is prepared.test else 0)  # resolved


def _naive_scale(prepared: Prepared, position: int, windows: WindowSet) -> float:
    before = _points_before(prepared, position, windows)
    return naive_scale(prepared.history(position)[:before], cast(int, prepared.config.season))


def forecast_windows(model: GRUNet | Ensemble, prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """The model's (N, horizon) forecasts of `windows`, in original units."""
    device = next(model.parameters()).device
    on_device = windows.to(device)
    scaled = distributed.predict_all(model, on_device) if distributed.active() else predict(model, on_device)
    return prepared.scaler.inverse_target(scaled, windows.series.cpu().numpy())
