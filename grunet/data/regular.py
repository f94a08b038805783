"""A long-format file's series checked over whole columns (`sorted_panel`, `plain_panel`), so that
`grunet.data.csvfile.load_csv` handles one by one only the series that need it.

`load_csv` checks a file series by series (sorting, duplicates, spacing, gaps, filling): about a millisecond a
series, most of a panel's load. Here the same checks are made once over the whole time column, grouped by series:
each series sorted by time (one lexsort of (series, stamp)), the steps between neighbours (one diff of the int64
stamps or month numbers), each series' day of the month and time of day, its missing values. A series that steps by
one spacing which `grunet.data.spacing.detect` is sure to give it (a fixed step of integers, of under a day, of one to
three weeks; or whole months on one day of the month up to the 27th, or on month ends, at one time of day) has that
spacing's frequency known without `detect`; when it is the file's, and the series has no missing value, it needs
nothing more. Every other series (a gap, an irregular or uncertain spacing: business days, a month on the 29th ...)
is checked, placed and filled one by one, with its messages; a duplicated stamp anywhere leaves the whole file to the
per-series path. The result equals the per-series path's, which tests/test_regular.py checks on many panels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grunet.data import spacing

_DAY = pd.Timedelta(days=1).value
# whole-day steps that `spacing.detect` reads as a fixed duration on any start: a day, and one to three weeks.
# (Other steps of days may read as business days on some starts: Tue, Fri, Mon in steps of 3 days; 4 weeks and more
# are tried as months first.)
_DAY_STEPS = (_DAY, 7 * _DAY, 14 * _DAY, 21 * _DAY)


@dataclass
class Panel:
    """Every series of a file sorted by time: series i is rows[starts[i]:ends[i]] (their stamps `ordered`, their
    values `values`); keys[i]: the `spacing.spacing_key` that `detect` is sure to give its stamps (None: not known
    without it); clean[i]: the series has no missing value."""

    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    ordered: pd.Index
    values: list[np.ndarray]
    keys: list[tuple | None]
    clean: np.ndarray

    def stamps(self, series: int) -> pd.Index:
        return self.ordered[int(self.starts[series]) : int(self.ends[series])]

    def finished(self, freq) -> np.ndarray:
        """Per series, whether it needs nothing more on the file's spacing `freq`: its grid holds every stamp without
        a hole (a series of one stamp is never placed), and no value is missing."""
        offset = None if isinstance(freq, (int, np.integer)) or freq is None else spacing.to_offset(freq)
        plain = offset is None or isinstance(offset, spacing.PLAIN_MONTHS) or spacing.step_duration(offset) is not None
        key = spacing.spacing_key(freq)
        alone = self.ends - self.starts == 1
        known = np.array([plain and each == key for each in self.keys], dtype=bool)
        return self.clean & (alone | known)


def plain_panel(values: np.ndarray, groups: dict) -> tuple[list[str], list[np.ndarray], np.ndarray] | None:
    """Series without a time column, none with a missing value: (names, values, each one's last row); else None."""
    if np.isnan(values).any():  # missing values: filled (or refused) series by series
        return None
    rows, lengths = _rows(groups)
    ends = np.cumsum(lengths)
    return [str(name) for name in groups], np.split(values[rows], ends[:-1]), rows[ends - 1]


def _rows(groups: dict) -> tuple[np.ndarray, np.ndarray]:
    parts = list(groups.values())
    rows = np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0])
    return rows, np.fromiter((len(part) for part in parts), dtype=np.int64, count=len(parts))


def sorted_panel(values: np.ndarray, groups: dict, stamps: pd.Index) -> Panel | None:
    """The series of a long-format file sorted by time, with what is known of each (see `Panel`); None when some
    series repeats a stamp (the per-series path names it), or for stamps too large to take steps of.

    values: (rows, F) float64, the target and features of every row. groups: series name -> its rows (ascending), in
    the order the series first appear. stamps: every row's stamp (int64 steps or a DatetimeIndex)."""
    rows, lengths = _rows(groups)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    dated = isinstance(stamps, pd.DatetimeIndex)
    keys = (stamps.asi8 if dated else np.asarray(stamps, dtype=np.int64))[rows]
    if keys.min() < -(2**62) or keys.max() > 2**62:  # steps that could overflow int64
        return None
    owner = np.repeat(np.arange(len(lengths)), lengths)
    inside = owner[1:] == owner[:-1]  # neighbours of one series
    steps = np.diff(keys)
    if (steps[inside] <= 0).any():  # a series out of order (or a duplicated stamp): sort each by time
        order = np.lexsort((keys, owner))
        rows, keys = rows[order], keys[order]
        steps = np.diff(keys)
        if (steps[inside] <= 0).any():
            return None
    in_place = len(rows) == len(stamps) and bool((rows == np.arange(len(rows))).all())  # rows already in order
    ordered = stamps if in_place else stamps[rows]
    values = values[rows]  # a copy: the series' own
    clean = ~np.bincount(owner[np.isnan(values).any(axis=1)], minlength=len(lengths)).astype(bool)
    try:
        known = _known_keys(ordered, keys, steps, inside, owner, starts, lengths, dated)
    except (OverflowError, ValueError):  # e.g. a step pandas cannot hold in nanoseconds: detected series by series
        known = [None] * len(lengths)
    return Panel(rows, starts, ends, ordered, np.split(values, ends[:-1]), known, clean)


