"""The search (`grunet.search`): candidates that fit the data, settings the user gave kept fixed, scores that never
depend on the test part, the time budget, and an ensemble of the best candidates sharing the winner's data view."""

import dataclasses

import numpy as np
import pytest

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.model import ModelConfig
from grunet.search import NORMS, SMOOTHING, SearchConfig, _norms, _windows, search, search_table
from grunet.training.config import TrainConfig

QUICK = TrainConfig(epochs=15, patience=5)


def _monthly(length=96, seed=0, test_poison=None):
    """A seasonal (12) positive series with a trend; `test_poison` replaces its last 6 points."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = 100 + t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, length)
    if test_poison is not None:
        values[-6:] = test_poison
    import pandas as pd

    times = pd.date_range("2000-01-01", periods=length, freq="MS")
    return SeriesSet(["s"], [values[:, None]], ["y"], [times], freq="MS")


def _config(**changes):
    return dataclasses.replace(DataConfig(data="x", horizon=6, test_size=6), **changes)


def test_window_candidates_are_seasons_or_lags_within_the_data():
    series = _monthly()
    base = _config().resolve(series)
    assert base.season == 12 and base.val_size == 6 - 1 + 12  # 12 origins of 6 steps (one series)
    assert _windows(series, base) == [12, 24, 36]
    short = _monthly(length=50)
    short_base = _config().resolve(short)
    assert max(_windows(short, short_base)) <= 50 - 6 - short_base.val_size - 6
    yearly = SeriesSet(["y"], [np.arange(80.0)[:, None]], ["y"])
    assert _windows(yearly, _config().resolve(yearly)) == [12, 24, 36]  # max(8, 2h), max(16, 4h), max(32, 6h)


def test_given_settings_are_not_searched():
    assert _norms(DataConfig(), ModelConfig(), 12, positive=True) == list(NORMS)
    plain = ["meanabs", "last", "standard", "seasonal"]
    assert _norms(DataConfig(), ModelConfig(), 12, positive=False) == plain  # no log of values <= 0
    assert _norms(DataConfig(log=False), ModelConfig(), 12, positive=True) == plain
    assert _norms(DataConfig(log=True), ModelConfig(), 12, positive=True) == ["log last", "log seasonal"]
    assert _norms(DataConfig(log=True), ModelConfig(seasonal=0), 1, positive=True) == ["log last"]
    no_season = ["meanabs", "last", "standard", "log last"]  # no season: no seasonal view
    assert _norms(DataConfig(), ModelConfig(), 1, positive=True) == no_season
    assert _norms(DataConfig(), ModelConfig(window_norm="meanabs"), 12, positive=True) == ["meanabs"]
    standard = ["last", "standard", "seasonal", "log last", "log seasonal"]
    assert _norms(DataConfig(scale="standard"), ModelConfig(), 12, positive=True) == standard
    assert _norms(DataConfig(), ModelConfig(seasonal=0), 12, positive=True) == no_season
    result = search(
        _monthly(),
        _config(window=24, log=False),
        ModelConfig(hidden_size=16, window_norm="last"),
        QUICK,
        SearchConfig(top_k=2),
    )
    candidates = [trial.candidate for trial in result.trials]
    assert {candidate.window for candidate in candidates} == {24}
    assert {candidate.norm for candidate in candidates} == {"last", "seasonal"}  # both shift by the last value
    assert {candidate.hidden_size for candidate in candidates} == {16}
    assert {candidate.ar for candidate in candidates} == {24, 1, 0}  # over the window, the drift's lag, none
    assert {candidate.label for candidate in candidates} == {"last", "seasonal", "drift", "seasonal drift"}
    assert len(result.chosen) == 2 and result.chosen[0].score <= result.chosen[1].score


@pytest.mark.slow
def test_the_test_part_never_changes_a_score():
    clean = search(_monthly(), _config(), ModelConfig(), QUICK, SearchConfig(time_budget=1e9))
    poisoned = search(_monthly(test_poison=1e6), _config(), ModelConfig(), QUICK, SearchConfig(time_budget=1e9))
    assert [trial.score for trial in clean.trials] == [trial.score for trial in poisoned.trials]
    assert clean.member_settings == poisoned.member_settings
    assert all(trial.status == "ok" for trial in clean.trials) and len(clean.trials) == 3 * 6 + 2 + 4
    assert np.isfinite(clean.residuals).all() and clean.residuals.shape == (12, 6)


def test_the_ensemble_shares_the_winners_scaling_each_member_its_window():
    result = search(_monthly(), _config(), ModelConfig(), QUICK, SearchConfig(top_k=5))
    best = min((trial for trial in result.trials if trial.status == "ok"), key=lambda trial: trial.score)
    scale, log = NORMS[best.candidate.norm][1], NORMS[best.candidate.norm][3]
    assert result.chosen[0] is best and len(result.chosen) == 5
    assert {NORMS[trial.candidate.norm][1::2] for trial in result.chosen} == {(scale, log)}
    others = [
        trial
        for trial in result.trials
        if trial.status == "ok" and trial not in result.chosen and NORMS[trial.candidate.norm][1::2] == (scale, log)
    ]
    assert all(trial.score >= result.chosen[-1].score for trial in others)  # the best five of that scaling
    longest = max(trial.candidate.window for trial in result.chosen)
    assert result.data_settings == {"window": longest, "scale": scale, "log": log}
    for settings, trial in zip(result.member_settings, result.chosen):
        assert settings["epochs"] == trial.best_epoch >= 0 and settings["lr"] == trial.lr  # 0: the skip's fit
        assert settings["input_steps"] == trial.candidate.window <= longest
    assert set(result.baselines) == {"persistence", "seasonal_naive", "linear_ar", "holt_winters"}
    row = result.trials[0].row()
    assert {"window", "norm", "hidden_size", "score", "seconds", "status", "origin_scores"} <= set(row)
    assert len(row["origin_scores"].split()) == 12


def test_the_time_budget_skips_later_candidates():
    result = search(_monthly(), _config(), ModelConfig(), QUICK, SearchConfig(time_budget=1e-6))
    statuses = [trial.status for trial in result.trials]
    assert statuses[0] == "ok" and set(statuses[1:]) == {"skipped (time budget)"}
    assert len(result.chosen) == 1


def test_no_validation_origin_is_a_clear_error():
    tiny = SeriesSet(["s"], [np.arange(10.0)[:, None]], ["y"])
    with pytest.raises(ValueError):
        search(tiny, DataConfig(data="x", horizon=6, test_size=6, val_size=0), ModelConfig(), QUICK, SearchConfig())


def _growing(length=96, seed=0):
    """A positive monthly series whose seasonal swing grows with its level (airline's kind): log-linear trend times
    a seasonal factor, with multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = 100 * np.exp(0.02 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.01, length))
    import pandas as pd

    return SeriesSet(["s"], [values[:, None]], ["y"], [pd.date_range("2000-01-01", periods=length, freq="MS")], "MS")


