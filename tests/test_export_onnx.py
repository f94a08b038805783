"""ONNX export (`grunet.export.onnx`): the standard GRU operator, the window norms, the mask, known-future inputs and
an ensemble's median, against the PyTorch model; negative controls show the verification catches each part."""

import copy

import numpy as np
import onnx
import pytest
import torch
from export_cases import (
    BATCH_SIZES,
    LENGTHS,
    attributes,
    gru_nodes,
    other_inputs,
    run_onnx,
    small_model,
    worst,
)

from grunet.export import export_run, onnx_graph
from grunet.export import onnx as onnx_export
from grunet.export.bundle import FUTURE_NAME, onnx_session
from grunet.export.onnx import export_onnx
from grunet.layer import GRU
from grunet.model import Ensemble, GRUNet

QUICK_CASES = {(False, 2, True, "none"), (True, 2, True, "none"), (True, 2, False, "mean"), (False, 2, True, "last")}
CASES = [  # the rest run in CI's full suite (slow): each torch.export trace takes a moment
    pytest.param(*case, marks=() if case in QUICK_CASES else pytest.mark.slow)
    for case in [
        (reset_after, layers, bidirectional, "none")
        for reset_after in (False, True)
        for layers in (1, 2)
        for bidirectional in (False, True)
    ]
    + [(True, 2, False, "mean"), (False, 2, True, "last")]
]


@pytest.mark.parametrize("reset_after, num_layers, bidirectional, window_norm", CASES)
def test_onnx_round_trip(tmp_path, reset_after, num_layers, bidirectional, window_norm):
    model = small_model(reset_after, num_layers, bidirectional, window_norm)
    path = tmp_path / "model.onnx"
    result = export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert result.verification.max_abs_diff <= 1e-5
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 14
    nodes = gru_nodes(path)
    assert len(nodes) == num_layers  # one standard GRU node per layer
    for node in nodes:
        found = attributes(node)
        assert found["linear_before_reset"] == int(reset_after)
        assert found["direction"] == (b"bidirectional" if bidirectional else b"forward")
        assert found["hidden_size"] == 6
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
    model = small_model(reset_after=True, num_layers=2)
    proto = onnx_export.grunet_to_onnx(model)
    for node in proto.graph.node:
        if node.op_type == "GRU":
            for attribute in node.attribute:
                if attribute.name == "linear_before_reset":
                    attribute.i = 0
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(proto.SerializeToString())
    assert onnx_export.verify_onnx(model, wrong, BATCH_SIZES, LENGTHS).max_abs_diff > 1e-3

    def no_negation(tensor, hidden_size):
        r, z, n = torch.tensor(np.asarray(tensor)).float().split(hidden_size)
        return torch.cat([z, r, n]).numpy()

    monkeypatch.setattr(onnx_export, "onnx_rows", no_negation)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert list(tmp_path.iterdir()) == [wrong]  # neither the file nor a temporary left behind


@pytest.mark.parametrize("batch_first", [False, True])
def test_bare_gru_to_onnx_outputs_and_final_states(tmp_path, batch_first):
    torch.manual_seed(2)
    gru = GRU(4, 5, num_layers=2, bidirectional=True, batch_first=batch_first).eval()
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_export.gru_to_onnx(gru).SerializeToString())
    session = onnx_session(path, threads=1)
    for batch, length in ((1, 1), (3, 8)):
        x = torch.randn(batch, length, 4) if batch_first else torch.randn(length, batch, 4)
        with torch.no_grad():
            expected_output, expected_h_n = gru(x)
        output, h_n = session.run(None, {"input": x.numpy()})
        assert np.abs(output - expected_output.numpy()).max() <= 1e-5
        assert np.abs(h_n - expected_h_n.numpy()).max() <= 1e-5


QUICK_FUTURE_CASES = {(False, False, "mean"), (True, False, "meanabs"), (True, True, "meanabs")}
FUTURE_CASES = [
    pytest.param(*case, marks=() if case in QUICK_FUTURE_CASES else pytest.mark.slow)
    for case in [
        (reset_after, False, window_norm)
        for reset_after in (False, True)
        for window_norm in ("none", "mean", "last", "meanabs")
    ]
    + [(True, True, "meanabs")]
]


