"""`grunet bench` prints its tables; the numbers are measured, never asserted (timings belong to benchmarks)."""

import subprocess
import sys
from pathlib import Path

import pytest

from grunet import bench, native
from grunet.cli import main
from grunet.native import library as native_library


@pytest.mark.slow
def test_bench_prints_both_tables(capsys):
    assert main(["bench", "--shapes", "4", "--repeats", "1", "--warmup", "0", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "machine:" in out and "| 32 | 5 | 10 | 20 | 2 | False |" in out and "| 32 | 5 | 10 | 20 | 2 | True |" in out
    assert "onnxruntime GRU ms" in out and "| 1 | 50 | 1 | 20 | 2 | True |" in out


def test_rows_hold_the_documented_keys():
    rows = bench.run_benchmark([(4, 3, 2, 5, 1)], repeats=1, warmup=0, threads=1)
    assert [row["reset_after"] for row in rows] == [False, True]
    for row in rows:
        assert row["train_ratio"] == pytest.approx(row["torch_train_ms"] / row["grunet_train_ms"])
        assert row["torch_peak_mb"] > 0 and row["grunet_peak_mb"] > 0


@pytest.mark.parametrize(
    "flags,words",
    [(["--shapes", "9"], "--shapes takes indices"), (["--repeats", "0"], "--repeats and --threads must be >= 1")],
)
def test_bad_bench_flags(flags, words, capsys):
    assert main(["bench", *flags]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.slow
def test_the_native_ab_script_runs_two_builds_of_one_source(tmp_path):
    """benchmarks/ab_native.py: --dump writes the compiled loop's source; two separately compiled libraries of the
    same arithmetic (the second source differs by a comment, so it is its own build) give the same gradients, and a
    third whose update is halved gives other gradients (so the script does switch between the two libraries)."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ab_native.py"
    source, variant = tmp_path / "loop.cpp", tmp_path / "variant.cpp"
    original = native_library.SOURCE.read_text()
    run = subprocess.run([sys.executable, str(script), "--dump", str(source)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert source.read_text() == original
    variant.write_text(original + "\n// the same loop, built again\n")
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            str(source),
            str(variant),
            "--pairs",
            "3",
            "--threads",
            "1",
            "--shape",
            "20,3,2,4,2",
            "--mode",
            "gru",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "largest gradient difference: 0\n" in run.stdout and "median of the pairs" in run.stdout
    update = "h[e] += z[e] * (c[e] - h[e]);"
    assert update in original
    other = tmp_path / "other.cpp"
    other.write_text(original.replace(update, "h[e] += S(0.5) * z[e] * (c[e] - h[e]);"))
    run = subprocess.run(
        [
            sys.executable,
            str(script),
            str(source),
            str(other),
            "--pairs",
            "3",
            "--threads",
            "1",
            "--shape",
            "20,3,2,4,2",
            "--mode",
            "gru",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "largest gradient difference: 0\n" not in run.stdout and "largest gradient difference: " in run.stdout


@pytest.mark.slow
def test_grunet_bench_writes_nothing_on_stderr():
    """The memory measurement's profiler (kineto) prints 'USDT: ... profiler_start/stop' lines from C++; grunet bench
    keeps them off the user's terminal."""
    done = subprocess.run(
        [sys.executable, "-m", "grunet", "bench", "--shapes", "4", "--repeats", "1", "--warmup", "0", "--no-inference"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "| 32 | 5 | 10 | 20 | 2 |" in done.stdout
    assert done.stderr == ""


def test_the_cpu_list_holds_wide_layers_and_the_cuda_list_keeps_its_indices():
    """Issue 19: H = 512 and 1024 on the CPU (the compiled loop once stopped at 256); on CUDA indices 5-7 stay."""
    assert [shape[3] for shape in bench.shape_list("cpu")[5:]] == [512, 1024]
    assert bench.shape_list("cuda") == bench.SHAPES + bench.CUDA_SHAPES


def test_grunet_bench_under_torchrun_is_refused_in_one_line(monkeypatch, capsys):
    """Every rank ran it, competing for the same cores (ratios of 170 and 537 in a review)."""
    from grunet.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["bench"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run it without torchrun" in err
