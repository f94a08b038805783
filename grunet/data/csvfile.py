"""Series from a CSV file: one series (wide) or many (long format with an id column), checked as they load.

Every problem is a ValueError that names the file, the column and the rows (as line numbers of the file, the header
being line 1): a missing column, a non-numeric value, a missing or infinite value, a duplicated time stamp, a gap.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.io.common import infer_compression

from grunet.data.series import SeriesSet
from grunet.files import fingerprint

FILLS = ("error", "ffill", "interpolate", "drop")


def _lines(rows, limit: int = 5) -> str:
    """Data-row positions (0-based) as file line numbers, the first `limit` of them."""
    rows = list(rows)
    text = ", ".join(str(row + 2) for row in rows[:limit])
    return text + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def read_frame(path: str | Path) -> pd.DataFrame:
    """The CSV (compressed or not, by its name: .gz, .bz2, .xz, .zip, .zst, .tar) as a DataFrame, with
    ``frame.attrs["fingerprint"]`` the `files.fingerprint` of the bytes read; ValueError for a missing, unreadable,
    corrupt, empty or header-only file."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {path} does not exist (built-in data sets: see `grunet datasets`)")
    if not path.is_file():
        raise ValueError(f"data file {path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"data file {path} cannot be read: {error.strerror or error}") from None
    try:
        frame = pd.read_csv(io.BytesIO(data), compression=infer_compression(str(path), "infer"))
    except pd.errors.EmptyDataError:
        raise ValueError(f"data file {path} is empty") from None
    except ImportError as error:  # .zst needs the zstandard package
        raise ValueError(f"data file {path} needs the package {error.name!r} to be read; install it or give an "
                         f"uncompressed CSV") from None
    except Exception as error:  # noqa: BLE001 - parser errors, and every kind of corrupt or truncated archive
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise ValueError(f"data file {path} is not a readable CSV file: {reason}") from None
    frame.attrs["fingerprint"] = fingerprint(data)
    if frame.empty:  # the header's names on one line: a quoted name may hold a line break, or be all blanks
        names = ", ".join(" ".join(str(column).split()) or repr(str(column)) for column in frame.columns)
        raise ValueError(f"data file {path} has a header ({names}) but no rows")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def _column(frame: pd.DataFrame, name: str, path: Path, role: str) -> pd.Series:
    if name not in frame.columns:
        raise ValueError(f"{role} column {name!r} is not in {path}; its columns are: {', '.join(frame.columns)}")
    return frame[name]


def _numeric(column: pd.Series, path: Path) -> pd.Series:
    """The column as float64; ValueError naming the first non-numeric rows."""
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        raise ValueError(f"column {column.name!r} of {path} is not numeric: line {_lines(rows, 1)} holds "
                         f"{column.iloc[rows[0]]!r}" + (f" ({len(rows)} such lines)" if len(rows) > 1 else ""))
    return converted.astype(np.float64)


def parse_times(column: pd.Series, path: Path) -> pd.Index:
    """Integers stay integers (e.g. years); text is parsed as ISO dates, else as periods ('1959Q1')."""
    if pd.api.types.is_integer_dtype(column):
        return pd.Index(column.to_numpy())
    text = column.astype(str).str.strip()
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601"))
    except (ValueError, TypeError):
        pass
    try:
        periods = [pd.Period(value) for value in text]
        if len({period.freqstr for period in periods}) == 1:
            return pd.DatetimeIndex(pd.PeriodIndex(periods).to_timestamp())
    except (ValueError, TypeError):
        pass
    for row, value in enumerate(text):
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            raise ValueError(f"time column {column.name!r} of {path}: line {row + 2} holds {value!r}, which is "
                             f"not a date or time") from None
    raise ValueError(f"time column {column.name!r} of {path} has dates in mixed formats; use ISO dates "
                     f"(2024-01-31) or periods (2024Q1)")


def infer_spacing(times: pd.Index, where: str) -> str | int:
    """The regular spacing of sorted time stamps (a pandas frequency, or an integer step); ValueError naming the
    first gap when they are not regular."""
    if len(times) < 2:
        return 1 if not isinstance(times, pd.DatetimeIndex) else "D"
    if not isinstance(times, pd.DatetimeIndex):
        steps = np.diff(times.to_numpy())
        step = int(steps[0])
        bad = np.flatnonzero(steps != step)
        if bad.size:
            row = bad[0]
            raise ValueError(f"{where} is not regularly spaced: after {times[row]} comes {times[row + 1]} "
                             f"(expected {times[row] + step}, the spacing of the first rows)")
        return step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(times[:min(len(times), 5)]) if len(times) >= 3 else None
        if freq is None:
            freq = pd.tseries.frequencies.to_offset(times[1] - times[0]).freqstr
    expected = pd.date_range(times[0], periods=len(times), freq=freq)
    mismatch = np.flatnonzero(expected != times)
    if mismatch.size:
        row = mismatch[0]
        raise ValueError(f"{where} is not regularly spaced ({freq}): after {times[row - 1].date()} comes "
                         f"{times[row].date()}, expected {expected[row].date()}")
    return str(freq)


def _fill(values: pd.DataFrame, fill: str, path: Path, lines: np.ndarray) -> pd.DataFrame:
    missing = values.isna().any(axis=1).to_numpy()
    if not missing.any():
        return values
    if fill == "error":
        column = values.columns[values.isna().any().to_numpy()][0]
        raise ValueError(f"{path} has missing values in column {column!r} at line {_lines(lines[missing])}; "
                         f"choose --fill ffill, interpolate or drop")
    empty = values.columns[values.isna().all().to_numpy()]
    if len(empty):
        raise ValueError(f"column {empty[0]!r} of {path} has no values at lines {_lines(lines)}: nothing to fill "
                         f"from")
    if fill == "ffill":
        return values.ffill().bfill()
    if fill == "interpolate":
        return values.interpolate(limit_direction="both")
    return values[~missing]


def load_csv(path: str | Path | pd.DataFrame, target: str | None = None, time_col: str | None = None,
             id_col: str | None = None, features: list[str] | None = None, fill: str = "error") -> SeriesSet:
    """Loads a CSV file (or a DataFrame of the same layout) into a SeriesSet (column 0 the target, then `features`),
    checking it as it goes.

    With `id_col`, long format: one series per distinct id, in order of first appearance. With `time_col`, each
    series is sorted by time and must be regularly spaced, without duplicated time stamps.
    """
    features = list(features or [])
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if isinstance(path, pd.DataFrame):
        if path.empty:
            raise ValueError("the DataFrame has no rows")
        frame = path.reset_index(drop=True)
        frame.columns = [str(column).strip() for column in frame.columns]
        frame.attrs["fingerprint"] = None
        path = Path("the DataFrame")
    else:
        path = Path(path)
        frame = read_frame(path)
    for name, role in ((time_col, "time"), (id_col, "id")):
        if name is not None:
            _column(frame, name, path, role)
    if target is None:
        candidates = [column for column in frame.columns if column not in (time_col, id_col, *features)
                      and pd.api.types.is_numeric_dtype(frame[column])]
        if len(candidates) != 1:
            raise ValueError(f"choose the column to forecast with --target; {path} has columns: "
                             f"{', '.join(frame.columns)}")
        target = candidates[0]
    columns = [target] + features
    for name in columns:
        _column(frame, name, path, "target" if name == target else "feature")
    numeric = pd.DataFrame({name: _numeric(frame[name], path) for name in columns})
    infinite = ~np.isfinite(numeric.fillna(0).to_numpy())  # (rows, columns)
    if infinite.any():
        column = columns[int(np.flatnonzero(infinite.any(axis=0))[0])]
        raise ValueError(f"{path} has infinite values in column {column!r} at line "
                         f"{_lines(np.flatnonzero(infinite.any(axis=1)))}")
    lines = np.arange(len(frame))
    if id_col is not None and frame[id_col].isna().any():
        raise ValueError(f"id column {id_col!r} of {path} is empty at line {_lines(lines[frame[id_col].isna()])}")
    groups = frame.groupby(id_col, sort=False).indices if id_col else {target: lines}
    names, values, times, freqs = [], [], [], set()
    for name, rows in groups.items():
        stamps = None
        if time_col is not None:
            column = frame[time_col].iloc[rows]
            if column.isna().any():
                raise ValueError(f"time column {time_col!r} of {path} is empty at line "
                                 f"{_lines(rows[column.isna().to_numpy()])}")
            parsed = parse_times(column, path)
            order = np.argsort(parsed.to_numpy(), kind="stable")
            rows, stamps = rows[order], parsed[order]
            duplicated = stamps.duplicated()
            if duplicated.any():
                first = np.flatnonzero(duplicated)[0]
                raise ValueError(f"{path} has duplicated time stamps in {time_col!r}: {stamps[first]} at lines "
                                 f"{_lines(rows[stamps == stamps[first]])}" +
                                 (f" (series {name!r})" if id_col else ""))
            if len(stamps) >= 3:  # one or two stamps cannot tell months from 31 days (or fail a spacing): no vote
                where = f"time column {time_col!r} of {path}" + (f" (series {name!r})" if id_col else "")
                freqs.add(infer_spacing(stamps, where))
        block = _fill(numeric.iloc[rows].reset_index(drop=True), fill, path, rows)
        if stamps is not None and len(block) != len(stamps):
            stamps = stamps[~numeric.iloc[rows].isna().any(axis=1).to_numpy()]
        names.append(str(name))
        values.append(block.to_numpy(dtype=np.float64))
        times.append(stamps)
    freq = freqs.pop() if len(freqs) == 1 and isinstance(next(iter(freqs)), str) else None
    return SeriesSet(names=names, values=values, columns=columns, times=times, freq=freq,
                     fingerprint=frame.attrs["fingerprint"])
