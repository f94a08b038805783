"""Optional compiled inner loop for `grunet.fast`: the whole recurrence of one layer in one C++ call (`gru.cpp`).

Why: at small hidden sizes a GRU step is a few microseconds of arithmetic and torch spends far more dispatching its
~10 ops per step. The batch columns of a GRU never interact, so the batch is cut into tiles of columns and each
thread takes a tile and runs all T steps on it alone: no per-step synchronisation, no per-step dispatch. Inside, a
step of a tile is the input projection and the recurrent product as small register-blocked GEMMs (weights times a
(features, tile) block, SIMD over the batch) followed by the fused elementwise work. Buffers are (features, T, B),
allocated by the caller with torch; at larger hidden sizes the weight gradients and dx stay single torch GEMMs over
all T·B columns (`grunet.fast`).

Threads (`threads_for`): one thread where a step's work is too small to share, else up to torch's thread count. A
thread takes the next tile not yet taken, so a thread that another program slows down takes fewer tiles; the tiles
depend on the shape alone, so the results are bitwise the same for any thread count.

It is strictly optional: `gru.cpp` is compiled on first use with the system's C++ compiler (``$CXX`` or ``c++``),
``-O3 -march=native -ffast-math`` (compile step only: the link step leaves it out, so loading the library does not
switch the process to flush-to-zero), plus ``-fopenmp`` when that works (the threads are then torch's own libgomp
pool), into ``~/.cache/grunet`` (``$XDG_CACHE_HOME``), and loaded with ctypes. Nothing is compiled at install time
and torch's headers are not needed. Where there is no compiler, the build fails, the tensors are not float32/float64
on the CPU, or ``GRUNET_NATIVE=0`` is set, `grunet.fast` runs its pure-torch loop instead (same numbers up to
rounding). Any hidden size runs here (measured up to 1024, see benchmarks/NOTES.md, "Wide layers").

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
from typing import Any, cast

import torch
from torch import Tensor

fcntl: ModuleType | None
try:
    import fcntl as _fcntl

    fcntl = _fcntl
except ImportError:  # Windows: abandoned build folders are recognised by their age alone
    fcntl = None

SOURCE = Path(__file__).with_name("gru.cpp")

# -ffast-math for the compile step only: linking a shared library with it would add crtfastmath.o, which sets
# flush-to-zero for the whole process at load time and so changes every float computation of the user's program
FLAGS = ["-O3", "-march=native", "-ffast-math", "-std=c++17", "-fPIC", "-pthread"]


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


def _load() -> ctypes.CDLL | None:
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
    return _load() is not None


def supports(x: Tensor, hidden_size: int) -> bool:
    """Whether `grunet.fast` should use the compiled loop for this input: float32/float64 on the CPU, where the
    loop is available; any hidden size (`hidden_size` is kept for the callers)."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and available()


# The work of one step of one layer, in multiply-adds (batch x 3 gates x hidden x (hidden + input)), below which a
# second thread does not pay; see benchmarks/NOTES.md, "Threads".
MIN_STEP_WORK_PER_THREAD = 500_000

# From this hidden size on, gru.cpp cuts a batch of 17-32 float32 columns into two tiles (its WIDE_HIDDEN): a
# thread may then take one SIMD vector of 16 columns, where it otherwise takes 32 (benchmarks/NOTES.md, "Wide
# layers").
WIDE_HIDDEN = 512


