"""Baselines: exact on the cases they are built for."""
import numpy as np

from grunet.evaluation.baselines import LinearAR, persistence, seasonal_naive
from grunet.windows import sliding_windows


def test_persistence_repeats_the_last_value():
    inputs = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert np.array_equal(persistence(inputs, 2), [[3, 3], [6, 6]])


def test_seasonal_naive_takes_the_value_one_season_back():
    history = np.arange(20, dtype=float)
    forecast = seasonal_naive(history, origins=np.array([10]), horizon=5, season=4)
    # steps 1..4 use y[t+k-4], step 5 wraps to two seasons back
    assert np.array_equal(forecast[0], [6, 7, 8, 9, 6])
    assert np.isnan(seasonal_naive(history, np.array([2]), 1, 4)[0, 0])


def test_linear_ar_is_exact_on_a_sine():
    data = np.sin(np.linspace(0, 100, 1000))
    inputs, targets = sliding_windows(data, 50)
    model = LinearAR().fit(inputs[:800], targets[:800, None])
    error = np.mean((model.predict(inputs[800:])[:, 0] - targets[800:]) ** 2)
    assert error < 1e-12
