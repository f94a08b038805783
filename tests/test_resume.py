"""Crash safety: a run killed with SIGKILL and resumed ends bitwise where the uninterrupted run ends; a killed
checkpoint write leaves the previous checkpoint loadable; a diverging loss stops with a clear message."""

import csv
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from grunet.checkpoints import load_checkpoint, load_training_state, save_training_state
from grunet.cli import main
from grunet.data.config import DataConfig
from grunet.fitting import fit_run, setup_run
from grunet.model import ModelConfig
from grunet.training.config import TrainConfig
from grunet.training.train import TrainingDiverged

FLAGS = [
    "--search",
    "none",
    "--window",
    "12",
    "--horizon",
    "2",
    "--epochs",
    "60",
    "--batch-size",
    "16",
    "--num-layers",
    "2",
    "--dropout",
    "0.2",
    "--lr-schedule",
    "plateau",
    "--checkpoint-every",
    "1",
    "--val-size",
    "20",
    "--patience",
    "100",
    "--quiet",
    "--no-plots",
]


def _csv(path, values):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t", "y"])
        writer.writerows([[t, v] for t, v in enumerate(values)])
    return path


def _grunet(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "grunet", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _epoch(run):
    try:
        return load_training_state(run / "checkpoint.pt")["epoch"]
    except ValueError:
        return 0


@pytest.mark.slow
def test_sigkill_and_resume_ends_bitwise_like_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    data = _csv(tmp_path / "series.csv", np.sin(np.arange(260) / 6) * 5 + rng.normal(0, 0.3, 260) + 20)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    whole = _grunet("train", "--data", str(data), "--time-col", "t", "--out", str(reference), *FLAGS)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    victim = _grunet("train", "--data", str(data), "--time-col", "t", "--out", str(killed), *FLAGS)
    deadline = time.time() + 120
    while _epoch(killed) < 5 and time.time() < deadline and victim.poll() is None:
        time.sleep(0.02)
    assert victim.poll() is None, "the run ended before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    stopped_at = _epoch(killed)
    assert 5 <= stopped_at < 60 and not (killed / "metrics.json").exists()
    resumed = _grunet("train", "--resume", str(killed))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resumed after epoch {stopped_at}" in out
    expected, got = load_checkpoint(reference / "model.pt"), load_checkpoint(killed / "model.pt")
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, got["state_dict"][name]), name
    import json

    metrics = [json.loads((run / "metrics.json").read_text()) for run in (reference, killed)]
    for m in metrics:
        m.pop("train_seconds")
    assert metrics[0] == metrics[1]
    histories = [
        [row.split(",")[:4] for row in (run / "history.csv").read_text().splitlines()] for run in (reference, killed)
    ]
    assert histories[0] == histories[1] and len(histories[0]) == 61