def _constant(steps: np.ndarray, inside: np.ndarray, owner: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per series, whether all its steps (`steps` between neighbouring rows, `inside` one series) are its first."""
    pairs = owner[:-1]
    first = steps[np.minimum(starts, len(steps) - 1)]  # a series of one stamp has none: never read for it
    differs = inside & (steps != first[pairs])
    return ~np.bincount(pairs[differs], minlength=len(starts)).astype(bool)


def _known_keys(ordered, keys, steps, inside, owner, starts, lengths, dated: bool) -> list[tuple | None]:
    """Per series, the spacing key `spacing.detect` is sure to give its stamps, or None (see the module's text)."""
    if not len(steps):
        return [None] * len(lengths)
    two = lengths >= 2
    step = np.where(two, steps[np.minimum(starts, len(steps) - 1)], 0)
    fixed = two & _constant(steps, inside, owner, starts)
    if not dated:
        return [("step", int(each)) if ok else None for ok, each in zip(fixed.tolist(), step.tolist())]
    per_unit = pd.Timedelta(1, unit=str(ordered.unit)).value
    fixed &= np.abs(step) < 2**62 // per_unit  # in nanoseconds without overflow
    duration = np.where(fixed, step, 0) * per_unit
    fixed &= (duration < _DAY) | np.isin(duration, _DAY_STEPS)
    months, monthly = [0] * len(lengths), np.zeros(len(lengths), dtype=bool)
    others = np.flatnonzero(two & ~fixed)  # perhaps months: checked on their own rows only
    if len(others):
        some = np.repeat(np.arange(len(others)), lengths[others])
        before = np.cumsum(lengths[others]) - lengths[others]
        taken = np.arange(len(some)) + np.repeat(starts[others] - before, lengths[others])  # their rows
        found, monthly[others] = _months(ordered[taken], some[1:] == some[:-1], some, lengths[others])
        for index, count in zip(others.tolist(), found):
            months[index] = count
    return [
        ("duration", int(nanoseconds)) if ok else ("months", int(count)) if by_month else None
        for ok, nanoseconds, by_month, count in zip(fixed.tolist(), duration.tolist(), monthly.tolist(), months)
    ]


def _months(ordered: pd.DatetimeIndex, inside, owner, lengths) -> tuple[list[int], np.ndarray]:
    """Per series: its step in whole months, and whether it steps by them on one day of the month up to the 27th or
    on month ends throughout, at one time of day; then `spacing.detect` reads it as that many months, and its grid
    holds every stamp (a day from the 28th on reads as a month end in some months)."""
    starts = np.cumsum(lengths) - lengths
    codes, distinct = pd.factorize(ordered.values)  # each distinct stamp's calendar once (series share their stamps)
    numbers = distinct.astype("datetime64[M]")
    day_start = distinct.astype("datetime64[D]")
    days = (day_start - numbers.astype("datetime64[D]")).astype(np.int64) + 1
    ends = days == ((numbers + 1).astype("datetime64[D]") - numbers.astype("datetime64[D]")).astype(np.int64)
    clock = distinct.astype(np.int64) - day_start.astype(distinct.dtype).astype(np.int64)
    month, days, ends, clock = numbers.astype(np.int64)[codes], days[codes], ends[codes], clock[codes]
    first = starts[owner]
    same_day = (days == days[first]) & (days[first] <= 27)
    fits = (same_day | (ends & ends[first])) & (clock == clock[first])
    steps = np.diff(month)
    count = np.where(lengths >= 2, steps[np.minimum(starts, max(len(steps) - 1, 0))] if len(steps) else 0, 0)
    misfits = np.bincount(owner[~fits], minlength=len(starts)).astype(bool)
    monthly = (lengths >= 2) & (count >= 1) & _constant(steps, inside, owner, starts) & ~misfits
    return count.tolist(), monthly
