"""A CSV file read as a DataFrame (`read_frame`): compressed or not, UTF-8 or UTF-16, its columns separated by commas,
semicolons (with decimal commas), tabs or '|'; a file that cannot be read is one ValueError naming the file and why.
Messages name a file's rows by their lines (`line_numbers`), the header being line 1.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from pathlib import Path

import pandas as pd
from pandas.io.common import infer_compression

from grunet.files import fingerprint


def line_numbers(rows, limit: int = 5) -> str:
    """Data-row positions (0-based) as file line numbers (the header is line 1), the first `limit` of them."""
    rows = list(rows)
    text = ", ".join(str(row + 2) for row in rows[:limit])
    return text + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


_SEPARATORS = (";", "\t", "|")


def check_distinct_columns(names: list[str], where: str) -> None:
    """ValueError naming a column name that appears twice (the names as read: text, without spaces around): which
    of them is the target would be a guess."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise ValueError(
                f"{where}: two columns are named {name!r} (columns {seen[name]} and {position}); give each "
                f"column a name of its own"
            )
        seen[name] = position


# pandas' own missing-value marks (read_csv's default na_values), kept for every column but those read as text
MISSING = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
           "NA", "NULL", "NaN", "None", "n/a", "nan", "null")  # fmt: skip


def text_options(columns: list, text) -> dict:
    """read_csv's options that read the columns named in `text` (names as `load_csv` reads them: without spaces
    around) as written: "007" stays "007", "NA" (Namibia) and "None" are names, and only an empty field is missing;
    every other column is read as pandas reads it."""
    chosen = [column for column in columns if str(column).strip() in text]
    if not chosen:
        return {}
    missing = {column: [""] if column in chosen else list(MISSING) for column in columns}
    return {"dtype": {column: str for column in chosen}, "keep_default_na": False, "na_values": missing}


def read_frame(path: str | Path, text=()) -> pd.DataFrame:
    """The CSV (compressed or not, by its name: .gz, .bz2, .xz, .zip, .zst, .tar) as a DataFrame, with
    ``frame.attrs["fingerprint"]`` the `files.fingerprint` of the bytes read; ValueError for a missing, unreadable,
    corrupt, empty or header-only file.

    UTF-8 with or without a byte order mark, and UTF-16 with one (as spreadsheets save "Unicode text"); other
    encodings are refused, naming the first byte that is not UTF-8. Commas separate the columns; when that gives a
    single column whose name holds ';', a tab or '|', the file is read again with that separator, and with ';' a
    decimal comma is read too (1,5 as 1.5; 1.5 still reads as 1.5). The columns named in `text` (an id column) are
    read as written, as text (`text_options`).
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
        # the header as written: pandas renames a repeated name ("y", "y.1"), which would hide it
        written = read(header=None, nrows=1, dtype=str, index_col=False, **options).iloc[0]
        check_distinct_columns([str(name).strip() for name in written], f"data file {path}")
        if text:
            options |= text_options(list(read(nrows=0, index_col=False, **options).columns), text)
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
