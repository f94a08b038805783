"""Series in memory (`grunet.data.series`): `SeriesSet`, the time stamps after a series' end (`future_times`) and
in the file's own form (`time_labels`), and the built-in sets (the tutorial's sine, the airline passengers)."""

import numpy as np
import pandas as pd
import pytest

from grunet.data.config import DATAFRAME, DataConfig, load_series
from grunet.data.series import BUILTIN, SeriesSet, airline, is_dated, sine
from grunet.data.stamp_format import TimeFormat


def _frame_series(frame, **settings):
    return load_series(DataConfig(data=DATAFRAME, target="y", **settings), frame)


def test_a_series_set_without_time_stamps_has_one_none_per_series():
    series = SeriesSet(names=["a", "b"], values=[np.zeros((5, 3)), np.zeros((7, 3))], columns=["y", "f", "g"])
    assert series.times == [None, None] and series.num_features == 3 and series.freq is None
    assert not is_dated(series.times[0]) and not is_dated(pd.Index([1, 2, 3]))
    assert is_dated(pd.date_range("2020-01-01", periods=3, freq="D"))


def test_plain_steps_continue_from_the_length():
    series = SeriesSet(names=["a", "b"], values=[np.zeros((5, 1)), np.zeros((7, 1))], columns=["y"])
    assert series.future_times(0, 3) == [5, 6, 7] and series.future_times(1, 2) == [7, 8]
    assert series.time_labels(1, [7, 8]) == [7, 8]  # no time format: unchanged


def test_dates_continue_their_spacing_and_are_written_as_the_file_wrote_them():
    quarters = _frame_series(pd.DataFrame({"q": ["1990Q1", "1990Q2", "1990Q3"], "y": [1.0, 2.0, 3.0]}), time_col="q")
    stamps = quarters.future_times(0, 3)
    assert stamps == [pd.Timestamp("1990-10-01"), pd.Timestamp("1991-01-01"), pd.Timestamp("1991-04-01")]
    assert quarters.time_labels(0, stamps) == ["1990Q4", "1991Q1", "1991Q2"]
    days = _frame_series(
        pd.DataFrame({"d": ["2021-03-29", "2021-03-30", "2021-03-31"], "y": [1.0, 2.0, 3.0]}), time_col="d"
    )
    assert days.time_labels(0, days.future_times(0, 2)) == ["2021-04-01", "2021-04-02"]  # across the month's end


def test_integer_time_stamps_continue_with_the_files_step():
    years = _frame_series(pd.DataFrame({"year": np.arange(1990, 2010, 2), "y": np.arange(10.0)}), time_col="year")
    assert years.future_times(0, 3) == [2010, 2012, 2014]
    assert all(type(stamp) is int for stamp in years.future_times(0, 3))
    assert years.time_labels(0, [2010, 2012]) == [2010, 2012]
    # long format: a one-stamp series takes the file's step from the other series
    frame = pd.DataFrame({"id": ["a", "a", "a", "b"], "year": [2000, 2001, 2002, 2005], "y": [1.0, 2.0, 3.0, 4.0]})
    both = _frame_series(frame, time_col="year", id_col="id")
    assert both.names == ["a", "b"] and both.future_times(0, 2) == [2003, 2004]
    assert both.future_times(1, 2) == [2006, 2007]


def test_a_single_stamp_without_a_known_spacing_has_no_future():
    series = SeriesSet(names=["lonely"], values=[np.ones((1, 1))], columns=["y"], times=[pd.Index([2005])])
    with pytest.raises(ValueError, match="series 'lonely' has a single time stamp"):
        series.future_times(0, 2)
    stepped = SeriesSet(
        names=["lonely"],
        values=[np.ones((1, 1))],
        columns=["y"],
        times=[pd.Index([2005])],
        time_format=TimeFormat("step", step=5),
    )
    assert stepped.future_times(0, 2) == [2010, 2015]


def test_the_sine_is_the_tutorials_exercise():
    series = sine()
    assert series.names == ["sine"] and series.columns == ["value"] and series.times == [None]
    assert series.values[0].shape == (1000, 1)
    np.testing.assert_array_equal(series.values[0][:, 0], np.sin(np.linspace(0, 100, 1000)))
    short = sine(length=10, stop=np.pi)
    assert short.values[0].shape == (10, 1) and abs(short.values[0][-1, 0]) < 1e-12  # sin(pi)


def test_airline_is_box_and_jenkins_series_g():
    series = airline()
    values = series.values[0][:, 0]
    assert series.values[0].shape == (144, 1) and series.columns == ["Passengers"] and series.freq == "MS"
    assert (values[0], values[-1], values.max(), values.sum()) == (112, 432, 622, 40363)
    assert series.times[0][0] == pd.Timestamp("1949-01-01") and series.times[0][-1] == pd.Timestamp("1960-12-01")
    assert series.time_labels(0, series.future_times(0, 13))[::12] == ["1961-01", "1962-01"]


def test_the_builtin_sets_are_listed_with_their_loaders():
    assert set(BUILTIN) == {"sine", "airline"}
    for name, (load, description) in BUILTIN.items():
        assert isinstance(load(), SeriesSet) and description and load().names == [name]
    assert "1000 steps" in BUILTIN["sine"][1] and "144 months" in BUILTIN["airline"][1]
