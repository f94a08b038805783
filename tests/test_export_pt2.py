"""torch.export's format (`grunet.export.pt2`): a program traced from the model's own forward, verified against it,
that loads with torch.export.load alone (no grunet) and holds plain aten operators."""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from export_cases import BATCH_SIZES, other_inputs, small_model, worst

from grunet.export.pt2 import export_pt2, verify_pt2
from grunet.model import Ensemble

WINDOW = 6


def _run(path):
    program = torch.export.load(str(path)).module()
    return lambda x, future: (program(x) if future is None else program(x, future)).detach().numpy()


@pytest.mark.parametrize(
    "reset_after, num_layers, bidirectional, window_norm, future_size, mask",
    [
        pytest.param(False, 2, False, "none", 0, False, marks=pytest.mark.slow),
        pytest.param(True, 1, True, "mean", 0, False, marks=pytest.mark.slow),
        (False, 2, False, "meanabs", 2, True),  # the fullest case stays in the quick run
        pytest.param(True, 2, False, "last", 2, True, marks=pytest.mark.slow),
    ],
)
def test_round_trip(tmp_path, reset_after, num_layers, bidirectional, window_norm, future_size, mask):
    model = small_model(reset_after, num_layers, bidirectional, window_norm, future_size=future_size, mask=mask)
    path = tmp_path / "model.pt2"
    result = export_pt2(model, path, WINDOW, batch_sizes=BATCH_SIZES)
    assert result.verification.max_abs_diff <= 1e-5 and result.verification.lengths == [WINDOW]
    assert worst(model, _run(path), length=WINDOW) <= 1e-5  # batch sizes the export never saw
    operators = {str(node.target) for node in torch.export.load(str(path)).graph.nodes if node.op == "call_function"}
    assert operators and all(name.startswith("aten.") or "getitem" in name for name in operators), operators


@pytest.mark.slow
def test_the_verification_catches_a_program_that_differs(tmp_path):
    model = small_model(True, 2, window_norm="meanabs", future_size=2, mask=True)
    path = tmp_path / "model.pt2"
    export_pt2(model, path, WINDOW, batch_sizes=BATCH_SIZES)
    swapped = copy.deepcopy(model)  # a head that reads the future values column-major
    with torch.no_grad():
        head = swapped.fc.weight[:, -4:]
        head.copy_(head.reshape(-1, 2, 2).transpose(1, 2).reshape(-1, 4))
    assert verify_pt2(swapped, path, WINDOW, BATCH_SIZES).max_abs_diff > 1e-3


@pytest.mark.slow
def test_an_ensemble_exports_its_median(tmp_path):
    members = [small_model(True, 1, window_norm="meanabs", future_size=2, mask=True, seed=seed) for seed in range(3)]
    ensemble = Ensemble(members).eval()
    path = tmp_path / "model.pt2"
    assert export_pt2(ensemble, path, WINDOW, batch_sizes=BATCH_SIZES).details["members"] == 3
    assert worst(ensemble, _run(path), length=WINDOW) <= 1e-5
    *_, (x, future) = other_inputs(ensemble.config, length=WINDOW)
    with torch.no_grad():  # the median is no single member's forecast
        assert all((member(x, future) - ensemble(x, future)).abs().max() > 1e-4 for member in members)


NO_GRUNET = """
import importlib.abc, sys, torch
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "grunet" or name.startswith("grunet."):
            raise ImportError("grunet is blocked in this test")
sys.meta_path.insert(0, Block())
program = torch.export.load(sys.argv[1]).module()
x = torch.load(sys.argv[2])
torch.save(program(x), sys.argv[3])
"""


@pytest.mark.slow
def test_the_program_runs_without_grunet(tmp_path):
    model = small_model(False, 2, window_norm="last")
    export_pt2(model, tmp_path / "model.pt2", WINDOW, batch_sizes=BATCH_SIZES)
    x = torch.randn(5, WINDOW, 3)
    torch.save(x, tmp_path / "x.pt")
    done = subprocess.run(
        [sys.executable, "-c", NO_GRUNET, str(tmp_path / "model.pt2"), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        np.testing.assert_allclose(torch.load(tmp_path / "y.pt").numpy(), model(x).numpy(), atol=1e-5)
