"""The compiled library of `grunet.native`: `gru.cpp` built (`build`), cached, verified and loaded with ctypes once per
process (`load`, `available`; `failure` says why it is not there), and the ctypes mirrors of its two argument structs.
How it is compiled, and when the pure-torch loop runs instead: the package's docstring.

The cache: a library is named by the hash of the source, the compiler, its flags and the machine (`build_key`), and
is loaded only when its bytes match the SHA-256 recorded beside it when it was built and hold that same key; a
stale, truncated or altered file is rebuilt, never loaded. (This catches accidents, not an attacker who can write to
your cache.) Once loaded, a library whose argument structs differ in size from their ctypes mirrors here
(`ForwardArgs`, `BackwardArgs`) is refused, and the pure-torch loop runs. Build folders left behind by a killed build
are removed by the next build.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType

fcntl: ModuleType | None
try:
    import fcntl as _fcntl

    fcntl = _fcntl
except ImportError:  # Windows: abandoned build folders are recognised by their age alone
    fcntl = None

SOURCE = Path(__file__).with_name("gru.cpp")

# -ffast-math for the compile step only: linking a shared library with it would add crtfastmath.o, which sets
# flush-to-zero for the whole process at load time and so changes every float computation of the user's program.
# Without finite-math-only: NaN must come out as NaN (a NaN in the data or a diverged weight; assumed away, exp's
# clamp turned it into a finite number); gru.cpp declares glibc's vector exp, which glibc declares only under it.
FLAGS = ["-O3", "-march=native", "-ffast-math", "-fno-finite-math-only", "-std=c++17", "-fPIC", "-pthread"]


class ForwardArgs(ctypes.Structure):
    """`struct ForwardArgs` of gru.cpp, field by field (sizes and flags int64, strides in elements)."""

    _fields_ = [
        ("dtype", ctypes.c_int64),
        ("steps", ctypes.c_int64),
        ("batch", ctypes.c_int64),
        ("hidden_size", ctypes.c_int64),
        ("input_size", ctypes.c_int64),
        ("reset_after", ctypes.c_int64),
        ("reverse", ctypes.c_int64),
        ("training", ctypes.c_int64),
        ("threads", ctypes.c_int64),
        ("x_strides", ctypes.c_int64 * 3),
        ("hidden_strides", ctypes.c_int64 * 2),
        ("gates_strides", ctypes.c_int64 * 2),
        ("rh_strides", ctypes.c_int64 * 2),
        ("x", ctypes.c_void_p),
        ("weight_ih", ctypes.c_void_p),
        ("bias", ctypes.c_void_p),
        ("weight_hh", ctypes.c_void_p),
        ("bias_hn", ctypes.c_void_p),
        ("hidden", ctypes.c_void_p),
        ("gates", ctypes.c_void_p),
        ("rh", ctypes.c_void_p),
    ]


class BackwardArgs(ctypes.Structure):
    """`struct BackwardArgs` of gru.cpp, field by field."""

    _fields_ = [
        ("dtype", ctypes.c_int64),
        ("steps", ctypes.c_int64),
        ("batch", ctypes.c_int64),
        ("hidden_size", ctypes.c_int64),
        ("input_size", ctypes.c_int64),
        ("reset_after", ctypes.c_int64),
        ("reverse", ctypes.c_int64),
        ("threads", ctypes.c_int64),
        ("accumulate", ctypes.c_int64),
        ("gates_strides", ctypes.c_int64 * 2),
        ("hidden_strides", ctypes.c_int64 * 2),
        ("grads_strides", ctypes.c_int64 * 2),
        ("grad_h0_row", ctypes.c_int64),
        ("grad_output_strides", ctypes.c_int64 * 3),
        ("grad_h_n_strides", ctypes.c_int64 * 2),
        ("x_strides", ctypes.c_int64 * 3),
        ("grad_x_strides", ctypes.c_int64 * 2),
        ("gates", ctypes.c_void_p),
        ("hidden", ctypes.c_void_p),
        ("grad_output", ctypes.c_void_p),
        ("grad_h_n", ctypes.c_void_p),
        ("weight_t", ctypes.c_void_p),
        ("weight_hn_t", ctypes.c_void_p),
        ("grads", ctypes.c_void_p),
        ("grad_h0", ctypes.c_void_p),
        ("x", ctypes.c_void_p),
        ("weight_ih_t", ctypes.c_void_p),
        ("grad_x", ctypes.c_void_p),
        ("grad_w_hh", ctypes.c_void_p),
        ("grad_w_ih", ctypes.c_void_p),
        ("grad_bias", ctypes.c_void_p),
    ]


_library: ctypes.CDLL | None = None
_tried = False
failure: str | None = None  # why the compiled loop is not available, once `available()` has said so


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "grunet"


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def build_key(source: str, compiler: str, flags: list[str]) -> str:
    """What a library is named by: the hash of its source, compiler, flags and machine (-march=native)."""
    text = "\n".join([source, compiler, *flags, platform.machine(), platform.processor(), platform.node()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_verified(library: Path, key: str) -> ctypes.CDLL | None:
    """The library at `library`, when its bytes have the digest recorded at its build and hold `key`; None for a
    file that is missing, stale or altered (then rebuilt). Both are checked before the file is loaded: a process
    that has loaded a path keeps that library for it (dlopen of the same path again returns it). Raises OSError for
    argument structs whose sizes differ from their mirrors here (a rebuild from the same source would not help)."""
    marker = f"grunet build key {key}".encode()
    try:
        data = library.read_bytes()
        if hashlib.sha256(data).hexdigest() != library.with_suffix(".sha256").read_text().strip() or marker not in data:
            return None
        loaded = ctypes.CDLL(str(library))
        loaded.grunet_build_key.restype = ctypes.c_char_p
        if loaded.grunet_build_key() != marker:
            return None
    except (OSError, AttributeError):
        return None
    loaded.grunet_args_size.argtypes = [ctypes.c_int]
    loaded.grunet_args_size.restype = ctypes.c_int64
    for kind, mirror in enumerate((ForwardArgs, BackwardArgs)):
        if loaded.grunet_args_size(kind) != ctypes.sizeof(mirror):
            raise OSError(
                f"{library.name}: sizeof({mirror.__name__}) is {loaded.grunet_args_size(kind)} in gru.cpp "
                f"but {ctypes.sizeof(mirror)} in its ctypes mirror; the two must list the same fields"
            )
    for name, struct in (("grunet_forward", ForwardArgs), ("grunet_backward", BackwardArgs)):
        function = getattr(loaded, name)
        function.argtypes = [ctypes.POINTER(struct)]
        function.restype = ctypes.c_int
    return loaded


def _remove_abandoned_builds(cache: Path) -> None:
    """Deletes the build folders of builds that were killed: a live build holds a lock on its folder's lock file."""
    for folder in cache.glob("build-*"):
        try:
            age = time.time() - folder.stat().st_mtime
            lock = folder / "lock"
            if fcntl is None or not lock.exists():
                if age > 600:  # longer than any build takes (its compile and link are limited to 240 s)
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            with open(lock, "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a build is running there
                if age > 10:  # a build that has just made its folder takes its lock a moment later
                    shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _compile(source: str, compiler: str, flags: list[str], key: str, library: Path) -> bool:
    """Builds `source` into `library` (and its digest file) through a private folder and atomic renames."""
    build = Path(tempfile.mkdtemp(prefix="build-", dir=library.parent))
    try:
        with open(build / "lock", "w") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            (build / "gru.cpp").write_text(source)
            key_flag = f'-DGRUNET_BUILD_KEY="{key}"'
            result = subprocess.run(
                [compiler, *flags, key_flag, "-c", "gru.cpp", "-o", "gru.o"],
                cwd=build,
                capture_output=True,
                timeout=180,
            )
            if result.returncode != 0:
                return False
            link = ["-shared", "-pthread"] + [flag for flag in flags if flag == "-fopenmp"]
            result = subprocess.run(
                [compiler, *link, "gru.o", "-o", library.name], cwd=build, capture_output=True, timeout=60
            )
            if result.returncode != 0:
                return False
            (build / "digest").write_text(_digest(build / library.name) + "\n")
            # atomic: concurrent builders end with the same pair; a reader between the two renames finds a digest
            # that does not match the library yet and builds once more
            os.replace(build / "digest", library.with_suffix(".sha256"))
            os.replace(build / library.name, library)
            return True
    finally:
        shutil.rmtree(build, ignore_errors=True)


def build(source: str | None = None) -> ctypes.CDLL | None:
    """Loads the library built from `source` (default: gru.cpp), compiling it first unless the cache holds a verified
    one; None where it cannot be built. (Another source: `benchmarks/ab_native.py` times two versions against each
    other.)

    First with OpenMP (the threads then come from the libgomp that torch has already loaded, the pool that torch's
    own ops use), else with std::thread.
    """
    source = SOURCE.read_text() if source is None else source
    compiler = _compiler()
    if compiler is None:
        return None
    cache = cache_folder()
    cache.mkdir(parents=True, exist_ok=True)
    for flags in (FLAGS + ["-fopenmp"], FLAGS):
        key = build_key(source, compiler, flags)
        library = cache / f"gru_{key}.so"
        loaded = _load_verified(library, key)
        if loaded is None:
            _remove_abandoned_builds(cache)
            if not _compile(source, compiler, flags, key, library):
                continue
            loaded = _load_verified(library, key)
        if loaded is not None:
            return loaded
    return None


def load() -> ctypes.CDLL | None:
    global _library, _tried, failure
    if not _tried:
        _tried = True
        if os.environ.get("GRUNET_NATIVE", "1") == "0":
            failure = "GRUNET_NATIVE=0"
            return None
        try:
            _library = build()
            failure = None if _library is not None else "no C++ compiler, or the build failed"
        except (OSError, subprocess.SubprocessError) as error:
            _library, failure = None, str(error)
    return _library


def available() -> bool:
    """Whether the compiled loop is usable here (compiles it on the first call)."""
    return load() is not None
