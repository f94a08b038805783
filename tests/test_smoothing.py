"""Holt-Winters (`grunet.smoothing`): the vectorised recursion against the equations written out one point at a time,
the grid choice against a brute-force one, values or log, forecasts at origins, series too short, the saved form."""

import itertools
import warnings

import numpy as np
import pytest

from grunet import smoothing
from grunet.smoothing import Smoothing, combine, fit, forecast, forecasts_at, grid


def reference(values, period, alpha, beta, gamma, phi, horizon):
    """The module docstring's equations, one point at a time: (one-step SSE over the scored points, forecast)."""
    y = [float(v) for v in values]
    if period > 1:
        first = sum(y[:period]) / period
        trend = (sum(y[period : 2 * period]) / period - first) / period
        level = first - trend * (period + 1) / 2
        season = [y[i] - first for i in range(period)]
        scored_from = period
    else:
        trend = y[1] - y[0]
        level = y[0] - trend
        season = [0.0]
        scored_from = 2
    sse = 0.0
    for t, value in enumerate(y):
        slot = t % period
        error = value - (level + phi * trend + (season[slot] if period > 1 else 0.0))
        if t >= scored_from:
            sse += error * error
        level, trend = level + phi * trend + alpha * error, phi * trend + beta * error
        if period > 1:
            season[slot] += gamma * error
    ahead = []
    damping = 0.0
    for k in range(1, horizon + 1):
        damping += phi**k
        ahead.append(level + damping * trend + (season[(len(y) + k - 1) % period] if period > 1 else 0.0))
    return sse, np.array(ahead)


def _seasonal(length=60, period=12, seed=0, level=50.0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    return level + 0.5 * t + 8 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1.5, length)


@pytest.mark.parametrize("period", [1, 4, 12])
def test_the_recursion_is_the_equations(period):
    values = _seasonal(50, max(period, 2), seed=period)
    for alpha, beta, gamma, phi in [(0.3, 0.1, 0.2, 0.9), (0.05, 0.0, 0.0, 1.0), (0.9, 0.2, 0.1, 0.8)]:
        model = Smoothing(
            np.array([period]), np.array([False]), *(np.array([value]) for value in (alpha, beta, gamma, phi))
        )
        expected = reference(values, period, alpha, beta, gamma if period > 1 else 0.0, phi, 7)[1]
        np.testing.assert_allclose(forecast(model, [values], 7)[0], expected, rtol=1e-10, atol=1e-9)


def test_the_fit_is_the_grid_cell_with_the_least_error():
    values = _seasonal(40, 4, seed=3) - 30  # negative values too: no log
    model = fit([values], 4)
    assert model.season[0] == 4 and not model.log[0]
    errors = {cell: reference(values, 4, *cell, 1)[0] for cell in map(tuple, grid(True).T)}
    best = min(errors, key=errors.get)
    assert (model.alpha[0], model.beta[0], model.gamma[0], model.phi[0]) == pytest.approx(best)
    assert len(errors) > 100 and len(set(np.round(list(errors.values()), 6))) > 50  # a choice, not a tie


def test_the_log_is_taken_where_the_swings_grow_with_the_level():
    t = np.arange(96)
    growing = 100 * np.exp(0.03 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    steady = 300 + 3 * t + 30 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 3, 96)
    model = fit([growing, steady], 12)
    assert model.log.tolist() == [True, False]
    made = forecast(model, [growing, steady], 12)
    truth = 100 * np.exp(0.03 * (96 + np.arange(12))) * (1 + 0.3 * np.sin(2 * np.pi * (96 + np.arange(12)) / 12))
    assert np.abs(made[0] / truth - 1).max() < 0.05  # the exp of the log's forecast, in the values' units


def test_forecasts_at_origins_are_forecasts_of_the_history_before_them():
    long, short = _seasonal(80, 12, seed=1), _seasonal(20, 12, seed=2)  # ragged: 20 points fit no season
    model = fit([long, short], 12)
    assert model.season.tolist() == [12, 1]
    origins = [np.array([70, 26, 50, 26]), np.array([20, 4])]  # unsorted, repeated
    made = forecasts_at(model, [long, short], origins, 5)
    for row, (values, points) in enumerate(zip([long, short], origins)):
        for index, origin in enumerate(points):
            alone = forecast(model.rows(np.array([row])), [values[:origin]], 5)[0]
            np.testing.assert_allclose(made[row][index], alone, rtol=1e-12)


def test_a_series_too_short_or_not_finite_gets_no_forecast_and_the_model_stays():
    model = fit([np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, 2.0, 3.0, 4.0]), _seasonal(20, 1)], 1)
    assert np.isnan(model.alpha[:2]).all() and np.isfinite(model.alpha[2])
    made = forecast(model, [np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 2.0, 3.0, 4.0]), _seasonal(20, 1)], 3)
    assert np.isnan(made[:2]).all() and np.isfinite(made[2]).all()
    gru = np.ones((3, 3))
    np.testing.assert_array_equal(combine(gru, made, 0.5)[:2], gru[:2])
    np.testing.assert_allclose(combine(gru, made, 0.5)[2], 0.5 + 0.5 * made[2])
    assert combine(gru, made, 0.0) is gru


def test_large_panels_search_the_coarse_grid(monkeypatch):
    panel = [_seasonal(40, 4, seed=seed) for seed in range(5)]
    monkeypatch.setattr(smoothing, "FULL_GRID", 10.0)
    model = fit(panel, 4)
    coarse = set(itertools.product(*smoothing.COARSE))
    cells = set(zip(model.alpha, model.beta, model.gamma, model.phi))
    assert cells <= coarse
    monkeypatch.setattr(smoothing, "FULL_GRID", 3e8)
    assert not set(zip(*(getattr(fit(panel, 4), name) for name in ("alpha", "beta", "gamma", "phi")))) <= coarse


def test_the_saved_form_round_trips_and_refuses_damage():
    model = fit([_seasonal(40, 4), np.array([1.0, 2.0])], 4)
    again = Smoothing.from_dict(model.to_dict(), 2, "run")
    for name in smoothing.FIELDS:
        np.testing.assert_array_equal(getattr(again, name), getattr(model, name))
    with pytest.raises(ValueError, match="one value per series"):
        Smoothing.from_dict(model.to_dict(), 3, "run")
    broken = {**model.to_dict(), "alpha": [1.5, None]}
    with pytest.raises(ValueError, match="alpha must lie in"):
        Smoothing.from_dict(broken, 2, "run")
    with pytest.raises(ValueError, match="exactly"):
        Smoothing.from_dict({"alpha": [0.1]}, 1, "run")


@pytest.mark.parametrize("points", [3, 10, 12, 25])
def test_a_history_shorter_than_its_model_needs_gets_no_forecast_and_no_error(points):
    """A seasonal model fitted on a long series, asked to forecast from a history shorter than two seasons and two
    points (a user's short --data): its state cannot start, so no forecast (the GRU's alone), never a numpy
    broadcast error (under a season) or NaN means of empty slices (under two)."""
    rng = np.random.default_rng(0)
    long = 50 + 10 * np.sin(np.arange(96) * np.pi / 6) + rng.normal(0, 1, 96)
    model = fit([long, long + 5], 12)
    assert (model.season == 12).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made = forecast(model, [long[-points:], long], 6)
    assert np.isnan(made[0]).all() == (points < smoothing.needed(12)) and np.isfinite(made[1]).all()
