"""grunet.GRUCell: one step of grunet.GRU and of the tutorial's equations, torch.nn.GRUCell's API and parameters,
interchange with torch.nn.GRUCell, gradients, and input checks."""

import pytest
import torch
from independent_gru import gate_matrices, tutorial_step
from torch import nn

import grunet


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_cell_matches_one_step_of_gru_and_torch(reset_after):
    torch.manual_seed(0)
    cell = grunet.GRUCell(3, 4, reset_after=reset_after).double()
    gru = grunet.GRU(3, 4, reset_after=reset_after).double()
    gru.load_state_dict(
        {name if name == "_extra_state" else f"{name}_l0": value for name, value in cell.state_dict().items()}
    )
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    _, h_n = gru(x.unsqueeze(0), h.unsqueeze(0))
    assert torch.allclose(cell(x, h), h_n[0], atol=1e-12)
    assert cell(x[0], h[0]).shape == (4,)
    assert torch.allclose(cell(x), cell(x, torch.zeros(2, 4, dtype=torch.float64)))
    if reset_after:
        reference = nn.GRUCell(3, 4).double()
        ours = grunet.GRUCell.from_torch(reference)
        assert torch.allclose(ours(x, h), reference(x, h), atol=1e-12)
        assert torch.allclose(ours.to_torch()(x, h), reference(x, h), atol=1e-12)
    else:
        params = gate_matrices(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
        assert torch.allclose(cell(x, h), tutorial_step(x, h, *params), atol=1e-12)


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_gru_cell(reset_after, bias):
    torch.manual_seed(2)
    cell = grunet.GRUCell(3, 4, bias=bias, reset_after=reset_after).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in cell.named_parameters()]

    def run(x, h, *weights):
        return torch.func.functional_call(cell, dict(zip(names, weights)), (x, h))

    assert torch.autograd.gradcheck(run, (x, h, *cell.parameters()))


def test_cell_parameter_names_shapes_and_order_match_torch():
    cell, torch_cell = grunet.GRUCell(3, 5, bias=False), nn.GRUCell(3, 5, bias=False)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        (n, p.shape) for n, p in torch_cell.named_parameters()
    ]


def test_cell_bad_inputs_raise_clear_errors():
    cell = grunet.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"input_size=3.*\(2, 5\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"hx of shape \(2, 4\)"):
        cell(torch.randn(2, 3), torch.zeros(3, 4))
