"""The command line: the main job's run folder, help, errors as one line with exit code 2, predict."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from grunet.cli import main


def _train(tmp_path, *flags, name="run"):
    out = tmp_path / name
    assert main(["train", "--quiet", "--out", str(out), *flags]) == 0
    return out


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("sine"), "--epochs", "3")


def test_train_writes_a_complete_run_folder(sine_run, capsys):
    for name in ("config.json", "model.pt", "metrics.json", "history.csv", "forecast.png", "loss.png"):
        assert (sine_run / name).is_file(), name
    metrics = json.loads((sine_run / "metrics.json").read_text())
    assert {"mse", "rmse", "mae"} <= metrics["test"].keys()
    assert {"persistence", "linear_ar"} <= metrics["baselines"].keys()
    assert {"mse", "rmse", "mae"} <= metrics["baselines"]["linear_ar"].keys()
    assert metrics["epochs"] == 3 and metrics["train_seconds"] > 0 and metrics["test_windows"] == 150
    assert metrics["baselines"]["linear_ar"]["mse"] < 1e-10  # exact on a pure sine
    assert np.isclose(metrics["baselines"]["persistence"]["mse"], 4.8e-3, rtol=0.01)
    config = json.loads((sine_run / "config.json").read_text())
    assert config["model"] == {
        "input_size": 1,
        "hidden_size": 20,
        "output_size": 1,
        "num_layers": 2,
        "dropout": 0.0,
        "reset_after": False,
        "window_norm": "none",
        "future_size": 0,
        "mask": False,
        "ar": 0,
        "input_steps": 0,
        "seasonal": 0,
    }
    assert config["train"]["lr"] == 1e-3 and config["train"]["batch_size"] == 0  # resolved: full batch
    assert config["data"]["window"] == 50 and config["data"]["test_size"] == 150 and config["data"]["scale"] == "none"
    history = (sine_run / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,train_loss,val_loss,lr,seconds" and len(history) == 4
    checkpoint = torch.load(sine_run / "model.pt", weights_only=True)
    assert set(checkpoint["state_dict"]) >= {"gru.weight_ih_l0", "gru.weight_hh_l1", "fc.weight"}


def test_plots_are_real_images(sine_run):
    import matplotlib.image

    for name in ("forecast.png", "loss.png"):
        image = matplotlib.image.imread(sine_run / name)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert image[..., :3].std() > 0.05  # not blank
        # the forecast plot must draw the red forecast line, not only the black truth
    forecast = matplotlib.image.imread(sine_run / "forecast.png")[..., :3]
    red = (forecast[..., 0] > 0.7) & (forecast[..., 1] < 0.3) & (forecast[..., 2] < 0.3)
    assert red.sum() > 200


def test_same_seed_same_numbers_and_config_rebuild(tmp_path, sine_run):
    again = _train(tmp_path, "--epochs", "3", name="again")
    first = json.loads((sine_run / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first["test"]["mse"] == second["test"]["mse"]
    rebuilt = _train(tmp_path, "--config", str(sine_run / "config.json"), name="rebuilt")
    assert json.loads((rebuilt / "metrics.json").read_text())["test"] == first["test"]
    other = _train(tmp_path, "--epochs", "3", "--seed", "1", name="other")
    assert json.loads((other / "metrics.json").read_text())["test"]["mse"] != first["test"]["mse"]


def test_prints_the_table_model_vs_baselines(tmp_path, capsys):
    _train(tmp_path, "--epochs", "2", "--no-plots")
    printed = capsys.readouterr().out
    assert "GRU (grunet)" in printed and "persistence" in printed and "linear ar" in printed
    assert (
        "<- best"
        in printed.splitlines()[[i for i, line in enumerate(printed.splitlines()) if line.startswith("linear ar")][0]]
    )


def test_python_dash_m_works_and_errors_are_one_line():
    ok = subprocess.run([sys.executable, "-m", "grunet", "datasets"], capture_output=True, text=True)
    assert ok.returncode == 0 and "sine" in ok.stdout and "airline" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "grunet", "train", "--data", "nope.csv"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "nope.csv" in bad.stderr


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--window", "0"], "window must be >= 1"),
        (["--horizon", "0"], "horizon must be >= 1"),
        (["--epochs", "-1"], "epochs must be >= 0"),
        (["--lr", "-1"], "lr must be > 0"),
        (["--test-size", "990"], "too short"),
        (["--window", "2000"], "too short"),
        (["--epochs", "many"], "invalid int value"),
        (["--scale", "robust"], "invalid choice"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, words, capsys):
    with pytest.raises(SystemExit) as stop:
        code = main(["train", "--quiet", "--no-plots", *flags])
        raise SystemExit(code)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_wrong_input_shape_reaches_the_cli_as_the_layers_message(sine_run, tmp_path, capsys):
    """A model whose input size does not match the data: the GRU's own message, one line, exit 2."""
    import shutil

    from grunet.checkpoints import load_checkpoint
    from grunet.model import GRUNet

    run = tmp_path / "mismatch"
    shutil.copytree(sine_run, run)
    payload = load_checkpoint(run / "model.pt")
    model = GRUNet(3, 20, 1, 2)
    payload["state_dict"] = model.state_dict()
    payload["config"]["model"]["input_size"] = 3
    torch.save(payload, run / "model.pt")
    assert main(["predict", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "(batch, seq, input_size)" in err and "(1, 50, 1)" in err and err.count("\n") == 1


def test_predict_continues_the_series(sine_run, capsys):
    assert main(["predict", "--run", str(sine_run)]) == 0
    forecast = (sine_run / "forecast.csv").read_text().splitlines()
    assert forecast[0] == "time,step,value" and forecast[1].startswith("1000,1,")
    assert main(["predict", "--run", str(sine_run.parent / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_forecast_to_standard_output_is_the_csv_alone(sine_run, tmp_path):
    """--out - (and /dev/stdout into a pipe) gives the next program the CSV and nothing else; the table for the
    reader goes to standard error (it was appended to the CSV, and - wrote a file named "-")."""
    expected = (sine_run / "forecast.csv").read_text() if (sine_run / "forecast.csv").exists() else None
    for out in ("-", "/dev/stdout"):
        done = subprocess.run(
            [sys.executable, "-m", "grunet", "predict", "--run", str(sine_run), "--out", out],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "time,step,value" and len(lines) == 2 and lines[1].startswith("1000,1,")
        assert "forecast written to" in done.stderr and "step" in done.stderr
    assert not (tmp_path / "-").exists()
    if expected is not None:
        assert (sine_run / "forecast.csv").read_text() == expected  # the run's own forecast untouched


def test_a_judged_holt_winters_weight_labels_the_row_in_two_digits():
    from grunet.cli import _format_table

    scores = {"mse": 4.0, "rmse": 2.0, "mae": 1.5, "mape": 3.0, "smape": 3.0, "mase": 0.9}
    metrics = {"test": scores, "baselines": {"persistence": scores}, "smoothing": 0.1834, "best": "x", "best_by": "x"}
    header, model_row, baseline_row = _format_table(metrics).splitlines()[:3]
    assert model_row.startswith("grunet+hw 0.18 ") and len(model_row) == len(baseline_row)


def test_the_holt_winters_row_of_a_panel_with_series_too_short_to_fit(tmp_path, capsys):
    """Yearly series of 6 to 20 points, horizon 3: the two of 6 have 3 points before their test part, too few to
    fit Holt-Winters on; its row is scored (persistence for those two), and says so."""
    rows = ["id,year,value"]
    rng = np.random.default_rng(0)
    for index, length in enumerate([6, 6, 14, 20, 20]):
        values = 100 + np.cumsum(rng.normal(1, 3, length))
        rows += [f"s{index},{1990 + step},{value:.2f}" for step, value in enumerate(values)]
    data = tmp_path / "short.csv"
    data.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    flags = ["--data", str(data), "--id-col", "id", "--time-col", "year", "--target", "value", "--horizon", "3"]
    assert main(["train", *flags, "--epochs", "2", "--search", "none", "--no-plots", "--quiet", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("holt winters "))
    assert "n/a" not in row, out
    metrics = json.loads((run / "metrics.json").read_text())
    count = metrics["holt_winters_persistence"]
    assert count == 2 and "holt winters forecasts 2 series by persistence" in out
    assert np.isfinite(metrics["baselines"]["holt_winters"]["mase"])


def test_a_bad_flag_under_torchrun_is_said_once_by_rank_0(monkeypatch, capsys):
    """Every rank checks the flags alike: rank 0 says what is wrong, the others end quietly (each printed a line of
    its own, "[rank 1]")."""
    from grunet import startup

    monkeypatch.setattr(startup, "RANK_0_GRACE", 0.0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, lines in (("1", 0), ("0", 1)):
        monkeypatch.setenv("RANK", rank)
        assert main(["train", "--horizon", "0", "--quiet"]) == 2
        assert capsys.readouterr().err.count("horizon must be >= 1") == lines
