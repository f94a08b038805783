"""Scoring on held-out windows (`grunet.evaluation.scoring`): the truth in original units, the baselines on exactly
the windows scored (test or validation), the metrics and MASE's in-sample scale, per-window MASE, and a model's
forecasts mapped back to original units."""

import numpy as np
import pytest
import torch
from torch import nn

from grunet import smoothing
from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.evaluation.metrics import naive_scale
from grunet.evaluation.scoring import (
    baseline_forecasts,
    forecast_windows,
    origins,
    rows_of_series,
    score,
    score_all,
    smoothed_forecasts,
    truth,
    unfitted_series,
    window_mase,
)
from grunet.windows import prepare


def _prepared(scale="standard", season=1, pad=False, lengths=(60, 45)):
    rng = np.random.default_rng(4)
    values = [np.cumsum(rng.normal(size=(n, 1)), axis=0) * (i + 1) + 50 * (i + 1) for i, n in enumerate(lengths)]
    series = SeriesSet(names=[f"s{i}" for i in range(len(lengths))], values=values, columns=["y"])
    config = DataConfig(data="x", window=6, horizon=3, test_size=6, val_size=5, scale=scale, season=season, pad=pad)
    return prepare(series, config), values


class _LastValue(nn.Module):
    """Persistence in the model's own (scaled) units: the window's last target value for every step."""

    def __init__(self, horizon):
        super().__init__()
        self.horizon, self.unused = horizon, nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, -1:, 0].repeat(1, self.horizon) + self.unused


def test_baselines_and_metrics_use_the_same_test_points():
    series = SeriesSet(names=["a"], values=[np.arange(1, 41, dtype=float)[:, None] % 7 + 1], columns=["y"])
    config = DataConfig(data="x", window=7, horizon=2, test_size=6, val_size=0, scale="none", season=7)
    prepared = prepare(series, config)
    forecasts = baseline_forecasts(prepared)
    assert set(forecasts) == {"persistence", "seasonal_naive", "linear_ar", "holt_winters"}
    assert all(values.shape == (5, 2) for values in forecasts.values())
    assert score(prepared, forecasts["seasonal_naive"])["mse"] == 0.0  # a period-7 series
    assert score(prepared, forecasts["linear_ar"])["mse"] < 1e-12


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_the_truth_is_each_windows_targets_in_original_units(part):
    prepared, values = _prepared()
    windows = getattr(prepared, part)
    actual = truth(prepared, windows)
    owners = windows.series.numpy()
    assert actual.shape == (len(windows), 3)
    np.testing.assert_allclose(
        actual, prepared.scaler.inverse_target(windows.targets().double().numpy(), owners), rtol=1e-5
    )
    for row in (0, len(windows) - 1):  # against the series themselves
        start, _ = prepared.bounds(owners[row])
        position = origins(prepared, windows)[row] - start
        np.testing.assert_array_equal(actual[row], values[owners[row]][position : position + 3, 0])


def test_the_baselines_forecast_the_validation_windows_when_asked():
    prepared, values = _prepared(season=4)
    forecasts = baseline_forecasts(prepared, prepared.val)
    val = prepared.val
    assert all(forecast.shape == (len(val), 3) for forecast in forecasts.values())
    firsts, owners = origins(prepared, val), val.series.numpy()
    for row in range(len(val)):
        start, _ = prepared.bounds(owners[row])
        history = values[owners[row]][:, 0]
        t = firsts[row] - start  # the first forecast step of this window
        assert (forecasts["persistence"][row] == history[t - 1]).all()
        np.testing.assert_array_equal(forecasts["seasonal_naive"][row], history[t - 4 : t - 1])
    assert not np.allclose(forecasts["persistence"][0], baseline_forecasts(prepared)["persistence"][0])  # the test's


def test_the_seasonal_naive_baseline_needs_a_season():
    prepared, _ = _prepared(season=1)
    assert set(baseline_forecasts(prepared)) == {"persistence", "linear_ar", "holt_winters"}


def test_score_averages_per_series_metrics_and_scales_mase_by_what_came_before():
    prepared, values = _prepared()
    test, val = prepared.test, prepared.val
    forecast = baseline_forecasts(prepared)["persistence"]
    scored = score(prepared, forecast)
    assert set(scored["per_series"]) == {"s0", "s1"}
    owners = test.series.numpy()
    actual = truth(prepared, test)
    for position, name in enumerate(("s0", "s1")):
        rows = owners == position
        mae = np.abs(actual[rows] - forecast[rows]).mean()
        train_end = prepared.splits[position].train_end
        before_test = naive_scale(values[position][: train_end + 5, 0])  # train and validation parts
        assert scored["per_series"][name]["mae"] == pytest.approx(mae)
        assert scored["per_series"][name]["mase"] == pytest.approx(mae / before_test)
    assert scored["mae"] == pytest.approx(np.mean([scored["per_series"][n]["mae"] for n in ("s0", "s1")]))
    # on the validation part, the scale is the train part's alone
    val_forecast = baseline_forecasts(prepared, val)["persistence"]
    val_scored = score(prepared, val_forecast, val)
    rows = val.series.numpy() == 1
    mae = np.abs(truth(prepared, val)[rows] - val_forecast[rows]).mean()
    scale = naive_scale(values[1][: prepared.splits[1].train_end, 0])
    assert val_scored["per_series"]["s1"]["mase"] == pytest.approx(mae / scale)


def test_window_mase_is_each_windows_error_over_the_series_scale():
    prepared, values = _prepared()
    val = prepared.val
    forecast = truth(prepared, val) + np.arange(len(val))[:, None]  # window i is off by i everywhere
    per_window = window_mase(prepared, forecast, val)
    scales = [naive_scale(values[position][: prepared.splits[position].train_end, 0]) for position in (0, 1)]
    np.testing.assert_allclose(per_window, np.arange(len(val)) / np.array(scales)[val.series.numpy()])


