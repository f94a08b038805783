"""Scoring on held-out windows: the truth, the baselines' forecasts on exactly the same windows, and the metrics of
any forecast, in the series' original units.
"""
from __future__ import annotations

import numpy as np

from grunet.evaluation import baselines
from grunet.evaluation.metrics import average_metrics, forecast_metrics, naive_scale
from grunet.model import Ensemble, GRUNet
from grunet.training import distributed
from grunet.training.evaluate import predict
from grunet.windows import Prepared, WindowSet


def origins(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """Flat index of the first forecast point of each window."""
    return windows.starts.cpu().numpy() + windows.window


def truth(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """(N, horizon) targets in original units."""
    index = origins(prepared, windows)[:, None] + np.arange(windows.horizon)[None, :]
    return prepared.raw[index, 0]


def baseline_forecasts(prepared: Prepared) -> dict[str, np.ndarray]:
    """Each baseline's (N_test, horizon) forecasts in original units, on exactly the test windows."""
    test, horizon, window = prepared.test, prepared.config.horizon, prepared.config.window
    owners = test.series.cpu().numpy()
    firsts = origins(prepared, test)
    raw_inputs = prepared.raw[firsts[:, None] - window + np.arange(window)[None, :], 0]  # (N, W)
    forecasts = {"persistence": baselines.persistence(raw_inputs, horizon)}
    if prepared.config.season > 1:
        seasonal = np.empty((len(firsts), horizon))
        for position in range(len(prepared.kept)):
            rows = owners == position
            start, end = prepared.bounds(position)
            history = prepared.raw[start:end, 0]
            seasonal[rows] = baselines.seasonal_naive(history, firsts[rows] - start, horizon, prepared.config.season)
        forecasts["seasonal_naive"] = seasonal
    train = prepared.train
    model = baselines.LinearAR().fit(train.inputs()[..., 0].double().numpy(), train.targets().double().numpy())
    scaled = model.predict(test.inputs()[..., 0].double().numpy())
    forecasts["linear_ar"] = prepared.scaler.inverse_target(scaled, owners)
    return forecasts


def score(prepared: Prepared, forecast: np.ndarray) -> dict:
    """Metrics of (N_test, horizon) forecasts in original units: averaged over series, and per series."""
    test = prepared.test
    actual, owners = truth(prepared, test), test.series.cpu().numpy()
    per_series = {}
    for position, index in enumerate(prepared.kept):
        rows = owners == position
        if not rows.any():
            continue
        (start, _), split = prepared.bounds(position), prepared.splits[position]
        in_sample = prepared.raw[start:start + split.train_end + prepared.config.val_size, 0]
        scale = naive_scale(in_sample, prepared.config.season)
        per_series[prepared.series.names[index]] = forecast_metrics(actual[rows], forecast[rows], scale)
    return {**average_metrics(list(per_series.values())), "per_series": per_series}


def forecast_test(model: GRUNet | Ensemble, prepared: Prepared) -> np.ndarray:
    """The model's (N_test, horizon) forecasts of the test windows, in original units."""
    device = next(model.parameters()).device
    test = prepared.test.to(device)
    scaled = distributed.predict_all(model, test) if distributed.active() else predict(model, test)
    return prepared.scaler.inverse_target(scaled, prepared.test.series.cpu().numpy())
