"""The time stamps after the end of every series of a SeriesSet at once, as `SeriesSet.future_times` gives them series
by series (`future_times_all`; `future_array` as one array), and their labels in the file's form (`all_labels`,
`array_labels`). Integer steps and fixed durations (days, weeks, hours ...) continue from each series' last stamp by
arithmetic, months (months, quarters, years) from its last month on its own day of the month; a series whose stamps
are not all on its grid, business days and every other spacing are continued by `SeriesSet.future_times` itself. (A
panel's forecast needs the next stamps of 10,000 series: about a millisecond each, series by series.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grunet.data import spacing
from grunet.data.series import SeriesSet, is_dated

Groups = list[tuple[np.ndarray, np.ndarray]]  # (series indices, their next stamps (len, steps): datetime64 or int64)


def future_times_all(series: SeriesSet, steps: int) -> list[list]:
    """`series.future_times(index, steps)` of every series, in order (the same stamps, and the same error for the
    first series that has none)."""
    found: dict[int, list] = {}
    for indices, ahead in _by_arithmetic(series, steps):
        made = pd.DatetimeIndex(ahead.ravel()).tolist() if ahead.dtype.kind == "M" else ahead.ravel().tolist()
        found.update({int(index): made[row * steps : (row + 1) * steps] for row, index in enumerate(indices)})
    return [found[index] if index in found else series.future_times(index, steps) for index in range(len(series.names))]


def future_array(series: SeriesSet, steps: int) -> np.ndarray | None:
    """The next `steps` stamps of every series, series after series, as one array (datetime64 or int64), when every
    series continues by arithmetic; else None (then `future_times_all`)."""
    groups = _by_arithmetic(series, steps)
    if sum(len(indices) for indices, _ in groups) != len(series.names) or len({a.dtype.kind for _, a in groups}) != 1:
        return None
    ahead = np.concatenate([stamps for _, stamps in groups])  # one unit: the finest of the groups'
    placed = np.empty_like(ahead)
    placed[np.concatenate([indices for indices, _ in groups])] = ahead
    return placed.ravel()


def _by_arithmetic(series: SeriesSet, steps: int) -> Groups:
    groups: Groups = []
    dated = [index for index, times in enumerate(series.times) if is_dated(times)]
    if dated and series.freq is not None:
        groups += _dated(series, dated, steps)
    step = series.time_format.step if series.time_format is not None else None
    numbered = [
        index
        for index, times in enumerate(series.times)
        if isinstance(times, pd.Index) and not is_dated(times) and pd.api.types.is_integer_dtype(times)
    ]
    if numbered and step:  # integer steps continue by the file's step
        groups += _continued(series, numbered, int(step), steps, np.dtype(np.int64))
    return groups


def _continued(series: SeriesSet, chosen: list[int], step: int, steps: int, dtype: np.dtype) -> Groups:
    """Series whose stamps step by `step` (int64, in their unit) from first to last: their last + step * (1..steps)
    as `dtype`; a series whose last stamp is off that grid is left out."""
    ends = np.array([_integers(series.times[index])[[0, -1]] for index in chosen], dtype=np.int64).reshape(-1, 2)
    on_grid = (ends[:, 1] - ends[:, 0]) % step == 0
    ahead = ends[on_grid, 1, None] + step * np.arange(1, steps + 1)  # (series, steps)
    return [(np.asarray(chosen)[on_grid], ahead.astype(dtype))]


def _integers(times) -> np.ndarray:
    return times.asi8 if isinstance(times, pd.DatetimeIndex) else np.asarray(times, dtype=np.int64)


def _dated(series: SeriesSet, chosen: list[int], steps: int) -> Groups:
    """The dated series continued by arithmetic: fixed durations, and months on one day of the month (or month ends)
    at one time of day; none for other spacings, or stamps of different units."""
    units = {series.times[index].unit for index in chosen}  # type: ignore[union-attr]  # dated: DatetimeIndex
    if len(units) != 1:
        return []
    unit = units.pop()
    offset = spacing.to_offset(series.freq)  # type: ignore[arg-type]  # a SeriesSet's freq is a pandas frequency
    months = spacing.months_per_step(offset)
    if months and isinstance(offset, spacing.PLAIN_MONTHS):
        return _monthly(series, chosen, months, steps, unit)
    duration = spacing.step_duration(offset) if not months else None
    per_unit = pd.Timedelta(1, unit=unit).value
    if duration is None or duration.value % per_unit:
        return []
    return _continued(series, chosen, duration.value // per_unit, steps, np.dtype(f"datetime64[{unit}]"))


def _monthly(series: SeriesSet, chosen: list[int], months: int, steps: int, unit: str) -> Groups:
    """Series every stamp of which falls on one day of the month up to the 27th, or on month ends, at one time of
    day, `months` months apart from the first: their next stamps on that day (or month end), at that time (as
    `spacing.next_stamps` makes them: microseconds)."""
    lengths = np.array([len(series.times[index]) for index in chosen])  # type: ignore[arg-type]  # dated
    stamps = np.concatenate([np.asarray(series.times[index]) for index in chosen]).astype(f"datetime64[{unit}]")
    starts = np.cumsum(lengths) - lengths
    first, last = np.repeat(starts, lengths), np.cumsum(lengths) - 1
    numbers = stamps.astype("datetime64[M]")
    day_start = stamps.astype("datetime64[D]")
    days = (day_start - numbers.astype("datetime64[D]")).astype(np.int64) + 1
    days_in = ((numbers + 1).astype("datetime64[D]") - numbers.astype("datetime64[D]")).astype(np.int64)
    clock = (stamps - day_start.astype(stamps.dtype)).astype(np.int64)
    month = numbers.astype(np.int64)
    ends = days == days_in
    fits = ((days == days[first]) & (days[first] <= 27)) | (ends & ends[first])
    fits &= (clock == clock[first]) & ((month - month[first]) % months == 0)
    rows = np.flatnonzero(np.logical_and.reduceat(fits, starts))  # the series every stamp of which fits
    kinds = np.stack([np.where(ends[last], 0, days[last])[rows], clock[last[rows]]], axis=1)  # (day: 0 = ends, clock)
    groups: Groups = []
    for kind in np.unique(kinds, axis=0):  # series alike in day of the month and time of day, at once
        alike = rows[(kinds == kind).all(axis=1)]
        ahead = month[last[alike], None] + 1970 * 12 + months * np.arange(1, steps + 1)
        made = spacing.month_stamps(ahead.ravel(), int(kind[0]), pd.Timedelta(int(kind[1]), unit=unit))
        groups.append((np.asarray(chosen)[alike], np.asarray(made.values).reshape(len(alike), steps)))
    return groups


def all_labels(series: SeriesSet, stamps: list[list]) -> list:
    """`series.time_labels(index, stamps[index])` of every series, one flat list; each distinct stamp written once
    for all series that share its UTC offset (a panel's series mostly share their forecast stamps)."""
    labels: list = []
    form = series.time_format
    written: dict = {}
    for index, (name, ahead) in enumerate(zip(series.names, stamps)):
        if form is None or series.times[index] is None:
            labels += series.time_labels(index, ahead)
            continue
        offset = None if form.offset is None else form.offsets.get(name, form.offset)
        for stamp in ahead:
            key = (stamp, offset)
            if key not in written:
                written[key] = form.label(stamp, name)
            labels.append(written[key])
    return labels


def array_labels(series: SeriesSet, stamps: np.ndarray) -> list | None:
    """`all_labels` of `future_array`'s stamps when the labels depend on the stamps alone (a time format without UTC
    offsets, every series with stamps); else None."""
    form = series.time_format
    if form is None or form.offset is not None or any(times is None for times in series.times):
        return None
    codes, distinct = pd.factorize(stamps)
    written = [form.label(stamp) for stamp in (pd.DatetimeIndex(distinct) if stamps.dtype.kind == "M" else distinct)]
    return [written[code] for code in codes]
