"""Run folders belong to one run: an existing run is never overwritten silently, a second process refuses a folder in
use at once, no command writes over a run's own files, and --resume refuses data that changed."""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from grunet.cli import main
from grunet.run_folder import LOCK_FILE, RunFolder, new_run_dir, refuse_own_file

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


def _csv(path, values):
    path.write_text("t,y\n" + "".join(f"{t},{v}\n" for t, v in enumerate(values)))
    return path


def _digests(folder):
    return {entry.name: hashlib.sha256(entry.read_bytes()).hexdigest() for entry in folder.iterdir() if entry.is_file()}


def _error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--out", str(folder), *FAST]) == 0
    return folder


def test_an_existing_run_is_refused_naming_resume_and_overwrite(run, capsys):
    before = _digests(run)
    err = _error(["train", "--out", str(run), *FAST, "--seed", "3"], capsys)
    assert "--resume" in err and "--overwrite" in err and "not empty" in err
    assert _digests(run) == before


def test_overwrite_replaces_the_whole_run(tmp_path, capsys):
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *FAST, "--seed", "1"]) == 0
    first = json.loads((folder / "metrics.json").read_text())
    (folder / "forecast.csv").write_text("stale")  # a file of the earlier run that the new run does not write
    assert main(["train", "--out", str(folder), *FAST, "--seed", "2", "--overwrite"]) == 0
    assert json.loads((folder / "config.json").read_text())["train"]["seed"] == 2
    assert json.loads((folder / "metrics.json").read_text())["test"] != first["test"]
    assert not (folder / "forecast.csv").exists()


def test_overwrite_refuses_a_folder_with_files_grunet_did_not_write(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    err = _error(["train", "--out", str(folder), *FAST, "--overwrite"], capsys)
    assert "thesis.tex" in err
    assert (folder / "thesis.tex").read_text() == "precious"


def test_overwrite_keeps_a_data_csv_of_the_users_and_the_runs_own_input(tmp_path, capsys):
    """data.csv is the run's own only in a run fitted on a DataFrame; a run folder of a CSV file's run holding a
    data.csv of the user's is refused, and so is deleting the file the new run is to read."""
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *FAST]) == 0  # the sine: config.json names no DataFrame
    (folder / "data.csv").write_text("t,y\nprecious\n")
    assert "data.csv" in _error(["train", "--out", str(folder), *FAST, "--overwrite"], capsys)
    assert (folder / "data.csv").read_text() == "t,y\nprecious\n"
    (folder / "data.csv").unlink()
    data = _csv(folder / "history.csv", np.sin(np.arange(80) / 3))  # a name grunet writes, holding the data to read
    before = data.read_text()
    flags = ["--data", str(data), "--target", "y", "--time-col", "t", "--horizon", "2", "--overwrite"]
    err = _error(["train", "--out", str(folder), *FAST, *flags], capsys)
    assert "is an input of this run" in err and data.read_text() == before


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep")
    assert "is a file" in _error(["train", "--out", str(target), *FAST], capsys)
    assert target.read_text() == "keep"


@pytest.mark.slow
def test_a_folder_in_use_is_refused_at_once(tmp_path):
    folder = tmp_path / "busy"
    with RunFolder.open(folder):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "grunet", "train", "--out", str(folder), *FAST],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "in use by another grunet process" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert time.perf_counter() - started < 60  # refused before any training, not after waiting for the lock
    assert [entry.name for entry in folder.iterdir()] == [LOCK_FILE]


def test_two_concurrent_trains_on_one_folder_exactly_one_runs_and_nothing_mixes(tmp_path):
    folder = tmp_path / "contested"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grunet",
                "train",
                "--out",
                str(folder),
                *FAST,
                "--epochs",
                "30",
                "--seed",
                str(seed),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    codes = [process.wait(timeout=300) for process in runs]
    errors = [process.stderr.read() for process in runs]
    assert sorted(codes) == [0, 2], errors
    loser = errors[codes.index(2)]
    assert "in use by another grunet process" in loser or "not empty" in loser
    winner_seed = (1, 2)[codes.index(0)]
    import torch

    config = json.loads((folder / "config.json").read_text())
    model = torch.load(folder / "model.pt", weights_only=True)
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert (
        config["train"]["seed"] == model["config"]["train"]["seed"] == state["config"]["train"]["seed"] == winner_seed
    )


