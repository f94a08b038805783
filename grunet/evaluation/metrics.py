"""Forecast accuracy, in the series' original units. Pure functions of numpy arrays.

truth and prediction have the same shape (any); every metric averages over all their points. A forecast that is
missing (NaN: a seasonal naive baseline whose season reaches before the series' start) makes every metric of it
NaN, shown as n/a: a metric over missing forecasts is missing, never perfect (sMAPE would otherwise count a point
where the forecast is missing as 0, a perfect score).
"""

from __future__ import annotations

import numpy as np


def mse(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Mean squared error, mean((y - ŷ)²)."""
    return float(np.mean((np.asarray(truth) - np.asarray(prediction)) ** 2))


def mae(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Mean absolute error, mean(|y - ŷ|)."""
    return float(np.mean(np.abs(np.asarray(truth) - np.asarray(prediction))))


def mape(truth: np.ndarray, prediction: np.ndarray) -> tuple[float, int]:
    """Mean absolute percentage error, 100·mean(|y - ŷ| / |y|), over the points where y ≠ 0.

    Returns (value, points skipped because y = 0); the value is NaN when every point was skipped.
    """
    truth, prediction = np.asarray(truth, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    defined = truth != 0
    if not defined.any():
        return float("nan"), int(truth.size)
    return float(100 * np.mean(np.abs(truth - prediction)[defined] / np.abs(truth[defined]))), int((~defined).sum())


def smape(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Symmetric MAPE, 100·mean(2|y - ŷ| / (|y| + |ŷ|)), a point where both are 0 counting as 0."""
    truth, prediction = np.asarray(truth, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if np.isnan(truth).any() or np.isnan(prediction).any():
        return float("nan")  # a missing forecast is not a perfect one
    denominator = np.abs(truth) + np.abs(prediction)
    ratio = np.divide(
        2 * np.abs(truth - prediction), denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    return float(100 * np.mean(ratio))


def naive_scale(history: np.ndarray, season: int = 1) -> float:
    """MASE's denominator: mean |y_t - y_{t-season}| over the in-sample history (NaN if too short)."""
    history = np.asarray(history, dtype=np.float64)
    if len(history) <= season:
        return float("nan")
    return float(np.mean(np.abs(history[season:] - history[:-season])))


def forecast_metrics(truth: np.ndarray, prediction: np.ndarray, scale: float = float("nan")) -> dict:
    """All metrics for one series: mse, rmse, mae, mape, mape_skipped, smape, mase (mae / `scale`); every one NaN
    where some forecast is missing (NaN)."""
    if np.isnan(np.asarray(prediction, dtype=np.float64)).any():
        nan = float("nan")
        return {"mse": nan, "rmse": nan, "mae": nan, "mape": nan, "mape_skipped": 0, "smape": nan, "mase": nan}
    error = mse(truth, prediction)
    absolute = mae(truth, prediction)
    percentage, skipped = mape(truth, prediction)
    return {
        "mse": error,
        "rmse": float(np.sqrt(error)),
        "mae": absolute,
        "mape": percentage,
        "mape_skipped": skipped,
        "smape": smape(truth, prediction),
        "mase": absolute / scale if scale > 0 else float("nan"),
    }


def average_metrics(per_series: list[dict]) -> dict:
    """The mean of each metric over series (mape_skipped summed). A metric a series does not define (MAPE where the
    truth is 0, MASE of a constant history) is left out of its mean; but where some series' forecast is missing
    (its MSE is NaN) every mean is NaN: an average over the series that happen to have forecasts would compare this
    forecast with the others on different series."""
    keys = per_series[0].keys()
    averaged = {}
    missing = any(np.isnan(float(metrics["mse"])) for metrics in per_series if "mse" in metrics)
    for key in keys:
        values = np.array([metrics[key] for metrics in per_series], dtype=np.float64)
        if missing and key != "mape_skipped":
            averaged[key] = float("nan")
        elif key == "mape_skipped":
            averaged[key] = int(values.sum())
        else:
            averaged[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return averaged
