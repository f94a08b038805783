"""grunet.native.library: the argument structs and the verified cache."""

import ctypes
import fcntl
import os
import shutil
import time
from pathlib import Path

import pytest

from grunet.native import library as native_library

needs_native = pytest.mark.skipif(not native_library.available(), reason="grunet.native could not be compiled here")

# the cache tests compile without optimisation: seconds instead of tens of seconds, and they only load the library
QUICK_FLAGS = ["-O0", "-std=c++17", "-fPIC", "-pthread"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of its own, quick compiler flags."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native_library, "FLAGS", QUICK_FLAGS)
    return tmp_path / "grunet"


def _library_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("gru_*.so"))


@needs_native
def test_the_structs_have_the_libraries_layout():
    library = native_library.load()
    library.grunet_args_size.restype = ctypes.c_int64
    assert library.grunet_args_size(0) == ctypes.sizeof(native_library.ForwardArgs)
    assert library.grunet_args_size(1) == ctypes.sizeof(native_library.BackwardArgs)
    # every field 8 bytes, nothing in between: the C struct and the mirror agree on each offset, not only the size
    for struct in (native_library.ForwardArgs, native_library.BackwardArgs):
        offset = 0
        for name, kind in struct._fields_:
            assert getattr(struct, name).offset == offset
            offset += ctypes.sizeof(kind)


@needs_native
def test_a_mirror_that_differs_from_the_library_is_refused(cache, monkeypatch):
    assert native_library.build() is not None

    class Longer(ctypes.Structure):
        _fields_ = native_library.ForwardArgs._fields_ + [("extra", ctypes.c_int64)]

    monkeypatch.setattr(native_library, "ForwardArgs", Longer)
    monkeypatch.setattr(native_library, "failure", None)
    with pytest.raises(OSError, match="sizeof"):
        native_library.build()
    monkeypatch.setattr(native_library, "_tried", False)
    monkeypatch.setattr(native_library, "_library", None)
    assert not native_library.available() and "sizeof(Longer)" in native_library.failure


@needs_native
def test_the_cache_names_a_library_by_its_build_key_and_loads_it_again(cache):
    library = native_library.build()
    (built,) = _library_files(cache)
    key = native_library.build_key(
        native_library.SOURCE.read_text(), native_library._compiler(), QUICK_FLAGS + ["-fopenmp"]
    )
    assert built.name == f"gru_{key}.so" and library.grunet_build_key() == f"grunet build key {key}".encode()
    assert built.with_suffix(".sha256").read_text().strip() == native_library._digest(built)
    modified = built.stat().st_mtime_ns
    native_library.build()
    assert built.stat().st_mtime_ns == modified  # verified and loaded, not rebuilt


@pytest.mark.slow
@needs_native
def test_an_altered_library_is_rebuilt_not_loaded(cache):
    native_library.build()
    (built,) = _library_files(cache)
    original = built.read_bytes()
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0xFF
    replacement = built.with_name("altered")
    replacement.write_bytes(bytes(altered))
    os.replace(replacement, built)  # a new file (the loaded one stays mapped as it was)
    # a killed build's folder, whose lock nobody holds any more, and a running build's, whose lock is held
    abandoned, running = cache / "build-killed", cache / "build-running"
    for folder in (abandoned, running):
        folder.mkdir()
        (folder / "lock").touch()
        os.utime(folder, (time.time() - 3600, time.time() - 3600))
    with open(running / "lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        library = native_library.build()
        assert running.exists()
    assert library is not None and not abandoned.exists()
    assert built.read_bytes() != bytes(altered)
    assert native_library._digest(built) == built.with_suffix(".sha256").read_text().strip()


@pytest.mark.slow
@needs_native
def test_a_library_under_another_sources_name_is_rebuilt(cache):
    native_library.build()
    (built,) = _library_files(cache)
    other = native_library.SOURCE.read_text() + "\n// another source\n"
    key = native_library.build_key(other, native_library._compiler(), QUICK_FLAGS + ["-fopenmp"])
    stale = cache / f"gru_{key}.so"
    shutil.copy(built, stale)  # with a digest that matches its bytes: only the key it reports tells it apart
    shutil.copy(built.with_suffix(".sha256"), stale.with_suffix(".sha256"))
    library = native_library.build(other)
    assert library.grunet_build_key() == f"grunet build key {key}".encode()
