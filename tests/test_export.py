"""Shipping a model: ONNX (standard GRU operator) and TorchScript exports against the PyTorch model, the deployment
bundle and `predict --model` without torch, safe checkpoints, and the export command's errors."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from conftest import DATA

from grunet import export
from grunet.cli import main
from grunet.layer import GRU
from grunet.model import Ensemble, GRUNet
from grunet.onnx_predict import forecast_future_onnx, onnx_session
from grunet.runs import load_checkpoint

BATCH_SIZES, LENGTHS = (1, 2, 5), (1, 4, 13)


def _model(reset_after=False, num_layers=1, bidirectional=False, window_norm="none", input_size=3, hidden=6,
           output_size=2, seed=0, future_size=0, mask=False):
    """A small GRUNet with random weights; bidirectional swaps in a bidirectional GRU and a 2H-wide head."""
    torch.manual_seed(seed)
    model = GRUNet(input_size, hidden, output_size, num_layers, reset_after=reset_after, window_norm=window_norm,
                   future_size=future_size, mask=mask)
    if bidirectional:
        model.gru = GRU(input_size, hidden, num_layers, batch_first=True, bidirectional=True,
                        reset_after=reset_after)
        model.fc = torch.nn.Linear(2 * hidden + output_size * future_size, output_size)
    return model.eval()


def _gru_nodes(path):
    graph = onnx.load(str(path)).graph
    assert not [node for node in graph.node if node.op_type in ("Loop", "Scan", "If")]  # not unrolled, no loops
    return [node for node in graph.node if node.op_type == "GRU"]


def _attributes(node):
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


CASES = [(reset_after, layers, bidirectional, "none") for reset_after in (False, True) for layers in (1, 2)
         for bidirectional in (False, True)] + [(True, 2, False, "mean"), (False, 2, True, "last")]


@pytest.mark.parametrize("reset_after, num_layers, bidirectional, window_norm", CASES)
def test_onnx_round_trip(tmp_path, reset_after, num_layers, bidirectional, window_norm):
    model = _model(reset_after, num_layers, bidirectional, window_norm)
    path = tmp_path / "model.onnx"
    result = export.export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert result.verification.max_abs_diff <= 1e-5
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 14
    nodes = _gru_nodes(path)
    assert len(nodes) == num_layers  # one standard GRU node per layer
    for node in nodes:
        attributes = _attributes(node)
        assert attributes["linear_before_reset"] == int(reset_after)
        assert attributes["direction"] == (b"bidirectional" if bidirectional else b"forward")
        assert attributes["hidden_size"] == 6
    dims = [dim.dim_param or dim.dim_value for dim in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "seq", 3]  # dynamic batch and length
    # onnxruntime against torch, on inputs other than the ones the export was verified on
    session = onnx_session(path, threads=1)
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    for batch in (1, 4, 9):
        for length in (2, 5, 31):
            x = torch.randn(batch, length, 3, generator=generator)
            with torch.no_grad():
                expected = model(x).numpy()
            got = session.run(None, {"input": x.numpy()})[0]
            assert got.shape == expected.shape == (batch, 2)
            worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= 1e-5, worst


def test_onnx_gate_conversion_is_what_makes_it_match(tmp_path, monkeypatch):
    """Negative controls: the wrong linear_before_reset, or no z negation, is caught by the verification, and a
    failed export writes nothing."""
    model = _model(reset_after=True, num_layers=2)
    proto = export.grunet_to_onnx(model)
    for node in proto.graph.node:
        if node.op_type == "GRU":
            for attribute in node.attribute:
                if attribute.name == "linear_before_reset":
                    attribute.i = 0
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(proto.SerializeToString())
    assert export.verify_onnx(model, wrong, BATCH_SIZES, LENGTHS).max_abs_diff > 1e-3

    def no_negation(tensor, hidden_size):
        r, z, n = tensor.detach().float().split(hidden_size)
        return torch.cat([z, r, n]).numpy()
    monkeypatch.setattr(export, "_onnx_rows", no_negation)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export.export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert list(tmp_path.iterdir()) == [wrong]  # neither the file nor a temporary left behind


def test_export_command_fails_when_the_export_does_not_match(sine_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, "_onnx_rows", lambda tensor, hidden_size: tensor.detach().float().numpy())
    out = tmp_path / "bad.onnx"
    assert main(["export", "--run", str(sine_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match the PyTorch model: max abs diff" in err, err
    assert not out.exists() and not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("batch_first", [False, True])
def test_bare_gru_to_onnx_outputs_and_final_states(tmp_path, batch_first):
    torch.manual_seed(2)
    gru = GRU(4, 5, num_layers=2, bidirectional=True, batch_first=batch_first).eval()
    path = tmp_path / "gru.onnx"
    path.write_bytes(export.gru_to_onnx(gru).SerializeToString())
    session = onnx_session(path, threads=1)
    for batch, length in ((1, 1), (3, 8)):
        x = torch.randn(batch, length, 4) if batch_first else torch.randn(length, batch, 4)
        with torch.no_grad():
            expected_output, expected_h_n = gru(x)
        output, h_n = session.run(None, {"input": x.numpy()})
        assert np.abs(output - expected_output.numpy()).max() <= 1e-5
        assert np.abs(h_n - expected_h_n.numpy()).max() <= 1e-5


@pytest.mark.parametrize("reset_after, num_layers, bidirectional, window_norm",
                         [(False, 2, False, "none"), (True, 1, True, "mean"), (True, 2, False, "last")])
def test_torchscript_round_trip(tmp_path, reset_after, num_layers, bidirectional, window_norm):
    model = _model(reset_after, num_layers, bidirectional, window_norm)
    path = tmp_path / "model.pt"
    result = export.export_torchscript(model, path, batch_sizes=BATCH_SIZES, lengths=(1, 4))
    assert result.verification.max_abs_diff <= 1e-5
    loaded = torch.jit.load(str(path))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for batch, length in ((1, 1), (2, 17), (7, 40)):  # lengths the export never saw: nothing unrolled
            x = torch.randn(batch, length, 3, generator=generator)
            assert (loaded(x) - model(x)).abs().max() <= 1e-5


def _test_inputs(config, seed=1):
    """(x, future) other than the export's own: windows padded at the start as the data pipeline pads them (mask
    and values 0), one with no padding, one with a random mask (last step observed); and one-step windows."""
    generator = torch.Generator().manual_seed(seed)
    for batch, length in ((1, 1), (4, 6), (9, 23)):
        x = torch.randn(batch, length, config.input_size, generator=generator) * 3 + 1
        if config.mask:
            padding = torch.randint(0, length, (batch, 1), generator=generator)
            observed = (torch.arange(length) >= padding).float()  # (batch, length), the last step always observed
            observed[0] = 1
            if batch > 1:
                observed[1] = torch.randint(0, 2, (length,), generator=generator).float()
                observed[1, -1] = 1
            x = x * observed[:, :, None]
            x[:, :, -1] = observed
        future = (torch.randn(batch, config.output_size, config.future_size, generator=generator)
                  if config.future_size else None)
        yield x, future


def _run_onnx(path):
    session = onnx_session(path, threads=1)
    return lambda x, future: session.run(None, {"input": x.numpy(), **(
        {} if future is None else {"future": future.numpy()})})[0]


def _run_scripted(scripted):
    return lambda x, future: scripted(x, future).numpy()


def _run_torchscript(path):
    return _run_scripted(torch.jit.load(str(path)))


def _worst(model, run):
    """Max abs difference of `run(x, future)` against the PyTorch model over `_test_inputs`."""
    worst = 0.0
    with torch.no_grad():
        for x, future in _test_inputs(model.config):
            expected, got = model(x, future).numpy(), run(x, future)
            assert got.shape == expected.shape == (len(x), model.config.output_size)
            assert np.isfinite(got).all()
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


FUTURE_CASES = [(reset_after, False, window_norm) for reset_after in (False, True)
                for window_norm in ("none", "mean", "last", "meanabs")] + [(True, True, "meanabs")]


@pytest.mark.parametrize("reset_after, bidirectional, window_norm", FUTURE_CASES)
def test_future_and_mask_round_trip(tmp_path, reset_after, bidirectional, window_norm):
    """Known-future columns (a second input) and the mask, with every window norm: ONNX and TorchScript."""
    model = _model(reset_after, 2, bidirectional, window_norm, future_size=2, mask=True)
    onnx_path, script_path = tmp_path / "model.onnx", tmp_path / "model.pt"
    for result in (export.export_onnx(model, onnx_path, batch_sizes=BATCH_SIZES, lengths=LENGTHS),
                   export.export_torchscript(model, script_path, batch_sizes=BATCH_SIZES, lengths=(1, 4))):
        assert result.verification.max_abs_diff <= 1e-5
    inputs = [(value.name, [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim])
              for value in onnx.load(str(onnx_path)).graph.input]
    assert inputs == [("input", ["batch", "seq", 3]), (export.FUTURE_NAME, ["batch", 2, 2])]
    assert _worst(model, _run_onnx(onnx_path)) <= 1e-5
    assert _worst(model, _run_torchscript(script_path)) <= 1e-5
    swapped = copy.deepcopy(model)  # a head that reads the future values column-major: the verification sees it
    with torch.no_grad():
        head = swapped.fc.weight[:, -4:]
        head.copy_(head.reshape(-1, 2, 2).transpose(1, 2).reshape(-1, 4))
    assert export.verify_onnx(swapped, onnx_path, BATCH_SIZES, LENGTHS).max_abs_diff > 1e-3
    assert export.verify_torchscript(swapped, script_path, BATCH_SIZES, (1, 4)).max_abs_diff > 1e-3
    with pytest.raises(Exception, match="known-future input"):
        torch.jit.load(str(script_path))(torch.randn(2, 4, 3))


@pytest.mark.parametrize("window_norm", ["mean", "last", "meanabs"])
def test_the_mask_is_what_makes_the_window_norm_match(tmp_path, monkeypatch, window_norm):
    """Negative controls: a window norm that ignores the mask is caught, in TorchScript and in ONNX (and then
    nothing is written)."""
    model = _model(window_norm=window_norm, future_size=2, mask=True)
    unmasked = export.ScriptableGRUNet(model)
    unmasked.mask = False
    assert _worst(model, _run_scripted(torch.jit.script(unmasked))) > 1e-3
    window_norm_nodes = export._window_norm_nodes
    monkeypatch.setattr(export, "_window_norm_nodes",
                        lambda graph, norm, mask, input_size: window_norm_nodes(graph, norm, False, input_size))
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export.export_onnx(model, tmp_path / "model.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("count", [2, 3])
def test_ensemble_round_trip(tmp_path, monkeypatch, count):
    """The median of 2 members (the mean of both) and of 3 (the middle one) in ONNX and TorchScript, each member's
    nodes named apart; an ONNX graph that takes one member instead of the median is caught."""
    members = [_model(True, 2, window_norm="meanabs", future_size=2, mask=True, seed=seed) for seed in range(count)]
    ensemble = Ensemble(members).eval()
    onnx_path, script_path = tmp_path / "model.onnx", tmp_path / "model.pt"
    for result in (export.export_onnx(ensemble, onnx_path, batch_sizes=BATCH_SIZES, lengths=LENGTHS),
                   export.export_torchscript(ensemble, script_path, batch_sizes=BATCH_SIZES, lengths=(1, 4))):
        assert result.verification.max_abs_diff <= 1e-5 and result.details["members"] == count
    assert _worst(ensemble, _run_onnx(onnx_path)) <= 1e-5
    assert _worst(ensemble, _run_torchscript(script_path)) <= 1e-5
    nodes = _gru_nodes(onnx_path)
    assert len(nodes) == 2 * count
    assert sorted(node.name.split("_")[0] for node in nodes) == sorted(f"m{i}" for i in range(count) for _ in "ab")
    *_, (x, future) = _test_inputs(ensemble.config)
    with torch.no_grad():  # the median is no single member's forecast
        assert all((member(x, future) - ensemble(x, future)).abs().max() > 1e-4 for member in members)
    median_nodes = export._median_nodes
    monkeypatch.setattr(export, "_median_nodes",
                        lambda graph, forecasts: median_nodes(graph, forecasts[:1] * len(forecasts)))
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export.export_onnx(ensemble, tmp_path / "first_member.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)


# ---- runs, bundles, predict ----

def _train(out, *flags):
    assert main(["train", "--epochs", "2", "--quiet", "--no-plots", "--out", str(out), *flags]) == 0
    return out


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("sine") / "run", "--window", "20", "--hidden-size", "8")


@pytest.fixture(scope="module")
def macro_run(tmp_path_factory):
    """Long format, 12 series, quarterly time stamps, standard scaling, 4 steps ahead."""
    return _train(tmp_path_factory.mktemp("macro") / "run", "--data", str(DATA / "macro_quarterly_long.csv"),
                  "--id-col", "series", "--time-col", "time", "--target", "value", "--window", "12",
                  "--horizon", "4", "--test-size", "8", "--hidden-size", "8", "--reset-after")


def _assert_same_forecast(left: Path, right: Path):
    a, b = pd.read_csv(left), pd.read_csv(right)
    assert len(a) == len(b) > 0
    assert (a[["series", "time", "step"]] == b[["series", "time", "step"]]).all().all()
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
    assert bundle["model_file"] == "forecaster.onnx" and bundle["config"]["data"] == config["data"]
    assert bundle["window"] == config["data"]["window"] and bundle["horizon"] == config["data"]["horizon"]
    assert bundle["scaler"] == checkpoint["scaler"] and bundle["series_names"] == checkpoint["series_names"]
    # the sine has no time stamps; the quarterly macro file gets the quarter's calendar columns, known in advance
    columns, future_name = {"sine_run": (["value"], None),
                            "macro_run": (["value", "quarter_sin", "quarter_cos"], "future")}[run_name]
    assert bundle["columns"] == columns and len(columns) == config["model"]["input_size"]
    assert bundle["future_name"] == future_name
    assert bundle["verification"]["max_abs_diff"] == pytest.approx(diff, rel=1e-2)
    nodes = _gru_nodes(out)
    assert len(nodes) == config["model"]["num_layers"]
    assert {_attributes(node)["linear_before_reset"] for node in nodes} == {int(config["model"]["reset_after"])}
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
        assert main(["predict", source, str(path), "--data", str(tmp_path / "older.csv"),
                     "--out", str(tmp_path / f"{source[2:]}.csv")]) == 0
    _assert_same_forecast(tmp_path / "run.csv", tmp_path / "model.csv")
    assert pd.read_csv(tmp_path / "model.csv")["time"].iloc[0] == "1984-01-01"


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
    done = subprocess.run([sys.executable, "-c", NO_TORCH, "predict", "--model", str(out), "--out",
                           str(tmp_path / "from_onnx.csv")], capture_output=True, text=True, timeout=60, check=False,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert "NO TORCH 0" in done.stdout
    _assert_same_forecast(tmp_path / "from_run.csv", tmp_path / "from_onnx.csv")


def test_torchscript_export_of_a_run(sine_run, tmp_path, capsys):
    out = tmp_path / "model.ts.pt"
    assert main(["export", "--run", str(sine_run), "--format", "torchscript", "--out", str(out)]) == 0
    assert "max abs diff vs PyTorch" in capsys.readouterr().out
    loaded = torch.jit.load(str(out))
    model = torch.jit.load(str(out))  # loads twice, no state kept
    from grunet.runs import load_model
    reference, _ = load_model(sine_run / "model.pt")
    x = torch.randn(4, 33, 1)
    with torch.no_grad():
        assert (loaded(x) - reference(x)).abs().max() <= 1e-5 and model(x).shape == (4, 1)
    assert json.loads((tmp_path / "model.ts.json").read_text())["model_format"] == "torchscript"


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """Two members, padded windows (the mask), meanabs, calendar columns the head sees over the horizon."""
    return _train(tmp_path_factory.mktemp("ensemble") / "run", "--data", str(DATA / "macro_quarterly_long.csv"),
                  "--id-col", "series", "--time-col", "time", "--target", "value", "--window", "12",
                  "--horizon", "4", "--test-size", "8", "--hidden-size", "4", "--pad", "--window-norm", "meanabs",
                  "--ensemble", "2")


@pytest.mark.parametrize("format, name", [("onnx", "m.onnx"), ("torchscript", "m.pt")])
def test_export_of_an_ensemble_run_with_mask_and_future(ensemble_run, tmp_path, format, name):
    from grunet.runs import load_model
    model, _ = load_model(ensemble_run / "model.pt")
    config = model.config
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert config.mask and config.future_size > 0 and config.window_norm == "meanabs"
    result = export.export_run(ensemble_run, format, tmp_path / name)
    assert result.verification.max_abs_diff <= 1e-5 and result.details["members"] == 2
    bundle = json.loads(result.bundle.read_text())
    assert bundle["future_name"] == "future" and bundle["model_format"] == format
    columns = bundle["columns"]
    assert len(columns) == config.input_size and columns[0] == "value" and columns[-1] == "observed"
    run = _run_onnx(result.path) if format == "onnx" else _run_torchscript(result.path)
    assert _worst(model, run) <= 1e-5


# ---- checkpoints that would run code ----

class _RunsCode:
    """Unpickling this writes a file: what a malicious model.pt would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def _malicious_checkpoint(path: Path, marker: Path, sine_run: Path) -> None:
    payload = torch.load(sine_run / "model.pt", weights_only=True)
    payload["extra"] = _RunsCode(marker)
    torch.save(payload, path)


