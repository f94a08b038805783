"""Series from a CSV file: one series (wide) or many (long format with an id column), checked as they load.

Every problem is a ValueError that names the file, the column and the rows (as line numbers of the file, the header
being line 1): a missing column, a non-numeric value, a missing or infinite value, a duplicated time stamp, a gap.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from pandas.io.common import infer_compression

from grunet.data import spacing, times
from grunet.data.series import SeriesSet
from grunet.data.stamp_format import TimeFormat
from grunet.files import fingerprint

FILLS = ("error", "ffill", "interpolate", "drop")


def _lines(rows, limit: int = 5) -> str:
    """Data-row positions (0-based) as file line numbers (the header is line 1), the first `limit` of them."""
    rows = list(rows)
    text = ", ".join(str(row + 2) for row in rows[:limit])
    return text + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


_SEPARATORS = (";", "\t", "|")


def read_frame(path: str | Path) -> pd.DataFrame:
    """The CSV (compressed or not, by its name: .gz, .bz2, .xz, .zip, .zst, .tar) as a DataFrame, with
    ``frame.attrs["fingerprint"]`` the `files.fingerprint` of the bytes read; ValueError for a missing, unreadable,
    corrupt, empty or header-only file.

    UTF-8 with or without a byte order mark, and UTF-16 with one (as spreadsheets save "Unicode text"); other
    encodings are refused, naming the first byte that is not UTF-8. Commas separate the columns; when that gives a
    single column whose name holds ';', a tab or '|', the file is read again with that separator, and with ';' a
    decimal comma is read too (1,5 as 1.5; 1.5 still reads as 1.5).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"data file {path} does not exist (built-in data sets: see `grunet datasets`)")
    if not path.is_file():
        raise ValueError(f"data file {path} is not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"data file {path} cannot be read: {error.strerror or error}") from None
    compression = infer_compression(str(path), "infer")

    def read(**options) -> pd.DataFrame:
        if compression is None and data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return pd.read_csv(io.StringIO(data.decode("utf-16")), **options)
        return pd.read_csv(io.BytesIO(data), compression=compression, encoding="utf-8-sig", **options)

    try:
        options = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            header = read(header=None, nrows=1, dtype=str, index_col=False)
        header = str(header.iloc[0, 0]) if header.shape == (1, 1) else ""
        for separator in _SEPARATORS:
            if separator in header:
                options = {"sep": separator, **({"decimal": ","} if separator == ";" else {})}
                break
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = read(index_col=False, **options)  # never a row's extra field taken for an index
        if any("does not match length of data" in str(warning.message) for warning in caught):
            try:  # the header as a row: the parser then names the first line with more fields
                read(header=None, dtype=str, index_col=False, **options)
                where = "a line"
            except pd.errors.ParserError as error:
                found = re.search(r"line (\d+), saw (\d+)", str(error))
                where = f"line {found.group(1)} ({found.group(2)} fields)" if found else "a line"
            raise ValueError(
                f"data file {path}: {where} has more fields than its header's {len(frame.columns)} "
                f"({', '.join(map(str, frame.columns))}); quote values that hold the separator, e.g. "
                f'"Jan 15, 2000"'
            )
    except pd.errors.EmptyDataError:
        raise ValueError(f"data file {path} is empty") from None
    except ImportError as error:  # .zst needs the zstandard package
        named = re.search(r"'([\w.-]+)'", str(error))
        package = error.name or (named.group(1) if named else "zstandard" if compression == "zstd" else "?")
        raise ValueError(
            f"data file {path} needs the package {package!r} to be read; install it or give an uncompressed CSV"
        ) from None
    except UnicodeDecodeError as error:
        raise ValueError(
            f"data file {path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
            f"byte {error.start} of the text): save it as UTF-8"
        ) from None
    except Exception as error:  # noqa: BLE001 - parser errors, and every kind of corrupt or truncated archive
        if isinstance(error, ValueError) and str(error).startswith(f"data file {path}: "):
            raise
        reason = re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", " ".join(str(error).split()))
        reason = reason[:200] or type(error).__name__
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
        raise ValueError(
            f"column {column.name!r} of {path} is not numeric: line {_lines(rows, 1)} holds "
            f"{column.iloc[rows[0]]!r}" + (f" ({len(rows)} such lines)" if len(rows) > 1 else "")
        )
    return converted.astype(np.float64)


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
        raise ValueError(
            f"{where} is not regularly spaced ({spacing.describe(freq)}): after {_short(error.before)} "
            f"comes {_short(error.after)}, expected {_short(error.expected)}"
        ) from None
    if size != len(stamps):
        positions = spacing.expand(stamps, freq)[0]
        row = _first_gap(positions)
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


def _first_gap(positions: np.ndarray) -> int:
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
        f"{_lines(np.asarray(lines)[where] - 2)}"
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
                f"{_lines(np.flatnonzero(frame[name].isna().to_numpy()))}"
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


def _fill(values: pd.DataFrame, fill: str, path: Path, lines: np.ndarray) -> pd.DataFrame:
    """`values` of one series with missing values filled (or their rows dropped); `lines`: each row's line number in
    the file, 0 for a row inserted at a missing time stamp."""
    missing = values.isna().any(axis=1).to_numpy()
    if not missing.any():
        return values
    if fill == "error":
        column = values.columns[values.isna().any().to_numpy()][0]
        raise ValueError(
            f"{path} has missing values in column {column!r} at line {_lines(lines[missing] - 2)}; "
            f"choose --fill ffill, interpolate or drop"
        )
    empty = values.columns[values.isna().all().to_numpy()]
    if len(empty):
        raise ValueError(
            f"column {empty[0]!r} of {path} has no values at lines {_lines(lines[lines > 0] - 2)}: nothing to fill from"
        )
    if fill == "ffill":
        return values.ffill().bfill()
    if fill == "interpolate":
        return values.interpolate(limit_direction="both")
    return values[~missing]


def _check_roles(path: Path, target: str | None, time_col: str | None, id_col: str | None, features: list[str]) -> None:
    """ValueError, in the flags' terms, for a column given two roles."""
    roles = [("--target", target), ("--time-col", time_col), ("--id-col", id_col)]
    for first in range(len(roles)):
        for second in range(first + 1, len(roles)):
            (flag, name), (other, other_name) = roles[first], roles[second]
            if name is not None and name == other_name:
                raise ValueError(
                    f"{flag} and {other} both name column {name!r} of {path}: a column is the values "
                    f"to forecast, the time stamps or the series ids, only one of them"
                )
    seen = set()
    for name in features:
        for flag, role_name in roles:
            if name == role_name:
                what = {
                    "--target": "the target, which the model always reads; leave it out",
                    "--time-col": "the time column; calendar features of its stamps come with --calendar",
                    "--id-col": "the id column, which names the series",
                }[flag]
                raise ValueError(f"--features/--future-features name {name!r}, {what} ({flag} {name})")
        if name in seen:
            raise ValueError(f"--features/--future-features name column {name!r} twice")
        seen.add(name)


def _likely_id_column(frame: pd.DataFrame, stamps: pd.Index, taken: set) -> str | None:
    """The column that makes repeated time stamps distinct (a label of series in a long-format file), if any:
    text columns first, then integer ones, never the target, time or feature columns."""
    found = []
    for name in frame.columns:
        column = frame[name]
        if name in taken or column.isna().any():
            continue
        numeric = pd.api.types.is_numeric_dtype(column)
        if numeric and not pd.api.types.is_integer_dtype(column):
            continue
        distinct = column.nunique()
        if not 2 <= distinct <= len(column) // 2:
            continue
        if not pd.DataFrame({"id": column.astype(str).to_numpy(), "time": stamps}).duplicated().any():
            found.append((numeric, name))
    return min(found)[1] if found else None


def load_csv(
    path: str | Path | pd.DataFrame,
    target: str | None = None,
    time_col: str | None = None,
    id_col: str | None = None,
    features: list[str] | None = None,
    fill: str = "error",
    date_format: str | None = None,
) -> SeriesSet:
    """Loads a CSV file (or a DataFrame of the same layout) into a SeriesSet (column 0 the target, then `features`),
    checking it as it goes.

    With `id_col`, long format: one series per distinct id, in order of first appearance. With `time_col`, each
    series is sorted by time, without duplicated time stamps, and its spacing decided from all its stamps (see
    `grunet.data.times`); all series of a file share one frequency. A time stamp missing from a series' spacing (a
    skipped row) is refused with fill 'error'; 'ffill' and 'interpolate' insert the missing stamps (at most as many
    as the series has) and fill them. 'drop' removes the rows with missing values and keeps skipped rows skipped:
    the points either side of a hole become neighbours, which a UserWarning says. `date_format`: the time column's
    form in strftime codes (e.g. '%d/%m/%Y'), for dates whose order of day and month the column cannot tell.
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
    _check_roles(path, target, time_col, id_col, features)
    if target is None:
        candidates = [
            column
            for column in frame.columns
            if column not in (time_col, id_col, *features) and pd.api.types.is_numeric_dtype(frame[column])
        ]
        if len(candidates) != 1:
            raise ValueError(
                f"choose the column to forecast with --target; {path} has columns: {', '.join(frame.columns)}"
            )
        target = candidates[0]
    columns = [target] + features
    for name in columns:
        _column(frame, name, path, "target" if name == target else "feature")
    numeric = pd.DataFrame({name: _numeric(frame[name], path) for name in columns})
    infinite = ~np.isfinite(numeric.fillna(0).to_numpy())  # (rows, columns)
    if infinite.any():
        column = columns[int(np.flatnonzero(infinite.any(axis=0))[0])]
        raise ValueError(
            f"{path} has infinite values in column {column!r} at line {_lines(np.flatnonzero(infinite.any(axis=1)))}"
        )
    lines = np.arange(len(frame)) + 2
    if id_col is not None and frame[id_col].isna().any():
        raise ValueError(f"id column {id_col!r} of {path} is empty at line {_lines(lines[frame[id_col].isna()] - 2)}")
    groups = frame.groupby(id_col, sort=False).indices if id_col else {target: np.arange(len(frame))}
    stamps = fmt = offsets = None
    if time_col is not None:
        column = frame[time_col]
        if column.isna().any():
            raise ValueError(
                f"time column {time_col!r} of {path} is empty at line "
                f"{_lines(np.flatnonzero(column.isna().to_numpy()))}"
            )
        try:
            stamps, fmt, offsets = times.parse(
                column,
                f"time column {time_col!r} of {path}",
                lines,
                date_format=date_format,
                groups=list(groups.values()),
            )
        except spacing.TimesError as error:
            raise ValueError(str(error)) from None
    series = []  # (name, rows sorted by time, their stamps)
    for name, rows in groups.items():
        label = str(name) if id_col else None
        if stamps is None:
            series.append((str(name), rows, None))
            continue
        order = np.argsort(np.asarray(stamps[rows]), kind="stable")
        rows = rows[order]
        if id_col is None and stamps[rows].has_duplicates:
            likely = _likely_id_column(frame, stamps, {target, time_col, *features})
            if likely is not None:
                first = stamps[rows][stamps[rows].duplicated()][0]
                at = rows[np.asarray(stamps[rows] == first)]
                first_label = cast(TimeFormat, fmt).label(first)  # stamps were read: fmt with them
                raise ValueError(
                    f"time column {time_col!r} of {path} repeats time stamps ({first_label} at "
                    f"lines {_lines(at)}): is {likely!r} the id column of a long-format file? pass "
                    f"--id-col {likely}"
                )
        check_unique_stamps(stamps[rows], lines[rows], path, cast(str, time_col), label, fmt)  # stamps: a time column
        series.append((str(name), rows, stamps[rows]))
    try:
        freq = None if stamps is None else _file_spacing(series, path, id_col is not None, cast(TimeFormat, fmt))
    except OverflowError:  # a step pandas cannot hold in nanoseconds (about 292 years)
        raise ValueError(
            f"time column {time_col!r} of {path}: its stamps are too far apart for a regular spacing "
            f"(more than about 292 years between two of them)"
        ) from None
    names, values, holes = [], [], []
    stamp_list: list[pd.Index | None] = []
    for name, rows, own in series:
        block = numeric.iloc[rows].reset_index(drop=True)
        block_lines = lines[rows]
        positions = np.arange(len(rows))
        if own is not None and freq is not None and len(own) >= 2:
            where = f"time column {time_col!r} of {path}" + (f" (series {name!r})" if id_col else "")
            positions, size = _place(own, freq, where, fmt, name if id_col else None, lines[rows])
            if size > len(own):
                if fill == "error":
                    row = _first_gap(positions)
                    expected = spacing.grid(own, freq, positions[row - 1] + 2)[-1]
                    raise ValueError(
                        f"{where} is not regularly spaced, rows are missing: after "
                        f"{fmt.label(own[row - 1], name)} comes {fmt.label(own[row], name)}, expected "
                        f"{fmt.label(expected, name)} (line {lines[rows][row]}; {size - len(own)} time "
                        f"stamp(s) missing in all, "
                        f"{spacing.describe(freq)}); --fill interpolate or ffill inserts the missing "
                        f"stamps and fills them" + _date_hint(own, fmt)
                    )
                if fill in ("ffill", "interpolate"):
                    if size - len(own) > len(own):
                        raise ValueError(
                            f"{where} has {len(own)} time stamps on a {spacing.describe(freq)} spacing "
                            f"that needs {size}: filling would invent more points than the data "
                            f"holds; give the missing rows, or --fill drop" + _date_hint(own, fmt)
                        )
                    full = pd.DataFrame(np.nan, index=range(size), columns=block.columns)
                    full.iloc[positions] = block.to_numpy()
                    block, own = full, spacing.grid(own, freq, size)
                    block_lines = np.zeros(size, dtype=np.int64)
                    block_lines[positions] = lines[rows]
                    positions = np.arange(size)
        kept = _fill(block, fill, path, block_lines)
        if len(kept) != len(block):  # drop: the rows with missing values go
            keep = ~block.isna().any(axis=1).to_numpy()
            positions = positions[keep]
            own = own[keep] if own is not None else None
        steps = np.diff(positions)
        if (steps > 1).any():
            at = int(np.argmax(steps))
            shown = (
                fmt.label(own[at], name if id_col else None)
                if own is not None
                else f"line {block_lines[positions[at]]}"
            )
            holes.append((name, int((steps - 1).sum()), int(steps[at] - 1), shown))
        names.append(name)
        values.append(kept.to_numpy(dtype=np.float64))
        stamp_list.append(own)
    if holes:
        total = sum(hole[1] for hole in holes)
        name, _, longest, after = max(holes, key=lambda hole: hole[2])
        warnings.warn(
            f"--fill drop leaves {total} step(s) missing inside {len(holes)} series of {path} (the "
            f"longest: {longest} step(s) after {after}"
            + (f" in series {name!r}" if id_col else "")
            + "): the points either side of a hole are used as neighbours; --fill interpolate or ffill "
            "keeps the spacing"
        )
    if fmt is not None:
        if fmt.kind == "step":
            fmt.step = freq
        if offsets is not None:
            fmt.offsets = {name: int(offsets[rows[-1]]) for name, rows, _ in series if len(rows)}
    return SeriesSet(
        names=names,
        values=values,
        columns=columns,
        times=stamp_list if stamps is not None else [],
        freq=freq if isinstance(freq, str) else None,
        fingerprint=frame.attrs["fingerprint"],
        time_format=fmt,
    )


def _place(own: pd.Index, freq, where: str, fmt: TimeFormat, series: str | None, lines: np.ndarray):
    """`spacing.expand` with its error in the file's terms."""
    try:
        return spacing.expand(own, freq)
    except spacing.TimesError as error:
        hint = _date_hint(own, fmt)
        raise ValueError(
            f"{where} is not regularly spaced ({spacing.describe(freq)}): after "
            f"{fmt.label(error.before, series)} comes {fmt.label(error.after, series)}, expected "
            f"{fmt.label(error.expected, series)} (line {lines[error.row]}){hint}"
        ) from None


def _date_hint(own: pd.Index, fmt: TimeFormat) -> str:
    """For integer stamps that look like dates written without separators (20200131, 202001): what to pass."""
    if fmt.kind == "step" and all(len(str(abs(int(value)))) in (6, 8) for value in own[:50]):
        return "; if these are dates written YYYYMMDD or YYYYMM, pass --date-format %Y%m%d or %Y%m"
    return ""


def _file_spacing(series: list, path: Path, many: bool, fmt: TimeFormat):
    """The one spacing of a file's series, decided by those of 3 or more stamps (or 2 when none has 3): ValueError
    naming two series of different frequencies."""
    voters = [(name, own) for name, _, own in series if len(own) >= 3] or [
        (name, own) for name, _, own in series if len(own) == 2
    ]
    found: dict[tuple, tuple] = {}
    for name, own in voters:
        freq = spacing.detect(own)
        key = spacing.spacing_key(freq)
        found.setdefault(key, (name, freq))
        if len(found) > 1:
            (first, first_freq), (other, other_freq) = list(found.values())[:2]
            raise ValueError(
                f"the series of {path} have different frequencies: {first!r} is "
                f"{spacing.describe(first_freq)}, {other!r} is {spacing.describe(other_freq)}; put series "
                f"of one frequency in one file"
            )
    return next(iter(found.values()))[1] if found else None
