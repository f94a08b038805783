"""Prediction intervals by split conformal prediction, per horizon step.

The errors are the chosen model's forecasts of the validation windows (origins it was not trained on, see
`grunet.search`), in the model's scaled units and divided by the window's own scale where the window norm is
meanabs (so a series' interval grows with its level, as its errors do). For a level of p %, the half-width of step
k is the ``ceil((n + 1) p / 100)``-th smallest of the n absolute errors of step k (the split-conformal quantile:
at least p % coverage for a new exchangeable error), raised to the widest of the steps before it: a forecast's error
does not shrink with the step (the h-step error variance of a linear process is non-decreasing in h), so a step
narrower than an earlier one is the noise of few origins, and raising it never takes a step below its own
conformal quantile. The interval is the forecast ± that half-width, times the window's scale, mapped back to
original units by the run's scaler (so with --log it is asymmetric).
numpy only: the ONNX prediction path uses it without torch.
"""

from __future__ import annotations

import math

import numpy as np


def window_factor(inputs: np.ndarray, window_norm: str, mask: bool) -> np.ndarray:
    """(N,) the scale each window's errors are measured in: its mean absolute target over the observed steps for
    meanabs (as `grunet.model` computes it), else 1. inputs: (N, W, F) scaled model inputs, target first."""
    if window_norm != "meanabs":
        return np.ones(len(inputs))
    target = np.abs(np.asarray(inputs[:, :, 0], dtype=np.float64))  # (N, W)
    observed = np.asarray(inputs[:, :, -1], dtype=np.float64) if mask else np.ones_like(target)
    return np.maximum((target * observed).sum(axis=1) / np.maximum(observed.sum(axis=1), 1), 1e-8)


def normalised_errors(prepared, forecast: np.ndarray, windows, window_norm: str) -> np.ndarray:
    """(N, horizon) |truth - forecast| of `windows` in scaled units over `window_factor`. forecast: original units."""
    owners = windows.series.cpu().numpy()
    scaler = prepared.scaler
    scaled_forecast = scaler.transform_target(forecast, owners)
    scaled_truth = windows.targets().double().cpu().numpy()
    factor = window_factor(windows.inputs().double().cpu().numpy(), window_norm, prepared.config.pad)
    return np.abs(scaled_truth - scaled_forecast) / factor[:, None]


def window_series(prepared, windows) -> np.ndarray:
    """(N,) each window's series, as its index in the run's SeriesSet (the same in every phase of a run)."""
    return np.asarray(prepared.kept)[windows.series.cpu().numpy()]


def series_scales(prepared) -> np.ndarray:
    """(number of series in the SeriesSet,) the target's scale in `prepared`'s scaler (NaN: a series it skipped).
    Normalised errors are in units of it: the errors of one phase of a run (the search, the scored model) are
    calibrated for another (the refit on every point, whose scaler saw more points) by `rescaled`."""
    scales = np.full(len(prepared.series.names), np.nan)
    scales[np.asarray(prepared.kept, dtype=np.int64)] = prepared.scaler.scale[:, 0]
    return scales


def rescaled(errors: np.ndarray, series: np.ndarray, measured: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Normalised errors (N, horizon) of windows of `series` (SeriesSet indices), measured where each series' target
    scale was `measured`, in the units of a scaler whose scales are `wanted` (a series either skipped: as it is)."""
    ratio = measured[series] / wanted[series]
    return errors * np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)[:, None]


def conformal_quantiles(errors: np.ndarray, levels: list[int]) -> np.ndarray:
    """(len(levels), horizon) half-widths: per level and step, the split-conformal quantile of `errors` (N, horizon)
    (NaN rows ignored; the largest error where n is too small for the level), raised to the widest of the earlier
    steps (a step without errors stays NaN: no interval)."""
    quantiles = np.full((len(levels), errors.shape[1]), np.nan)
    for step in range(errors.shape[1]):
        column = np.sort(errors[np.isfinite(errors[:, step]), step])
        if not len(column):
            continue
        for row, level in enumerate(levels):
            rank = math.ceil((len(column) + 1) * level / 100)
            quantiles[row, step] = column[min(rank, len(column)) - 1]
    widest = np.fmax.accumulate(quantiles, axis=1)  # NaN steps skipped by fmax
    return np.where(np.isnan(quantiles), np.nan, widest)


def bounds(scaled_forecast: np.ndarray, factor: np.ndarray, quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The intervals in scaled units: lower and upper (len(levels), S, horizon) for forecasts (S, horizon) with
    window factors (S,)."""
    half = quantiles[:, None, :] * factor[None, :, None]  # (L, S, H)
    return scaled_forecast[None] - half, scaled_forecast[None] + half


def coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of `truth` inside [lower, upper] (same shapes), in percent."""
    inside = (truth >= lower) & (truth <= upper)
    return float(100 * inside.mean()) if inside.size else float("nan")


def window_bounds(prepared, forecast: np.ndarray, windows, intervals: dict) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The intervals of forecasts (N, horizon, original units) of `windows`: per level, (level, lower, upper) in
    original units, as `grunet.prediction.forecast_table` computes them past the end."""
    owners = windows.series.cpu().numpy()
    scaled = prepared.scaler.transform_target(forecast, owners)
    factor = window_factor(windows.inputs().double().cpu().numpy(), intervals["window_norm"], prepared.config.pad)
    lower, upper = bounds(scaled, factor, np.asarray(intervals["half_widths"], dtype=np.float64))
    return [
        (level, prepared.scaler.inverse_target(lower[row], owners), prepared.scaler.inverse_target(upper[row], owners))
        for row, level in enumerate(intervals["levels"])
    ]
