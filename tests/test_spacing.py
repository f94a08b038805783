"""The spacing of time stamps (grunet.data.spacing): decided from every stamp, missing rows found, the first stamp
off the spacing named, each series continued on its own anchor; the season follows the spacing."""

import pandas as pd
import pytest

from grunet.data import spacing
from grunet.data.spacing import TimesError


def _dates(*texts):
    return pd.DatetimeIndex(pd.to_datetime(list(texts), format="ISO8601"))


def _weekdays(start, count, weekday):
    return pd.date_range(start, periods=count, freq=f"W-{weekday}")


# regular stamps -> the spacing found from all of them, in words, and its season
SPACINGS = [
    (pd.bdate_range("2024-01-01", periods=30), "business-daily (B)", 5),  # starts on a Monday
    (pd.bdate_range("2024-01-03", periods=30), "business-daily (B)", 5),
    (pd.DatetimeIndex([pd.Timestamp(2020, month, 15) for month in range(1, 13)]), "monthly (MS)", 12),
    (pd.date_range("2020-01-31", periods=14, freq="ME"), "monthly (ME)", 12),
    (pd.date_range("2020-01-01", periods=14, freq="MS"), "monthly (MS)", 12),
    (pd.date_range("2020-01-01", periods=14, freq="BME"), "monthly (BME)", 12),
    (pd.date_range("2000-03-31", periods=9, freq="QE"), "quarterly (QE-DEC)", 4),
    (pd.date_range("2000-01-01", periods=9, freq="QS"), "quarterly (QS-JAN)", 4),
    (pd.date_range("2000-02-01", periods=9, freq="QS-FEB"), "quarterly", 4),
    (pd.DatetimeIndex([pd.Timestamp(2000 + k // 4, 3 * (k % 4) + 2, 15) for k in range(9)]), "quarterly", 4),
    (pd.date_range("2000-01-01", periods=9, freq="YS"), "yearly (YS-JAN)", None),
    (pd.date_range("2000-12-31", periods=9, freq="YE"), "yearly (YE-DEC)", None),
    (pd.date_range("2000-06-30", periods=9, freq="YE-JUN"), "yearly (YE-JUN)", None),
    (pd.DatetimeIndex([pd.Timestamp(2000 + k, 3, 15) for k in range(6)]), "yearly", None),
    (pd.date_range("2000-01-01", periods=9, freq="2MS"), "2MS", 6),
    (pd.date_range("2000-01-01", periods=9, freq="6MS"), "half-yearly", 2),
    *[
        (_weekdays("2020-01-01", 10, day), f"weekly (W-{day})", 52)
        for day in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
    ],
    (pd.date_range("2020-01-01", periods=40, freq="D"), "daily (D)", 7),
    (pd.date_range("2020-01-01 06:00", periods=40, freq="D"), "daily (D)", 7),
    (pd.date_range("2020-01-01", periods=40, freq="2D"), "2D", None),
    (pd.date_range("2020-01-01", periods=100, freq="h"), "hourly (h)", 24),
    (pd.date_range("2020-01-01 00:30", periods=100, freq="h"), "hourly (h)", 24),
    (pd.date_range("2020-01-01", periods=100, freq="30min"), "half-hourly (30min)", 48),
    (pd.date_range("2020-01-01", periods=100, freq="15min"), "quarter-hourly (15min)", 96),
    (pd.date_range("2020-01-01", periods=100, freq="3h"), "3h", 8),
    (pd.date_range("2020-01-01", periods=100, freq="min"), "minutely (min)", 1440),
    (pd.date_range("2020-01-01", periods=100, freq="10s"), "10s", 6),
    (pd.date_range("2020-01-01", periods=30, freq="28D"), "4W-WED", None),  # every 28 days: 4-weekly
    # twice a month: the 1st and the 15th (or 10th), the 15th (or 5th) and month ends (pandas' infer_freq names none)
    (pd.date_range("2020-01-01", periods=30, freq="SMS"), "semi-monthly (SMS-15)", 24),
    (pd.date_range("2020-01-01", periods=30, freq="SMS-10"), "semi-monthly (SMS-10)", 24),
    (pd.date_range("2020-01-15", periods=30, freq="SME"), "semi-monthly (SME-15)", 24),
    (pd.date_range("2019-12-05", periods=30, freq="SME-5"), "semi-monthly (SME-5)", 24),
    (pd.date_range("2020-01-01", periods=30, freq="14D"), "2W-WED", None),  # every 14 days stays 2-weekly
    (pd.DatetimeIndex(["2020-01-01", "2020-02-01"]), "monthly (MS)", 12),  # two stamps: a month, not 31 days
    (pd.DatetimeIndex(["2020-01-31", "2020-02-29"]), "monthly (ME)", 12),
    (pd.DatetimeIndex(["2020-01-06", "2020-01-13"]), "weekly (W-MON)", 52),
]


@pytest.mark.parametrize("stamps,words,season", SPACINGS, ids=[row[1] + str(row[0][0]) for row in SPACINGS])
def test_spacing_is_decided_from_every_stamp(stamps, words, season):
    stamps = pd.DatetimeIndex(stamps, freq=None)
    freq = spacing.detect(stamps)
    assert words in spacing.describe(freq)
    positions, size = spacing.expand(stamps, freq)
    assert size == len(stamps) and list(positions) == list(range(len(stamps)))
    assert list(spacing.grid(stamps, freq, size)) == list(stamps)
    assert spacing.season_for(freq) == season
    # every stamp continues from the one before it: the next stamps of the first part are the rest
    assert spacing.next_stamps(stamps[:-1], freq, 1) == [stamps[-1]]


# stamps with rows missing -> the spacing, and the positions of the rows present on its grid
MISSING = [
    (pd.date_range("2020-01-01", periods=10, freq="D").delete([5, 6]), "D", [0, 1, 2, 3, 4, 7, 8, 9]),
    (pd.date_range("2020-01-01", periods=10, freq="D").delete([3, 4]), "B", [0, 1, 2, 3, 4, 5, 6, 7]),  # weekdays
    (pd.bdate_range("2024-12-16", periods=12).delete(7), "B", [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]),  # a holiday
    (pd.DatetimeIndex([pd.Timestamp(2020, month, 15) for month in (1, 2, 3, 5, 6)]), "MS", [0, 1, 2, 4, 5]),
    (pd.date_range("2020-01-31", periods=8, freq="ME").delete(2), "ME", [0, 1, 3, 4, 5, 6, 7]),
    (pd.date_range("2000-03-31", periods=8, freq="QE").delete([3, 4]), "QE-DEC", [0, 1, 2, 5, 6, 7]),
    (pd.date_range("2000-01-01", periods=8, freq="YS").delete(1), "YS-JAN", [0, 2, 3, 4, 5, 6, 7]),
    (_weekdays("2020-01-01", 10, "THU").delete(5), "W-THU", [0, 1, 2, 3, 4, 6, 7, 8, 9]),
    (pd.date_range("2020-01-01", periods=10, freq="h").delete(1), "h", [0, 2, 3, 4, 5, 6, 7, 8, 9]),
    (pd.date_range("2020-01-01", periods=10, freq="28D").delete(4), "4W-WED", [0, 1, 2, 3, 5, 6, 7, 8, 9]),
    (pd.date_range("2020-01-01", periods=10, freq="SMS").delete(4), "SMS-15", [0, 1, 2, 3, 5, 6, 7, 8, 9]),
    (pd.date_range("2020-01-15", periods=10, freq="SME").delete([1, 2]), "SME-15", [0, 3, 4, 5, 6, 7, 8, 9]),
    (pd.Index([2000, 2001, 2003, 2004]), 1, [0, 1, 3, 4]),
    (pd.Index([0, 5, 10, 20, 25]), 5, [0, 1, 2, 4, 5]),
]


@pytest.mark.parametrize("stamps,freq,positions", MISSING, ids=[str(row[1]) for row in MISSING])
def test_missing_rows_are_found_on_the_spacing_of_most_stamps(stamps, freq, positions):
    stamps = stamps if not isinstance(stamps, pd.DatetimeIndex) else pd.DatetimeIndex(stamps, freq=None)
    assert spacing.detect(stamps) == freq
    found, size = spacing.expand(stamps, freq)
    assert list(found) == positions and size == positions[-1] + 1
    full = spacing.grid(stamps, freq, size)
    assert len(full) == size and list(full[found]) == list(stamps)


# stamps off any regular spacing -> the stamp before, the one that comes, the one expected
IRREGULAR = [
    (["2020-01-01", "2020-02-01", "2020-03-02", "2020-04-01"], ("2020-02-01", "2020-03-02", "2020-03-01")),
    (
        ["2020-01-01", "2020-01-02", "2020-01-02 12:00", "2020-01-03", "2020-01-04", "2020-01-05"],
        ("2020-01-02", "2020-01-02 12:00", "2020-01-03"),
    ),
    (["2020-01-06", "2020-01-13", "2020-01-21", "2020-01-27"], ("2020-01-13", "2020-01-21", "2020-01-20")),
    (
        ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:10", "2020-01-01 03:00"],
        ("2020-01-01 01:00", "2020-01-01 02:10", "2020-01-01 02:00"),
    ),
    (
        ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05", "2020-01-06 12:00", "2020-01-07"],
        ("2020-01-05", "2020-01-06 12:00", "2020-01-06"),
    ),
    (["2020-03-31", "2020-06-30", "2020-09-15", "2020-12-31"], ("2020-06-30", "2020-09-15", "2020-09-30")),
    (  # month ends with one stamp on the 15th: the 15th is named (not read as twice a month with holes)
        ["2021-01-31", "2021-02-28", "2021-03-15", "2021-04-30", "2021-05-31"],
        ("2021-02-28", "2021-03-15", "2021-03-31"),
    ),
]


@pytest.mark.parametrize("texts,named", IRREGULAR, ids=[row[1][1] for row in IRREGULAR])
def test_the_first_stamp_off_the_spacing_is_named(texts, named):
    stamps = _dates(*texts)
    with pytest.raises(TimesError) as caught:
        spacing.expand(stamps, spacing.detect(stamps))
    error = caught.value
    assert (error.before, error.after, error.expected) == tuple(_dates(*named))


def test_integer_steps_off_their_spacing_are_named():
    stamps = pd.Index([0, 2, 4, 5, 8, 10])
    with pytest.raises(TimesError) as caught:
        spacing.expand(stamps, spacing.detect(stamps))
    assert (caught.value.before, caught.value.after, caught.value.expected) == (4, 5, 6)
    assert spacing.detect(pd.Index([0, 2, 4, 5, 6])) == 1  # as many steps of 1 as of 2: 1 holds every stamp


@pytest.mark.parametrize(
    "stamps,freq,expected",
    [
        # a series continues on its own day, weekday and time of day, whichever series of the file named the spacing
        (_dates("2020-11-15", "2020-12-15"), "MS", ["2021-01-15", "2021-02-15"]),
        (_dates("2020-12-31", "2021-01-31"), "MS", ["2021-02-28", "2021-03-31"]),
        (_dates("2020-01-30", "2020-02-29", "2020-03-30"), "MS", ["2020-04-30", "2020-05-30"]),
        # on the 30th, with more month ends (February, April, June) than other days: still the 30th
        (_dates("2021-02-28", "2021-03-30", "2021-04-30", "2021-05-30"), None, ["2021-06-30", "2021-07-30"]),
        (_dates("2021-04-30", "2021-05-30", "2021-06-30"), None, ["2021-07-30", "2021-08-30"]),
        (_dates("2020-06-30", "2020-09-30"), "QS-OCT", ["2020-12-31", "2021-03-31"]),  # quarter ends in a QS file
        (_dates("2020-01-01", "2020-04-01"), "QE-DEC", ["2020-07-01", "2020-10-01"]),
        (_dates("2020-01-06", "2020-01-13"), "W-SUN", ["2020-01-20", "2020-01-27"]),  # Mondays in a Sunday file
        (_dates("2024-01-04", "2024-01-05"), "B", ["2024-01-08", "2024-01-09"]),
        (_dates("2020-01-01 00:30", "2020-01-01 01:30"), "h", ["2020-01-01 02:30", "2020-01-01 03:30"]),
        (_dates("2020-01-01"), "MS", ["2020-02-01", "2020-03-01"]),
        (_dates("2020-01-31"), "ME", ["2020-02-29", "2020-03-31"]),
        (_dates("2020-01-31", "2020-02-29"), None, ["2020-03-31", "2020-04-30"]),
    ],
)
def test_next_stamps_continue_each_series_own_spacing(stamps, freq, expected):
    assert spacing.next_stamps(stamps, freq, 2) == list(_dates(*expected))


@pytest.mark.parametrize(
    "freq,season",
    [
        ("MS", 12),
        ("ME", 12),
        ("BME", 12),
        ("QS-OCT", 4),
        ("QE-DEC", 4),
        ("2QS-JAN", 2),
        ("3MS", 4),
        ("YS-JAN", None),
        ("YE-DEC", None),
        ("2YS-JAN", None),
        ("D", 7),
        ("B", 5),
        ("2B", None),
        ("W-SUN", 52),
        ("W-WED", 52),
        ("2W-SUN", None),
        ("h", 24),
        ("2h", 12),
        ("5h", None),
        ("30min", 48),
        ("15min", 96),
        ("s", 60),
        ("7min", None),
        ("SMS-15", 24),
        ("2SMS-15", None),
        (None, None),
        (1, None),
        (7, None),
        ("nonsense", None),
    ],
)
def test_season_follows_the_frequency(freq, season):
    assert spacing.season_for(freq) == season
