"""`grunet export` (`grunet.export.export_run`): a run's model to ONNX or torch.export's format, verified, with its
bundle; the command's errors."""

import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch
from export_cases import run_onnx, worst

from grunet.checkpoints import load_model
from grunet.cli import main
from grunet.export import export_run
from grunet.export import onnx as onnx_export
from grunet.model import Ensemble


def test_export_command_fails_when_the_export_does_not_match(sine_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(onnx_export, "onnx_rows", lambda array, hidden_size: np.asarray(array, dtype=np.float32))
    out = tmp_path / "bad.onnx"
    assert main(["export", "--run", str(sine_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match the PyTorch model: max abs diff" in err, err
    assert not out.exists() and not (tmp_path / "bad.json").exists()


@pytest.mark.slow
def test_torch_export_of_a_run(sine_run, tmp_path, capsys):
    out = tmp_path / "model.pt2"
    assert main(["export", "--run", str(sine_run), "--format", "torch", "--out", str(out)]) == 0
    assert "max abs diff vs PyTorch" in capsys.readouterr().out
    program = torch.export.load(str(out)).module()
    reference, _ = load_model(sine_run / "model.pt")
    x = torch.randn(4, 20, 1)  # the run's window
    with torch.no_grad():
        assert (program(x) - reference(x)).abs().max() <= 1e-5
    bundle = json.loads((tmp_path / "model.json").read_text())
    assert bundle["model_format"] == "torch" and bundle["window"] == 20


@pytest.mark.slow
@pytest.mark.parametrize("format, name", [("onnx", "m.onnx"), ("torch", "m.pt2")])
def test_export_of_an_ensemble_run_with_mask_and_future(ensemble_run, tmp_path, format, name):
    from grunet.checkpoints import load_model

    model, _ = load_model(ensemble_run / "model.pt")
    config = model.config
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert config.mask and config.future_size > 0 and config.window_norm == "meanabs"
    result = export_run(ensemble_run, format, tmp_path / name)
    assert result.verification.max_abs_diff <= 1e-5 and result.details["members"] == 2
    bundle = json.loads(result.bundle.read_text())
    assert bundle["future_name"] == "future" and bundle["model_format"] == format
    columns = bundle["columns"]
    assert len(columns) == config.input_size and columns[0] == "value" and columns[-1] == "observed"
    if format == "onnx":
        assert worst(model, run_onnx(result.path)) <= 1e-5
    else:
        program = torch.export.load(str(result.path)).module()
        assert worst(model, lambda x, future: program(x, future).detach().numpy(), length=12) <= 1e-5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "--run", "{tmp}"], "is not a grunet run folder"),
        (["export", "--run", "{tmp}/missing"], "does not exist"),
        (["export", "--run", "{run}", "--out", "{tmp}/model.txt"], "must end in .onnx"),
        (["export", "--run", "{run}", "--out", "{run}/config.onnx"], "would destroy that run"),
        (["export", "--run", "{run}", "--format", "torch", "--out", "{run}/config.pt2"], "would destroy that run"),
        (["export", "--run", "{run}", "--format", "torch", "--out", "{tmp}/model.pt"], "must end in .pt2"),
        (["export", "--run", "{run}", "--format", "keras"], "invalid choice"),
        (["predict", "--model", "{tmp}/none.onnx"], "does not exist"),
        (["predict", "--model", "{tmp}/junk.onnx"], "not a model onnxruntime can load"),
        (["predict", "--model", "{run}/model.pt"], "expects an ONNX file"),
        (["predict", "--run", "{run}", "--model", "{tmp}/x.onnx"], "not allowed with argument"),
        (["predict"], "one of the arguments --run --model is required"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, sine_run, capsys, argv, message):
    (tmp_path / "junk.onnx").write_text("not a model")
    config_before = (sine_run / "config.json").read_bytes()
    argv = [item.format(tmp=tmp_path, run=sine_run) for item in argv]
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert (sine_run / "config.json").read_bytes() == config_before
    assert not (sine_run / "config.onnx").exists()


def _copy(run, folder):
    shutil.copytree(run, folder, ignore=shutil.ignore_patterns("model.onnx", "model.json", "model.pt2", ".grunet*"))
    return folder


def test_an_unfinished_or_running_run_is_not_exported(sine_run, tmp_path, capsys):
    """Its model.pt is an interim one (no refit, no intervals): shipped, it forecast 8 to 23 passengers off the
    finished run's, with no word from export or predict --model (found by a review as a user who ships models)."""
    from grunet.run_folder import locked

    unfinished = _copy(sine_run, tmp_path / "unfinished")
    (unfinished / "metrics.json").unlink()
    assert main(["export", "--run", str(unfinished)]) == 2
    assert "did not finish (it has no metrics.json)" in capsys.readouterr().err
    assert not (unfinished / "model.onnx").exists()
    (unfinished / "model.pt").unlink()  # stopped before its first model
    assert main(["predict", "--run", str(unfinished)]) == 2
    assert f"grunet train --resume {unfinished}" in capsys.readouterr().err
    running = _copy(sine_run, tmp_path / "running")
    with locked(running):  # as a `grunet train` holds it
        assert main(["export", "--run", str(running)]) == 2
        assert "in use by another grunet process" in capsys.readouterr().err
    assert main(["export", "--run", str(running)]) == 0 and (running / "model.onnx").is_file()


def test_an_export_is_written_as_every_file_is(sine_run, tmp_path, monkeypatch):
    """Through a link to the file it names, with the umask's mode, its run named by an absolute path (a relative
    one was read from wherever predict ran)."""
    run = _copy(sine_run, tmp_path / "run")
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "target.onnx").write_text("old")
    (tmp_path / "link.onnx").symlink_to(tmp_path / "shipped" / "target.onnx")
    monkeypatch.chdir(tmp_path)
    before = os.umask(0o022)
    try:
        assert main(["export", "--run", "run", "--out", "link.onnx"]) == 0
    finally:
        os.umask(before)
    assert (tmp_path / "link.onnx").is_symlink()
    assert (tmp_path / "shipped" / "target.onnx").stat().st_size > 1000
    assert stat.S_IMODE((tmp_path / "shipped" / "target.onnx").stat().st_mode) == 0o644
    bundle = json.loads((tmp_path / "link.json").read_text())
    assert bundle["source_run"] == str(run.resolve())


def test_an_export_of_a_dataframe_run_forecasts_from_the_data_its_run_keeps(tmp_path, capsys):
    """predict --model of a DataFrame run's export said the data "is not saved" though the run holds data.csv."""
    import pandas as pd

    import grunet

    frame = pd.DataFrame({"t": range(120), "y": np.sin(np.arange(120) / 5) * 3 + 10})
    model = grunet.Forecaster(horizon=2, window=12, hidden_size=4, num_layers=1, epochs=2, search="none", verbose=False)
    model.fit(frame, target="y", time_col="t").save(tmp_path / "run", plots=False)
    assert main(["export", "--run", str(tmp_path / "run")]) == 0
    assert main(["predict", "--model", str(tmp_path / "run" / "model.onnx"), "--out", str(tmp_path / "m.csv")]) == 0
    assert main(["predict", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "r.csv")]) == 0
    exported, own = pd.read_csv(tmp_path / "m.csv"), pd.read_csv(tmp_path / "r.csv")
    np.testing.assert_allclose(exported["value"], own["value"], rtol=1e-5)
    (tmp_path / "run" / "data.csv").unlink()
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "run" / "model.onnx"), "--out", str(tmp_path / "n.csv")]) == 2
    assert "pass the data to forecast from with --data FILE" in capsys.readouterr().err
