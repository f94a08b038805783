"""Series from a CSV file: one series (wide) or many (long format with an id column), checked as they load.

Every problem is a ValueError that names the file, the column and the rows (as line numbers of the file, the header
being line 1): a missing column, a non-numeric value, a missing or infinite value, a duplicated time stamp, a gap.
(The file read: `grunet.data.csv_frame`; its time stamps checked: `grunet.data.file_stamps`.)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from grunet.data import spacing, times
from grunet.data.csv_frame import check_distinct_columns, line_numbers, read_frame
from grunet.data.file_stamps import check_unique_stamps, date_hint, file_spacing, first_gap, place
from grunet.data.regular import Panel, plain_panel, sorted_panel
from grunet.data.series import SeriesSet
from grunet.data.stamp_format import TimeFormat

FILLS = ("error", "ffill", "interpolate", "drop")


def _column(frame: pd.DataFrame, name: str, path: Path, role: str) -> pd.Series:
    if name not in frame.columns:
        raise ValueError(f"{role} column {name!r} is not in {path}; its columns are: {', '.join(frame.columns)}")
    return frame[name]


def _numeric(column: pd.Series, path: Path) -> pd.Series:
    """The column as float64; ValueError naming the first non-numeric rows."""
    converted = pd.to_numeric(column, errors="coerce")
    bad = np.array(converted.isna() & column.notna(), dtype=bool)
    if bad.any():  # blanks are missing values, not text (only these few are written out as text)
        bad[bad] = (column[bad].astype(str).str.strip() != "").to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"column {column.name!r} of {path} is not numeric: line {line_numbers(rows, 1)} holds "
            f"{column.iloc[rows[0]]!r}" + (f" ({len(rows)} such lines)" if len(rows) > 1 else "")
        )
    return converted.astype(np.float64)


def _fill(values: pd.DataFrame, fill: str, path: Path, lines: np.ndarray) -> pd.DataFrame:
    """`values` of one series with missing values filled (or their rows dropped); `lines`: each row's line number in
    the file, 0 for a row inserted at a missing time stamp."""
    missing = values.isna().any(axis=1).to_numpy()
    if not missing.any():
        return values
    if fill == "error":
        column = values.columns[values.isna().any().to_numpy()][0]
        raise ValueError(
            f"{path} has missing values in column {column!r} at line {line_numbers(lines[missing] - 2)}; "
            f"choose --fill ffill, interpolate or drop"
        )
    empty = values.columns[values.isna().all().to_numpy()]
    if len(empty):
        raise ValueError(
            f"column {empty[0]!r} of {path} has no values at lines {line_numbers(lines[lines > 0] - 2)}: nothing to "
            f"fill from"
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


def _check_distinct_names(groups: dict, id_col: str, path: Path) -> None:
    """ValueError for two ids that are one series' name as text (1 and "1" in a DataFrame's object column): the
    series are named by the text of their ids."""
    names: dict[str, object] = {}
    for key in groups:
        other = names.setdefault(str(key), key)
        if other is not key:
            raise ValueError(
                f"id column {id_col!r} of {path} holds the ids {other!r} and {key!r}, which are one name as text "
                f"({str(key)!r}): give each series an id of its own"
            )


def _series_by_series(
    frame: pd.DataFrame,
    numeric: pd.DataFrame,
    groups: dict,
    stamps: pd.Index | None,
    fmt: TimeFormat | None,
    path: Path,
    target: str,
    time_col: str | None,
    id_col: str | None,
    features: list[str],
    fill: str,
    panel: Panel | None = None,
):
    """`load_csv`'s series one by one, each sorted, checked, placed on the file's spacing and filled: (names,
    values, stamps, the file's spacing, each series' last row in the file). `panel`: the series sorted and checked
    over whole columns (`grunet.data.regular.sorted_panel`): only those it leaves are placed and filled here."""
    lines = np.arange(len(frame)) + 2
    series: list = []  # (name, rows sorted by time, their stamps)
    if panel is not None:  # sorted, without duplicated stamps
        bounds = zip(groups, panel.starts.tolist(), panel.ends.tolist())
        series = [
            (str(name), panel.rows[start:end], panel.stamps(index)) for index, (name, start, end) in enumerate(bounds)
        ]
    for name, rows in groups.items() if panel is None else ():
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
                    f"lines {line_numbers(at)}): is {likely!r} the id column of a long-format file? pass "
                    f"--id-col {likely}"
                )
        check_unique_stamps(stamps[rows], lines[rows], path, cast(str, time_col), label, fmt)  # stamps: a time column
        series.append((str(name), rows, stamps[rows]))
    try:
        keys = None if panel is None else panel.keys
        freq = None if stamps is None else file_spacing(series, path, id_col is not None, cast(TimeFormat, fmt), keys)
    except OverflowError:  # a step pandas cannot hold in nanoseconds (about 292 years)
        raise ValueError(
            f"time column {time_col!r} of {path}: its stamps are too far apart for a regular spacing "
            f"(more than about 292 years between two of them)"
        ) from None
    names, values, holes, cut = [], [], [], []
    stamp_list: list[pd.Index | None] = []
    array = numeric.to_numpy(dtype=np.float64)
    missing = np.isnan(array).any(axis=1)  # once for the whole file: most series need no filling
    finished = np.zeros(len(series), dtype=bool) if panel is None else panel.finished(freq)
    form = cast(TimeFormat, fmt)  # read with the stamps: used only where there are stamps
    for index, (name, rows, own) in enumerate(series):
        if finished[index]:  # on the file's grid without a hole, nothing missing (`grunet.data.regular`)
            names.append(name)
            values.append(cast(Panel, panel).values[index])
            stamp_list.append(own)
            continue
        block = array[rows]
        filled = bool(missing[rows].any())
        block_lines = lines[rows]
        positions = np.arange(len(rows))
        if own is not None and freq is not None and len(own) >= 2:
            where = f"time column {time_col!r} of {path}" + (f" (series {name!r})" if id_col else "")
            positions, size = place(own, freq, where, form, name if id_col else None, lines[rows])
            if size > len(own):
                if fill == "error":
                    row = first_gap(positions)
                    expected = spacing.grid(own, freq, positions[row - 1] + 2)[-1]
                    raise ValueError(
                        f"{where} is not regularly spaced, rows are missing: after "
                        f"{form.label(own[row - 1], name)} comes {form.label(own[row], name)}, expected "
                        f"{form.label(expected, name)} (line {lines[rows][row]}; {size - len(own)} time "
                        f"stamp(s) missing in all, "
                        f"{spacing.describe(freq)}); --fill interpolate or ffill inserts the missing "
                        f"stamps and fills them" + date_hint(own, form)
                    )
                if fill in ("ffill", "interpolate"):
                    if size - len(own) > len(own):
                        raise ValueError(
                            f"{where} has {len(own)} time stamps on a {spacing.describe(freq)} spacing "
                            f"that needs {size}: filling would invent more points than the data "
                            f"holds; give the missing rows, or --fill drop" + date_hint(own, form)
                        )
                    full = np.full((size, array.shape[1]), np.nan)
                    full[positions] = block
                    block, own, filled = full, spacing.grid(own, freq, size), True
                    block_lines = np.zeros(size, dtype=np.int64)
                    block_lines[positions] = lines[rows]
                    positions = np.arange(size)
        if filled:
            kept = _fill(pd.DataFrame(block, columns=numeric.columns), fill, path, block_lines)
            if len(kept) != len(block):  # drop: the rows with missing values go
                keep = ~np.isnan(block).any(axis=1)
                if keep.any() and not keep[-1]:  # its last rows: the forecast starts earlier
                    cut.append((name, int(len(keep) - 1 - np.flatnonzero(keep)[-1])))
                positions = positions[keep]
                own = own[keep] if own is not None else None
            block = kept.to_numpy(dtype=np.float64)
        steps = np.diff(positions)
        if (steps > 1).any():
            at = int(np.argmax(steps))
            shown = (
                form.label(own[at], name if id_col else None)
                if own is not None
                else f"line {block_lines[positions[at]]}"
            )
            holes.append((name, int((steps - 1).sum()), int(steps[at] - 1), shown))
        names.append(name)
        values.append(block)
        stamp_list.append(own)
    if cut:
        name, rows = cut[0]
        warnings.warn(
            f"--fill drop removes the last {rows} row(s) of {len(cut)} series of {path} (missing values"
            + (f"; the first: series {name!r}" if id_col else "")
            + "): their forecasts start after the last row kept, not after the end of the file; --fill "
            "interpolate or ffill keeps those rows"
        )
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
    return names, values, stamp_list, freq, [rows[-1] for _, rows, _ in series]


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
    `grunet.data.spacing`); all series of a file share one frequency. A time stamp missing from a series' spacing (a
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
        check_distinct_columns(list(frame.columns), "the DataFrame")
        frame.attrs["fingerprint"] = None
        path = Path("the DataFrame")
    else:
        path = Path(path)
        frame = read_frame(path, [id_col] if id_col else [])  # ids as written: "007", "NA"
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
            f"{path} has infinite values in column {column!r} at line "
            f"{line_numbers(np.flatnonzero(infinite.any(axis=1)))}"
        )
    lines = np.arange(len(frame)) + 2
    if id_col is not None and frame[id_col].isna().any():
        raise ValueError(
            f"id column {id_col!r} of {path} is empty at line {line_numbers(lines[frame[id_col].isna()] - 2)}"
        )
    groups = frame.groupby(id_col, sort=False).indices if id_col else {target: np.arange(len(frame))}
    if id_col is not None:
        _check_distinct_names(groups, id_col, path)
    stamps = fmt = offsets = None
    if time_col is not None:
        column = frame[time_col]
        if column.isna().any():
            raise ValueError(
                f"time column {time_col!r} of {path} is empty at line "
                f"{line_numbers(np.flatnonzero(column.isna().to_numpy()))}"
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
    array = numeric.to_numpy(dtype=np.float64)
    plain = plain_panel(array, groups) if id_col is not None and stamps is None else None
    if plain is not None:  # no time column, nothing missing: all series at once
        (names, values, last_rows), stamp_list, freq = plain, [], None
    else:  # series by series, but for those a whole-column check finds regular and complete
        panel = sorted_panel(array, groups, stamps) if id_col is not None and stamps is not None else None
        names, values, stamp_list, freq, last_rows = _series_by_series(
            frame, numeric, groups, stamps, fmt, path, target, time_col, id_col, features, fill, panel
        )
    if fmt is not None:
        if fmt.kind == "step":
            fmt.step = freq
        if offsets is not None:
            fmt.offsets = {name: int(offsets[row]) for name, row in zip(names, last_rows)}
    return SeriesSet(
        names=names,
        values=values,
        columns=columns,
        times=stamp_list if stamps is not None else [],
        freq=freq if isinstance(freq, str) else None,
        fingerprint=frame.attrs["fingerprint"],
        time_format=fmt,
    )
