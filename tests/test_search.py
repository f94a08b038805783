"""The search (`grunet.search`): candidates that fit the data, settings the user gave kept fixed, scores that never
depend on the test part, the time budget, and an ensemble of the best candidates sharing the winner's data view."""

import dataclasses

import numpy as np
import pytest

import grunet.search as searching
from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.evaluation.intervals import normalised_errors
from grunet.evaluation.scoring import forecast_windows
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.search import (
    NORMS,
    SMOOTHING,
    Candidate,
    SearchConfig,
    Trial,
    _held_out_forecast,
    _later_half,
    _norms,
    _window_keys,
    _windows,
    search,
    search_table,
)
from grunet.smoothing import combine
from grunet.training.config import TrainConfig
from grunet.windows import prepare

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
    assert result.data_settings == {"window": longest, "scale": scale, "log": log, "test_size": 6}  # as held out
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
    judged = dataclasses.replace(runs[1.0], smoothing=0.1834)  # a judged weight: two digits
    assert "holt winters, 0.82 : 0.18  <- the forecast" in search_table(judged)
    assert SearchConfig().weight(DataConfig()) == 0.0 and SearchConfig().weight(_config()) == SMOOTHING  # the sine
    assert SearchConfig().weight(_config(future_features=["promo"])) == 0.0  # Holt-Winters cannot read them
    assert SearchConfig(smoothing=0.5).weight(DataConfig()) == 0.5
    with pytest.raises(ValueError, match="smoothing must be a weight"):
        SearchConfig(smoothing=1.5).check()


def _prepared(lengths, window, val_size=8, horizon=3):
    """Ragged random series prepared with a validation part of `val_size` points (val_size - horizon + 1 origins)."""
    rng = np.random.default_rng(1)
    series = SeriesSet(
        [f"s{index}" for index in range(len(lengths))], [rng.normal(size=(n, 1)) for n in lengths], ["y"]
    )
    config = DataConfig(
        data="x", horizon=horizon, test_size=horizon, val_size=val_size, window=window, season=1, pad=False
    )
    return prepare(series, config.resolve(series))


def test_the_validation_origins_split_in_halves_by_time_and_keys_match_across_windows():
    prepared = _prepared([40, 60, 30], window=4)
    later = _later_half(prepared)
    owners = prepared.val.series.numpy()
    assert np.bincount(owners).tolist() == [6, 6, 6]  # 8 - 3 + 1 origins per series
    assert later.tolist() == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3
    one = _prepared([40, 60, 30, 50], window=4, val_size=3)  # one origin each: alternate series
    assert _later_half(one).tolist() == [False, True, False, True]
    longer = _prepared([40, 60, 30], window=26)  # the 30-point series is too short for this window
    assert longer.kept == [0, 1]
    keys, kept_keys = _window_keys(prepared), _window_keys(longer)
    assert (np.diff(keys) > 0).all() and np.isin(kept_keys, keys).all() and len(kept_keys) == 12
    np.testing.assert_array_equal(kept_keys, keys[:12])  # the same windows, the same numbers


def _trial(window, scores):
    return Trial(Candidate(window, "standard", 4, 1, 0, None), 1, float(np.mean(scores)), list(scores), status="ok")


def test_each_half_is_forecast_by_the_ensemble_chosen_on_the_other_half():
    torch = pytest.importorskip("torch")
    prepared = _prepared([40, 60], window=6)
    short = _prepared([40, 60], window=4)
    torch.manual_seed(0)
    models = [GRUNet(1, 4, 3) for _ in range(3)]
    # per series 6 origins, the first 3 the earlier half: model 0 is best there, model 1 on the later half
    early_best, late_best, middling = [0.1] * 3 + [0.9] * 3, [0.9] * 3 + [0.1] * 3, [0.5] * 6
    trials = [_trial(6, early_best * 2), _trial(4, late_best * 2), _trial(6, middling * 2)]
    kept = {0: (models[0], prepared), 1: (models[1], short), 2: (models[2], prepared)}
    held_out = _held_out_forecast(trials, kept, 1, prepared)
    later = _later_half(prepared)
    np.testing.assert_allclose(held_out[later], forecast_windows(models[0], prepared, prepared.val)[later])
    np.testing.assert_allclose(held_out[~later], forecast_windows(models[1], short, short.val)[~later])
    pair = _held_out_forecast(trials, kept, 2, prepared)  # two members: the median of the best two of each half
    both = forecast_windows(Ensemble([models[0], models[2]]), prepared, prepared.val)
    np.testing.assert_allclose(pair[later], both[later], rtol=1e-6)


