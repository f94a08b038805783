"""The time stamps of a file's series checked in the file's terms: a time column read (`parse_times`), its spacing
(`infer_spacing`), duplicated stamps (`check_unique_stamps`), a series placed on its spacing's grid (`place`), the one
spacing of a file's series (`file_spacing`), and the stamps of a --future file (`future_stamps`). Every problem is a
ValueError naming the file, the column and the lines (reading the stamps: `grunet.data.times`; their spacing:
`grunet.data.spacing`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grunet.data import spacing, times
from grunet.data.csv_frame import line_numbers
from grunet.data.stamp_format import TimeFormat


def parse_times(
    column: pd.Series, path: Path, like: TimeFormat | None = None, date_format: str | None = None
) -> pd.Index:
    """The stamps of a time column (see `grunet.data.times.parse`): integer steps, or dates without a zone (UTC
    where the column wrote offsets). `like`: the TimeFormat of the series a second file goes with (a --future file
    is read with the data's order of day and month)."""
    where = f"time column {column.name!r} of {path}"
    lines = (
        np.asarray(column.index, dtype=np.int64) + 2
        if isinstance(column.index, pd.RangeIndex) or pd.api.types.is_integer_dtype(column.index)
        else None
    )
    return times.parse(column, where, lines, date_format=date_format, like=like)[0]


def infer_spacing(stamps: pd.Index, where: str) -> str | int:
    """The regular spacing of sorted, distinct time stamps, decided from all of them (a pandas frequency, or an
    integer step); ValueError naming the first gap when they are not regular, missing rows included."""
    freq = spacing.detect(stamps)
    if freq is None:
        return 1 if not isinstance(stamps, pd.DatetimeIndex) else "D"
    try:
        _, size = spacing.expand(stamps, freq)
    except spacing.TimesError as error:
        step = (
            f"its first stamp {_short(error.after)} is off that spacing"
            if error.before is None
            else f"after {_short(error.before)} comes {_short(error.after)}"
        )
        raise ValueError(
            f"{where} is not regularly spaced ({spacing.describe(freq)}): {step}, expected {_short(error.expected)}"
        ) from None
    if size != len(stamps):
        positions = spacing.expand(stamps, freq)[0]
        row = first_gap(positions)
        expected = spacing.grid(stamps, freq, positions[row - 1] + 2)[-1]
        raise ValueError(
            f"{where} is not regularly spaced ({spacing.describe(freq)}): after "
            f"{_short(stamps[row - 1])} comes {_short(stamps[row])}, expected {_short(expected)}"
        )
    return freq


def _short(stamp) -> str:
    """A stamp for a message when the column's form is not known: a date when it is one, else as pandas writes it."""
    if isinstance(stamp, pd.Timestamp) and stamp == stamp.normalize():
        return str(stamp.date())
    return str(stamp)


def first_gap(positions: np.ndarray) -> int:
    """The first stamp whose grid step is more than one after the previous one's."""
    return int(np.flatnonzero(np.diff(positions) > 1)[0]) + 1


def check_unique_stamps(
    stamps: pd.Index,
    lines: np.ndarray,
    path: Path | str,
    time_col: str,
    series: str | None = None,
    fmt: TimeFormat | None = None,
    role: str = "",
) -> None:
    """ValueError naming the first duplicated time stamp of one series (sorted or not) and the lines holding it;
    `series` None for a file of one series, `role` e.g. 'future file ' before the path."""
    duplicated = pd.Index(stamps).duplicated()
    if not duplicated.any():
        return
    stamp = stamps[int(np.flatnonzero(duplicated)[0])]
    shown = fmt.label(stamp, series) if fmt is not None else _short(stamp)
    where = np.flatnonzero(np.asarray(pd.Index(stamps) == stamp))
    raise ValueError(
        f"{role}{path} has duplicated time stamps in {time_col!r}: {shown} at lines "
        f"{line_numbers(np.asarray(lines)[where] - 2)}"
        + (f" (series {series!r})" if series is not None else "")
        + "; keep one row per time stamp"
        + (" and series" if series is not None else "")
    )


def future_stamps(
    frame: pd.DataFrame, path: Path | str, time_col: str, id_col: str | None, like: TimeFormat | None = None
) -> dict[str | None, tuple[pd.Index, np.ndarray]]:
    """For a --future file (read with `read_frame`): per series name (str; the file's single series under the key
    None when `id_col` is None), its time stamps and the row positions in `frame` holding them, read in the data's
    own form (`like`, the data's `SeriesSet.time_format`). ValueError naming a duplicated (series, stamp) with its
    lines, or an empty id or time stamp."""
    path = Path(path)
    for name, role in ((time_col, "time"), (id_col, "id")):
        if name is not None and name not in frame.columns:
            raise ValueError(
                f"future file {path} lacks the {role} column {name!r}; its columns are: "
                f"{', '.join(map(str, frame.columns))}"
            )
        if name is not None and frame[name].isna().any():
            raise ValueError(
                f"{role} column {name!r} of future file {path} is empty at line "
                f"{line_numbers(np.flatnonzero(frame[name].isna().to_numpy()))}"
            )
    column = frame[time_col].reset_index(drop=True)
    ids = frame[id_col].astype(str).to_numpy() if id_col is not None else None
    groups = (
        pd.Series(np.arange(len(frame))).groupby(ids, sort=False).indices
        if ids is not None
        else {None: np.arange(len(frame))}
    )
    stamps, fmt, _ = times.parse(
        column, f"time column {time_col!r} of future file {path}", like=like, groups=list(groups.values())
    )
    result: dict[str | None, tuple[pd.Index, np.ndarray]] = {}
    for name, rows in groups.items():
        check_unique_stamps(stamps[rows], rows + 2, path, time_col, name, like or fmt, role="future file ")
        result[name] = (stamps[rows], rows)
    return result


def place(own: pd.Index, freq, where: str, fmt: TimeFormat, series: str | None, lines: np.ndarray):
    """`spacing.expand` with its error in the file's terms."""
    try:
        return spacing.expand(own, freq)
    except spacing.TimesError as error:
        hint = date_hint(own, fmt)
        step = (
            f"its first stamp {fmt.label(error.after, series)} is off that spacing"
            if error.before is None
            else f"after {fmt.label(error.before, series)} comes {fmt.label(error.after, series)}"
        )
        raise ValueError(
            f"{where} is not regularly spaced ({spacing.describe(freq)}): {step}, expected "
            f"{fmt.label(error.expected, series)} (line {lines[error.row]}){hint}"
        ) from None


def date_hint(own: pd.Index, fmt: TimeFormat) -> str:
    """For integer stamps that look like dates written without separators (20200131, 202001): what to pass."""
    if fmt.kind == "step" and all(len(str(abs(int(value)))) in (6, 8) for value in own[:50]):
        return "; if these are dates written YYYYMMDD or YYYYMM, pass --date-format %Y%m%d or %Y%m"
    return ""


def file_spacing(series: list, path: Path, many: bool, fmt: TimeFormat, keys: list | None = None):
    """The one spacing of a file's series, decided by those of 3 or more stamps (or 2 when none has 3): ValueError
    naming two series of different frequencies. keys: per series, the `spacing.spacing_key` its stamps are known to
    give (`grunet.data.regular`), or None where `spacing.detect` decides it."""
    keys = keys or [None] * len(series)
    voters = [(name, own, key) for (name, _, own), key in zip(series, keys) if len(own) >= 3] or [
        (name, own, key) for (name, _, own), key in zip(series, keys) if len(own) == 2
    ]
    found: dict[tuple, tuple] = {}
    for name, own, key in voters:
        freq = None
        if key is None:
            freq = spacing.detect(own)
            key = spacing.spacing_key(freq)
        if key not in found:
            found[key] = (name, freq if freq is not None else spacing.detect(own))
        if len(found) > 1:
            (first, first_freq), (other, other_freq) = list(found.values())[:2]
            raise ValueError(
                f"the series of {path} have different frequencies: {first!r} is "
                f"{spacing.describe(first_freq)}, {other!r} is {spacing.describe(other_freq)}; put series "
                f"of one frequency in one file"
            )
    return next(iter(found.values()))[1] if found else None