def threads_for(batch: int, hidden_size: int, input_size: int) -> int:
    """How many threads the compiled loop uses for a layer: torch's thread count, fewer where a step's work
    (batch x 3 x hidden_size x (hidden_size + input_size) multiply-adds) gives a thread less than
    `MIN_STEP_WORK_PER_THREAD` or a thread would get fewer than 32 columns (two float32 SIMD vectors; from
    `WIDE_HIDDEN` on, one vector: batch 17 gets two threads)."""
    work = batch * 3 * hidden_size * (hidden_size + input_size)
    available = LOOP_THREADS if LOOP_THREADS is not None else torch.get_num_threads()
    vectors = -(-batch // 16) if hidden_size >= WIDE_HIDDEN else batch // 32
    return max(1, min(available, work // MIN_STEP_WORK_PER_THREAD, vectors))


# The threads the compiled loop may use when torch itself is held to fewer (`grunet.training.train.step_threads`:
# torch on one thread around a step whose heavy work is the loop's); None: torch's own count
LOOP_THREADS: int | None = None


class ThreadChooser:
    """Between the thread count of `threads_for` and one thread, the faster one for a call of a given shape, found by
    timing them on the calls themselves: in every `EVERY` calls of a shape, the first 2 x `PROBES` alternate the two
    counts, and the rest use the one whose median time was lower. A machine's load changes (another program takes
    a core, then leaves): a second thread that waits for a core costs more than it gives, and this follows it. The
    compiled loop's results are bitwise the same for any thread count (tiles of the batch, summed in tile order), so
    the choice changes the speed only. `GRUNET_THREADS=fixed` keeps `threads_for`'s count."""

    PROBES = 3
    EVERY = 100
    MAX_SHAPES = 1024  # shapes remembered (then forgotten all at once)

    def __init__(self) -> None:
        self.fixed = os.environ.get("GRUNET_THREADS", "") == "fixed"
        self.shapes: dict[tuple, dict[str, Any]] = {}

    def threads(self, key: tuple, most: int) -> int:
        """The thread count for this call of shape `key`, where the rule allows `most`."""
        if most <= 1 or self.fixed:
            return most
        if len(self.shapes) >= self.MAX_SHAPES and key not in self.shapes:
            self.shapes.clear()
        state = self.shapes.setdefault(key, {"calls": 0, "choice": most, "times": {}})
        phase = state["calls"] % self.EVERY
        state["calls"] += 1
        if phase < 2 * self.PROBES:
            return most if phase % 2 == 0 else 1
        return state["choice"]

    def record(self, key: tuple, threads: int, seconds: float) -> None:
        """The time of a call made with `threads`; after the probes of a round, the faster count is chosen."""
        state = self.shapes.get(key)
        if state is None or self.fixed:
            return
        phase = (state["calls"] - 1) % self.EVERY
        if phase >= 2 * self.PROBES:
            return
        state["times"].setdefault(threads, []).append(seconds)
        if phase == 2 * self.PROBES - 1:
            times = state["times"]
            state["choice"] = min(times, key=lambda count: sorted(times[count])[len(times[count]) // 2])
            state["times"] = {}


CHOOSER = ThreadChooser()


def _pair(tensor: Tensor | None):
    """Row and step strides of a (features, steps, batch) buffer with unit batch stride."""
    if tensor is None:
        return (ctypes.c_int64 * 2)(0, 0)
    assert tensor.stride(2) == 1 or tensor.shape[2] == 1
    return (ctypes.c_int64 * 2)(tensor.stride(0), tensor.stride(1))


def _strides(tensor: Tensor | None, count: int):
    return (ctypes.c_int64 * count)(*(tensor.stride() if tensor is not None else (0,) * count))


def _pointer(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _dtype(dtype: torch.dtype) -> int:
    return {torch.float32: 0, torch.float64: 1}[dtype]


def forward(
    x: Tensor,
    weight_ih: Tensor,
    bias: Tensor,
    weight_hh: Tensor,
    bias_hn: Tensor,
    hidden: Tensor,
    gates: Tensor | None,
    rh: Tensor | None,
    reset_after: bool,
    reverse: bool,
) -> None:
    """Runs the recurrence in place, the input projection included. x (T, B, I), any strides; weight_ih (3H, I)
    and weight_hh (3H, H) rows z, r, n, contiguous; bias (3H,) what adds to W_i· x (reset_after: b_iz + b_hz,
    b_ir + b_hr, b_in; else all of b_ih + b_hh); bias_hn (H,) (reset_after); hidden (H, T+1, B) with h0 in
    place; when training, gates (z, r, h~ and for reset_after hn: 4H or 3H, T, B) and rh (H, T, B) are filled."""
    steps, batch, input_size = x.shape
    hidden_size = weight_hh.shape[1]
    args = ForwardArgs(
        dtype=_dtype(x.dtype),
        steps=steps,
        batch=batch,
        hidden_size=hidden_size,
        input_size=input_size,
        reset_after=reset_after,
        reverse=reverse,
        training=gates is not None,
        threads=CHOOSER.threads(
            ("forward", batch, hidden_size, input_size, steps), threads_for(batch, hidden_size, input_size)
        ),
        x_strides=_strides(x, 3),
        hidden_strides=_pair(hidden),
        gates_strides=_pair(gates),
        rh_strides=_pair(rh),
        x=x.data_ptr(),
        weight_ih=weight_ih.data_ptr(),
        bias=bias.data_ptr(),
        weight_hh=weight_hh.data_ptr(),
        bias_hn=bias_hn.data_ptr(),
        hidden=hidden.data_ptr(),
        gates=_pointer(gates),
        rh=_pointer(rh),
    )
    started = time.perf_counter()
    if cast(ctypes.CDLL, _load()).grunet_forward(ctypes.byref(args)) != 0:  # called only when `available`
        raise RuntimeError(f"grunet.native: the compiled forward refused dtype {x.dtype}")
    CHOOSER.record(("forward", batch, hidden_size, input_size, steps), args.threads, time.perf_counter() - started)


# The backward sums the weight and bias gradients itself, as per-tile partial sums of one 64-byte SIMD vector per
# weight (3H (H + I) + 4H of them), when these stay in the L2 cache (here at most 4096 vectors, 256 KiB): tutorial
# size, H = 20. Beyond, the partial sums thrash the cache (H = 64, I = 8: 880 KiB, train 20 % slower than below), and
# the backward writes the gate gradients for single GEMMs over all T·B columns instead (`grunet.fast`).
ACCUMULATE_MAX_WEIGHTS = 4096


def accumulates(hidden_size: int, input_size: int) -> bool:
    """Whether `backward` computes the weight, bias and input gradients itself (see `ACCUMULATE_MAX_WEIGHTS`)."""
    return 3 * hidden_size * (hidden_size + input_size) + 4 * hidden_size <= ACCUMULATE_MAX_WEIGHTS


def backward(
    gates: Tensor,
    hidden: Tensor,
    grad_output: Tensor | None,
    grad_h_n: Tensor | None,
    weight_t: Tensor,
    weight_hn_t: Tensor | None,
    grads: Tensor | None,
    grad_h0: Tensor,
    reset_after: bool,
    reverse: bool,
    x: Tensor | None = None,
    weight_ih_t: Tensor | None = None,
    grad_x: Tensor | None = None,
    grad_w_hh: Tensor | None = None,
    grad_w_ih: Tensor | None = None,
    grad_bias: Tensor | None = None,
) -> None:
    """Backward through time. gates (4H or 3H, T, B) and hidden (H, T+1, B) from `forward`; grad_output
    (T, B, H) and grad_h_n (B, H), any strides, or None; weight_t (H, 3H) = [W_hn; W_hz; W_hr]^T for
    reset_after, else (H, 2H) = [W_hz; W_hr]^T, and weight_hn_t (H, H) = W_hn^T; fills grad_h0 (H, B) and either
    grads (4H or 3H, T, B) rows (dhn,) dz, dr, dn, or (grads None: `accumulates`) from x (T, B, I), any strides,
    and weight_ih_t (I, 3H) = W_ih^T (columns z, r, n): grad_w_hh (3H, H) rows (n, z, r) for reset_after, else
    (z, r, n); grad_w_ih (3H, I) rows (z, r, n); grad_bias (4H,) rows (hn, z, r, n) or (3H,) rows (z, r, n), sums of
    the gate gradients; grad_x (I, T, B) with unit batch stride, when given."""
    steps, batch = gates.shape[1:]
    hidden_size = hidden.shape[0]
    accumulate = grads is None
    input_size = cast(Tensor, x).shape[2] if accumulate else 0  # x: given to accumulate
    args = BackwardArgs(
        dtype=_dtype(gates.dtype),
        steps=steps,
        batch=batch,
        hidden_size=hidden_size,
        input_size=input_size,
        reset_after=reset_after,
        reverse=reverse,
        accumulate=accumulate,
        threads=CHOOSER.threads(
            ("backward", batch, hidden_size, input_size, steps), threads_for(batch, hidden_size, hidden_size)
        ),
        gates_strides=_pair(gates),
        hidden_strides=_pair(hidden),
        grads_strides=_pair(grads),
        grad_h0_row=grad_h0.stride(0),
        grad_output_strides=_strides(grad_output, 3),
        grad_h_n_strides=_strides(grad_h_n, 2),
        x_strides=_strides(x if accumulate else None, 3),
        grad_x_strides=_pair(grad_x),
        gates=gates.data_ptr(),
        hidden=hidden.data_ptr(),
        grad_output=_pointer(grad_output),
        grad_h_n=_pointer(grad_h_n),
        weight_t=weight_t.data_ptr(),
        weight_hn_t=_pointer(weight_hn_t),
        grads=_pointer(grads),
        grad_h0=grad_h0.data_ptr(),
        x=_pointer(x if accumulate else None),
        weight_ih_t=_pointer(weight_ih_t),
        grad_x=_pointer(grad_x),
        grad_w_hh=_pointer(grad_w_hh),
        grad_w_ih=_pointer(grad_w_ih),
        grad_bias=_pointer(grad_bias),
    )
    started = time.perf_counter()
    if cast(ctypes.CDLL, _load()).grunet_backward(ctypes.byref(args)) != 0:  # called only when `available`
        raise RuntimeError(f"grunet.native: the compiled backward refused dtype {gates.dtype}")
    CHOOSER.record(("backward", batch, hidden_size, input_size, steps), args.threads, time.perf_counter() - started)
