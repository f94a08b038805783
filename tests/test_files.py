"""Files (`grunet.files`): atomic writes that leave the old file or the whole new one, the data fingerprint, the
umask, CSV rows, JSON without NaN, and config sections read back into dataclasses."""

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from grunet import files
from grunet.files import (
    atomic_write_bytes,
    atomic_write_json,
    dataclass_from_section,
    fingerprint,
    json_safe,
    read_json,
    write_csv,
    write_csv_rows,
)


def test_fingerprint_is_the_size_and_sha256_of_the_bytes():
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2's example
    assert fingerprint(b"abc") == {"size": 3, "sha256": abc}
    assert fingerprint(b"") == {"size": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    assert fingerprint(b"abd") != fingerprint(b"abc")


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert [entry.name for entry in tmp_path.iterdir()] == ["a.bin"]


def test_a_failed_write_keeps_the_old_file_whole_and_removes_its_temporary(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_bytes(b"old")

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["config.json"]


def test_a_missing_folder_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as error:
        atomic_write_bytes(tmp_path / "absent" / "x.json", b"{}")
    assert str(tmp_path / "absent") in str(error.value)


def test_the_umask_is_read_without_being_changed(tmp_path):
    previous = os.umask(0o027)
    try:
        assert files.umask() == 0o027
        assert files.umask() == 0o027  # reading it twice changes nothing
        atomic_write_bytes(tmp_path / "a", b"x")
        assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
        os.umask(0o002)
        atomic_write_bytes(tmp_path / "b", b"x")
        assert (tmp_path / "b").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(previous)


FAST = [
    "--quiet",
    "--no-plots",
    "--epochs",
    "2",
    "--window",
    "8",
    "--hidden-size",
    "4",
    "--num-layers",
    "1",
    "--search",
    "none",
]


@pytest.mark.slow
def test_run_files_follow_the_umask(tmp_path):
    script = (
        "import os, sys; os.umask(0o027); from grunet.cli import main; "
        f"sys.exit(main(['train', '--out', {str(tmp_path / 'run')!r}, *{FAST!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modes = {
        entry.name: entry.stat().st_mode & 0o777
        for entry in (tmp_path / "run").iterdir()
        if not entry.name.startswith(".")
    }
    assert modes and set(modes.values()) == {0o640}, modes


def test_a_config_of_many_series_is_read_and_a_larger_file_refused(tmp_path):
    """A 100,000-series run's config.json carries its intervals' validation errors (22 MB): read. A file over the
    limit is refused before it is read."""
    (tmp_path / "config.json").write_text('{"intervals": {"errors": [' + ",".join(["0.5"] * 4_500_000) + "]}}")
    assert (tmp_path / "config.json").stat().st_size > 16 << 20  # the limit before
    assert len(read_json(tmp_path / "config.json", "config file")["intervals"]["errors"]) == 4_500_000
    with open(tmp_path / "huge.json", "wb") as handle:
        handle.truncate(files.MAX_JSON_BYTES + 1)  # sparse: no disk space
    with pytest.raises(ValueError, match="too large for a grunet file"):
        read_json(tmp_path / "huge.json", "config file")


def test_json_safe_turns_nan_and_infinities_into_null_at_any_depth(tmp_path):
    data = {
        "a": float("nan"),
        "b": [1.0, float("inf"), (float("-inf"), 2)],
        "c": {"d": {"e": float("nan")}},
        "f": "nan",
        "g": 3,
        "h": None,
    }
    assert json_safe(data) == {
        "a": None,
        "b": [1.0, None, [None, 2]],
        "c": {"d": {"e": None}},
        "f": "nan",
        "g": 3,
        "h": None,
    }
    atomic_write_json(tmp_path / "m.json", data)
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text and text.endswith("\n")
    assert json.loads(text)["c"] == {"d": {"e": None}}


def test_csv_rows_take_the_first_rows_keys_as_the_header(tmp_path):
    write_csv_rows(
        tmp_path / "rows.csv", [{"epoch": 1, "loss": 0.5, "name": "a,b"}, {"epoch": 2, "loss": 0.25, "name": "c"}]
    )
    assert (tmp_path / "rows.csv").read_text().splitlines() == ["epoch,loss,name", '1,0.5,"a,b"', "2,0.25,c"]
    write_csv_rows(tmp_path / "empty.csv", [])
    assert (tmp_path / "empty.csv").read_text().strip() == ""


def test_write_csv_writes_a_frame_without_its_index(tmp_path):
    import pandas as pd

    write_csv(tmp_path / "t.csv", pd.DataFrame({"step": [1, 2], "value": [0.5, 1.5]}, index=[7, 8]))
    assert (tmp_path / "t.csv").read_text().splitlines() == ["step,value", "1,0.5", "2,1.5"]


def test_write_csv_writes_exactly_what_to_csv_writes(tmp_path, monkeypatch):
    """The csv-module path (numbers and text) and the fallback (other kinds of column) give to_csv's bytes."""
    import numpy as np
    import pandas as pd

    floats = [0.1, -0.0, np.nan, np.inf, -np.inf, 1e-300, 123456789.123, 2.5e16, 1 / 3, -7.0]
    texts = ["a", "b,c", 'say "hi"', "line\nbreak", "", " x ", "é", "1.5", "nan", "a;b"]
    tables = {
        "numbers and text": pd.DataFrame(
            {
                "id": pd.array(texts, dtype="str"),
                "as object": pd.Series(texts[::-1], dtype=object),
                "step": np.arange(10, dtype=np.int64) - 3,
                "small": np.arange(10, dtype=np.uint8),
                "flag": np.arange(10) % 3 == 0,
                "value": floats,
                "column, with comma": floats[::-1],
            }
        ),
        "missing text": pd.DataFrame({"id": ["a", None, "c"], "value": [1.0, 2.0, 3.0]}),
        "float32": pd.DataFrame({"value": np.array([0.1, 2.5, np.nan], dtype=np.float32)}),
        "nullable ints": pd.DataFrame({"value": pd.array([1, None, 3], dtype="Int64")}),
        "dates": pd.DataFrame({"t": pd.date_range("2020-01-01", periods=3, freq="h"), "value": [1.0, 2.0, 3.0]}),
        "a name twice": pd.DataFrame([[1.5, "a"], [2.5, "b"]], columns=["value", "value"]),
        "no rows": pd.DataFrame({"id": pd.Series([], dtype=object), "value": pd.Series([], dtype=float)}),
    }
    expected = {name: table.to_csv(index=False).encode() for name, table in tables.items()}
    fast = {"numbers and text", "a name twice", "no rows"}
    for name, table in tables.items():
        with monkeypatch.context() as patch:
            if name in fast:  # written without to_csv
                patch.setattr(pd.DataFrame, "to_csv", lambda *args, **kwargs: pytest.fail("to_csv was called"))
            write_csv(tmp_path / "t.csv", table)
        assert (tmp_path / "t.csv").read_bytes() == expected[name], name


@dataclass
class _Settings:
    window: int = 1
    horizon: int = 2


def test_dataclass_from_section_builds_the_class_or_names_the_file():
    built = dataclass_from_section({"data": {"window": 5}}, "data", _Settings, "run/config.json")
    assert built == _Settings(window=5, horizon=2)
    with pytest.raises(ValueError, match="run/config.json has no data section"):
        dataclass_from_section({"model": {}}, "data", _Settings, "run/config.json")
    with pytest.raises(ValueError, match="has no data section"):
        dataclass_from_section(["not", "a", "dict"], "data", _Settings, "x.json")
    with pytest.raises(ValueError, match="has no data section"):
        dataclass_from_section({"data": [1, 2]}, "data", _Settings, "x.json")
    with pytest.raises(ValueError, match="unknown data settings: colour, size"):
        dataclass_from_section({"data": {"window": 3, "size": 1, "colour": 2}}, "data", _Settings, "x.json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_a_device_and_a_link_are_written_through_never_renamed_over(tmp_path):
    """A temporary file renamed over a FIFO or a device would destroy it (as root: /dev/stdout's link, /dev/full),
    its reader getting nothing; a link is kept, the file it names written."""
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)  # never holds pytest
    reader.start()
    atomic_write_bytes(fifo, b"forecast\n")
    reader.join(timeout=10)
    assert got == [b"forecast\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "made.csv")
    atomic_write_bytes(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "made.csv").read_text() == "made"
