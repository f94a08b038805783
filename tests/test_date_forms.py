"""Stamps written as calendar fields (grunet.data.date_forms): quarters, ISO weeks, months and dates are read, and
written back as the file wrote them; the order of day and month is decided from the whole column or refused."""

import numpy as np
import pandas as pd
import pytest

from grunet.data import spacing, times
from grunet.data.spacing import TimesError


def _parse(values, **options):
    return times.parse(pd.Series(values, name="t"), "time column 't' of f.csv", **options)


def _dates(*texts):
    return pd.DatetimeIndex(pd.to_datetime(list(texts), format="ISO8601"))


# values as a file writes them -> the first two stamps, the kind, the next two stamps written back
CALENDAR_FORMS = [
    (["1965Q1", "1965Q2", "1965Q3"], ["1965-01-01", "1965-04-01"], "quarter", ["1965Q4", "1966Q1"]),
    (["Q1 1965", "Q2 1965", "Q3 1965"], ["1965-01-01", "1965-04-01"], "quarter", ["Q4 1965", "Q1 1966"]),
    (["1965-Q3", "1965-Q4", "1966-Q1"], ["1965-07-01", "1965-10-01"], "quarter", ["1966-Q2", "1966-Q3"]),
    (["1965 Q3", "1965 Q4", "1966 Q1"], ["1965-07-01", "1965-10-01"], "quarter", ["1966 Q2", "1966 Q3"]),
    (["1965q3", "1965q4", "1966q1"], ["1965-07-01", "1965-10-01"], "quarter", ["1966q2", "1966q3"]),
    (["Q3-1965", "Q4-1965", "Q1-1966"], ["1965-07-01", "1965-10-01"], "quarter", ["Q2-1966", "Q3-1966"]),
    (["2020-11", "2020-12", "2021-01"], ["2020-11-01", "2020-12-01"], "month", ["2021-02", "2021-03"]),
    (["2020/11", "2020/12", "2021/01"], ["2020-11-01", "2020-12-01"], "month", ["2021/02", "2021/03"]),
    (["2020/11", "2020/12", "2021/1"], ["2020-11-01", "2020-12-01"], "month", ["2021/2", "2021/3"]),
    (["2020M11", "2020M12", "2021M01"], ["2020-11-01", "2020-12-01"], "month", ["2021M02", "2021M03"]),
    (["11/2020", "12/2020", "01/2021"], ["2020-11-01", "2020-12-01"], "month", ["02/2021", "03/2021"]),
    (["Nov 2020", "Dec 2020", "Jan 2021"], ["2020-11-01", "2020-12-01"], "month", ["Feb 2021", "Mar 2021"]),
    (
        ["November 2020", "December 2020", "January 2021"],
        ["2020-11-01", "2020-12-01"],
        "month",
        ["February 2021", "March 2021"],
    ),
    (["NOV-2020", "DEC-2020", "JAN-2021"], ["2020-11-01", "2020-12-01"], "month", ["FEB-2021", "MAR-2021"]),
    (["2020 Nov", "2020 Dec", "2021 Jan"], ["2020-11-01", "2020-12-01"], "month", ["2021 Feb", "2021 Mar"]),
    (["30/01/2020", "31/01/2020", "01/02/2020"], ["2020-01-30", "2020-01-31"], "date", ["02/02/2020", "03/02/2020"]),
    (["01/30/2020", "01/31/2020", "02/01/2020"], ["2020-01-30", "2020-01-31"], "date", ["02/02/2020", "02/03/2020"]),
    (["30.01.2020", "31.01.2020", "01.02.2020"], ["2020-01-30", "2020-01-31"], "date", ["02.02.2020", "03.02.2020"]),
    (["30-1-2020", "31-1-2020", "1-2-2020"], ["2020-01-30", "2020-01-31"], "date", ["2-2-2020", "3-2-2020"]),
    (["2020/01/30", "2020/01/31", "2020/02/01"], ["2020-01-30", "2020-01-31"], "date", ["2020/02/02", "2020/02/03"]),
    (
        ["30 Jan 2020", "31 Jan 2020", "01 Feb 2020"],
        ["2020-01-30", "2020-01-31"],
        "date",
        ["02 Feb 2020", "03 Feb 2020"],
    ),
    (  # "May" is a full name and an abbreviation: a May-only column continues abbreviated (found by the fuzz test)
        ["29 May 2000", "30 May 2000", "31 May 2000"],
        ["2000-05-29", "2000-05-30"],
        "date",
        ["01 Jun 2000", "02 Jun 2000"],
    ),
    (
        ["30-Jan-2020", "31-Jan-2020", "01-Feb-2020"],
        ["2020-01-30", "2020-01-31"],
        "date",
        ["02-Feb-2020", "03-Feb-2020"],
    ),
    (
        ["Jan 30, 2020", "Jan 31, 2020", "Feb 1, 2020"],
        ["2020-01-30", "2020-01-31"],
        "date",
        ["Feb 2, 2020", "Feb 3, 2020"],
    ),
    (
        ["31/12/2020 22:00", "31/12/2020 23:00", "01/01/2021 00:00"],
        ["2020-12-31 22:00", "2020-12-31 23:00"],
        "datetime",
        ["01/01/2021 01:00", "01/01/2021 02:00"],
    ),
]


