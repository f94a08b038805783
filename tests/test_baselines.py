"""Baselines: exact on the cases they are built for."""

import numpy as np
import pytest

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


def test_linear_ar_from_chunks_is_the_fit_on_all_windows():
    """Normal equations accumulated chunk by chunk give the least-squares fit of every window at once."""
    rng = np.random.default_rng(4)
    inputs, targets = rng.normal(size=(500, 6)), rng.normal(size=(500, 3))
    whole = LinearAR().fit(inputs, targets)
    parts = LinearAR().fit_chunks(
        (inputs[start : start + 64], targets[start : start + 64]) for start in range(0, 500, 64)
    )
    reference, *_ = np.linalg.lstsq(np.hstack([inputs, np.ones((500, 1))]), targets, rcond=None)
    np.testing.assert_allclose(parts.coef, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(whole.coef, reference, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="at least one training window"):
        LinearAR().fit_chunks([])
