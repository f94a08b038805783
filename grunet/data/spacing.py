"""The spacing of time stamps: from every stamp of a series, the frequency it is written at, its grid, the stamps that
continue it, and the season that goes with it.

Spacing (`detect`, `expand`). From every stamp of a series, holes allowed: the spacing of most stamps (on a tie, the
one that holds most stamps), in the family it belongs to: months (one of every k months on the same day of the
month, clamped to shorter months, or on month ends: monthly on the 15th, quarter ends, year starts ...), business
days (all stamps Monday to Friday, some step across a weekend, most steps one working day), or a fixed duration
(days, weeks on any weekday, hours, 30 minutes ...), or twice a month (the 1st and the 15th, the 15th and month ends);
pandas' `infer_freq` is checked last (business month ends). `expand` places every stamp on that spacing's grid from
the series' first stamp: a stamp off the grid is an irregularity, named with the stamp before it and the one
expected; stamps of the grid absent from the series are missing rows, which a caller may insert. Series of one file
may sit on different anchors of one frequency (quarter starts and quarter ends, Sundays and Mondays); `next_stamps`
continues each on its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
_WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]  # pandas' anchors of weekly spacings
_MONTH_CODES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]  # yearly


class TimesError(ValueError):
    """A time column that cannot be read, or stamps that are not regularly spaced; the message is one line."""

    # set by `expand` for stamps off the grid: the stamps before and at the misfit, the one expected, its row
    before: Any
    after: Any
    expected: Any
    row: int


def first_index(mask) -> int:
    """The position of the first true value of `mask`."""
    return int(np.flatnonzero(np.asarray(mask))[0])


# the calendar offsets whose steps are whole months from a month's (or quarter's, year's) start or end
PLAIN_MONTHS = (
    pd.offsets.MonthBegin,
    pd.offsets.MonthEnd,
    pd.offsets.QuarterBegin,
    pd.offsets.QuarterEnd,
    pd.offsets.YearBegin,
    pd.offsets.YearEnd,
)


def months_per_step(offset) -> int | None:
    """Months per step of a month-based pandas offset (MS 1, QE 3, YS 12, 2MS 2 ...), else None."""
    for kinds, months in (
        ((pd.offsets.MonthBegin, pd.offsets.MonthEnd, pd.offsets.BusinessMonthBegin, pd.offsets.BusinessMonthEnd), 1),
        ((pd.offsets.QuarterBegin, pd.offsets.QuarterEnd, pd.offsets.BQuarterBegin, pd.offsets.BQuarterEnd), 3),
        ((pd.offsets.YearBegin, pd.offsets.YearEnd, pd.offsets.BYearBegin, pd.offsets.BYearEnd), 12),
    ):
        if isinstance(offset, kinds):
            return months * offset.n
    return None


def step_duration(offset) -> pd.Timedelta | None:
    """The fixed length of a step of days, weeks or a tick (h, min, s ...), else None."""
    if isinstance(offset, pd.offsets.Week):
        return pd.Timedelta(days=7 * offset.n)
    if isinstance(offset, (pd.offsets.Day, pd.offsets.Tick)):
        return pd.Timedelta(offset)
    return None


def to_offset(freq: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.tseries.frequencies.to_offset(freq)


def spacing_key(freq) -> tuple:
    """What two spacings must share to be one frequency: monthly on the 1st and on the 15th, quarter starts and
    quarter ends, weeks on Sundays and on Mondays are the same frequency; months and 30 days are not."""
    if freq is None:
        return ("none",)
    if isinstance(freq, (int, np.integer)):
        return ("step", int(freq))
    offset = to_offset(freq)
    months = months_per_step(offset)
    if months:
        return ("months", months)
    duration = step_duration(offset)
    if duration is not None:
        return ("duration", duration.value)
    if isinstance(offset, pd.offsets.BusinessDay):
        return ("business days", offset.n)
    return ("other", offset.freqstr)


_NAMES = {
    ("months", 1): "monthly",
    ("months", 3): "quarterly",
    ("months", 12): "yearly",
    ("months", 6): "half-yearly",
    ("business days", 1): "business-daily",
    ("step", 1): "steps of 1",
}


def describe(freq) -> str:
    """'monthly (MS)', 'hourly (h)', 'steps of 5': a spacing in words, for messages."""
    if isinstance(freq, (int, np.integer)):
        return f"steps of {int(freq)}"
    key = spacing_key(freq)
    name = _NAMES.get(key)
    if key[0] == "duration":
        name = {
            pd.Timedelta(days=1).value: "daily",
            pd.Timedelta(days=7).value: "weekly",
            pd.Timedelta(hours=1).value: "hourly",
            pd.Timedelta(minutes=30).value: "half-hourly",
            pd.Timedelta(minutes=15).value: "quarter-hourly",
            pd.Timedelta(minutes=1).value: "minutely",
        }.get(key[1])
    if key[0] == "other" and isinstance(to_offset(freq), (pd.offsets.SemiMonthBegin, pd.offsets.SemiMonthEnd)):
        name = "semi-monthly"
    return f"{name} ({freq})" if name else str(freq)


def _mode(values: np.ndarray):
    unique, counts = np.unique(values, return_counts=True)
    return unique[np.argmax(counts)]


def _month_index(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Each stamp's month number, year * 12 + month - 1 (numpy's months since 1970, shifted)."""
    return np.asarray(stamps.values.astype("datetime64[M]").astype(np.int64)) + 1970 * 12


