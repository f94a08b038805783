"""The deployment bundle (`grunet.export.bundle`): `grunet export` writes NAME.json beside the model, and `grunet
predict --model` forecasts from it with onnxruntime alone, the same numbers as the run, without torch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA
from export_cases import attributes, gru_nodes

from grunet.checkpoints import load_checkpoint
from grunet.cli import main
from grunet.export.bundle import forecast_future_onnx


def _assert_same_forecast(left: Path, right: Path):
    a, b = pd.read_csv(left), pd.read_csv(right)
    assert len(a) == len(b) > 0
    keys = [column for column in a.columns if column != "value" and not column.startswith(("lo-", "hi-"))]
    assert list(a.columns) == list(b.columns) and (a[keys] == b[keys]).all().all()
    for column in a.columns:
        if column.startswith(("lo-", "hi-")):
            np.testing.assert_allclose(b[column], a[column], rtol=1e-5, atol=1e-6 * np.abs(a[column]).max())
    np.testing.assert_allclose(b["value"], a["value"], rtol=1e-5, atol=1e-6 * np.abs(a["value"]).max())


@pytest.mark.parametrize("run_name", ["sine_run", "macro_run"])
def test_export_command_and_predict_from_the_bundle(request, tmp_path, capsys, run_name):
    run = request.getfixturevalue(run_name)
    out = tmp_path / "ship" / "forecaster.onnx"
    assert main(["export", "--run", str(run), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff vs PyTorch" in printed and out.is_file()
    diff = float(printed.split("max abs diff vs PyTorch ")[1].split()[0])
    assert diff <= 1e-5
    bundle = json.loads((tmp_path / "ship" / "forecaster.json").read_text())
    config = json.loads((run / "config.json").read_text())
    checkpoint = load_checkpoint(run / "model.pt")
    assert bundle["model_file"] == "forecaster.onnx"
    assert bundle["config"] == checkpoint["config"]  # the model's own settings: a refit's have no held-out parts
    assert bundle["window"] == config["data"]["window"] and bundle["horizon"] == config["data"]["horizon"]
    assert bundle["scaler"] == checkpoint["scaler"] and bundle["series_names"] == checkpoint["series_names"]
    # the sine has no time stamps; the quarterly macro file gets the quarter's calendar columns, known in advance
    columns, future_name = {
        "sine_run": (["value"], None),
        "macro_run": (["value", "quarter_sin", "quarter_cos"], "future"),
    }[run_name]
    assert bundle["columns"] == columns and len(columns) == config["model"]["input_size"]
    assert bundle["future_name"] == future_name
    assert bundle["verification"]["max_abs_diff"] == pytest.approx(diff, rel=1e-2)
    nodes = gru_nodes(out)
    assert len(nodes) == config["model"]["num_layers"]
    assert {attributes(node)["linear_before_reset"] for node in nodes} == {int(config["model"]["reset_after"])}
    assert main(["predict", "--run", str(run), "--out", str(tmp_path / "from_run.csv")]) == 0
    assert main(["predict", "--model", str(out), "--out", str(tmp_path / "from_onnx.csv")]) == 0
    _assert_same_forecast(tmp_path / "from_run.csv", tmp_path / "from_onnx.csv")
    if run_name == "sine_run":  # the default file names, and a lone .onnx predicts from its metadata
        assert main(["export", "--run", str(run)]) == 0
        assert (run / "model.onnx").is_file() and (run / "model.json").is_file()
        (tmp_path / "ship" / "forecaster.json").unlink()
        table = forecast_future_onnx(out)
        np.testing.assert_allclose(table["value"], pd.read_csv(tmp_path / "from_run.csv")["value"], rtol=1e-5)


def test_predict_model_with_new_data(macro_run, tmp_path):
    out = tmp_path / "m.onnx"
    assert main(["export", "--run", str(macro_run), "--out", str(out)]) == 0
    frame = pd.read_csv(DATA / "macro_quarterly_long.csv")
    frame = frame.groupby("series", sort=False).head(100)  # older data: forecasts from a different point
    frame.to_csv(tmp_path / "older.csv", index=False)
    for source, path in (("--run", macro_run), ("--model", out)):
        assert (
            main(
                [
                    "predict",
                    source,
                    str(path),
                    "--data",
                    str(tmp_path / "older.csv"),
                    "--out",
                    str(tmp_path / f"{source[2:]}.csv"),
                ]
            )
            == 0
        )
    _assert_same_forecast(tmp_path / "run.csv", tmp_path / "model.csv")
    assert pd.read_csv(tmp_path / "model.csv")["time"].iloc[0] == "1984Q1"  # the stamps written as the data writes them


NO_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, Block())
from grunet.cli import main
code = main(sys.argv[1:])
assert "torch" not in sys.modules, "torch was imported"
print("NO TORCH", code)
sys.exit(code)
"""


def test_predict_model_runs_without_torch(sine_run, tmp_path):
    out = tmp_path / "model.onnx"
    assert main(["export", "--run", str(sine_run), "--out", str(out)]) == 0
    assert main(["predict", "--run", str(sine_run), "--out", str(tmp_path / "from_run.csv")]) == 0
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH, "predict", "--model", str(out), "--out", str(tmp_path / "from_onnx.csv")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "NO TORCH 0" in done.stdout
    _assert_same_forecast(tmp_path / "from_run.csv", tmp_path / "from_onnx.csv")
