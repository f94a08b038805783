"""Data-parallel training under torchrun (gloo, CPU): two processes train like one with the same global batch, rank 0
alone writes the run folder, and checkpoints move between one and several processes.

Tolerance: one process and two differ only in the order of float32 reductions (each rank sums its half of the
squared errors and gloo adds the halves; DDP averages two half-gradients). Measured on the sine exercise, the final
training loss differs by 4.5e-8 relative after 30 full-batch epochs, 1.5e-7 at most over those epochs, and 4.6e-7
at most over 200 epochs (weights by at most 3.4e-7); with --batch-size 37 --reset-after, 2.6e-7 after 10 epochs.
So 1e-5 relative (and 1e-5 absolute on the weights) is 20x above anything measured, while a real mistake in the
sharding (windows dropped or counted twice, ranks drawing different permutations, pad windows with weight) moves
the loss by far more: the training loss falls by about 3% per epoch here.
"""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grunet.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-5


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict:
    """The CPU pinned (gloo), so that these tests run the same on a machine with one GPU or none: two processes
    cannot share a GPU under NCCL."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}


def _grunet(args, cwd, processes=1):
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "--master_port",
            str(_port()),
            "-m",
            "grunet",
        ]
        if processes > 1
        else [sys.executable, "-m", "grunet"]
    )
    done = subprocess.run(launcher + list(args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def _assert_same_training(run, reference):
    ours, theirs = _history(run), _history(reference)
    assert [row["epoch"] for row in ours] == [row["epoch"] for row in theirs]
    for mine, expected in zip(ours, theirs):
        assert float(mine["train_loss"]) == pytest.approx(float(expected["train_loss"]), rel=TOLERANCE)
    weights, expected = (load_checkpoint(path / "model.pt")["state_dict"] for path in (run, reference))
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=TOLERANCE, msg=name)


@pytest.mark.slow
def test_two_processes_train_like_one_and_rank_0_alone_writes_the_run(tmp_path):
    flags = ["train", "--epochs", "30", "--quiet", "--device", "cpu"]
    (tmp_path / "two").mkdir()
    two = _grunet(flags, tmp_path / "two", processes=2)  # no --out: each rank making a folder would show
    _grunet(flags + ["--no-plots", "--out", str(tmp_path / "one")], tmp_path)
    assert os.listdir(tmp_path / "two") == ["runs"]
    runs = os.listdir(tmp_path / "two" / "runs")
    assert len(runs) == 1, runs
    run = tmp_path / "two" / "runs" / runs[0]
    files = sorted(name for name in os.listdir(run) if name != ".grunet.lock")  # the lock file stays, empty
    assert files == [
        "checkpoint.pt",
        "config.json",
        "forecast.png",
        "history.csv",
        "loss.png",
        "metrics.json",
        "model.pt",
    ]  # nothing half-written, nothing twice
    assert two.stdout.count("run folder:") == 1 and two.stdout.count("GRU (grunet)") == 1
    assert "trained 30 epochs" in two.stdout and "x 2 processes" in two.stdout
    assert len(_history(run)) == 30
    metrics = json.loads((run / "metrics.json").read_text())
    reference = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and "processes" not in reference
    assert metrics["test_windows"] == reference["test_windows"] == 150  # every test window, once
    assert metrics["test"]["mse"] == pytest.approx(reference["test"]["mse"], rel=1e-4)
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == 0
    _assert_same_training(run, tmp_path / "one")


def _set_epochs(run, epochs):
    """A finished run made into one stopped on its way to `epochs` (a finished run is never resumed)."""
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = epochs
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").unlink()


@pytest.mark.slow
def test_checkpoints_move_between_one_and_two_processes(tmp_path):
    """Mini-batches of 37 (800 windows: shards of 19 and 18, the short one padded at weight 0) with torch's GRU
    variant. A 2-process run of 6 epochs continued on 1 process to 10, and a 1-process run continued on 2, both end
    where 10 epochs on 1 process end; the 2-process run's model predicts on one process."""
    flags = [
        "train",
        "--batch-size",
        "37",
        "--reset-after",
        "--checkpoint-every",
        "3",
        "--quiet",
        "--no-plots",
        "--device",
        "cpu",
    ]
    _grunet(flags + ["--epochs", "10", "--out", str(tmp_path / "reference")], tmp_path)
    _grunet(flags + ["--epochs", "6", "--out", str(tmp_path / "two_then_one")], tmp_path, processes=2)
    _grunet(flags + ["--epochs", "6", "--out", str(tmp_path / "one_then_two")], tmp_path)
    for run, processes in (("two_then_one", 1), ("one_then_two", 2)):
        _set_epochs(tmp_path / run, 10)  # the checkpoint of epoch 6 continues to 10 epochs
        resumed = _grunet(["train", "--resume", str(tmp_path / run)], tmp_path, processes=processes)
        assert "resumed after epoch 6" in resumed.stdout
        _assert_same_training(tmp_path / run, tmp_path / "reference")
    predicted = _grunet(["predict", "--run", str(tmp_path / "two_then_one")], tmp_path)
    assert (tmp_path / "two_then_one" / "forecast.csv").is_file() and "forecast written" in predicted.stdout