def _day_of_month(stamps: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Each stamp's day of the month (1..31) and the number of days in its month."""
    months = stamps.values.astype("datetime64[M]")
    start = months.astype("datetime64[D]")
    days = (stamps.values.astype("datetime64[D]") - start).astype(np.int64) + 1
    return days, ((months + 1).astype("datetime64[D]") - start).astype(np.int64)


def _month_rule(stamps: pd.DatetimeIndex) -> int:
    """The day of the month a monthly series keeps: 0 for month ends, else a day (clamped to shorter months: the
    30th is February's 28th and April's end). The day is the most common of the stamps that are not month ends; of
    the two readings, the one that holds more stamps (on a tie, the day: a series on the 30th with April, June and
    February in it has more month ends than other days, and is still on the 30th)."""
    days, days_in = _day_of_month(stamps)
    ends = days == days_in
    if ends.all():
        return 0
    day = int(_mode(days[~ends]))
    return day if (days == np.minimum(day, days_in)).sum() >= ends.sum() else 0


def month_stamps(index: np.ndarray, rule: int, clock: pd.Timedelta) -> pd.DatetimeIndex:
    """The stamps of month numbers `index` (year * 12 + month - 1) on day `rule` (0: the month's end) at `clock`."""
    months = (np.asarray(index, dtype=np.int64) - 1970 * 12).astype("datetime64[M]")
    start = months.astype("datetime64[D]")
    days_in = ((months + 1).astype("datetime64[D]") - start).astype(np.int64)
    days = days_in if rule == 0 else np.minimum(rule, days_in)
    stamps = (start + (days - 1).astype("timedelta64[D]")).astype("datetime64[us]") + np.timedelta64(clock.value, "ns")
    return pd.DatetimeIndex(stamps.astype("datetime64[us]"))


def _month_freq(months: int, rule: int, first: pd.Timestamp) -> str:
    """A pandas frequency for a step of `months` anchored like `first` (MS, 2MS, QS-JAN, QE-DEC, YS-JUL ...)."""
    end = rule == 0
    if months % 12 == 0:
        text = f"Y{'E' if end else 'S'}-{_MONTH_CODES[first.month - 1]}"
        count = months // 12
    elif months % 3 == 0:
        anchor = (first.month - 1) % 3 + (9 if end else 0)  # quarter ends anchor on OCT/NOV/DEC, starts JAN/FEB/MAR
        text = f"Q{'E' if end else 'S'}-{_MONTH_CODES[anchor]}"
        count = months // 3
    else:
        text, count = ("ME" if end else "MS"), months
    return (str(count) if count > 1 else "") + text


def _duration_freq(step: pd.Timedelta, first: pd.Timestamp) -> str:
    if step % pd.Timedelta(days=7) == pd.Timedelta(0):
        weeks = step // pd.Timedelta(days=7)
        return (str(weeks) if weeks > 1 else "") + f"W-{_WEEKDAYS[first.day_of_week]}"
    if step % DAY == pd.Timedelta(0):
        days = step // DAY
        return (str(days) if days > 1 else "") + "D"
    return to_offset(step).freqstr


def detect(times: pd.Index):
    """The spacing of a series' sorted, distinct stamps, decided from all of them, holes allowed: a pandas
    frequency (dates) or an integer step; None for fewer than 2 stamps. `expand` checks every stamp against it."""
    if len(times) < 2:
        return None
    if not isinstance(times, pd.DatetimeIndex):
        return _most_placed(times, [int(step) for step in _modes(np.diff(np.asarray(times, dtype=np.int64)))])
    guess = None
    if len(times) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                guess = pd.infer_freq(times)
            except (ValueError, TypeError):
                guess = None
        guess = getattr(guess, "freqstr", guess)
    deltas = times[1:] - times[:-1]
    steps = [pd.Timedelta(int(step), unit=str(times.unit)) for step in _modes(np.asarray(deltas.asi8))]
    durations = [_duration_freq(step, times[0]) for step in steps]
    mean_days = (times[-1] - times[0]) / (len(times) - 1) / DAY
    if min(steps) >= pd.Timedelta(days=28) or mean_days >= 28:  # months (or a stamp off them: named)
        months = int(_mode(np.diff(_month_index(times)))) or 1
        candidates = [_month_freq(months, _month_rule(times), times[0]), *durations]  # a month, not 31 days
    elif len(np.unique(deltas.asi8)) > 1 and mean_days <= 20 and (twice := _semi_months(times)):  # a few holes
        candidates = [*twice, *durations]
    elif _business_days(times, deltas):
        candidates = ["B", *durations]
    else:
        candidates = durations
    if guess is not None:  # pandas' answer is checked too (it names some irregular stamps: a BMS for a 2 March),
        candidates.append(guess)  # last, so that a misfit is named from the spacing of most stamps
    return _most_placed(times, candidates)


def _semi_months(times: pd.DatetimeIndex) -> list[str]:
    """The semi-monthly spacing of stamps on two days of each month, none for other stamps: on the 1st and the d-th
    (pandas' SMS-d), or on the d-th and month ends (SME-d), d up to the 27th. (pandas' `infer_freq` names neither.)"""
    day = np.asarray(times.day)
    ends = day == np.asarray(times.days_in_month)
    days = set(np.unique(day).tolist())
    if len(days) == 2 and 1 in days and 2 <= max(days) <= 27:
        return [f"SMS-{max(days)}"]
    inside = set(np.unique(day[~ends]).tolist())
    if ends.any() and len(inside) == 1 and 1 <= min(inside) <= 27:
        return [f"SME-{min(inside)}"]
    return []


def _business_days(times: pd.DatetimeIndex, deltas: pd.TimedeltaIndex) -> bool:
    """Whether stamps read best as business days: all Monday to Friday, some step crossing a weekend (which a
    daily reading would make missing rows), and most steps one working day."""
    if (np.asarray(times.day_of_week) >= 5).any():
        return False
    dates = np.asarray(times.normalize().values.astype("datetime64[D]"))
    working = np.busday_count(dates[:-1], dates[1:])
    crosses = working < np.asarray(deltas.days)
    return bool(crosses.any() and 1 in _modes(working))


def _modes(values: np.ndarray) -> np.ndarray:
    """The most common values (all of them on a tie), smallest first."""
    unique, counts = np.unique(values, return_counts=True)
    return unique[counts == counts.max()]


def _most_placed(times: pd.Index, candidates: list):
    """The first candidate spacing that holds every stamp, else the one that holds most (it names the misfit)."""
    placed = []
    for freq in candidates:
        try:
            expand(times, freq)
            return freq
        except TimesError:
            positions = _grid_positions(times, freq)[0]
            placed.append(int((np.isfinite(positions) & (np.abs(positions - np.round(positions)) < 1e-9)).sum()))
    return candidates[int(np.argmax(placed))]


def _grid_positions(times: pd.Index, freq) -> tuple[np.ndarray, Callable[[Any], pd.Index]]:
    """Each stamp's step number on the grid of `freq` from the series' first stamp (float: off the grid -> not
    whole), and a function of step numbers -> stamps."""
    first = times[0]
    if not isinstance(times, pd.DatetimeIndex):
        step = int(freq)
        return (np.asarray(times, dtype=np.int64) - first) / step, lambda k: pd.Index(first + step * np.asarray(k))
    offset = to_offset(freq)
    months = months_per_step(offset)
    business = (
        pd.offsets.BusinessMonthBegin,
        pd.offsets.BusinessMonthEnd,
        pd.offsets.BQuarterBegin,
        pd.offsets.BQuarterEnd,
        pd.offsets.BYearBegin,
        pd.offsets.BYearEnd,
    )
    if months and not (isinstance(offset, business) and offset.is_on_offset(first)):
        rule = _month_rule(times)
        clock = first - first.normalize()
        index = _month_index(times)
        positions = (index - index[0]) / months
        expected = month_stamps(index, rule, clock)
        positions = np.where(np.asarray(expected == times), positions, np.nan)
        return positions, lambda k: month_stamps(index[0] + months * np.asarray(k), rule, clock)
    duration = step_duration(offset)
    if duration is not None:
        positions = (times - first) / duration
        return np.asarray(positions, dtype=np.float64), lambda k: pd.DatetimeIndex(first + duration * np.asarray(k))
    if isinstance(offset, pd.offsets.BusinessDay) and offset.n >= 1:
        clock = times - times.normalize()
        dates = np.asarray(times.normalize().values.astype("datetime64[D]"))
        counts = np.busday_count(dates[0], dates).astype(np.float64)
        ok = np.is_busday(dates) & np.asarray(clock == clock[0])
        positions = np.where(ok, counts / offset.n, np.nan)

        def stamps(k):
            days = np.busday_offset(dates[0], offset.n * np.asarray(k), roll="forward")
            return pd.DatetimeIndex(days.astype("datetime64[us]")) + clock[0]

        return positions, stamps
    if not offset.is_on_offset(first):
        return np.full(len(times), np.nan), lambda k: pd.DatetimeIndex([first + offset * int(j) for j in k])
    grid = pd.date_range(first, times[-1], freq=offset)
    position = pd.Index(grid).get_indexer(times).astype(np.float64)

    def grid_stamps(k):
        k = np.asarray(k)
        return pd.date_range(first, periods=int(k.max()) + 1, freq=offset)[k] if len(k) else grid[:0]

    return np.where(position >= 0, position, np.nan), grid_stamps


def expand(times: pd.Index, freq) -> tuple[np.ndarray, int]:
    """Places a series' sorted, distinct stamps on the grid of `freq` from its first stamp: (each stamp's step
    number, the number of grid stamps from first to last). TimesError (with `.before`, `.after`, `.expected`) for
    the first stamp off the grid."""
    if len(times) < 2:
        return np.zeros(len(times), dtype=np.int64), len(times)
    positions, stamps = _grid_positions(times, freq)
    whole = np.isfinite(positions) & (np.abs(positions - np.round(positions)) < 1e-9)
    ordered = whole.copy()
    ordered[1:] &= np.diff(np.where(whole, positions, 0)) > 0
    if not ordered.all():
        row = max(first_index(~ordered), 1)
        error = TimesError(f"not on the spacing {freq}")
        if not np.isfinite(positions[row - 1]):  # the first stamp is off the grid the others follow (`before` None)
            error.before, error.after, error.expected, error.row = None, times[0], stamps([0])[0], 0
            raise error
        before = int(round(positions[row - 1]))
        error.before, error.after, error.expected, error.row = times[row - 1], times[row], stamps([before + 1])[0], row
        raise error
    return np.round(positions).astype(np.int64), int(round(positions[-1])) + 1


def grid(times: pd.Index, freq, size: int) -> pd.Index:
    """The first `size` stamps of the grid of `freq` from the series' first stamp (as `expand` places them)."""
    return _grid_positions(times, freq)[1](np.arange(size))


def next_stamps(times: pd.Index, freq, steps: int) -> list:
    """The `steps` stamps after a series' last one, continuing its own spacing (its day of the month, weekday,
    time of day): `freq` a pandas frequency, an integer step, or None (the series' own spacing, from its stamps)."""
    if freq is None:
        freq = detect(times)
        if freq is None:
            raise TimesError("a single time stamp has no spacing")
    positions, stamps = _grid_positions(times, freq)
    if not np.isfinite(positions[-1]):  # the last stamp is off this grid: continue from it alone
        positions, stamps = _grid_positions(times[-1:], freq)
    last = int(round(positions[-1]))
    return list(stamps(np.arange(last + 1, last + 1 + steps)))


def season_for(freq) -> int | None:
    """The season (steps per cycle) of a spacing, for a seasonal naive baseline, MASE and window lengths:
    monthly 12, quarterly 4, every 2 months 6, half-yearly 2, daily 7 (a week), business-daily 5 (a week of working
    days), weekly 52, hourly 24, half-hourly 48, any step of minutes or hours that divides a day: steps per day;
    seconds: 60 (a minute). None for yearly and longer spacings, integer steps, spacings without a natural cycle (2
    days, 10 days) and None."""
    if freq is None or isinstance(freq, (int, np.integer)):
        return None
    try:
        key = spacing_key(freq)
    except ValueError:
        return None
    if key[0] == "months":
        return 12 // key[1] if key[1] < 12 and 12 % key[1] == 0 else None
    if key[0] == "business days":
        return 5 if key[1] == 1 else None
    if key[0] == "other" and isinstance(to_offset(freq), (pd.offsets.SemiMonthBegin, pd.offsets.SemiMonthEnd)):
        return 24 if to_offset(freq).n == 1 else None  # twice a month: a year
    if key[0] == "duration":
        step = pd.Timedelta(key[1])
        if step == pd.Timedelta(days=7):
            return 52
        if step == DAY:
            return 7
        cycle = pd.Timedelta(minutes=1) if step < pd.Timedelta(minutes=1) else DAY
        if step < DAY and cycle % step == pd.Timedelta(0):
            return int(cycle / step)
    return None