def test_new_run_folders_never_collide(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: new_run_dir(tmp_path), range(40)))
    assert len(set(folders)) == 40 and all(folder.is_dir() for folder in folders)


def test_a_failed_start_leaves_no_empty_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _error(["train", "--data", str(tmp_path / "missing.csv")], capsys)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("name", ["model.pt", "config.json", "checkpoint.pt", "metrics.json", "history.csv"])
def test_predict_never_writes_over_a_runs_own_files(run, name, capsys):
    before = _digests(run)
    err = _error(["predict", "--run", str(run), "--out", str(run / name)], capsys)
    assert "would destroy that run" in err
    assert _digests(run) == before


@pytest.mark.parametrize("out", ["config.pt2", "metrics.onnx"])
def test_export_never_writes_over_a_runs_own_files(run, out, capsys):
    """The model file is new, but its bundle NAME.json beside it would be the run's config.json or metrics.json."""
    before = _digests(run)
    fmt = "onnx" if out.endswith(".onnx") else "torch"
    err = _error(["export", "--run", str(run), "--format", fmt, "--out", str(run / out)], capsys)
    assert _digests(run) == before and "would destroy that run" in err


def test_predict_refuses_to_write_over_its_own_data_or_a_folder(tmp_path, capsys):
    data = _csv(tmp_path / "series.csv", np.sin(np.arange(80) / 4))
    folder = tmp_path / "run"
    assert main(["train", "--data", str(data), "--time-col", "t", "--out", str(folder), *FAST]) == 0
    before = data.read_bytes()
    assert "input of this command" in _error(
        ["predict", "--run", str(folder), "--data", str(data), "--out", str(data)], capsys
    )
    assert data.read_bytes() == before
    assert "is a folder" in _error(["predict", "--run", str(folder), "--out", str(tmp_path)], capsys)


def test_refuse_own_file_allows_the_forecast_and_new_files(run, tmp_path):
    assert refuse_own_file(run / "forecast.csv", replaces=("forecast.csv",), run=run) == run / "forecast.csv"
    assert refuse_own_file(tmp_path / "model.pt") == tmp_path / "model.pt"  # not a run folder


def test_a_command_replaces_only_its_own_outputs_of_its_own_run(run, tmp_path):
    """predict may write its run's forecast.csv, never its exports; export its own run's export, never another
    run's (predict --out RUN/model.onnx destroyed the shipped model, and export then refused to repair it)."""
    for name in ("model.onnx", "model.json", "model.pt2", "config.json"):
        with pytest.raises(ValueError, match="is a file of the run"):
            refuse_own_file(run / name, replaces=("forecast.csv",), run=run)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="is a file of the run"):
        refuse_own_file(other / "forecast.csv", replaces=("forecast.csv",), run=run)
    with pytest.raises(ValueError, match="is a file of the run"):
        refuse_own_file(other / "model.onnx", replaces=("model.onnx", "model.json"), run=run)
    assert refuse_own_file(run / "model.onnx", replaces=("model.onnx", "model.json"), run=run) == run / "model.onnx"