def test_the_log_views_are_searched_for_positive_series_and_win_on_growing_swings():
    """Among the views that shift each window by its last value, the log's win on swings that grow with the level
    (the window norm given: a window divided by its own scale, meanabs, follows such swings too, and a 36-lag
    autoregression of the standardised levels nearly does)."""
    result = search(_growing(), _config(), ModelConfig(window_norm="last"), QUICK, SearchConfig(time_budget=1e9))
    labels = {trial.candidate.label for trial in result.trials}
    assert {"last", "seasonal", "log last", "log seasonal"} <= labels
    assert NORMS[result.chosen[0].candidate.norm][3] and result.data_settings["log"] is True
    crossing = _growing()
    crossing.values[0][10, 0] = -1.0  # one value below zero: no log of the values
    result = search(crossing, _config(), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=1e9))
    assert not any(NORMS[trial.candidate.norm][3] for trial in result.trials)
    assert result.data_settings["log"] is False


def test_with_the_log_given_the_drift_baselines_are_of_the_log():
    result = search(_growing(), _config(log=True), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=1e9))
    assert all(NORMS[trial.candidate.norm][3] for trial in result.trials) and result.data_settings["log"] is True
    assert {"log drift", "log seasonal drift"} <= {trial.candidate.label for trial in result.trials}


def test_the_log_views_come_after_the_others():
    result = search(_growing(), _config(), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=1e9))
    stage1 = [trial.candidate for trial in result.trials if trial.stage == 1]
    logged = [NORMS[candidate.norm].log for candidate in stage1]
    # the 3 windows x 4 plain views, then 3 x the 2 log views, then only the untrained baselines
    assert logged[:18] == [False] * 12 + [True] * 6
    assert all(candidate.epochs == 0 for candidate in stage1[18:]) and len(stage1) > 18


def test_the_holt_winters_weight_combines_the_validation_forecasts_the_intervals_calibrate_on():
    series = _monthly()
    runs = {
        weight: search(
            series, _config(), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=5, smoothing=weight)
        )
        for weight in (0.0, 1.0)
    }
    assert runs[1.0].smoothing == 1.0 and runs[1.0].combined == pytest.approx(runs[1.0].baselines["holt_winters"])
    assert not np.allclose(runs[0.0].residuals, runs[1.0].residuals)  # calibrated on what is forecast
    assert "holt winters, 0 : 1  <- the forecast" in search_table(runs[1.0])
    assert SearchConfig().weight(DataConfig()) == 0.0 and SearchConfig().weight(_config()) == SMOOTHING  # the sine
    assert SearchConfig().weight(_config(future_features=["promo"])) == 0.0  # Holt-Winters cannot read them
    assert SearchConfig(smoothing=0.5).weight(DataConfig()) == 0.5
    with pytest.raises(ValueError, match="smoothing must be a weight"):
        SearchConfig(smoothing=1.5).check()
