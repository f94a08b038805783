"""`grunet bench` prints its tables; the numbers are measured, never asserted (timings belong to benchmarks)."""
import pytest

from grunet import bench
from grunet.cli import main


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


@pytest.mark.parametrize("flags,words", [(["--shapes", "9"], "--shapes takes indices"),
                                         (["--repeats", "0"], "--repeats and --threads must be >= 1")])
def test_bad_bench_flags(flags, words, capsys):
    assert main(["bench", *flags]) == 2
    assert words in capsys.readouterr().err