def test_resume_refuses_a_data_file_that_changed(tmp_path, capsys):
    values = np.sin(np.arange(120) / 5) * 4 + 10
    data = _csv(tmp_path / "series.csv", values)
    folder = tmp_path / "run"
    assert main(["train", "--data", str(data), "--time-col", "t", "--out", str(folder), *FAST]) == 0
    fingerprint = json.loads((folder / "config.json").read_text())["data_fingerprint"]
    assert fingerprint == {"size": data.stat().st_size, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    _csv(data, values * 3 + 100)
    err = _error(["train", "--resume", str(folder)], capsys)  # finished: nothing to resume
    assert "finished (it has metrics.json): there is nothing to resume" in err and "--config" in err
    (folder / "metrics.json").unlink()  # as if stopped before its end
    err = _error(["train", "--resume", str(folder)], capsys)
    assert "changed since the run" in err and "--config" in err
    err = _error(["train", "--resume", str(tmp_path / "nowhere")], capsys)
    assert "does not exist" in err


def test_resume_cleans_temporary_files_of_a_killed_write(tmp_path, capsys):
    data = _csv(tmp_path / "series.csv", np.sin(np.arange(120) / 5))
    folder = tmp_path / "run"
    assert main(["train", "--data", str(data), "--time-col", "t", "--out", str(folder), *FAST]) == 0
    stale = folder / ".model.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    (folder / "metrics.json").unlink()  # killed while writing model.pt: before its end
    assert main(["train", "--resume", str(folder), "--quiet", "--no-plots"]) == 0
    assert not stale.exists()


def _monthly_csv(path, periods=60):
    stamps = [f"{2015 + month // 12}-{month % 12 + 1:02d}-01" for month in range(periods)]
    values = 100 + 10 * np.sin(np.arange(periods) * 2 * np.pi / 12) + np.arange(periods)
    path.write_text("date,y\n" + "".join(f"{stamp},{value:.3f}\n" for stamp, value in zip(stamps, values)))
    return path


MONTHLY = ["--target", "y", "--time-col", "date", "--horizon", "3", "--search", "none", "--epochs", "2"]
MONTHLY += ["--window", "12", "--hidden-size", "4", "--num-layers", "1", "--quiet", "--no-plots"]


def test_predict_never_writes_over_the_data_the_run_forecasts_from(tmp_path, capsys):
    """Without --data, predict reads the run's own data file (or a DataFrame run's data.csv): --out naming it would
    destroy the data the next forecast needs."""
    data = _monthly_csv(tmp_path / "m.csv")
    before = data.read_text()
    assert main(["train", "--data", str(data), *MONTHLY, "--out", str(tmp_path / "run")]) == 0
    err = _error(["predict", "--run", str(tmp_path / "run"), "--out", str(data)], capsys)
    assert "is also an input of this command" in err and data.read_text() == before
    assert main(["export", "--run", str(tmp_path / "run")]) == 0
    model = str(tmp_path / "run" / "model.onnx")
    assert "is also an input" in _error(["predict", "--model", model, "--out", str(data)], capsys)
    assert data.read_text() == before
    import pandas as pd

    import grunet

    frame = pd.read_csv(data)
    grunet.Forecaster(horizon=3, search="none", epochs=2, window=12, verbose=False).fit(
        frame, target="y", time_col="date"
    ).save(tmp_path / "frame_run", plots=False)
    own = tmp_path / "frame_run" / "data.csv"
    kept = own.read_text()
    assert "is also an input" in _error(["predict", "--run", str(tmp_path / "frame_run"), "--out", str(own)], capsys)
    assert own.read_text() == kept


def test_predict_refuses_daily_data_for_a_monthly_onnx_model(tmp_path, capsys):
    assert (
        main(["train", "--data", str(_monthly_csv(tmp_path / "m.csv")), *MONTHLY, "--out", str(tmp_path / "run")]) == 0
    )
    assert main(["export", "--run", str(tmp_path / "run")]) == 0
    daily = tmp_path / "daily.csv"
    lines = (tmp_path / "m.csv").read_text().splitlines()
    daily.write_text(
        "date,y\n" + "".join(f"2020-01-{day + 1:02d},{line.split(',')[1]}\n" for day, line in enumerate(lines[1:29]))
    )
    model = str(tmp_path / "run" / "model.onnx")
    err = _error(["predict", "--model", model, "--data", str(daily), "--out", str(tmp_path / "f.csv")], capsys)
    assert "the data is daily (D), but the model was fitted on monthly (MS) data" in err


def test_a_failed_overwrite_puts_the_previous_run_back(tmp_path, monkeypatch):
    """--overwrite moves the previous run aside until the new one is complete: a failure (or Ctrl-C) after the new
    run wrote files restores the previous run exactly; success deletes it."""
    import grunet
    from grunet import forecaster as forecaster_module
    from grunet.run_folder import PREVIOUS

    folder = tmp_path / "run"
    grunet.Forecaster(epochs=2, hidden_size=4, num_layers=1, verbose=False).fit("sine", run_dir=folder, plots=False)
    before = _digests(folder)

    def failing(*args, **kwargs):
        (folder / "checkpoint.pt").write_bytes(b"half a new run")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(forecaster_module, "fit_forecaster", failing)
        with pytest.raises(KeyboardInterrupt):
            grunet.Forecaster(epochs=2, verbose=False).fit("sine", run_dir=folder, overwrite=True, plots=False)
    assert _digests(folder) == before and not (folder / PREVIOUS).exists()
    grunet.Forecaster(epochs=3, hidden_size=4, num_layers=1, verbose=False).fit(
        "sine", run_dir=folder, overwrite=True, plots=False
    )
    assert json.loads((folder / "metrics.json").read_text())["epochs"] == 3 and not (folder / PREVIOUS).exists()


def test_an_unfinished_overwrite_is_named_and_its_files_kept(tmp_path, capsys):
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *FAST]) == 0
    (folder / ".grunet-previous").mkdir()
    (folder / ".grunet-previous" / "model.pt").write_bytes(b"the replaced run")
    err = _error(["train", "--out", str(folder), *FAST, "--overwrite"], capsys)
    assert "unfinished --overwrite" in err and ".grunet-previous" in err
    assert (folder / ".grunet-previous" / "model.pt").read_bytes() == b"the replaced run"


