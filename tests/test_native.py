"""grunet.native: the argument structs, the verified cache, the thread policy, and results that do not depend on the
thread count; grunet.bench's busy core (contention mode) always stops."""

import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import torch

from grunet import bench, native
from grunet.fast import gru_layer

needs_native = pytest.mark.skipif(not native.available(), reason="grunet.native could not be compiled here")

# the cache tests compile without optimisation: seconds instead of tens of seconds, and they only load the library
QUICK_FLAGS = ["-O0", "-std=c++17", "-fPIC", "-pthread"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of its own, quick compiler flags."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native, "FLAGS", QUICK_FLAGS)
    return tmp_path / "grunet"


def _library_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("gru_*.so"))


@needs_native
def test_the_structs_have_the_libraries_layout():
    library = native._load()
    library.grunet_args_size.restype = ctypes.c_int64
    assert library.grunet_args_size(0) == ctypes.sizeof(native.ForwardArgs)
    assert library.grunet_args_size(1) == ctypes.sizeof(native.BackwardArgs)
    # every field 8 bytes, nothing in between: the C struct and the mirror agree on each offset, not only the size
    for struct in (native.ForwardArgs, native.BackwardArgs):
        offset = 0
        for name, kind in struct._fields_:
            assert getattr(struct, name).offset == offset
            offset += ctypes.sizeof(kind)


@needs_native
def test_a_mirror_that_differs_from_the_library_is_refused(cache, monkeypatch):
    assert native.build() is not None

    class Longer(ctypes.Structure):
        _fields_ = native.ForwardArgs._fields_ + [("extra", ctypes.c_int64)]

    monkeypatch.setattr(native, "ForwardArgs", Longer)
    monkeypatch.setattr(native, "failure", None)
    with pytest.raises(OSError, match="sizeof"):
        native.build()
    monkeypatch.setattr(native, "_tried", False)
    monkeypatch.setattr(native, "_library", None)
    assert not native.available() and "sizeof(Longer)" in native.failure


@needs_native
def test_the_cache_names_a_library_by_its_build_key_and_loads_it_again(cache):
    library = native.build()
    (built,) = _library_files(cache)
    key = native.build_key(native.SOURCE.read_text(), native._compiler(), QUICK_FLAGS + ["-fopenmp"])
    assert built.name == f"gru_{key}.so" and library.grunet_build_key() == f"grunet build key {key}".encode()
    assert built.with_suffix(".sha256").read_text().strip() == native._digest(built)
    modified = built.stat().st_mtime_ns
    native.build()
    assert built.stat().st_mtime_ns == modified  # verified and loaded, not rebuilt


@needs_native
def test_an_altered_library_is_rebuilt_not_loaded(cache):
    native.build()
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
        library = native.build()
        assert running.exists()
    assert library is not None and not abandoned.exists()
    assert built.read_bytes() != bytes(altered)
    assert native._digest(built) == built.with_suffix(".sha256").read_text().strip()


@pytest.mark.slow
@needs_native
def test_a_library_under_another_sources_name_is_rebuilt(cache):
    native.build()
    (built,) = _library_files(cache)
    other = native.SOURCE.read_text() + "\n// another source\n"
    key = native.build_key(other, native._compiler(), QUICK_FLAGS + ["-fopenmp"])
    stale = cache / f"gru_{key}.so"
    shutil.copy(built, stale)  # with a digest that matches its bytes: only the key it reports tells it apart
    shutil.copy(built.with_suffix(".sha256"), stale.with_suffix(".sha256"))
    library = native.build(other)
    assert library.grunet_build_key() == f"grunet build key {key}".encode()