def _cycle(length=160, period=11.0, seed=0):
    """A yearly cycle with no season and no trend: Holt-Winters' damped trend chases it, an autoregression fits it."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = 100 + 40 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1, length)
    import pandas as pd

    times = pd.date_range("1800-01-01", periods=length, freq="YS")
    return SeriesSet(["c"], [values[:, None]], ["y"], [times], freq="YS")


def test_the_gru_alone_where_it_clearly_beats_holt_winters_on_held_out_origins():
    series, config = _cycle(), _config(horizon=4, test_size=4)
    small = ModelConfig(hidden_size=8)
    auto = search(series, config, small, QUICK, SearchConfig(time_budget=10))
    judged = auto.held_out
    assert judged["windows"] >= searching.HELD_OUT and judged["alone"] < searching.JUDGED[0] * judged["combined"]
    assert auto.smoothing == 0.0
    assert "held out: the ensembled alone" in search_table(auto) and "<- the forecast" not in search_table(auto)
    assert "too few to move the weight" not in search_table(auto)
    given = search(series, config, small, QUICK, SearchConfig(time_budget=10, smoothing=SMOOTHING))
    assert given.smoothing == SMOOTHING and given.held_out["alone"] == pytest.approx(judged["alone"])


def test_too_few_held_out_windows_keep_the_default_weight(monkeypatch):
    monkeypatch.setattr(searching, "HELD_OUT", 10**6)
    result = search(
        _cycle(), _config(horizon=4, test_size=4), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=10)
    )
    assert result.smoothing == SMOOTHING and result.held_out["windows"] < 10**6
    assert "too few to move the weight" in search_table(result)  # the table says why the evidence did not count


def test_the_intervals_calibrate_on_the_held_out_errors(monkeypatch):
    captured = {}

    def fake(trials, kept, top_k, prepared):
        captured["prepared"] = prepared
        forecast = np.full((len(prepared.val), prepared.config.horizon), 100.0)
        forecast[0] = np.nan  # no held-out forecast for this window: the ensemble's own stands
        captured["forecast"] = forecast
        return forecast

    monkeypatch.setattr(searching, "_held_out_forecast", fake)
    result = search(
        _monthly(), _config(), ModelConfig(hidden_size=8), QUICK, SearchConfig(time_budget=5, smoothing=0.5)
    )
    prepared = captured["prepared"]
    from grunet.evaluation.scoring import baseline_forecasts

    smoothed = baseline_forecasts(prepared, prepared.val)["holt_winters"]
    norm = NORMS[result.chosen[0].candidate.norm].window_norm
    expected = normalised_errors(prepared, combine(captured["forecast"], smoothed, 0.5), prepared.val, norm)
    np.testing.assert_allclose(result.residuals[1:], expected[1:])
    assert np.isfinite(result.residuals[0]).all() and not np.allclose(result.residuals[0], expected[0], equal_nan=True)


@pytest.mark.parametrize(
    "ratio, weight", [(0.5, 0.0), (0.7, 0.0), (0.8, 0.375), (0.85, 0.5625), (0.9, 0.75), (1.3, 0.75)]
)
def test_the_default_weight_shrinks_with_the_gru_alones_held_out_advantage(ratio, weight):
    assert searching.judged_weight(0.75, 2 * ratio, 2.0) == pytest.approx(weight)
    assert searching.judged_weight(0.0, 2 * ratio, 2.0) == 0.0
