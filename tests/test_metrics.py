"""Metrics against hand-computed values."""

import numpy as np

from grunet.evaluation.metrics import (
    average_metrics,
    forecast_metrics,
    mape,
    naive_scale,
    smape,
)


def test_metrics_by_hand():
    truth, prediction = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])
    metrics = forecast_metrics(truth, prediction, scale=0.5)
    assert metrics["mse"] == (1 + 0 + 4) / 3
    assert np.isclose(metrics["rmse"], np.sqrt(5 / 3))
    assert metrics["mae"] == 1.0 and metrics["mase"] == 2.0
    assert np.isclose(metrics["mape"], 100 * (1 + 0 + 0.5) / 3)
    assert np.isclose(metrics["smape"], 100 * (2 / 3 + 0 + 4 / 6) / 3)


def test_mape_skips_zeros_and_says_so():
    value, skipped = mape(np.array([0.0, 2.0]), np.array([1.0, 1.0]))
    assert skipped == 1 and value == 50.0
    value, skipped = mape(np.zeros(3), np.ones(3))
    assert np.isnan(value) and skipped == 3
    assert smape(np.zeros(2), np.zeros(2)) == 0.0


def test_naive_scale_and_average():
    assert naive_scale(np.array([1.0, 3.0, 2.0, 6.0]), season=1) == (2 + 1 + 4) / 3
    assert naive_scale(np.array([1.0, 3.0, 2.0, 6.0]), season=2) == (1 + 3) / 2
    assert np.isnan(naive_scale(np.array([1.0]), 1))
    averaged = average_metrics([{"mse": 1.0, "mape_skipped": 1}, {"mse": 3.0, "mape_skipped": 2}])
    assert averaged == {"mse": 2.0, "mape_skipped": 3}