def test_resume_refuses_other_settings_and_non_runs(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "is not a run folder that can be resumed" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err


WRITER = """
import sys, torch
from grunet.checkpoints import save_training_state
path = sys.argv[1]
big = {"model": {"w": torch.randn(2_000_000)}, "epoch": 0}
save_training_state(path, big, {})
print("ready", flush=True)
epoch = 0
while True:
    epoch += 1
    big["epoch"] = epoch
    save_training_state(path, big, {})
"""


@pytest.mark.parametrize(
    "delay", [0.13, pytest.param(0.05, marks=pytest.mark.slow), pytest.param(0.31, marks=pytest.mark.slow)]
)
def test_a_checkpoint_write_killed_midway_leaves_a_loadable_checkpoint(tmp_path, delay):
    path = tmp_path / "checkpoint.pt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    state = load_training_state(path)
    assert state["model"]["w"].shape == (2_000_000,) and state["epoch"] >= 0


class _PoisonAfter(nn.Module):
    """Wraps a model; its output becomes NaN from the `after`-th training forward pass on."""

    def __init__(self, model, after):
        super().__init__()
        self.model, self.after, self.calls = model, after, 0

    def init_skip_chunks(self, *args):
        self.model.init_skip_chunks(*args)

    def forward(self, x):
        out = self.model(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.after:
                return out * float("nan")
        return out


def test_a_diverging_loss_stops_with_epoch_and_step_and_keeps_the_best_checkpoint(tmp_path):
    rng = np.random.default_rng(1)
    data = _csv(tmp_path / "series.csv", np.cumsum(rng.normal(size=200)))
    setup = setup_run(
        DataConfig(data=str(data), time_col="t", window=10, test_size=10),
        ModelConfig(hidden_size=8, num_layers=1),
        TrainConfig(epochs=20, batch_size=32),
    )
    steps_per_epoch = math.ceil(len(setup.prepared.train) / 32)
    setup.model = _PoisonAfter(setup.model, after=3 * steps_per_epoch + 2)  # epoch 4, step 2
    saved = []
    with pytest.raises(TrainingDiverged) as error:
        fit_run(setup, on_checkpoint=lambda state, improved: saved.append(state))
    assert (error.value.epoch, error.value.step) == (4, 2)
    assert "epoch 4, step 2" in str(error.value) and "lower learning rate" in str(error.value)
    assert saved and saved[-1]["epoch"] <= 3
    path = tmp_path / "checkpoint.pt"
    save_training_state(path, saved[-1], {})
    assert all(torch.isfinite(t).all() for t in load_training_state(path)["model"].values())


def test_the_cli_reports_a_non_finite_loss_in_one_line(tmp_path, capsys):
    data = _csv(tmp_path / "huge.csv", [1e19 * (1 + (t % 7)) for t in range(120)])
    code = main(
        [
            "train",
            "--search",
            "none",
            "--data",
            str(data),
            "--time-col",
            "t",
            "--window",
            "5",
            "--scale",
            "none",
            "--quiet",
            "--no-plots",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    # 1e19 squared is beyond float32: the data is to blame, not the learning rate (issue 14), and the line says so
    assert "at epoch 1, step 1" in err and "--scale standard" in err and "beyond what float32" in err


def test_a_run_that_diverges_under_overwrite_keeps_the_earlier_run_and_says_so(tmp_path, capsys):
    """--overwrite replaces a run only with a complete one: the diverged run's files go, the earlier run stays, and
    the error line names it (not a model.pt "so far" that is the earlier run's)."""
    steps = [
        "--search",
        "none",
        "--time-col",
        "t",
        "--window",
        "5",
        "--quiet",
        "--no-plots",
        "--out",
        str(tmp_path / "run"),
    ]
    calm = _csv(tmp_path / "calm.csv", np.sin(np.arange(120) / 3))
    assert main(["train", "--data", str(calm), "--epochs", "2", *steps]) == 0
    before = (tmp_path / "run" / "model.pt").read_bytes()
    capsys.readouterr()
    huge = _csv(tmp_path / "huge.csv", [1e19 * (1 + (t % 7)) for t in range(120)])
    code = main(["train", "--data", str(huge), "--scale", "none", "--overwrite", *steps])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"the earlier run in {tmp_path / 'run'} is kept" in err
    assert (tmp_path / "run" / "model.pt").read_bytes() == before


def test_an_ensemble_resumes_inside_its_second_member(tmp_path):
    """A checkpoint taken while member 1 trains holds member 0 finished; resuming from it ends bitwise like the
    uninterrupted ensemble."""
    import copy

    rng = np.random.default_rng(1)
    data = _csv(tmp_path / "series.csv", np.sin(np.arange(200) / 6) * 5 + rng.normal(0, 0.3, 200) + 20)
    configs = (
        DataConfig(data=str(data), time_col="t", window=12, horizon=2),
        ModelConfig(hidden_size=8, num_layers=1),
        TrainConfig(epochs=6, ensemble=2, batch_size=16, checkpoint_every=1, patience=0),
    )
    states = []
    whole = fit_run(setup_run(*configs), on_checkpoint=lambda state, improved: states.append(copy.deepcopy(state)))
    middle = [state for state in states if state["member"] == 1 and state["epoch"] == 3][0]
    assert len(middle["finished"]) == 1
    setup = setup_run(*configs)
    resumed = fit_run(setup, resume=middle)
    # member 0 is the set-up model itself, so what a checkpoint during the resume saves as model.pt is trained
    assert resumed.model.members[0] is setup.model
    for name, tensor in whole.model.state_dict().items():
        assert name.startswith("members.") and torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert whole.metrics["test"] == resumed.metrics["test"] and len(whole.metrics["members"]) == 2


def test_a_dataframe_run_resumes_from_the_data_it_keeps(tmp_path, monkeypatch):
    """A run fitted on a DataFrame keeps it as data.csv from its start: interrupted, it resumes (it had no way to:
    "pass the data", which resume cannot take) and ends as the uninterrupted run ends."""
    import pandas as pd

    import grunet
    from grunet import procedure

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=150, freq="D"),
            "y": np.sin(np.arange(150) / 4) * 5 + 20 + rng.normal(0, 0.3, 150),
        }
    )
    settings = dict(horizon=3, window=14, hidden_size=8, num_layers=1, epochs=6, search="none", verbose=False)
    settings.update(checkpoint_every=1, patience=0)
    whole = grunet.Forecaster(**settings).fit(frame, target="y", time_col="day", run_dir=tmp_path / "whole")
    saved = procedure.save_training_state
    calls = []

    def stopping(*args, **kwargs):
        saved(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(procedure, "save_training_state", stopping)
    with pytest.raises(KeyboardInterrupt):
        grunet.Forecaster(**settings).fit(frame, target="y", time_col="day", run_dir=tmp_path / "cut", plots=False)
    monkeypatch.setattr(procedure, "save_training_state", saved)
    assert (tmp_path / "cut" / "data.csv").is_file() and not (tmp_path / "cut" / "metrics.json").exists()
    resumed = grunet.Forecaster.resume(tmp_path / "cut", verbose=False, plots=False)
    np.testing.assert_array_equal(resumed.predict()["value"], whole.predict()["value"])
