"""CSV loading: the real series load, and every kind of bad file gets a ValueError that names the problem."""
import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from grunet.data.csvfile import infer_spacing, load_csv
from grunet.data.series import airline


def test_real_series_load_with_their_spacing():
    sunspots = load_csv(DATA / "sunspots_yearly.csv", time_col="YEAR")
    assert sunspots.names == ["SUNACTIVITY"] and len(sunspots.values[0]) == 309 and sunspots.times[0][0] == 1700
    assert sunspots.future_times(0, 2) == [2009, 2010]
    macro = load_csv(DATA / "macro_quarterly_long.csv", target="value", time_col="time", id_col="series")
    assert len(macro.names) == 12 and all(len(values) == 203 for values in macro.values)
    assert macro.names[0] == "realgdp" and macro.times[0][1] == pd.Timestamp("1959-04-01")
    assert [str(t.date()) for t in macro.future_times(0, 2)] == ["2009-10-01", "2010-01-01"]
    packaged = airline()
    assert len(packaged.values[0]) == 144 and packaged.freq == "MS"
    assert [str(t.date()) for t in packaged.future_times(0, 2)] == ["1961-01-01", "1961-02-01"]


def test_missing_values_are_named_or_filled():
    with pytest.raises(ValueError, match=r"missing values in column 'co2' at line 8, 11"):
        load_csv(DATA / "co2_weekly.csv", time_col="date")
    full = load_csv(DATA / "co2_weekly.csv", time_col="date", fill="interpolate")
    ffill = load_csv(DATA / "co2_weekly.csv", time_col="date", fill="ffill")
    with pytest.warns(UserWarning, match=r"--fill drop leaves 59 step\(s\) missing inside 1 series .*the longest: 18 "
                      r"step\(s\) after 1964-01-18"):  # the holes drop leaves are said, not silent
        dropped = load_csv(DATA / "co2_weekly.csv", time_col="date", fill="drop")
    assert not np.isnan(full.values[0]).any() and not np.isnan(ffill.values[0]).any()
    assert len(full.values[0]) == 2284 and len(dropped.values[0]) == 2284 - 59 == len(dropped.times[0])
    raw = pd.read_csv(DATA / "co2_weekly.csv")["co2"].to_numpy()
    gap = np.flatnonzero(np.isnan(raw))[0]
    assert ffill.values[0][gap, 0] == raw[gap - 1]
    assert min(raw[gap - 1], raw[gap + 1]) <= full.values[0][gap, 0] <= max(raw[gap - 1], raw[gap + 1])


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,kwargs,words", [
    (None, {}, "does not exist"),
    ("", {}, "is empty"),
    ("date,value\n", {}, "header (date, value) but no rows"),
    ('date,"\n"\n', {}, "header (date, '.n') but no rows"),  # a quoted line break, shown as '\\n' (one line)
    ("date,value\n2020-01-01,1\n", {"target": "sales"}, "target column 'sales' is not in"),
    ("date,value\n2020-01-01,1\n", {"time_col": "when"}, "time column 'when' is not in"),
    ("date,value\n2020-01-01,1\n2020-01-02,abc\n", {"target": "value"}, "not numeric: line 3 holds 'abc'"),
    ("date,value\n2020-01-01,1\n2020-01-01,2\n", {"time_col": "date"}, "duplicated time stamps in 'date'"),
    ("date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-03,2\n2020-01-05,3\n", {"time_col": "date"},
     "after 2020-01-03 comes 2020-01-05, expected 2020-01-04"),
    ("year,value\n2000,1\n2001,2\n2003,3\n", {"time_col": "year"}, "after 2001 comes 2003"),
    ("date,value\n2020-01-01,1\n2020-01-02,inf\n", {}, "infinite values in column 'value' at line 3"),
    ("date,a,b\n2020-01-01,1,2\n", {}, "choose the column to forecast with --target"),
    ("date,value\nyesterday,1\n", {"time_col": "date"}, "line 2 holds 'yesterday'"),
    ("date,value,price\n2020-01-01,1,x\n", {"target": "value", "features": ["price"]}, "'price'.*not numeric"),
])
def test_bad_files_name_the_problem(tmp_path, text, kwargs, words):
    path = tmp_path / "missing.csv" if text is None else _write(tmp_path, text)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_csv(path, **kwargs)


def test_rows_are_sorted_by_time_and_features_follow_the_target(tmp_path):
    path = _write(tmp_path, "date,value,price\n2020-01-03,3,30\n2020-01-01,1,10\n2020-01-02,2,20\n")
    series = load_csv(path, target="value", time_col="date", features=["price"])
    assert series.columns == ["value", "price"]
    assert np.array_equal(series.values[0], [[1, 10], [2, 20], [3, 30]])
    assert series.freq == "D"


def test_infer_spacing_of_months_and_quarters():
    months = pd.DatetimeIndex(pd.date_range("1949-01-01", periods=30, freq="MS"))
    assert infer_spacing(months, "x") == "MS"
    with pytest.raises(ValueError, match="not regularly spaced"):
        infer_spacing(months.delete(10), "x")
