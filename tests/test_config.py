"""`DataConfig` (`grunet.data.config`): check() names the bad setting and its value; resolve() fills the season from
the time stamps' frequency, the held-out parts (`validation_size`), the window (`default_window`), the scaling and
the padding, holding out less (the test part first) where the series are too short; `load_series` reads a
DataFrame, a built-in set or a CSV file."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grunet.data.config import DATAFRAME, ORIGINS, DataConfig, default_window, load_series, validation_size
from grunet.data.series import SeriesSet, airline, sine


def _steps(*lengths):
    """Series of plain steps (no time stamps), one per length."""
    return SeriesSet(
        names=[f"s{i}" for i in range(len(lengths))],
        values=[np.arange(n, dtype=float)[:, None] + i for i, n in enumerate(lengths)],
        columns=["y"],
    )


def _dated(length, freq):
    times = pd.date_range("2001-01-01", periods=length, freq=freq)
    return SeriesSet(
        names=["a"], values=[np.arange(length, dtype=float)[:, None]], columns=["y"], times=[times], freq=freq
    )


@pytest.mark.parametrize(
    "changes,words",
    [
        (dict(window=0), "window must be >= 1 (at most 100000), got 0"),
        (dict(horizon=0), "horizon must be >= 1 (at most 10000), got 0"),
        (dict(season=0), "season must be >= 1 (at most 1000000), got 0"),
        (
            dict(horizon=3, test_size=2),
            "test_size must be >= horizon (3) and at most 1000000000, or 0 for a final fit on every point, got 2",
        ),
        (dict(horizon=3, val_size=2), "val_size must be 0, or >= horizon (3) and at most 1000000000, got 2"),
        (dict(scale="robust"), "scale must be one of none, standard, minmax, got 'robust'"),
        (dict(fill="zero"), "fill must be one of error, ffill, interpolate, drop, got 'zero'"),
        (dict(date_format="DD/MM/YYYY"), "date_format must be a date format in strftime codes"),
        (dict(calendar="weekday"), "weekday"),
        (dict(features=["price", "promo"], future_features=["promo"]), "column 'promo' is given both as a feature"),
    ],
)
def test_check_names_the_setting_and_the_value(changes, words):
    with pytest.raises(ValueError) as error:
        DataConfig(**changes).check()
    assert words in str(error.value)


def test_check_accepts_the_limits():
    DataConfig(window=1, horizon=3, test_size=3, val_size=0, season=1).check()
    DataConfig(horizon=3, test_size=0, val_size=3, scale="minmax", date_format="%d/%m/%Y", calendar="month").check()


@pytest.mark.parametrize("freq,season", [("MS", 12), ("QS", 4), ("D", 7), ("h", 24), ("W-SUN", 52), ("YS", 1)])
def test_the_season_comes_from_the_frequency(freq, season):
    resolved = DataConfig(data="x", window=4, test_size=2, val_size=0).resolve(_dated(200, freq))
    assert resolved.season == season
    assert DataConfig(data="x", window=4, test_size=2, val_size=0, season=5).resolve(_dated(200, freq)).season == 5
    assert DataConfig(data="x", window=4, test_size=2, val_size=0).resolve(_steps(200)).season == 1  # plain steps


def test_the_sine_resolves_to_the_tutorials_settings():
    resolved = DataConfig().resolve(sine())
    assert (
        resolved.window,
        resolved.test_size,
        resolved.val_size,
        resolved.scale,
        resolved.season,
        resolved.pad,
        resolved.calendar,
    ) == (50, 150, 0, "none", 1, False, "none")
    assert DataConfig(log=True).resolve(sine()).scale == "standard"  # log values are not on the sine's scale


def test_data_resolves_from_its_lengths():
    series = _steps(200, 120, 300)
    resolved = DataConfig(data="x", horizon=3).resolve(series)
    assert resolved.test_size == max(3, 120 // 10) == 12
    assert resolved.val_size == validation_size([200, 120, 300], 3, 12)
    assert resolved.window == default_window([200, 120, 300], 3, 1, 12 + resolved.val_size) == 10
    assert resolved.scale == "standard" and resolved.pad is False and resolved.calendar == "none"
    given = DataConfig(data="x", horizon=3, window=7, test_size=20, val_size=5, scale="minmax").resolve(series)
    assert (given.window, given.test_size, given.val_size, given.scale) == (7, 20, 5, "minmax")


def test_resolve_copies_and_makes_the_data_path_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = DataConfig(data="series.csv", window=5, test_size=2, val_size=0)
    resolved = config.resolve(_steps(40))
    assert resolved is not config and config.scale is None and config.season is None  # the original is unchanged
    assert resolved.data == str(tmp_path / "series.csv") and Path(resolved.data).is_absolute()
    for name in ("sine", "airline", DATAFRAME):
        assert DataConfig(data=name, window=5, test_size=2, val_size=0).resolve(_steps(40)).data == name


def test_validation_size_by_hand():
    # one series: enough origins for ORIGINS, at most max(h + 1, ORIGINS / 2) of them, a third of its room
    assert validation_size([144], 12, 14) == max(12, min(12 - 1 + min(ORIGINS, 13), (144 - 14) // 3)) == 24
    assert validation_size([1000], 1, 100) == 1 - 1 + ORIGINS // 2 == 12
    # many series: one origin each is enough, so a horizon
    assert validation_size([100] * 30, 4, 10) == 4
    # 6 series: ceil(24 / 6) = 4 origins each
    assert validation_size([100] * 6, 2, 10) == 2 - 1 + math.ceil(ORIGINS / 6) == 5
    # the median series' room bounds it, never below a horizon
    assert validation_size([20, 30, 500], 2, 5) == max(2, min(2 - 1 + 8, (30 - 5) // 3)) == 8
    assert validation_size([10], 6, 6) == 6


def test_default_window_by_hand():
    assert default_window([500], 1, 12, 30) == 24  # two seasons
    assert default_window([500], 1, 1, 30) == 10  # no season: max(2 horizons, 10)
    assert default_window([500], 8, 1, 30) == 16
    assert default_window([40], 1, 12, 30) == 40 - 30 - 1  # at most what the median series leaves
    assert default_window([10, 60, 1000], 2, 12, 20) == 24 and default_window([10, 30, 1000], 2, 12, 20) == 8
    assert default_window([20], 4, 12, 30) == 1  # never below one step


def test_series_too_short_for_the_held_out_parts_hold_out_the_test_part_first():
    """12 points, horizon 4: a test part (4) and a validation part (4) leave 4 < horizon + 1 to train on: the test part
    goes (nothing is scored), the validation part stays to choose settings."""
    resolved = DataConfig(data="x", horizon=4).resolve(_steps(12))
    assert (resolved.test_size, resolved.val_size) == (0, 4)
    assert resolved.window == 4 and resolved.pad is False  # 12 - 4 held out - 4 ahead: a 4-step window fits
    assert resolved.horizon + 1 + resolved.test_size + resolved.val_size <= 12
    # 7 points: both parts go
    tiny = DataConfig(data="x", horizon=4).resolve(_steps(7))
    assert (tiny.test_size, tiny.val_size) == (0, 0)
    # a test part the user gave is kept: the validation part goes instead
    kept = DataConfig(data="x", horizon=4, test_size=4).resolve(_steps(12))
    assert (kept.test_size, kept.val_size) == (4, 0)
    # long enough: nothing changes
    long = DataConfig(data="x", horizon=4).resolve(_steps(13))
    assert (long.test_size, long.val_size) == (4, 4)


def test_the_longest_series_decides_whether_to_hold_out_less():
    resolved = DataConfig(data="x", horizon=4).resolve(_steps(8, 200))
    assert resolved.test_size == 4 and resolved.val_size > 0  # the long series trains; the short one is padded
    assert resolved.pad is True


def test_padding_is_on_when_some_series_is_too_short_for_a_window_and_the_held_out_parts():
    config = DataConfig(data="x", window=10, horizon=2, test_size=4, val_size=0)
    assert config.resolve(_steps(16, 100)).min_length_unpadded == 16
    assert config.resolve(_steps(16, 100)).pad is False  # 16 = 10 + 2 + 4: just enough
    assert config.resolve(_steps(15, 100)).pad is True
    assert (
        DataConfig(data="x", window=10, horizon=2, test_size=4, val_size=0, pad=False).resolve(_steps(15, 100)).pad
        is False
    )  # given: kept (the short series is then skipped)
    assert (
        DataConfig(data="x", window=10, horizon=2, test_size=4, val_size=0, pad=True).resolve(_steps(100)).pad is True
    )


def test_resolve_refuses_what_the_data_cannot_give():
    with pytest.raises(ValueError, match="--future-features needs --time-col"):
        DataConfig(data="x", future_features=["price"], window=5, test_size=2, val_size=0).resolve(_steps(40))
    with pytest.raises(ValueError, match=r"calendar features \(month\) need dates"):
        DataConfig(data="x", calendar="month", window=5, test_size=2, val_size=0).resolve(_steps(40))
    with pytest.raises(ValueError, match="test_size must be"):  # check() runs on the resolved values
        DataConfig(data="x", horizon=5, test_size=2).resolve(_steps(40))


def test_auto_is_on_for_dated_series_and_off_otherwise():
    assert DataConfig(data="airline").resolve(airline()).calendar == "month"
    assert DataConfig(data="sine").resolve(sine()).calendar == "none"
    assert DataConfig(data="airline", calendar="none").resolve(airline()).calendar == "none"
    with pytest.raises(ValueError, match="need dates"):
        DataConfig(data="sine", calendar="month").resolve(sine())


def test_cycles_of_a_resolved_config():
    assert DataConfig(calendar="none").cycles == [] and DataConfig(calendar="auto").cycles == []
    assert DataConfig(calendar="month,quarter").cycles == ["month", "quarter"]
    assert DataConfig(data="x", window=5, test_size=2, val_size=0).resolve(_dated(100, "D")).cycles != []


FRAME = pd.DataFrame(
    {
        "t": pd.date_range("2020-01", periods=30, freq="MS").strftime("%Y-%m"),
        "y": np.arange(30.0),
        "x": np.arange(30.0) * 2,
    }
)


def test_load_series_of_a_dataframe():
    series = load_series(DataConfig(data=DATAFRAME, target="y", time_col="t", features=["x"]), FRAME)
    assert series.names == ["y"] and series.columns == ["y", "x"] and series.freq == "MS"
    np.testing.assert_array_equal(series.values[0], FRAME[["y", "x"]].to_numpy())
    assert series.times[0][0] == pd.Timestamp("2020-01-01") and series.fingerprint is None
    # a frame given with a config naming a file: the frame is read
    assert load_series(DataConfig(data="elsewhere.csv", target="y", time_col="t"), FRAME).columns == ["y"]
    with pytest.raises(ValueError, match="fitted on a DataFrame, which is not saved"):
        load_series(DataConfig(data=DATAFRAME, target="y"))


def test_load_series_of_a_builtin_set():
    series = load_series(DataConfig(data="airline"))
    assert len(series.values[0]) == 144 and series.freq == "MS"
    np.testing.assert_array_equal(series.values[0], airline().values[0])
    assert len(load_series(DataConfig()).values[0]) == 1000
    with pytest.raises(ValueError, match="no feature columns"):
        load_series(DataConfig(data="airline", features=["x"]))
    with pytest.raises(ValueError, match="no feature columns"):
        load_series(DataConfig(data="sine", future_features=["x"]))


def test_load_series_of_a_csv_file(tmp_path):
    path = tmp_path / "series.csv"
    FRAME.to_csv(path, index=False)
    series = load_series(DataConfig(data=str(path), target="y", time_col="t", future_features=["x"]))
    assert series.columns == ["y", "x"] and len(series.values[0]) == 30
    assert series.fingerprint is not None and series.fingerprint["size"] == path.stat().st_size
    np.testing.assert_array_equal(series.values[0][:, 1], FRAME["x"].to_numpy())