@pytest.mark.parametrize("reset_after, bidirectional, window_norm", FUTURE_CASES)
def test_future_and_mask_round_trip(tmp_path, reset_after, bidirectional, window_norm):
    """Known-future columns (a second input) and the mask, with every window norm."""
    model = small_model(reset_after, 2, bidirectional, window_norm, future_size=2, mask=True)
    onnx_path = tmp_path / "model.onnx"
    assert export_onnx(model, onnx_path, batch_sizes=BATCH_SIZES, lengths=LENGTHS).verification.max_abs_diff <= 1e-5
    inputs = [
        (value.name, [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim])
        for value in onnx.load(str(onnx_path)).graph.input
    ]
    assert inputs == [("input", ["batch", "seq", 3]), (FUTURE_NAME, ["batch", 2, 2])]
    assert worst(model, run_onnx(onnx_path)) <= 1e-5
    swapped = copy.deepcopy(model)  # a head that reads the future values column-major: the verification sees it
    with torch.no_grad():
        head = swapped.fc.weight[:, -4:]
        head.copy_(head.reshape(-1, 2, 2).transpose(1, 2).reshape(-1, 4))
    assert onnx_export.verify_onnx(swapped, onnx_path, BATCH_SIZES, LENGTHS).max_abs_diff > 1e-3


