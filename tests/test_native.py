"""grunet.native: the compiled loop's use (any hidden size, no warning); grunet.bench's busy core (contention
mode) always stops; the CLI bounds how long torch's threads spin."""

import os
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

needs_native = pytest.mark.skipif(not native.available(), reason="grunet.native could not be compiled here")


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


@pytest.mark.slow
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
        pytest.param(["train", "--help"], {"GOMP_SPINCOUNT": "77"}, "77", marks=pytest.mark.slow),
        pytest.param(["train", "--help"], {"OMP_WAIT_POLICY": "ACTIVE"}, "30000000000", marks=pytest.mark.slow),
        pytest.param(BENCH, {}, "300000", marks=pytest.mark.slow),
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


@needs_native
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("where", ["input", "h0", "weight", "bias"])
def test_a_nan_anywhere_comes_out_as_nan_as_in_torch(dtype, reset_after, where, monkeypatch):
    """The loop is built with -ffast-math but not finite-math-only: a NaN in the data, the state or a diverged
    weight gives NaN where the pure-torch loop (and, in its form, torch.nn.GRU) gives it. With finite math assumed,
    exp's clamp had turned NaN into 88: a NaN step was skipped, and a model with NaN weights reported a finite loss."""
    from grunet import GRU, fast

    torch.manual_seed(0)
    gru = GRU(3, 24, num_layers=2, reset_after=reset_after, dtype=dtype)
    x, h0 = torch.randn(6, 4, 3, dtype=dtype), torch.zeros(2, 4, 24, dtype=dtype)
    with torch.no_grad():
        if where == "input":
            x[1, 0, 0] = float("nan")
        elif where == "h0":
            h0[0, 2, 5] = float("nan")
        elif where == "weight":
            gru.weight_hh_l0[30, 1] = float("nan")
        else:
            gru.bias_ih_l1[3] = float("nan")
    assert native.supports(x, 24)
    with torch.no_grad():
        compiled = torch.isnan(gru(x, h0)[0])
    trained = torch.isnan(gru(x, h0)[0])  # the training path (gates saved for the backward) too
    monkeypatch.setattr(fast.native, "supports", lambda *args: False)
    expected = torch.isnan(gru(x, h0)[0])  # the pure-torch loop
    assert expected.any() and torch.equal(compiled, expected) and torch.equal(trained, expected)
    if reset_after:
        assert torch.equal(torch.isnan(gru.to_torch()(x, h0)[0]), expected)