def test_shards_are_equal_sized_and_cover_each_batch_once():
    from grunet.training.distributed import DataParallel

    batch = torch.randperm(100)[:37]
    for world in (2, 3, 5, 64):
        shares = []
        for rank in range(world):
            parallel = DataParallel.__new__(DataParallel)  # only the sharding, no process group
            parallel.world, parallel.rank = world, rank
            shares.append(parallel._share(batch))
        assert len({len(index) for index, _ in shares}) == 1 and len(shares[0][0]) == -(-37 // world)
        kept = torch.cat([index[weights == 1] for index, weights in shares])
        assert sorted(kept.tolist()) == sorted(batch.tolist())  # every window once, pads at weight 0
        assert all(set(index[weights == 0].tolist()) <= set(batch.tolist()) for index, weights in shares)


WORKER = """
import os, sys, torch
os.environ.update(RANK=sys.argv[1], LOCAL_RANK=sys.argv[1], WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                  MASTER_PORT=sys.argv[2])
from grunet.training import distributed
from grunet.model import GRUNet
from grunet.training.train import _batches
from grunet.windows import WindowSet
torch.manual_seed(0)
values = torch.randn(60, 2)
train = WindowSet(values, torch.arange(45), torch.zeros(45, dtype=torch.long), 8, 3)
assert distributed.init()
for batch_size in (0, 7, 45):
    torch.manual_seed(1)  # a fresh model (one DDP per model), the same on both ranks
    model = GRUNet(2, 5, 3, num_layers=2, reset_after=sys.argv[3] == "1")
    reference = GRUNet(2, 5, 3, num_layers=2, reset_after=sys.argv[3] == "1")
    reference.load_state_dict(model.state_dict())
    parallel = distributed.DataParallel(model, train, batch_size)
    for batch, index in zip(parallel.batches(_batches(45, batch_size, torch.Generator().manual_seed(1))),
                            _batches(45, batch_size, torch.Generator().manual_seed(1))):
        model.zero_grad(), reference.zero_grad()
        loss, value = parallel.loss(batch)
        loss.backward()
        expected = torch.nn.functional.mse_loss(reference(train.inputs(index)), train.targets(index))
        expected.backward()
        assert abs(value - expected.item()) <= 1e-6 * expected.item(), (value, expected.item())
        for mine, theirs in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-7)
distributed.teardown(together=True)
print("ok", flush=True)
os._exit(0)  # as the command line leaves (startup.leaves_at_once): a gloo thread can abort the interpreter's exit
"""


@pytest.mark.slow
@pytest.mark.parametrize("reset_after", [False, True])
def test_the_averaged_gradient_is_the_global_batch_gradient(tmp_path, reset_after):
    """DDP's average of the ranks' gradients equals one process's gradient of the whole batch's MSE, for the full
    batch and for uneven mini-batches (7 = 4 + 3 + a pad at weight 0), through grunet.GRU's own backward."""
    port = str(_port())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(rank), port, str(int(reset_after))],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        # the output too: whether a rank that aborts (SIGABRT, "terminate called") had finished its checks first
        assert worker.returncode == 0 and out.strip() == "ok", f"exit {worker.returncode}, stdout {out!r}: {err}"


def test_a_finished_rank_waits_for_the_others_before_leaving_the_group(monkeypatch):
    """teardown(together=True), a run every rank finished: a barrier, then the group is destroyed; after an error
    (together=False) the rank leaves at once (a barrier would wait for a rank that failed)."""
    from grunet.training import distributed

    calls = []
    monkeypatch.setattr(distributed.dist, "is_available", lambda: True)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: calls.append("destroy"))
    distributed.teardown(together=True)
    assert calls == ["barrier", "destroy"]
    calls.clear()
    distributed.teardown()
    assert calls == ["destroy"]


@pytest.mark.slow
def test_sigterm_to_torchrun_puts_back_the_run_an_overwrite_replaced(tmp_path):
    """A scheduler's stop (SIGTERM to torchrun, forwarded to the ranks) ends the ranks through their cleanup, as one
    process ends: the earlier run is back (it stayed in .grunet-previous, the unfinished new run in its place)."""
    import hashlib
    import signal
    import time

    flags = ["train", "--quiet", "--no-plots", "--device", "cpu", "--batch-size", "64", "--out", str(tmp_path / "run")]
    _grunet(flags + ["--epochs", "2"], tmp_path)
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "run").iterdir()}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_port())]
    process = subprocess.Popen(
        launcher + ["-m", "grunet", *flags, "--epochs", "100000", "--overwrite"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    aside, deadline = tmp_path / "run" / ".grunet-previous", time.perf_counter() + 120
    while not (aside.exists() and (tmp_path / "run" / "checkpoint.pt").exists()) and process.poll() is None:
        assert time.perf_counter() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    time.sleep(1)  # (a rank may finish its cleanup just after torchrun returns)
    now = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "run").iterdir()}
    assert now == digests and not aside.exists()


@pytest.mark.slow
def test_the_search_skips_the_same_candidates_on_every_rank(tmp_path):
    """Each rank's clock had its own say on the time budget: ranks that disagreed ran different candidates and their
    collectives mismatched (a gloo abort, the run lost). Here rank 1's clock runs 1000 times fast, so that alone it
    would skip every candidate after the first; rank 0's decides, and the search runs as on one process."""
    (tmp_path / "fast_clock").mkdir()
    (tmp_path / "fast_clock" / "sitecustomize.py").write_text(
        "import os, time\n"
        "if os.environ.get('RANK') == '1':\n"
        "    _real = time.perf_counter\n"
        "    time.perf_counter = lambda: 1000 * _real()\n"
    )
    airline = ROOT / "grunet" / "data" / "airline.csv"
    flags = ["train", "--data", str(airline), "--target", "Passengers", "--time-col", "Date", "--horizon", "12"]
    flags += ["--epochs", "2", "--quiet", "--no-plots", "--device", "cpu", "--time-budget", "600"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(_port())]
    env = {**_env(), "PYTHONPATH": f"{tmp_path / 'fast_clock'}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        launcher + ["-m", "grunet", *flags, "--out", str(tmp_path / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "run" / "search.csv") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses.count("ok") > 1, statuses