def test_window_mase_is_nan_where_a_series_has_no_scale():
    series = SeriesSet(
        names=["flat", "moving"],
        values=[np.r_[np.full(30, 5.0), np.arange(12.0)][:, None], np.arange(42.0)[:, None] ** 1.5],
        columns=["y"],
    )
    prepared = prepare(
        series, DataConfig(data="x", window=4, horizon=2, test_size=6, val_size=6, scale="none", season=1)
    )
    val = prepared.val
    per_window = window_mase(prepared, truth(prepared, val) + 1, val)
    flat = val.series.numpy() == 0
    assert np.isnan(per_window[flat]).all() and np.isfinite(per_window[~flat]).all()
    assert np.isnan(score(prepared, truth(prepared, val) + 1, val)["per_series"]["flat"]["mase"])


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_a_models_forecasts_come_back_in_original_units(scale):
    """A model that forecasts the last scaled value is the persistence baseline once mapped back, series by series."""
    prepared, _ = _prepared(scale=scale)
    model = _LastValue(3)
    for windows in (prepared.test, prepared.val):
        forecast = forecast_windows(model, prepared, windows)
        np.testing.assert_allclose(forecast, baseline_forecasts(prepared, windows)["persistence"], rtol=1e-5)
    assert model.training  # predict restores the mode it found


def test_scoring_takes_the_windows_in_chunks(monkeypatch):
    """The test part's linear AR forecast is the same whatever the chunk size."""
    from grunet.data.config import DataConfig
    from grunet.data.series import SeriesSet
    from grunet.evaluation import scoring
    from grunet.windows import prepare

    rng = np.random.default_rng(5)
    series = SeriesSet(
        ["a", "b"], [np.cumsum(rng.normal(size=(120, 1)), axis=0), np.cumsum(rng.normal(size=(90, 1)), axis=0)], ["y"]
    )
    prepared = prepare(
        series,
        DataConfig(data="x", window=8, horizon=3, test_size=12, val_size=6, scale="standard", season=1, pad=False),
    )
    whole = scoring.baseline_forecasts(prepared)["linear_ar"]
    monkeypatch.setattr(scoring, "CHUNK", 7)
    np.testing.assert_allclose(scoring.baseline_forecasts(prepared)["linear_ar"], whole, rtol=1e-9)


def test_rows_of_series_are_each_series_windows_in_order():
    owners = np.array([2, 0, 2, 2, 0, 4, 0])  # unsorted, series 1 and 3 without windows
    rows = rows_of_series(owners, 5)
    assert [list(each) for each in rows] == [list(np.flatnonzero(owners == position)) for position in range(5)]
    assert [len(each) for each in rows_of_series(np.array([], dtype=np.int64), 2)] == [0, 0]


def test_score_all_scores_each_forecast_as_score_does():
    prepared, _ = _prepared()
    forecasts = baseline_forecasts(prepared)
    together = score_all(prepared, forecasts)
    assert list(together) == list(forecasts)
    for name, forecast in forecasts.items():
        assert together[name] == score(prepared, forecast)
    assert together["persistence"] != together["linear_ar"]  # each forecast its own metrics


def test_the_holt_winters_baseline_is_fitted_on_the_points_before_the_part_it_forecasts():
    rng = np.random.default_rng(0)
    values = [50 + np.cumsum(rng.normal(size=n)) + 5 * np.sin(np.arange(n) * 2 * np.pi / 4) for n in (60, 45)]
    series = SeriesSet(names=["a", "b"], values=[v[:, None] for v in values], columns=["y"])
    prepared = prepare(
        series, DataConfig(data="x", window=8, horizon=3, test_size=6, val_size=6, season=4, scale="none")
    )
    for part in ("val", "test"):
        windows = getattr(prepared, part)
        made = smoothed_forecasts(prepared, windows)
        for row, (owner, first) in enumerate(zip(windows.series.numpy(), origins(prepared, windows))):
            start = prepared.bounds(owner)[0]
            history = prepared.raw[start : prepared.bounds(owner)[1], 0]
            before = prepared.splits[owner].train_end + (6 if part == "test" else 0)
            model = smoothing.fit([history[:before]], 4)
            np.testing.assert_allclose(made[row], smoothing.forecast(model, [history[: first - start]], 3)[0])


def test_the_holt_winters_baseline_is_persistence_for_a_series_too_short_to_fit():
    """A panel with a series of 3 points before its test part: Holt-Winters cannot fit it (NaN, so that the GRU is
    combined with nothing there), and its row is persistence for that series' windows, Holt-Winters' elsewhere: the
    row is scored on every window (a NaN window made its mean n/a)."""
    prepared, _ = _prepared(pad=True, lengths=(60, 9))
    smoothed = smoothed_forecasts(prepared, prepared.test)
    short = prepared.test.series.numpy() == 1
    assert np.isnan(smoothed[short]).all() and np.isfinite(smoothed[~short]).all()
    assert unfitted_series(smoothed, prepared.test) == 1
    forecasts = baseline_forecasts(prepared, smoothed=smoothed)
    np.testing.assert_array_equal(forecasts["holt_winters"][short], forecasts["persistence"][short])
    np.testing.assert_array_equal(forecasts["holt_winters"][~short], smoothed[~short])
    np.testing.assert_array_equal(baseline_forecasts(prepared)["holt_winters"], forecasts["holt_winters"])
    assert np.isfinite(score(prepared, forecasts["holt_winters"])["mase"])
    full, _ = _prepared(pad=True, lengths=(60, 45))
    assert unfitted_series(smoothed_forecasts(full, full.test), full.test) == 0
