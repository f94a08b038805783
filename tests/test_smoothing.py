"""Holt-Winters (`grunet.smoothing`): the vectorised recursion against the equations written out one point at a time,
the grid choice against a brute-force one, values or log, forecasts at origins, series too short, the saved form."""

import itertools
import warnings

import numpy as np
import pytest

from grunet import smoothing
from grunet.smoothing import Smoothing, combine, fit, forecast, forecasts_at, grid


def reference(values, period, alpha, beta, gamma, phi, horizon, start=None):
    """The module docstring's equations, one point at a time: (one-step SSE over the scored points, forecast).
    start: [level, trend, season slots...] before the first point; None: from the first two seasons."""
    y = [float(v) for v in values]
    if start is not None:
        level, trend = float(start[0]), float(start[1])
        season = [float(v) for v in start[2:]] if period > 1 else [0.0]
        scored_from = period if period > 1 else 2
    elif period > 1:
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


def test_the_trend_may_follow_as_quickly_as_the_level():
    """ETS's admissible range for the trend's rate is 0 <= beta <= alpha: the grid covers it (it stopped at 0.2), and
    on a growth whose rate keeps drifting (a population's) the fit takes a beta above 0.2, with a lower one-step
    error than any cell of the old range."""
    cells, coarse = grid(False), grid(False, coarse=True)
    assert all(cells[1][cells[0] == alpha].max() == alpha for alpha in smoothing.ALPHAS)  # beta up to alpha
    assert all(coarse[1][coarse[0] == alpha].max() == alpha for alpha in smoothing.COARSE_ALPHAS)  # large panels too
    values = 100 + np.cumsum(1 + 0.5 * np.sin(np.arange(54) / 6))  # the yearly increase drifts in 0.5-1.5
    model = fit([values], 1)
    assert not model.log[0] and 0.2 < model.beta[0] <= model.alpha[0]
    chosen = reference(values, 1, model.alpha[0], model.beta[0], 0.0, model.phi[0], 1)[0]
    old_range = min(reference(values, 1, *cell, 1)[0] for cell in map(tuple, cells.T) if cell[1] <= 0.2)
    assert chosen < 0.5 * old_range


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
    saved = model.to_dict()
    assert np.isfinite(saved["start"][0][:6]).all() and np.isnan(saved["start"][1]).all()  # the second: too short
    np.testing.assert_array_equal(again.start, model.start)
    np.testing.assert_array_equal(again.start_from, model.start_from)
    for damage, match in [
        ({"start": [[1.0, 2.0, 3.0]] * 2}, "wide enough"),  # no room for the 4 season slots
        ({"start": [row[:5] + [None] for row in saved["start"]]}, "whole numbers"),
        ({"start": [saved["start"][0], saved["start"][0]]}, "same series"),  # start_from's second row is NaN
        ({"start": "all"}, "table of numbers"),
    ]:
        with pytest.raises(ValueError, match=match):
            Smoothing.from_dict({**saved, **damage}, 2, "run")
    with pytest.raises(ValueError, match="exactly"):  # one table without the other
        Smoothing.from_dict({name: value for name, value in saved.items() if name != "start_from"}, 2, "run")


def test_a_run_saved_without_starts_forecasts_from_the_first_seasons():
    """model.pt files of 0.2 hold no start: they load, and forecast as they did (the state from the first seasons)."""
    values = _seasonal(40, 4, seed=5)
    model = fit([values], 4)
    old = {name: value for name, value in model.to_dict().items() if name not in smoothing.STARTS}
    loaded = Smoothing.from_dict(old, 1, "run")
    cell = (model.alpha[0], model.beta[0], model.gamma[0], model.phi[0])
    expected = reference(np.log(values) if model.log[0] else values, 4, *cell, 3)[1]
    made = forecast(loaded, [values], 3)[0]
    np.testing.assert_allclose(np.log(made) if model.log[0] else made, expected, rtol=1e-10)


@pytest.mark.parametrize("period", [1, 4, 12])
def test_the_solved_start_has_the_least_error_of_any_start(period):
    """For the cell the grid chose, the start is the least-squares one: the equations run from it score the error
    the fit found, no worse than the first seasons' start, and no nudge of any entry lowers it."""
    values = _seasonal(60, max(period, 2), seed=10 + period) - 20  # negative: values, not log
    model = fit([values], period)
    cell = (model.alpha[0], model.beta[0], model.gamma[0], model.phi[0])
    start = model.start[0, : 2 + period * (period > 1)]
    assert np.isfinite(start).all()
    solved = reference(values, period, *cell, 5, start)
    first = reference(values, period, *cell, 5)
    assert solved[0] < first[0]
    np.testing.assert_allclose(forecast(model, [values], 5)[0], solved[1], rtol=1e-9)
    for entry in range(len(start)):
        for nudge in (-0.05, 0.05):
            moved = start.copy()
            moved[entry] += nudge
            assert reference(values, period, *cell, 1, moved)[0] > solved[0] - 1e-9


def test_a_noiseless_trend_and_season_is_fitted_exactly_from_its_solved_start():
    """A straight line plus a fixed season: the first seasons' start mistakes the trend inside the first season for
    season (its errors never vanish at small rates); the solved start is exact."""
    t = np.arange(48)
    values = 10 + 0.5 * t + np.array([3.0, -1.0, -4.0, 2.0])[t % 4] - 50
    cell = np.array([[0.1], [0.0], [0.0], [1.0]])[:, :, None]
    start, error = smoothing._solved_start(
        values[None], np.array([48]), 4, cell, smoothing._first_seasons(values[None], 4)
    )
    assert error[0] < 1e-8 and reference(values, 4, 0.1, 0.0, 0.0, 1.0, 1, start[0])[0] < 1e-8
    assert start[0, 1] == pytest.approx(0.5)
    assert reference(values, 4, 0.1, 0.0, 0.0, 1.0, 1)[0] > 1.0


def test_a_history_that_begins_elsewhere_starts_from_its_own_first_seasons():
    """The solved start belongs to the history it was solved on: forecasting from the last years of the series (a
    user's shorter --data) starts them from their own first seasons, as a model without a start would."""
    values = _seasonal(96, 12, seed=7)
    model = fit([values], 12)
    assert np.isfinite(model.start[0]).all()
    cell = (model.alpha[0], model.beta[0], model.gamma[0], model.phi[0])
    recent = values[-40:]
    expected = reference(np.log(recent) if model.log[0] else recent, 12, *cell, 4)[1]
    made = forecast(model, [recent], 4)[0]
    np.testing.assert_allclose(np.log(made) if model.log[0] else made, expected, rtol=1e-10)
    longer = np.concatenate([values, values[-12:]])  # the same beginning, more points: the solved start
    start = model.start[0]
    expected = reference(np.log(longer) if model.log[0] else longer, 12, *cell, 4, start)[1]
    made = forecast(model, [longer], 4)[0]
    np.testing.assert_allclose(np.log(made) if model.log[0] else made, expected, rtol=1e-10)


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
