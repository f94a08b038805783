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
import tempfile
from pathlib import Path


def fingerprint(data: bytes) -> dict:
    """What identifies a data file's contents: its size and the SHA-256 of its bytes (stored with a run, so that
    `--resume` can refuse data that changed since the run started)."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes `data` to `path` so that a reader sees either the old file or the whole new one, never a part."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes 0600; a run's files follow the umask as open() does
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _umask() -> int:
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


def atomic_write_json(path: str | Path, data: dict) -> None:
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
    """A pandas DataFrame as CSV, atomically."""
    atomic_write_bytes(path, table.to_csv(index=False).encode())


def dataclass_from_section(config: dict, section: str, cls, source: str):
    """`cls(**config[section])`; ValueError naming the file for a missing section or unknown settings."""
    values = config.get(section) if isinstance(config, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f"{source} has no {section} section: it is not a grunet run config")
    unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{source} has unknown {section} settings: {', '.join(sorted(unknown))}")
    return cls(**values)