def test_overwrite_accepts_the_files_export_and_predict_write(tmp_path, capsys):
    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *FAST]) == 0
    for name in ("model.onnx", "model.json", "model.pt2", "forecast.csv"):
        (folder / name).write_text("written by grunet export or predict")
    assert main(["train", "--out", str(folder), *FAST, "--overwrite"]) == 0
    assert not (folder / "model.onnx").exists()


def test_seasonal_longer_than_the_window_is_one_line_and_leaves_no_folder(tmp_path, capsys):
    data = _monthly_csv(tmp_path / "m.csv")
    flags = ["--data", str(data), "--target", "y", "--time-col", "date", "--horizon", "3", "--window", "6"]
    flags += ["--seasonal", "12", "--epochs", "2", "--quiet", "--no-plots"]
    err = _error(["train", *flags, "--search", "none", "--out", str(tmp_path / "a")], capsys)
    assert "seasonal (12) must be at most the window (6)" in err and not (tmp_path / "a").exists()
    err = _error(["train", *flags, "--time-budget", "5", "--out", str(tmp_path / "b")], capsys)
    assert "is shorter than the season (12)" in err and not (tmp_path / "b").exists()
    err = _error(["train", *flags[:8], "--season", "1000", "--epochs", "2", "--out", str(tmp_path / "c")], capsys)
    assert "season (1000) is not shorter than the longest series (60 points): the search" in err


def test_an_unfinished_run_and_a_stale_export_are_named(tmp_path, capsys):
    import warnings

    import grunet

    folder = tmp_path / "run"
    assert main(["train", "--data", str(_monthly_csv(tmp_path / "m.csv")), *MONTHLY, "--out", str(folder)]) == 0
    assert main(["export", "--run", str(folder)]) == 0
    later = (folder / "model.onnx").stat().st_mtime + 10
    os.utime(folder / "model.pt", (later, later))  # trained on after the export (e.g. --resume)
    assert main(["predict", "--model", str(folder / "model.onnx"), "--out", str(tmp_path / "f.csv")]) == 0
    assert "older than the model.pt of the run it was exported from" in capsys.readouterr().err
    (folder / "metrics.json").unlink()  # as a run stopped during training leaves it, beside its checkpoint.pt
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grunet.Forecaster.load(folder)
    assert any(f"the run in {folder} did not finish" in str(warning.message) for warning in caught)


def test_sigterm_during_an_overwrite_puts_the_previous_run_back(tmp_path):
    """`kill` or `timeout` (SIGTERM) stops the command through its cleanup, as Ctrl-C does: exit 143, one line, and
    the run that --overwrite replaced is back (the default action ended the process with it hidden aside)."""
    import signal

    folder = tmp_path / "run"
    assert main(["train", "--out", str(folder), *FAST]) == 0
    before = _digests(folder)
    process = subprocess.Popen(
        [sys.executable, "-m", "grunet", "train", "--out", str(folder), *FAST, "--epochs", "100000", "--overwrite"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.perf_counter() + 120
    aside = folder / ".grunet-previous"
    while not (aside.exists() and (folder / "checkpoint.pt").exists()) and process.poll() is None:
        assert time.perf_counter() < deadline
        time.sleep(0.05)  # the earlier run is aside, and the new run has written its first checkpoint
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    assert process.stderr is not None and process.stderr.read().strip() == "grunet: terminated"
    assert _digests(folder) == before and not (folder / ".grunet-previous").exists()


def test_a_folder_an_overwrite_left_half_done_points_to_the_earlier_run(tmp_path, capsys):
    """Killed between moving the earlier run aside and its first file: predict said "not a grunet run folder"."""
    folder = tmp_path / "run"
    (folder / ".grunet-previous").mkdir(parents=True)
    (folder / ".grunet-previous" / "config.json").write_text("{}")
    assert main(["predict", "--run", str(folder)]) == 2
    assert f"the earlier run is in {folder / '.grunet-previous'}" in capsys.readouterr().err
