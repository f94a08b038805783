"""Files written so that a crash never leaves half of one, and JSON configs read back; no torch needed here.

Every write goes to a temporary file in the same folder, is flushed and fsynced, then renamed over the old file
(and the folder fsynced): a reader sees the old file or the whole new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import reprlib
import stat
import tempfile
import types
import typing
from pathlib import Path


def fingerprint(data: bytes) -> dict:
    """What identifies a data file's contents: its size and the SHA-256 of its bytes (stored with a run, so that
    `--resume` can refuse data that changed since the run started)."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes `data` to `path` so that a reader sees either the old file or the whole new one, never a part.

    An OSError (a full disk, a read-only file system, a file-size limit) names `path`, not the temporary file.
    A symbolic link stays: the file it names is written. A FIFO, a terminal or a device (`/dev/stdout`) is written
    to as it is: a file renamed over it would destroy it, and its reader would get nothing."""
    path = Path(path)
    try:
        mode: int | None = os.stat(path).st_mode  # through links
    except (OSError, ValueError):
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        try:
            with open(path, "wb") as stream:
                stream.write(data)
        except OSError as error:
            raise named(error, path) from None
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if not path.parent.is_dir():
        blocking = next((parent for parent in path.parents if parent.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise ValueError(f"cannot write {path}: {blocking} is a file, not a folder")
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise named(error, path) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(handle, 0o666 & ~umask())  # mkstemp makes 0600; a run's files follow the umask as open() does
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise named(error, path) from None
        raise
    sync(path.parent)


def sync(path: str | Path) -> None:
    """fsync of a file (one another library wrote, before it is renamed into place) or of a folder (so that a
    rename into it survives a crash)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def named(error: OSError, path: str | Path) -> OSError:
    """The same OSError (same errno, same subclass) naming `path`, the file the user knows, instead of a temporary
    file or no file at all (a write on a full disk names none)."""
    if error.errno is None:
        return error
    return OSError(error.errno, error.strerror or os.strerror(error.errno), str(path))


def make_folder(folder: str | Path, what: str) -> Path:
    """Creates `folder` (and its parents) for writing `what`; ValueError when a parent is a file, not a folder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next(
            (parent for parent in [folder, *folder.parents] if parent.exists() and not parent.is_dir()), folder
        )
        raise ValueError(f"cannot write {what}: {blocking} is a file, not a folder") from None
    return folder


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only set it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def json_safe(value):
    """JSON has no NaN: NaN and infinities become null, in nested dicts and lists too."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def atomic_write_json(path: str | Path, data: dict | None) -> None:
    atomic_write_bytes(path, (json.dumps(json_safe(data), indent=2) + "\n").encode())


def write_csv_rows(path: str | Path, rows: list[dict]) -> None:
    """Rows of plain values (the keys of the first row as the header) as CSV, atomically; no pandas needed."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def write_csv(path: str | Path, table) -> None:
    """A pandas DataFrame as CSV (`csv_bytes`), atomically."""
    atomic_write_bytes(path, csv_bytes(table))


def csv_bytes(table) -> bytes:
    """The bytes of `table.to_csv(index=False)`. A table of numbers and text (a forecast) is written by the csv
    module, each float as its repr, in 60 % of to_csv's time (it formats floats through numpy, about 1 microsecond
    each: 0.4 s of `grunet predict` on 10,000 series)."""
    import csv
    import io

    columns = [_csv_column(table.iloc[:, index]) for index in range(table.shape[1])]
    if any(column is None for column in columns):  # dates, categories, ...: pandas' own formatting
        return table.to_csv(index=False).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(zip(*columns))
    return buffer.getvalue().encode()


def _csv_column(column) -> list | None:
    """A column's fields as `to_csv` writes them (a missing value as an empty field), or None for a kind of column
    whose text pandas formats its own way."""
    dtype, values = column.dtype, column.tolist()
    if dtype == "float64":
        return [repr(value) if value == value else "" for value in values]
    if dtype.kind in "iub" and type(dtype).__module__.startswith("numpy"):  # not pandas' nullable Int64 (<NA>)
        return values
    return values if dtype.kind == "O" and all(type(value) is str for value in values) else None


# a run's JSON file (config.json, a bundle) is a few KB, plus its intervals' validation errors: ~220 bytes a series
# (22 MB at 100,000 series); a file far larger than a million series' is not one
MAX_JSON_BYTES = 256 << 20


def read_json(path: str | Path, what: str) -> dict:
    """A JSON file of bounded size, read only if it is a regular file: a FIFO would block, /dev/zero never end. The
    file is opened without blocking and checked on the open descriptor, so a path swapped after the check is still
    refused. ValueError naming `what` and the path for anything else."""
    path = Path(path)
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path} is not a regular file") from None
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    opened: int | None = handle
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{what} {path} is not a regular file")
        if info.st_size > MAX_JSON_BYTES:
            raise ValueError(
                f"{what} {path} is {info.st_size} bytes, too large for a grunet file (at most {MAX_JSON_BYTES})"
            )
        with os.fdopen(handle, "rb") as stream:
            opened = None  # closed with the stream
            data = stream.read(MAX_JSON_BYTES + 1)
    except OSError as error:
        raise ValueError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    finally:
        if opened is not None:
            os.close(opened)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{what} {path} is larger than {MAX_JSON_BYTES} bytes, too large for a grunet file")
    try:
        return json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{what} {path} is not readable JSON: {' '.join(str(error).split())[:200]}") from None


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 6, 4


def shown(value) -> str:
    """A value as an error message shows it: short, whatever its size or depth."""
    try:
        return _REPR.repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply"


def _describe(hint) -> str:
    """'an integer', 'a number or null', 'a list of strings', ... for a setting's annotation."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is list:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s" if args else "a list"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _matches(value, hint) -> bool:
    """Whether a JSON value fits a setting's annotation: bool is never an int, an int is a float, lists checked
    item by item."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and (not args or all(_matches(item, args[0]) for item in value))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # an annotation this check does not know: left to the class


def check_types(values: dict, cls, where: str) -> None:
    """Every setting in `values` has the type `cls`'s annotation gives it (a dataclass: DataConfig, ModelConfig,
    ...); TypeError naming `where` (the file and section), the setting, the type expected and the value found."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not _matches(value, hints[name]):
            raise TypeError(f"{where}: setting {name} must be {_describe(hints[name])}, got {shown(value)}")


def dataclass_from_section(config: dict, section: str, cls, source: str):
    """`cls(**config[section])`, checked: ValueError naming the file for a missing section or unknown settings,
    TypeError for a setting of the wrong type (`check_types`), and the class's own `check()` (ranges) as a
    ValueError naming the file and section."""
    values = config.get(section) if isinstance(config, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f"{source} has no {section} section: it is not a grunet run config")
    unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{source} has unknown {section} settings: {', '.join(sorted(unknown))}")
    check_types(values, cls, f"{source}, section {section}")
    instance = cls(**values)
    if hasattr(instance, "check"):
        try:
            instance.check()
        except ValueError as error:
            raise ValueError(f"{source}, section {section}: {error}") from None
    return instance


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_settings(settings, checks) -> None:
    """The `check()` of a config dataclass: first every setting's type (`check_types`, TypeError), then the ranges:
    `checks()` returns (name, ok, expected) for each, and the first not ok is a ValueError naming the setting, what
    it must be and what it is."""
    check_types(
        {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)},
        type(settings),
        type(settings).__name__,
    )
    for name, ok, expected in checks():
        if not ok:
            raise ValueError(f"{name} must be {expected}, got {shown(getattr(settings, name))}")
