"""The common case of a long-format file, loaded over whole columns: every series regular on the file's one spacing,
with no missing rows and no missing values (`regular_panel`).

`grunet.data.csvfile.load_csv` checks a file series by series (sorting, duplicates, spacing, gaps, filling): about a
millisecond a series, most of a panel's load. Here the same checks are made once over the whole time column, grouped
by series: each series sorted by time (one lexsort of (series, stamp)), the steps between neighbours (one diff of the
int64 stamps or month numbers), and each series' day of the month and time of day. When every series steps by one
spacing that `grunet.data.spacing.detect` is sure to give each of them alike, all series are cut from the sorted
columns at once. Anything else (a duplicated stamp, a gap, a step that differs, business days, a month on the 29th,
a missing value, a series of one frequency among another's) returns None: the caller then loads the file series by
series, with its messages. The result equals the per-series path's (names, values, stamps, spacing), which
tests/test_regular.py checks on many panels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from grunet.data import spacing

_DAY = pd.Timedelta(days=1).value
# whole-day steps that `spacing.detect` reads as a fixed duration on any start: a day, and one to three weeks.
# (Other steps of days may read as business days on some starts: Tue, Fri, Mon in steps of 3 days; 4 weeks and more
# are tried as months first.)
_DAY_STEPS = (_DAY, 7 * _DAY, 14 * _DAY, 21 * _DAY)


def regular_panel(
    values: np.ndarray, groups: dict, stamps: pd.Index | None
) -> tuple[list[str], list[np.ndarray], list[pd.Index], Any, np.ndarray] | None:
    """The series of a long-format file when all are regular: (names, values, stamps (empty without a time
    column), the file's spacing (None without a time column), each series' last row in the file); None when the
    per-series path is needed.

    values: (rows, F) float64, the target and features of every row. groups: series name -> its rows (ascending), in
    the order the series first appear. stamps: every row's stamp (int64 steps or a DatetimeIndex), or None."""
    if not groups or np.isnan(values).any():  # missing values: filled (or refused) series by series
        return None
    parts = list(groups.values())
    rows = np.concatenate(parts) if len(parts) > 1 else np.asarray(parts[0])
    lengths = np.fromiter((len(part) for part in parts), dtype=np.int64, count=len(parts))
    ends = np.cumsum(lengths)
    names = [str(name) for name in groups]
    if stamps is None:
        return names, np.split(values[rows], ends[:-1]), [], None, rows[ends - 1]
    dated = isinstance(stamps, pd.DatetimeIndex)
    keys = stamps.asi8 if dated else np.asarray(stamps, dtype=np.int64)
    keys = keys[rows]
    if len(keys) and (keys.min() < -(2**62) or keys.max() > 2**62):  # steps that could overflow int64
        return None
    owner = np.repeat(np.arange(len(parts)), lengths)
    inside = owner[1:] == owner[:-1]  # neighbours of one series
    steps = np.diff(keys)
    if (steps[inside] <= 0).any():  # a series out of order (or a duplicated stamp): sort each by time
        order = np.lexsort((keys, owner))
        rows, keys = rows[order], keys[order]
        steps = np.diff(keys)
    steps = steps[inside]
    if not len(steps) or (steps <= 0).any():  # no series of 2 stamps, or a duplicated stamp
        return None
    in_place = len(rows) == len(stamps) and bool((rows == np.arange(len(rows))).all())  # rows already in order
    ordered = stamps if in_place else stamps[rows]
    starts = ends - lengths
    try:
        freq = _spacing(ordered, steps, inside, owner, starts, lengths, dated)
    except (OverflowError, ValueError):  # e.g. a step pandas cannot hold in nanoseconds: said series by series
        freq = None
    if freq is None:
        return None
    times = [ordered[start:end] for start, end in zip(starts.tolist(), ends.tolist())]
    return names, np.split(values[rows], ends[:-1]), times, freq, rows[ends - 1]  # a copy: the series' own


def _spacing(ordered: pd.Index, steps: np.ndarray, inside, owner, starts, lengths, dated: bool):
    """The file's spacing when every series of 2 or more stamps steps by it without a hole and `spacing.detect`
    gives each of them a spacing of the same frequency (the one of the first series that votes, as
    `grunet.data.file_stamps.file_spacing` chooses it); else None."""
    voters = np.flatnonzero(lengths >= 3)
    if not len(voters):
        voters = np.flatnonzero(lengths == 2)
    first = int(voters[0])
    freq = spacing.detect(ordered[starts[first] : starts[first] + lengths[first]])
    key = spacing.spacing_key(freq)
    step = int(steps[0])
    if not dated:
        return freq if (steps == step).all() and key == ("step", step) else None
    assert isinstance(ordered, pd.DatetimeIndex)
    if (steps == step).all():
        duration = pd.Timedelta(step, unit=str(ordered.unit)).value
        if duration < _DAY or duration in _DAY_STEPS:
            return freq if key == ("duration", duration) else None
    return freq if key[0] == "months" and _every_month(ordered, key[1], inside, owner, starts) else None


def _every_month(ordered: pd.DatetimeIndex, months: int, inside, owner, starts) -> bool:
    """Whether every series steps by `months` months, each on one day of the month up to the 27th or on month ends
    throughout, at one time of day: then `spacing.detect` reads each as that many months, and its grid holds every
    stamp (a day from the 28th on reads as a month end in some months)."""
    numbers = ordered.values.astype("datetime64[M]")
    if not (np.diff(numbers.astype(np.int64))[inside] == months).all():
        return False
    day_start = ordered.values.astype("datetime64[D]")
    days = (day_start - numbers.astype("datetime64[D]")).astype(np.int64) + 1
    ends = days == ((numbers + 1).astype("datetime64[D]") - numbers.astype("datetime64[D]")).astype(np.int64)
    clock = ordered.asi8 - day_start.astype(ordered.values.dtype).astype(np.int64)
    first = starts[owner]
    same_day = (days == days[first]) & (days[first] <= 27)
    month_ends = ends & ends[first]
    return bool(((same_day | month_ends) & (clock == clock[first])).all())