def test_the_malicious_checkpoint_is_real(tmp_path, sine_run):
    """Control: loading it the unsafe way does run its code."""
    marker = tmp_path / "control_marker"
    _malicious_checkpoint(tmp_path / "model.pt", marker, sine_run)
    torch.load(tmp_path / "model.pt", weights_only=False)
    assert marker.read_text() == "code ran"


def test_pickled_objects_in_a_checkpoint_are_refused(tmp_path, sine_run, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((sine_run / "config.json").read_text())
    marker = tmp_path / "marker"
    _malicious_checkpoint(run / "model.pt", marker, sine_run)
    with pytest.raises(ValueError, match="refused to load .*could run code"):
        load_checkpoint(run / "model.pt")
    assert not marker.exists()
    for command in (["predict", "--run", str(run)], ["export", "--run", str(run)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refused to load" in err, err
        assert not marker.exists()
    assert not (run / "model.onnx").exists()


# ---- errors ----

@pytest.mark.parametrize("argv, message", [
    (["export", "--run", "{tmp}"], "is not a grunet run folder"),
    (["export", "--run", "{tmp}/missing"], "does not exist"),
    (["export", "--run", "{run}", "--out", "{tmp}/model.txt"], "must end in .onnx"),
    (["export", "--run", "{run}", "--out", "{run}/config.onnx"], "would destroy that run"),
    (["export", "--run", "{run}", "--format", "torchscript", "--out", "{run}/model.pt"], "would destroy that run"),
    (["export", "--run", "{run}", "--format", "keras"], "invalid choice"),
    (["predict", "--model", "{tmp}/none.onnx"], "does not exist"),
    (["predict", "--model", "{tmp}/junk.onnx"], "not a model onnxruntime can load"),
    (["predict", "--model", "{run}/model.pt"], "expects an ONNX file"),
    (["predict", "--run", "{run}", "--model", "{tmp}/x.onnx"], "not allowed with argument"),
    (["predict"], "one of the arguments --run --model is required"),
])
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


def test_onnx_session_for_benchmarks(sine_run, tmp_path):
    out = tmp_path / "model.onnx"
    export.export_run(sine_run, "onnx", out)
    session = export.onnx_session(out, threads=1)
    x = np.random.default_rng(0).standard_normal((64, 20, 1)).astype(np.float32)
    assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (64, 1)
