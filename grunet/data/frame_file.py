"""The data of a run fitted on a DataFrame, kept in its run folder as `data.csv`: a run fitted on a CSV file names
the file, one fitted on a DataFrame carries the frame's used columns, so that `Forecaster.load(...).predict()`,
`plot()` and `grunet predict --run` work on it without being given the data again."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from grunet.files import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd

    from grunet.data.config import DataConfig

DATA_FILE = "data.csv"


def is_frame(data: object) -> bool:
    """Whether `data` is a pandas DataFrame (without importing pandas for a file name or the sine)."""
    return type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas")


def index_as_columns(frame: pd.DataFrame, time_col: str | None, id_col: str | None) -> tuple[pd.DataFrame, str | None]:
    """`frame` with the time (and id) in its index moved into columns, as Darts and NeuralForecast users keep them,
    and the time column's name: an index level named `time_col` or `id_col` (when no column is); a dated index
    (DatetimeIndex or PeriodIndex) as the time column, named `time_col` (when no column is), or, with no
    `time_col`, by the index's own name (or "time", when no column has either name). Any other index is left as
    it is (`load_csv` reads the columns alone)."""
    import pandas as pd

    levels = [name for name in frame.index.names if name is not None]
    named = [name for name in (time_col, id_col) if name is not None and name not in frame.columns and name in levels]
    if named:
        frame = frame.reset_index(level=named)
    if isinstance(frame.index, (pd.DatetimeIndex, pd.PeriodIndex)):
        name = time_col if time_col is not None else frame.index.name if frame.index.name is not None else "time"
        if (time_col is None or time_col not in frame.columns) and name not in frame.columns:
            frame = frame.rename_axis(name).reset_index()
            time_col = name
    return frame, time_col


def column_kinds(frame: pd.DataFrame, config: DataConfig | None) -> dict | None:
    """The types of a DataFrame's time and id columns (after `index_as_columns`) that a forecast keeps
    (`typed_like`): {"time": dtype name, "id": dtype name}, each None where the column is text (or absent)."""
    import pandas as pd

    if config is None:
        return None
    columns = {str(column).strip(): column for column in frame.columns}

    time = columns.get(config.time_col) if config.time_col is not None else None
    ids = columns.get(config.id_col) if config.id_col is not None else None
    time_type = frame[time].dtype if time is not None else None
    id_type = frame[ids].dtype if ids is not None else None
    dated = time_type is not None and (time_type.kind == "M" or isinstance(time_type, pd.PeriodDtype))
    numbered = id_type is not None and id_type.kind in "iuf" and type(id_type).__module__.startswith("numpy")
    return {"time": str(time_type) if dated else None, "id": str(id_type) if numbered else None}


def typed_like(table: pd.DataFrame, config: DataConfig | None, kinds: dict | None, data: bool = False) -> pd.DataFrame:
    """`table` (a forecast: [id,] time, step, value ...; with `data`, the data itself, as data.csv holds it) with
    its time and id columns of the types `kinds` names (a DataFrame's, by `column_kinds`) instead of text; a column
    that does not read back as that type stays text."""
    import pandas as pd

    from grunet.prediction import table_columns

    if not kinds or config is None:
        return table
    id_name, time_name = (config.id_col, config.time_col) if data else table_columns(config)
    for name, kind in ((time_name, kinds.get("time")), (id_name, kinds.get("id"))):
        if name is None or not isinstance(kind, str) or name not in table.columns:
            continue
        try:
            dtype = pd.api.types.pandas_dtype(kind)
            text = table[name]
            if isinstance(dtype, pd.DatetimeTZDtype):
                typed = pd.to_datetime(text, utc=True).dt.tz_convert(dtype.tz).astype(dtype)
            elif isinstance(dtype, pd.PeriodDtype):
                typed = pd.Series(pd.PeriodIndex(text, freq=dtype.freq), index=table.index)
            elif dtype.kind == "M":
                typed = pd.to_datetime(text).astype(dtype)
            else:
                typed = text.astype(dtype)
        except (ValueError, TypeError, OverflowError):
            continue
        table[name] = typed
    return table


def used_columns(frame: pd.DataFrame, config: DataConfig) -> pd.DataFrame:
    """The columns of `frame` that the settings read (id, time, target, features), in the frame's order; all of
    them when the target is not named."""
    if config.target is None:
        return frame
    named = {config.id_col, config.time_col, config.target, *config.features, *config.future_features}
    # by the names `load_csv` reads them by: text, without the spaces around
    return frame.loc[:, [str(column).strip() in named for column in frame.columns]].set_axis(
        [str(column).strip() for column in frame.columns if str(column).strip() in named], axis=1
    )


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """`frame` as CSV at `path`, written whole or not at all (floats as Python writes them: read back exactly)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue().encode())


def read_frame(path: Path, config: DataConfig | None) -> pd.DataFrame:
    """A `write_frame` file back as the DataFrame to forecast from; the id column as text, so that series named
    "007" keep their names."""
    import pandas as pd

    from grunet.data.csv_frame import text_options

    text = [config.id_col] if config is not None and config.id_col else []
    try:
        columns = list(pd.read_csv(path, nrows=0).columns) if text else []
        return pd.read_csv(path, **text_options(columns, text))
    except (OSError, ValueError) as error:  # pandas' ParserError and EmptyDataError are ValueErrors
        message = " ".join(str(error).split())[:200]
        raise ValueError(f"{path}, the data this run was fitted on, is not readable: {message}") from None