def test_thread_policy_follows_the_work_of_a_step(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    minimum = native.MIN_STEP_WORK_PER_THREAD

    def work(batch, hidden_size, input_size):
        return batch * 3 * hidden_size * (hidden_size + input_size)

    assert native.threads_for(32, 20, 5) == 1  # mini-batches of 32: one thread
    assert native.threads_for(1, 256, 256) == native.threads_for(63, 256, 256) == 1  # a thread takes 32 columns
    for batch, hidden_size, input_size in [(800, 20, 1), (800, 20, 20), (4096, 20, 5), (64, 128, 128), (16, 64, 8)]:
        expected = max(1, min(4, work(batch, hidden_size, input_size) // minimum, batch // 32))
        assert native.threads_for(batch, hidden_size, input_size) == expected
    assert native.threads_for(100_000, 256, 256) == 4  # never more than torch's thread count
    # wide layers: a thread may take one vector of 16 columns (gru.cpp cuts 17-32 columns into two tiles there)
    wide = native.WIDE_HIDDEN
    assert native.threads_for(17, wide, 128) == native.threads_for(16, wide, 128) + 1 == 2
    assert native.threads_for(32, wide - 1, 128) == 1 and native.threads_for(64, wide - 1, 128) == 2
    batch = max(64, -(-2 * minimum // work(1, 20, 20)))  # the smallest batch with two threads' worth of work
    assert native.threads_for(batch - 1, 20, 20) == 1 and native.threads_for(batch, 20, 20) == 2


def _layer_results(dtype, reset_after, reverse, threads, monkeypatch, batch=301, hidden_size=20, steps=7):
    """Output, h_n and every gradient of one compiled layer call with the compiled loop on `threads` threads."""
    monkeypatch.setattr(native, "threads_for", lambda *shape: threads)
    monkeypatch.setattr(native.CHOOSER, "fixed", True)  # no probing of one thread in between
    generator = torch.Generator().manual_seed(0)
    input_size = 3
    tensors = [
        torch.randn(steps, batch, input_size, generator=generator, dtype=dtype),
        torch.randn(batch, hidden_size, generator=generator, dtype=dtype),
        torch.randn(3 * hidden_size, input_size, generator=generator, dtype=dtype) * 0.3,
        torch.randn(3 * hidden_size, hidden_size, generator=generator, dtype=dtype) * 0.3,
        torch.randn(3 * hidden_size, generator=generator, dtype=dtype) * 0.1,
        torch.randn(3 * hidden_size, generator=generator, dtype=dtype) * 0.1,
    ]
    for tensor in tensors:
        tensor.requires_grad_(True)
    output, h_n = gru_layer(*tensors, reset_after=reset_after, reverse=reverse)
    ((output * torch.linspace(-1, 1, hidden_size, dtype=dtype)).sum() + h_n.square().sum()).backward()
    return [output.detach(), h_n.detach()] + [tensor.grad for tensor in tensors]


@needs_native
@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("reset_after,reverse", [(False, False), (True, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_results_are_bitwise_the_same_for_any_thread_count(dtype, reset_after, reverse, accumulate, monkeypatch):
    """The tiles depend on the shape alone and the backward adds the tiles' weight gradients in tile order, so 1, 2
    and 3 threads (and whichever thread takes which tile) give the same bits: values, dx, dh0 and the weight
    gradients, summed inside the compiled backward or (forced here) by torch's GEMMs over the gate gradients."""
    if not accumulate:
        monkeypatch.setattr(native, "ACCUMULATE_MAX_WEIGHTS", 0)
    assert native.accumulates(20, 3) == accumulate
    one = _layer_results(dtype, reset_after, reverse, 1, monkeypatch)
    for threads in (2, 3, 2):
        for got, want in zip(_layer_results(dtype, reset_after, reverse, threads, monkeypatch), one):
            assert torch.equal(got, want)


@needs_native
@pytest.mark.parametrize("reset_after", [False, True])
def test_a_wide_layers_small_batch_is_two_tiles_with_the_same_bits_on_any_thread_count(reset_after, monkeypatch):
    """From `WIDE_HIDDEN` on, 32 float32 columns are two tiles of 16 (two threads can share a mini-batch); results
    are bitwise those of one thread."""
    one = _layer_results(torch.float32, reset_after, False, 1, monkeypatch, batch=32, hidden_size=512, steps=3)
    two = _layer_results(torch.float32, reset_after, False, 2, monkeypatch, batch=32, hidden_size=512, steps=3)
    for got, want in zip(two, one):
        assert torch.equal(got, want)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


@linux_only
def test_busy_core_runs_a_busy_process_and_stops_it():
    with bench.busy_core() as busy:
        pid = busy.pid
        time.sleep(0.3)
        assert _running(pid) and busy.poll() is None
        if len(os.sched_getaffinity(0)) > 1:
            assert os.sched_getaffinity(pid) == {max(os.sched_getaffinity(0))}
    assert busy.returncode is not None and not _running(pid)


@linux_only
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_busy_core_stops_on_an_error_or_ctrl_c(error):
    with pytest.raises(error):
        with bench.busy_core() as busy:
            raise error()
    assert busy.returncode is not None and not _running(busy.pid)


@linux_only
def test_the_busy_process_ends_when_its_parent_is_killed():
    """SIGKILL leaves no `finally`: the busy loop watches its parent and ends by itself."""
    script = textwrap.dedent("""
        import time
        from grunet import bench
        with bench.busy_core() as busy:
            print(busy.pid, flush=True)
            time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    busy_pid = int(parent.stdout.readline())
    assert _running(busy_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _running(busy_pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _running(busy_pid)


@linux_only
def test_grunet_bench_contention_prints_both_tables_and_stops_its_busy_process(capsys, monkeypatch):
    from grunet.cli import main

    started = []
    original = bench.busy_core

    def recording():
        context = original()
        busy = context.__enter__()
        started.append(busy)
        return _Exiting(context, busy)

    monkeypatch.setattr(bench, "busy_core", recording)
    assert (
        main(
            [
                "bench",
                "--shapes",
                "4",
                "--repeats",
                "1",
                "--warmup",
                "0",
                "--threads",
                "1",
                "--no-inference",
                "--contention",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("| 32 | 5 | 10 | 20 | 2 | False |") == 2 and "one core kept busy" in out
    assert len(started) == 1 and started[0].returncode is not None and not _running(started[0].pid)


class _Exiting:
    """A context manager already entered (for the recording wrapper above)."""

    def __init__(self, context, value):
        self.context, self.value = context, value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


BENCH = ["bench", "--shapes", "4", "--repeats", "1", "--warmup", "0", "--no-inference"]


@pytest.mark.parametrize(
    "command,environment,expected",
    [
        (["train", "--help"], {}, None),
        (["train", "--help"], {"GOMP_SPINCOUNT": "77"}, "77"),
        (["train", "--help"], {"OMP_WAIT_POLICY": "ACTIVE"}, "30000000000"),
        (BENCH, {}, "300000"),
    ],
)
def test_the_cli_bounds_how_long_torchs_threads_spin(command, environment, expected):
    """The console script sets GOMP_SPINCOUNT before torch (and its libgomp) loads, unless the user set it or a
    wait policy, or the command is `grunet bench` (libgomp's own 300,000 there, torch.nn.GRU's usual setting);
    libgomp reports what it read (OMP_DISPLAY_ENV=verbose)."""
    from grunet import startup

    expected = expected or startup.SPIN_COUNT
    env = {key: value for key, value in os.environ.items() if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run(
        [sys.executable, "-m", "grunet", *command],
        capture_output=True,
        text=True,
        env={**env, **environment, "OMP_DISPLAY_ENV": "verbose"},
        timeout=300,
    )
    assert done.returncode == 0 and f"GOMP_SPINCOUNT = '{expected}'" in done.stderr


@needs_native
def test_every_hidden_size_runs_the_compiled_loop_without_a_warning():
    """The loop once stopped at 256 units and warned above; it now takes any width (tests/test_fast.py checks its
    numbers at 300 and 512)."""
    x = torch.zeros(2, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(native.supports(x, hidden_size) for hidden_size in (1, 256, 257, 300, 512, 1024, 4096))


def test_the_thread_chooser_probes_both_counts_and_keeps_the_faster(monkeypatch):
    """In each round of `EVERY` calls of a shape the first 2 x PROBES alternate the rule's count and one thread;
    the rest use whichever was faster, and the next round probes again (a machine's load changes)."""
    monkeypatch.delenv("GRUNET_THREADS", raising=False)
    chooser = native.ThreadChooser()
    key, used = ("forward", 800, 20, 1, 50), []

    def call(seconds_for):
        threads = chooser.threads(key, 2)
        used.append(threads)
        chooser.record(key, threads, seconds_for[threads])

    for _ in range(chooser.EVERY):
        call({1: 0.010, 2: 0.004})  # quiet: two threads are faster
    assert used[: 2 * chooser.PROBES] == [2, 1] * chooser.PROBES
    assert set(used[2 * chooser.PROBES :]) == {2}
    used.clear()
    for _ in range(chooser.EVERY):
        call({1: 0.010, 2: 0.016})  # a busy core: the second thread waits
    assert set(used[2 * chooser.PROBES :]) == {1}
    assert chooser.threads(("forward", 32, 20, 1, 50), 1) == 1  # the rule's one thread is never probed
    monkeypatch.setenv("GRUNET_THREADS", "fixed")
    assert native.ThreadChooser().threads(key, 2) == 2