@pytest.mark.parametrize("window_norm", ["mean", "last", "meanabs"])
def test_the_mask_is_what_makes_the_window_norm_match(tmp_path, monkeypatch, window_norm):
    """Negative control: a window norm that ignores the mask is caught (and then nothing is written)."""
    model = small_model(window_norm=window_norm, future_size=2, mask=True)
    traced = onnx_export._traced

    def without_mask(module, example, dynamic):  # the graph of the same model, traced as if it had no mask
        unmasked = copy.deepcopy(module)
        unmasked.config.mask = False
        return traced(unmasked, example, dynamic)

    monkeypatch.setattr(onnx_export, "_traced", without_mask)
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export_onnx(model, tmp_path / "model.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "count", [2, 3]
)  # an ensemble in the quick run: test_an_ensemble_of_members_reading_different_windows_and_norms
def test_ensemble_round_trip(tmp_path, monkeypatch, count):
    """The median of 2 members (the mean of both) and of 3 (the middle one), each member's nodes named apart; a
    graph that takes one member instead of the median is caught."""
    members = [
        small_model(True, 2, window_norm="meanabs", future_size=2, mask=True, seed=seed) for seed in range(count)
    ]
    ensemble = Ensemble(members).eval()
    onnx_path = tmp_path / "model.onnx"
    result = export_onnx(ensemble, onnx_path, batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert result.verification.max_abs_diff <= 1e-5 and result.details["members"] == count
    assert worst(ensemble, run_onnx(onnx_path)) <= 1e-5
    nodes = gru_nodes(onnx_path)
    assert len(nodes) == 2 * count
    # each member's GRU nodes named after it
    assert sorted(node.name.split("/")[0] for node in nodes) == sorted(
        f"members.{i}.gru" for i in range(count) for _ in "ab"
    )
    *_, (x, future) = other_inputs(ensemble.config)
    with torch.no_grad():  # the median is no single member's forecast
        assert all((member(x, future) - ensemble(x, future)).abs().max() > 1e-4 for member in members)

    def first_member_only(graph, values, args, kwargs):  # the members' forecasts stacked as N copies of the first
        first = graph.one("Unsqueeze", [values(args[0])[0], graph.ints("axis", [0])])
        return graph.one("Concat", [first] * len(args[0]), axis=0)

    monkeypatch.setitem(onnx_graph.RULES, torch.ops.aten.stack.default, first_member_only)
    with pytest.raises(ValueError, match="does not match the PyTorch model"):
        export_onnx(ensemble, tmp_path / "first_member.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)


def test_an_ensemble_of_members_of_different_depths_says_so(tmp_path, capsys, monkeypatch):
    """A search's members may differ in layers: the export's details (and its line) give each member's count, not
    the first member's for all."""
    from grunet import cli

    ensemble = Ensemble([small_model(True, 1, seed=0), small_model(True, 2, seed=1)]).eval()
    result = export_onnx(ensemble, tmp_path / "model.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert result.details["num_layers"] == [1, 2] and len(gru_nodes(tmp_path / "model.onnx")) == 3
    single = export_onnx(small_model(True, 2), tmp_path / "one.onnx", batch_sizes=BATCH_SIZES, lengths=LENGTHS)
    assert single.details["num_layers"] == 2
    monkeypatch.setattr("grunet.export.export_run", lambda *args: result)
    cli.cmd_export(cli.argparse.Namespace(run="r", format="onnx", out=None))
    assert "GRU nodes per member: 1, 2, 2 ensemble members" in capsys.readouterr().out


def test_onnx_session_for_benchmarks(sine_run, tmp_path):
    out = tmp_path / "model.onnx"
    export_run(sine_run, "onnx", out)
    session = onnx_session(out, threads=1)
    x = np.random.default_rng(0).standard_normal((64, 20, 1)).astype(np.float32)
    assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (64, 1)


@pytest.mark.parametrize("window_norm, mask", [("meanabs", True), ("last", False), ("none", False)])
def test_the_autoregressive_skip_round_trips(tmp_path, window_norm, mask):
    """The skip reads the normalised target's last `ar` steps; weights made non-zero so that it matters."""
    torch.manual_seed(4)
    model = GRUNet(3, 6, 2, 1, window_norm=window_norm, future_size=2, mask=mask, ar=4).eval()
    with torch.no_grad():
        model.ar.weight.normal_()
    path = tmp_path / "model.onnx"
    assert export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=(4, 13)).verification.max_abs_diff <= 1e-5
    assert worst(model, run_onnx(path), length=9) <= 1e-5
    without = copy.deepcopy(model)
    with torch.no_grad():
        without.ar.weight.zero_()
    assert onnx_export.verify_onnx(without, path, BATCH_SIZES, (4, 13)).max_abs_diff > 1e-3


def test_an_ensemble_of_members_reading_different_windows_and_norms(tmp_path):
    """A search's ensemble: members that read the last 4, 9 or all input steps, with their own window norms."""
    torch.manual_seed(5)
    members = [
        GRUNet(3, 6, 2, 1, window_norm="meanabs", future_size=2, mask=True, ar=4, input_steps=4),
        GRUNet(3, 5, 2, 2, window_norm="last", future_size=2, mask=True, ar=0, input_steps=9),
        GRUNet(3, 6, 2, 1, window_norm="none", future_size=2, mask=True, ar=3),
    ]
    for member in members[:1]:
        with torch.no_grad():
            member.ar.weight.normal_()
    ensemble = Ensemble(members).eval()
    path = tmp_path / "model.onnx"
    assert export_onnx(ensemble, path, batch_sizes=BATCH_SIZES, lengths=(9, 13)).verification.max_abs_diff <= 1e-5
    assert worst(ensemble, run_onnx(path), length=11) <= 1e-5
    x, future = next(other_inputs(ensemble.config, length=11))
    with torch.no_grad():  # the first member reads only the last 4 steps: the others change nothing of it
        changed = x.clone()
        changed[:, :7] = 100
        assert torch.equal(members[0](changed, future), members[0](x, future))
        assert not torch.equal(members[1](changed, future), members[1](x, future))


@pytest.mark.parametrize("window_norm, mask", [("last", True), ("meanabs", False)])
def test_the_seasonal_change_round_trips(tmp_path, window_norm, mask):
    torch.manual_seed(6)
    model = GRUNet(3, 6, 7, 1, window_norm=window_norm, future_size=2, mask=mask, ar=4, seasonal=4).eval()
    with torch.no_grad():
        model.ar.weight.normal_()
    path = tmp_path / "model.onnx"
    assert export_onnx(model, path, batch_sizes=BATCH_SIZES, lengths=(4, 13)).verification.max_abs_diff <= 1e-5
    assert worst(model, run_onnx(path), length=9) <= 1e-5


@pytest.mark.parametrize("bias, batch_first", [(True, True), (False, False)])
def test_the_traced_gru_operator_is_the_gru(bias, batch_first):
    """`gru_op`, the one operator a GRU is traced as, computes what the GRU computes (output and h_n)."""
    torch.manual_seed(3)
    gru = GRU(3, 5, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=True, reset_after=True).eval()
    x = torch.randn(4, 6, 3)
    with torch.no_grad():
        expected_output, expected_h_n = gru(x)
        output, h_n = onnx_export.GRUCall(gru)(x)
    assert torch.allclose(output, expected_output, atol=1e-6) and torch.allclose(h_n, expected_h_n, atol=1e-6)
