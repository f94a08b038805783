"""CSV loading: the real series load, and every kind of bad file gets a ValueError that names the problem."""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from csv_cases import csv_text, load_text, one_line, write_text

from grunet.data.csvfile import load_csv
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
    with pytest.warns(
        UserWarning,
        match=r"--fill drop leaves 59 step\(s\) missing inside 1 series .*the longest: 18 "
        r"step\(s\) after 1964-01-18",
    ):  # the holes drop leaves are said, not silent
        dropped = load_csv(DATA / "co2_weekly.csv", time_col="date", fill="drop")
    assert not np.isnan(full.values[0]).any() and not np.isnan(ffill.values[0]).any()
    assert len(full.values[0]) == 2284 and len(dropped.values[0]) == 2284 - 59 == len(dropped.times[0])
    raw = pd.read_csv(DATA / "co2_weekly.csv")["co2"].to_numpy()
    gap = np.flatnonzero(np.isnan(raw))[0]
    assert ffill.values[0][gap, 0] == raw[gap - 1]
    assert min(raw[gap - 1], raw[gap + 1]) <= full.values[0][gap, 0] <= max(raw[gap - 1], raw[gap + 1])


@pytest.mark.parametrize(
    "text,kwargs,words",
    [
        (None, {}, "does not exist"),
        ("", {}, "is empty"),
        ("date,value\n", {}, "header (date, value) but no rows"),
        ('date,"\n"\n', {}, "header (date, '.n') but no rows"),  # a quoted line break, shown as '\\n' (one line)
        ("date,value\n2020-01-01,1\n", {"target": "sales"}, "target column 'sales' is not in"),
        ("date,value\n2020-01-01,1\n", {"time_col": "when"}, "time column 'when' is not in"),
        ("date,value\n2020-01-01,1\n2020-01-02,abc\n", {"target": "value"}, "not numeric: line 3 holds 'abc'"),
        ("date,value\n2020-01-01,1\n2020-01-01,2\n", {"time_col": "date"}, "duplicated time stamps in 'date'"),
        (
            "date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-03,2\n2020-01-05,3\n",
            {"time_col": "date"},
            "after 2020-01-03 comes 2020-01-05, expected 2020-01-04",
        ),
        ("year,value\n2000,1\n2001,2\n2003,3\n", {"time_col": "year"}, "after 2001 comes 2003"),
        ("date,value\n2020-01-01,1\n2020-01-02,inf\n", {}, "infinite values in column 'value' at line 3"),
        ("date,a,b\n2020-01-01,1,2\n", {}, "choose the column to forecast with --target"),
        ("date,value\nyesterday,1\n", {"time_col": "date"}, "line 2 holds 'yesterday'"),
        ("date,value,price\n2020-01-01,1,x\n", {"target": "value", "features": ["price"]}, "'price'.*not numeric"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, kwargs, words):
    path = tmp_path / "missing.csv" if text is None else write_text(tmp_path, text)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_csv(path, **kwargs)


def test_rows_are_sorted_by_time_and_features_follow_the_target(tmp_path):
    path = write_text(tmp_path, "date,value,price\n2020-01-03,3,30\n2020-01-01,1,10\n2020-01-02,2,20\n")
    series = load_csv(path, target="value", time_col="date", features=["price"])
    assert series.columns == ["value", "price"]
    assert np.array_equal(series.values[0], [[1, 10], [2, 20], [3, 30]])
    assert series.freq == "D"


# ---- issue 14: dates read right, missing rows, long format ----


def test_real_series_write_their_stamps_back_in_their_own_form():
    macro = load_csv(DATA / "macro_quarterly_long.csv", target="value", time_col="time", id_col="series")
    assert macro.freq == "QS-JAN" and macro.time_labels(0, macro.future_times(0, 2)) == ["2009Q4", "2010Q1"]
    sunspots = load_csv(DATA / "sunspots_yearly.csv", time_col="YEAR")
    assert sunspots.time_labels(0, sunspots.future_times(0, 2)) == [2009, 2010]
    co2 = load_csv(DATA / "co2_weekly.csv", time_col="date", fill="interpolate")
    assert co2.freq == "W-SAT" and co2.time_labels(0, co2.future_times(0, 1)) == ["2002-01-05"]
    packaged = airline()
    assert packaged.time_labels(0, packaged.future_times(0, 2)) == ["1961-01", "1961-02"]


# a file's time column (one series) -> the frequency found and the next two stamps as the file would write them
READ_RIGHT = [
    (
        [
            "01/01/2020",
            "01/02/2020",
            "01/03/2020",
            "01/04/2020",
            "01/05/2020",
            "01/06/2020",
            "01/07/2020",
            "01/08/2020",
            "01/09/2020",
            "01/10/2020",
            "01/11/2020",
            "01/12/2020",
            "01/01/2021",
        ],
        {},
        "MS",
        ["01/02/2021", "01/03/2021"],
    ),  # the DD/MM monthly file: not 12 consecutive days
    (
        [f"01/{month:02d}/2020" for month in range(1, 13)],
        {"date_format": "%d/%m/%Y"},
        "MS",
        ["01/01/2021", "01/02/2021"],
    ),
    (
        [f"{month:02d}/01/2020" for month in range(1, 13)],
        {"date_format": "%m/%d/%Y"},
        "MS",
        ["01/01/2021", "02/01/2021"],
    ),
    ([f"{day:02d}/03/2020" for day in range(1, 20)], {}, "D", ["20/03/2020", "21/03/2020"]),
    (["Q1 1965", "Q2 1965", "Q3 1965", "Q4 1965"], {}, "QS-JAN", ["Q1 1966", "Q2 1966"]),
    (["1965Q3", "1965Q4", "1966Q1"], {}, "QS-JAN", ["1966Q2", "1966Q3"]),
    (["1965-Q3", "1965-Q4", "1966-Q1"], {}, "QS-JAN", ["1966-Q2", "1966-Q3"]),
    (["1965 Q3", "1965 Q4", "1966 Q1"], {}, "QS-JAN", ["1966 Q2", "1966 Q3"]),
    (["1965q3", "1965q4", "1966q1"], {}, "QS-JAN", ["1966q2", "1966q3"]),
    (["2020-11", "2020-12", "2021-01"], {}, "MS", ["2021-02", "2021-03"]),
    (["2020/11", "2020/12", "2021/01"], {}, "MS", ["2021/02", "2021/03"]),
    (["Nov 2020", "Dec 2020", "Jan 2021"], {}, "MS", ["Feb 2021", "Mar 2021"]),
    (["November 2020", "December 2020", "January 2021"], {}, "MS", ["February 2021", "March 2021"]),
    (["1871.0", "1872.0", "1873.0"], {}, None, [1874, 1875]),
    (["1949", "1949.08333333333", "1949.16666666667", "1949.25"], {}, "MS", [1949.33333333333, 1949.41666666667]),
    (["2020-01-15", "2020-02-15", "2020-03-15", "2020-04-15"], {}, "MS", ["2020-05-15", "2020-06-15"]),
    (["2020-03-31", "2020-06-30", "2020-09-30", "2020-12-31"], {}, "QE-DEC", ["2021-03-31", "2021-06-30"]),
    (["2019-12-31", "2020-12-31", "2021-12-31"], {}, "YE-DEC", ["2022-12-31", "2023-12-31"]),
    (
        ["2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12", "2024-01-15"],
        {},
        "B",
        ["2024-01-16", "2024-01-17"],
    ),
    (["2024-01-03", "2024-01-10", "2024-01-17"], {}, "W-WED", ["2024-01-24", "2024-01-31"]),
    (
        [t.isoformat() for t in pd.date_range("2021-03-27 23:00", periods=6, freq="h", tz="Europe/Berlin")],
        {},
        "h",
        ["2021-03-28T06:00:00+02:00", "2021-03-28T07:00:00+02:00"],
    ),  # across the change to summer time
    (
        [t.isoformat() for t in pd.date_range("2021-10-31 00:00", periods=8, freq="30min", tz="Europe/Berlin")],
        {},
        "30min",
        ["2021-10-31T03:00:00+01:00", "2021-10-31T03:30:00+01:00"],
    ),  # 02:00-03:00 twice, as +02, +01
    (
        ["2021-01-01T00:00:00Z", "2021-01-01T02:00:00+01:00", "2021-01-01T02:00:00Z"],
        {},
        "h",
        ["2021-01-01T03:00:00Z", "2021-01-01T04:00:00Z"],
    ),
    (["20200130", "20200131", "20200201"], {"date_format": "%Y%m%d"}, "D", ["20200202", "20200203"]),
]


@pytest.mark.parametrize("stamps,kwargs,freq,written", READ_RIGHT, ids=[row[0][0] for row in READ_RIGHT])
def test_dates_are_read_right_and_forecast_steps_written_in_the_files_form(tmp_path, stamps, kwargs, freq, written):
    series = load_text(
        tmp_path, csv_text("when,value", [(stamp, k) for k, stamp in enumerate(stamps)]), time_col="when", **kwargs
    )
    assert series.freq == freq and len(series.values[0]) == len(stamps)
    assert series.time_labels(0, series.future_times(0, 2)) == written


def test_date_format_comes_through_the_data_config(tmp_path):
    from grunet.data.config import DataConfig, load_series

    path = write_text(tmp_path, csv_text("when,value", [(f"01/{month:02d}/2020", month) for month in range(1, 13)]))
    with pytest.raises(ValueError, match=r"pass --date-format '%d/%m/%Y' \(day first\)"):
        load_series(DataConfig(data=str(path), target="value", time_col="when"))
    series = load_series(DataConfig(data=str(path), target="value", time_col="when", date_format="%d/%m/%Y"))
    assert series.freq == "MS" and series.time_labels(0, series.future_times(0, 1)) == ["01/01/2021"]
    with pytest.raises(ValueError, match="date_format must be a date format in strftime codes"):
        DataConfig(date_format="DD/MM/YYYY").check()


# a time column (one series, values 0, 1, 2, ...) -> the words of the one-line refusal
REFUSED_TIMES = [
    (
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05"],
        {},
        "is not regularly spaced, rows are missing: "
        "after 2020-01-03 comes 2020-01-05, expected 2020-01-04 (line 5; 1 time stamp(s) missing in all, daily (D)); "
        "--fill interpolate",
    ),
    (
        ["01/01/2020", "02/01/2020", "03/01/2020", "05/01/2020", "13/01/2020"],
        {},
        "rows are missing: after 03/01/2020 comes 05/01/2020, expected 04/01/2020",
    ),
    (["1965Q1", "1965Q2", "1965Q4"], {}, "after 1965Q2 comes 1965Q4, expected 1965Q3"),
    (["2000", "2001", "2003"], {}, "after 2001 comes 2003, expected 2002"),
    (
        ["2020-01-01", "2020-02-01", "2020-03-02", "2020-04-01"],
        {"fill": "interpolate"},
        "is not regularly spaced (monthly (MS)): after 2020-02-01 comes 2020-03-02, expected 2020-03-01 (line 4)",
    ),
    (
        ["2020-01-01", "2020-01-02", "2020-01-12", "2020-01-13"],
        {"fill": "interpolate"},
        "has 4 time stamps on a daily (D) spacing that needs 13: filling would invent more points than the data holds",
    ),
    (["20200130", "20200131", "20200201"], {}, "pass --date-format %Y%m%d"),
    (["202011", "202012", "202101"], {"fill": "ffill"}, "pass --date-format %Y%m%d or %Y%m"),
    (["01/01/2020", "01/02/2020", "01/03/2020"], {}, "pass --date-format '%d/%m/%Y' (day first) or '%m/%d/%Y'"),
    (["13/01/2020", "01/13/2020", "01/14/2020"], {}, "mixes day-first and month-first dates: line 2"),
    (
        ["2021-03-28 01:00", "2021-03-28 03:00", "2021-03-28 04:00", "2021-03-28 05:00"],
        {},
        "rows are missing: after 2021-03-28 01:00 comes 2021-03-28 03:00, expected 2021-03-28 02:00",
    ),
    (["2021-01-01T00:00:00Z", "2021-01-01T01:00:00"], {}, "mixes stamps with and without a UTC offset"),
    (["2020-01-01", "2020-01-02", "2020-01-02"], {}, "duplicated time stamps in 'when': 2020-01-02 at lines 3, 4"),
    (["Q1 1965", "Q1 1965"], {}, "duplicated time stamps in 'when': Q1 1965 at lines 2, 3"),
    (["1871.3", "1872.3"], {}, "line 2 holds 1871.3, which is not a whole number"),
    (["2020-01-01", "someday"], {}, "line 3 holds 'someday', which is not a date or time"),
    (["31/02/2020", "01/03/2020"], {}, "line 2 holds '31/02/2020', which is not a valid date"),
    (["01/01/2020", "2020-01-02"], {"date_format": "%d/%m/%Y"}, "line 3 holds '2020-01-02', which does not match"),
]


@pytest.mark.parametrize("stamps,kwargs,words", REFUSED_TIMES, ids=[row[0][-1] for row in REFUSED_TIMES])
def test_time_columns_that_cannot_be_read_right_are_refused_in_one_line(tmp_path, stamps, kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        load_text(
            tmp_path, csv_text("when,value", [(stamp, k) for k, stamp in enumerate(stamps)]), time_col="when", **kwargs
        )
    assert one_line(caught) and "when" in str(caught.value)


# missing rows, filled: the file's stamps with rows left out -> the stamps and values after --fill
FILLED = [
    (
        ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"],
        [1, 2, 4, 5],
        "interpolate",
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"],
        [1, 2, 3, 4, 5],
    ),
    (
        ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"],
        [1, 2, 4, 5],
        "ffill",
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"],
        [1, 2, 2, 4, 5],
    ),
    (
        ["2020-01-15", "2020-02-15", "2020-04-15", "2020-05-15"],
        [1, 2, 4, 5],
        "interpolate",
        ["2020-01-15", "2020-02-15", "2020-03-15", "2020-04-15", "2020-05-15"],
        [1, 2, 3, 4, 5],
    ),
    (
        ["1965Q1", "1965Q2", "1966Q1", "1966Q2", "1966Q3"],
        [1, 2, 5, 6, 7],
        "interpolate",
        ["1965Q1", "1965Q2", "1965Q3", "1965Q4", "1966Q1", "1966Q2", "1966Q3"],
        [1, 2, 3, 4, 5, 6, 7],
    ),
    (["2000", "2001", "2003", "2004"], [1, 2, 4, 5], "interpolate", [2000, 2001, 2002, 2003, 2004], [1, 2, 3, 4, 5]),
    (
        ["2024-12-23", "2024-12-24", "2024-12-26", "2024-12-27", "2024-12-30"],
        [1, 2, 4, 5, 6],
        "ffill",  # Christmas
        ["2024-12-23", "2024-12-24", "2024-12-25", "2024-12-26", "2024-12-27", "2024-12-30"],
        [1, 2, 2, 4, 5, 6],
    ),
    (
        ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 03:00", "2020-01-01 04:00"],
        [1, 2, 4, 5],
        "interpolate",
        ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00", "2020-01-01 03:00", "2020-01-01 04:00"],
        [1, 2, 3, 4, 5],
    ),
    (
        ["2020-01-01", "2020-01-03", "2020-01-04", "2020-01-05"],
        [1, "", 4, 5],
        "interpolate",  # a missing value too
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"],
        [1, 2, 3, 4, 5],
    ),
]


@pytest.mark.parametrize(
    "stamps,values,fill,full_stamps,full_values", FILLED, ids=[row[0][0] + row[2] for row in FILLED]
)
def test_missing_rows_are_inserted_then_filled(tmp_path, stamps, values, fill, full_stamps, full_values):
    series = load_text(tmp_path, csv_text("when,value", zip(stamps, values)), time_col="when", fill=fill)
    assert series.time_labels(0, series.times[0]) == full_stamps
    assert series.values[0][:, 0].tolist() == full_values


def test_missing_rows_of_a_long_format_file_are_inserted_per_series(tmp_path):
    rows = [
        ("a", "2020-01", 1),
        ("a", "2020-03", 3),
        ("b", "2020-02", 10),
        ("b", "2020-03", 20),
        ("b", "2020-05", 40),
        ("a", "2020-04", 4),
    ]
    series = load_text(
        tmp_path, csv_text("id,month,y", rows), target="y", time_col="month", id_col="id", fill="interpolate"
    )
    assert series.freq == "MS"
    assert series.time_labels(0, series.times[0]) == ["2020-01", "2020-02", "2020-03", "2020-04"]
    assert series.values[0][:, 0].tolist() == [1, 2, 3, 4] and series.values[1][:, 0].tolist() == [10, 20, 30, 40]
    with pytest.raises(
        ValueError,
        match=r"\(series 'a'\) is not regularly spaced, rows are missing: after 2020-01 "
        r"comes 2020-03, expected 2020-02 \(line 3;",
    ):
        load_text(tmp_path, csv_text("id,month,y", rows), target="y", time_col="month", id_col="id")


# --fill drop: what it leaves -> the warning's words, or None when the series stays regular
DROPPED = [
    (
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05"],
        [1, "", "", 4, 5],
        "--fill drop leaves 2 step(s) missing inside 1 series",
    ),
    (
        [f"2020-01-{day:02d}" for day in range(1, 16)],
        [1] + [""] * 10 + [4, 5, 6, 7],
        "the longest: 10 step(s) after 2020-01-01",
    ),  # the 10-day hole
    (
        ["2020-01-01", "2020-01-02", "2020-01-12", "2020-01-13", "2020-01-14"],
        [1, 2, 3, 4, 5],
        "leaves 9 step(s) missing",
    ),  # missing rows, not missing values: the same holes
    (["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"], ["", "", 3, 4], None),  # leading: still regular
]  # trailing: still regular, but the forecast starts earlier (test_fill_drop_says_when_it_removes_a_series_last_rows)


@pytest.mark.parametrize("stamps,values,words", DROPPED, ids=[str(row[2]) for row in DROPPED])
def test_drop_says_which_holes_it_leaves(tmp_path, stamps, values, words):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = load_text(tmp_path, csv_text("when,value", zip(stamps, values)), time_col="when", fill="drop")
    messages = [str(warning.message) for warning in caught]
    assert len(series.values[0]) == len([value for value in values if value != ""])
    if words is None:
        assert messages == []
    else:
        assert (
            len(messages) == 1
            and words in messages[0]
            and "--fill interpolate or ffill keeps the spacing" in messages[0]
            and "\n" not in messages[0]
        )


def test_drop_without_a_time_column_names_the_line_after_the_hole(tmp_path):
    with pytest.warns(UserWarning, match=r"leaves 2 step\(s\) missing inside 1 series .*after line 2\)"):
        series = load_text(tmp_path, "value,x\n1,1\n,2\n,3\n4,4\n5,5\n", target="value", fill="drop")
    assert series.values[0][:, 0].tolist() == [1, 4, 5]
    with pytest.warns(UserWarning, match=r"leaves 1 step\(s\) missing inside 1 series .*after line 3\)"):
        series = load_text(tmp_path, "value,x\n,0\n1,1\n,2\n4,4\n5,5\n", target="value", fill="drop")
    assert series.values[0][:, 0].tolist() == [1, 4, 5]


# long-format files given without --id-col, and columns given two roles -> the one-line refusal
ROLES = [
    (
        "series,date,value\na,2020-01-01,1\na,2020-01-02,2\nb,2020-01-01,3\nb,2020-01-02,4\n",
        {"time_col": "date", "target": "value"},
        "repeats time stamps (2020-01-01 at lines 2, 4): is 'series' the id "
        "column of a long-format file? pass --id-col series",
    ),
    (
        "store,date,value\n1,2020-01-01,1\n1,2020-01-02,2\n2,2020-01-01,3\n2,2020-01-02,4\n",
        {"time_col": "date", "target": "value"},
        "is 'store' the id column",
    ),
    (
        "date,series,value,price\n2020-01-01,a,1,5\n2020-01-01,b,3,6\n2020-01-02,a,2,7\n2020-01-02,b,4,8\n",
        {"time_col": "date"},
        "pass --id-col series",
    ),  # the target found as the only numeric column left? two: asked
    (
        "date,value\n2020-01-01,1\n2020-01-01,2\n",
        {"time_col": "date"},
        "duplicated time stamps in 'date': 2020-01-01 at lines 2, 3; keep one row per time stamp",
    ),
    (
        "year,value\n2000,1\n2001,2\n",
        {"time_col": "year", "target": "year"},
        "--target and --time-col both name column 'year'",
    ),
    ("id,value\na,1\nb,2\n", {"id_col": "value", "target": "value"}, "--target and --id-col both name column 'value'"),
    (
        "id,t,value\na,1,1\n",
        {"id_col": "t", "time_col": "t", "target": "value"},
        "--time-col and --id-col both name column 't'",
    ),
    (
        "t,value,x\n1,1,2\n",
        {"time_col": "t", "target": "value", "features": ["value"]},
        "--features/--future-features name 'value', the target",
    ),
    ("t,value,x\n1,1,2\n", {"time_col": "t", "target": "value", "features": ["t"]}, "name 't', the time column"),
    (
        "id,t,value\na,1,2\n",
        {"id_col": "id", "time_col": "t", "target": "value", "features": ["id"]},
        "name 'id', the id column",
    ),
    ("t,value,x\n1,1,2\n", {"time_col": "t", "target": "value", "features": ["x", "x"]}, "name column 'x' twice"),
]


@pytest.mark.parametrize("text,kwargs,words", ROLES, ids=[row[2][:30] for row in ROLES])
def test_long_format_without_id_col_and_columns_in_two_roles_are_refused(tmp_path, text, kwargs, words):
    if "price" in text:
        kwargs = {**kwargs, "target": "value"}
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        load_text(tmp_path, text, **kwargs)
    assert one_line(caught)


@pytest.mark.parametrize("long", [False, True])
def test_stamps_too_far_apart_for_a_spacing_are_one_line(tmp_path, long):
    """Two stamps 8,000 years apart: a step pandas cannot hold (found by the fuzz test) is refused in one line."""
    path = tmp_path / "far.csv"
    path.write_text("id,when,value\na,2020-01-01,0\na,9999-12-31,1\n")
    with pytest.raises(ValueError, match="too far apart for a regular spacing"):
        load_csv(path, time_col="when", target="value", id_col="id" if long else None)


def test_ids_that_are_one_name_as_text_are_refused():
    """Series are named by the text of their ids: 1 and "1" in one column would be two series of one name."""
    frame = pd.DataFrame({"id": [1, 1, "1", "1"], "y": [1.0, 2.0, 3.0, 4.0]}, dtype=object).astype({"y": float})
    with pytest.raises(ValueError, match=r"holds the ids 1 and '1', which are one name as text"):
        load_csv(frame, target="y", id_col="id")


def test_ids_are_the_names_as_written(tmp_path):
    """A file's ids are text as written, even where every id looks like a number: 007 and 7 are two series (they
    were merged, then refused as one series repeating its stamps), 1e3 stays 1e3, NA is a name."""
    path = tmp_path / "ids.csv"
    rows = [f"{name},2020-01-{day:02d},{day}.0" for name in ("007", "7", "1e3", "NA") for day in range(1, 11)]
    path.write_text("id,t,y\n" + "\n".join(rows) + "\n")
    series = load_csv(path, target="y", time_col="t", id_col="id")
    assert series.names == ["007", "7", "1e3", "NA"]


def test_a_first_stamp_off_the_spacing_of_the_others_is_named():
    """The first stamp off the grid the others follow was "cannot convert float NaN to integer"."""
    stamps = list(pd.date_range("2019-02-01", periods=30, freq="MS").strftime("%Y-%m-%d"))
    stamps[0] = "2019-01-15"
    frame = pd.DataFrame({"date": stamps, "y": np.arange(30.0)})
    with pytest.raises(
        ValueError, match=r"its first stamp 2019-01-15 is off that spacing, expected 2019-01-01 \(line 2\)"
    ):
        load_csv(frame, target="y", time_col="date")


def test_fill_drop_says_when_it_removes_a_series_last_rows():
    """--fill drop on a missing value in the last row moves the forecast's origin back: said, not silent."""
    frame = pd.DataFrame(
        {"date": pd.date_range("2020-01-01", periods=60, freq="D"), "x": np.r_[np.ones(58), np.nan, np.nan]}
    ).assign(y=np.arange(60.0))
    with pytest.warns(UserWarning, match=r"--fill drop removes the last 2 row\(s\) of 1 series"):
        series = load_csv(frame, target="y", time_col="date", features=["x"], fill="drop")
    assert len(series.values[0]) == 58
    with pytest.warns(UserWarning, match=r"removes the last 1 row\(s\).*start after the last row kept"):
        series = load_csv(frame.assign(x=1.0, y=np.r_[np.arange(59.0), np.nan]), "y", "date", fill="drop")
    assert len(series.values[0]) == 59
