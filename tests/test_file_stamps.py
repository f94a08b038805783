"""A file's time stamps checked in its terms (grunet.data.file_stamps): a spacing with missing rows is named, series
of different frequencies are refused by name, one frequency on different anchors is one frequency, and a --future
file's duplicated or empty stamps are refused by series and line."""

import re

import pandas as pd
import pytest
from csv_cases import csv_text, load_text, one_line, write_text

from grunet.data.csv_frame import read_frame
from grunet.data.csvfile import load_csv
from grunet.data.file_stamps import future_stamps, infer_spacing


def test_infer_spacing_of_months_and_quarters():
    months = pd.DatetimeIndex(pd.date_range("1949-01-01", periods=30, freq="MS"))
    assert infer_spacing(months, "x") == "MS"
    with pytest.raises(ValueError, match="not regularly spaced"):
        infer_spacing(months.delete(10), "x")


# files with series of different frequencies -> the two series named with their frequencies
MIXED = [
    (
        [("m", f"2020-{month:02d}-01") for month in range(1, 6)] + [("d", f"2020-01-{day:02d}") for day in range(1, 6)],
        "'m' is monthly (MS), 'd' is daily (D)",
    ),
    (
        [
            ("q", "2020-01-01"),
            ("q", "2020-04-01"),
            ("q", "2020-07-01"),
            ("m", "2020-01-01"),
            ("m", "2020-02-01"),
            ("m", "2020-03-01"),
        ],
        "'q' is quarterly (QS-JAN), 'm' is monthly (MS)",
    ),
    (
        [("h", f"2020-01-01 0{hour}:00") for hour in range(4)] + [("d", f"2020-01-0{day}") for day in range(1, 5)],
        "'h' is hourly (h), 'd' is daily (D)",
    ),
    (
        [("a", str(year)) for year in (2000, 2001, 2002)] + [("b", str(year)) for year in (2000, 2005, 2010)],
        "'a' is steps of 1, 'b' is steps of 5",
    ),
]


@pytest.mark.parametrize("rows,words", MIXED, ids=[row[1] for row in MIXED])
def test_series_of_different_frequencies_are_refused_by_name(tmp_path, rows, words):
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        load_text(
            tmp_path,
            csv_text("id,when,y", [(name, when, k) for k, (name, when) in enumerate(rows)]),
            target="y",
            time_col="when",
            id_col="id",
        )
    assert one_line(caught) and "put series of one frequency in one file" in str(caught.value)


def test_one_frequency_with_different_anchors_is_one_frequency(tmp_path):
    rows = [
        ("starts", "2020-01-01"),
        ("starts", "2020-04-01"),
        ("starts", "2020-07-01"),
        ("ends", "2020-03-31"),
        ("ends", "2020-06-30"),
        ("ends", "2020-09-30"),
        ("mid", "2020-02-15"),
        ("mid", "2020-05-15"),
        ("mid", "2020-08-15"),
        ("short", "2020-01-01"),
        ("short", "2020-04-01"),
    ]
    series = load_text(
        tmp_path,
        csv_text("id,when,y", [(name, when, k) for k, (name, when) in enumerate(rows)]),
        target="y",
        time_col="when",
        id_col="id",
    )
    assert [series.time_labels(k, series.future_times(k, 2)) for k in range(4)] == [
        ["2020-10-01", "2021-01-01"],
        ["2020-12-31", "2021-03-31"],
        ["2020-11-15", "2021-02-15"],
        ["2020-07-01", "2020-10-01"],
    ]


def test_future_file_duplicates_are_refused_by_series_and_stamp(tmp_path):
    data = load_csv(
        write_text(
            tmp_path,
            csv_text("id,when,y", [(name, f"{day:02d}/01/2021", day) for name in "ab" for day in range(1, 20)]),
            "data.csv",
        ),
        target="y",
        time_col="when",
        id_col="id",
    )
    text = "id,when,x\na,20/01/2021,1\na,21/01/2021,2\nb,20/01/2021,3\nb,21/01/2021,4\n"
    path = write_text(tmp_path, text, "future.csv")
    found = future_stamps(read_frame(path), path, "when", "id", like=data.time_format)
    assert list(found) == ["a", "b"] and list(found["b"][0]) == list(pd.to_datetime(["2021-01-20", "2021-01-21"]))
    assert list(found["b"][1]) == [2, 3]
    path = write_text(tmp_path, "id,when,x\na,01/02/2021,1\nb,01/02/2021,3\na,02/02/2021,2\n", "future.csv")
    found = future_stamps(read_frame(path), path, "when", "id", like=data.time_format)  # day first, as the data
    assert list(found["a"][0]) == list(pd.to_datetime(["2021-02-01", "2021-02-02"]))
    for text, words in [
        (
            "id,when,x\na,20/01/2021,1\na,21/01/2021,2\nb,20/01/2021,3\na,20/01/2021,9\n",
            "future file {path} has duplicated time stamps in 'when': 20/01/2021 at lines 2, 5 (series 'a')",
        ),
        ("id,when,x\na,20/01/2021,1\n,21/01/2021,2\n", "id column 'id' of future file {path} is empty at line 3"),
        ("id,x\na,1\n", "future file {path} lacks the time column 'when'"),
        ("id,when,x\na,2021-01-20,1\n", "line 2 holds '2021-01-20', which does not match"),
    ]:
        path = write_text(tmp_path, text, "future.csv")
        like = data.time_format if "2021-01" not in text else times_like_date_format()
        with pytest.raises(ValueError, match=re.escape(words.format(path=path))) as caught:
            future_stamps(read_frame(path), path, "when", "id", like=like)
        assert one_line(caught)
    path = write_text(tmp_path, "when,x\n2021-01-01,1\n2021-01-01,2\n", "future.csv")
    with pytest.raises(ValueError, match="duplicated time stamps in 'when': 2021-01-01 at lines 2, 3; keep"):
        future_stamps(read_frame(path), path, "when", None)


def times_like_date_format():
    from grunet.data.stamp_format import TimeFormat

    return TimeFormat("date", strftime="%d/%m/%Y", date_format="%d/%m/%Y")