@pytest.mark.parametrize("values,first,kind,written", CALENDAR_FORMS, ids=[row[0][0] for row in CALENDAR_FORMS])
def test_forms_are_read_and_written_back_as_the_file_wrote_them(values, first, kind, written):
    stamps, fmt, _ = _parse(values)
    assert isinstance(stamps, pd.DatetimeIndex) and stamps.tz is None
    assert list(stamps[:2]) == list(_dates(*first))
    assert fmt.kind == kind
    assert fmt.labels(stamps) == values  # the input itself, back
    assert fmt.labels(spacing.next_stamps(stamps, spacing.detect(stamps), 2)) == written


def _monthly_day_first(years):
    return [f"01/{month:02d}/{year}" for year in years for month in range(1, 13)]


# a column of slashed dates -> the order read ('dmy' or 'mdy'), or the words of the refusal
ORDERS = [
    (["13/01/2020", "14/01/2020", "15/01/2020"], "dmy"),
    (["01/13/2020", "01/14/2020", "01/15/2020"], "mdy"),
    (["01/01/2020", "01/02/2020", "13/02/2020"], "dmy"),  # one day above 12 anywhere decides
    (["12/31/2019", "01/01/2020", "01/02/2020"], "mdy"),
    (_monthly_day_first([2020, 2021]), "dmy"),  # the monthly DD/MM file: only day first is regular
    ([f"{month:02d}/01/{year}" for year in (2020, 2021) for month in range(1, 13)], "mdy"),
    (["01/01/2020", "08/01/2020", "15/01/2020"], "dmy"),
    (_monthly_day_first([2020]), "both orders give regularly spaced stamps"),  # Jan 1..Jan 12 or monthly
    (["01/02/2020", "03/04/2020", "05/06/2020"], "neither order gives regularly spaced"),
    (["01/02/2020", "02/01/2020"], "both orders give regularly spaced"),
    (["13/01/2020", "01/13/2020"], "mixes day-first and month-first dates: line 2 holds '13/01/2020', line 3"),
    (["31/02/2020", "01/03/2020"], "line 2 holds '31/02/2020', which is not a valid date"),
    (["02/30/2020", "03/01/2020"], "line 2 holds '02/30/2020', which is not a valid date"),
]


@pytest.mark.parametrize("values,expected", ORDERS, ids=[f"{row[0][0]}..{row[0][-1]}" for row in ORDERS])
def test_day_and_month_order_is_decided_by_the_whole_column_or_refused(values, expected):
    if expected in ("dmy", "mdy"):
        stamps, fmt, _ = _parse(values)
        assert fmt.order == expected and fmt.labels(stamps) == values
        day, month = values[0].split("/")[:2] if expected == "dmy" else values[0].split("/")[1::-1]
        assert (stamps[0].day, stamps[0].month) == (int(day), int(month))
        return
    with pytest.raises(TimesError, match=expected) as caught:
        _parse(values)
    assert "\n" not in str(caught.value)
    if "order" in expected:
        assert "--date-format '%d/%m/%Y'" in str(caught.value)


def test_date_format_or_the_datas_own_order_decides_an_ambiguous_column():
    values = _monthly_day_first([2020])
    stamps, fmt, _ = _parse(values, date_format="%d/%m/%Y")
    assert list(stamps) == list(pd.date_range("2020-01-01", periods=12, freq="MS"))
    assert fmt.labels(stamps[-1:]) == ["01/12/2020"]
    month_first, _, _ = _parse(values, date_format="%m/%d/%Y")
    assert list(month_first) == list(pd.date_range("2020-01-01", periods=12, freq="D"))
    like = _parse(_monthly_day_first([2020, 2021]))[1]  # a future file of two rows read as its data was
    future, _, _ = _parse(["01/02/2022", "01/03/2022"], like=like)
    assert list(future) == list(_dates("2022-02-01", "2022-03-01"))
    with pytest.raises(TimesError, match=r"line 3 holds '2020-02-01', which does not match --date-format"):
        _parse(["01/01/2020", "2020-02-01"], date_format="%d/%m/%Y")
    with pytest.raises(TimesError, match="has no % codes"):
        _parse(["01/01/2020"], date_format="dd/mm/yyyy")


def test_series_of_ambiguous_dates_vote_each_on_their_own_spacing():
    # two series of 13 day-first months, interleaved as a long-format file has them: the whole column repeats
    # every stamp, so it is regular in neither order; each series is regular only day first
    one = _monthly_day_first([2020]) + ["01/01/2021"]
    values = [value for value in one for _ in range(2)]
    with pytest.raises(TimesError, match="neither order"):
        _parse(values)
    _, fmt, _ = _parse(values, groups=[np.arange(0, 26, 2), np.arange(1, 26, 2)])
    assert fmt.order == "dmy"
    with pytest.raises(TimesError, match="both orders"):  # one series of 12 months: Jan 1..12 is as regular
        _parse(values[:-2], groups=[np.arange(0, 24, 2), np.arange(1, 24, 2)])


@pytest.mark.parametrize(
    "written",
    [["1991 W06", "1991 W07", "1991 W08"], ["2015-W52", "2015-W53", "2016-W01"], ["2020w1", "2020w2", "2020w3"]],
)
def test_iso_weeks_are_read_as_their_mondays_and_written_back(written):
    stamps, fmt, _ = times.parse(pd.Series(written), "the time column")
    assert all(stamp.weekday() == 0 for stamp in stamps)  # Mondays
    assert (np.diff(stamps.to_numpy()) == np.timedelta64(7, "D")).all()
    assert fmt.labels(stamps) == written
