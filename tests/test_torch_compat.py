"""grunet.torch_compat, through GRU and GRUCell: torch's initialisation draw for draw (the same model as torch under
the same seed) and the refusal to convert the tutorial's variant into torch's."""

import pytest
import torch
from torch import nn

import grunet
from grunet.equations import negate_update_gate


def test_to_torch_needs_reset_after():
    with pytest.raises(ValueError, match="reset_after=True"):
        grunet.GRU(2, 3).to_torch()
    with pytest.raises(TypeError, match="torch.nn.GRU"):
        grunet.GRU.from_torch(nn.LSTM(2, 3))


def test_initialisation_is_uniform_within_one_over_sqrt_hidden():
    torch.manual_seed(0)
    gru = grunet.GRU(30, 64, num_layers=2)
    bound = 1 / 64**0.5
    values = torch.cat([p.detach().flatten() for p in gru.parameters()])
    assert values.abs().max() <= bound
    assert values.min() < -0.95 * bound and values.max() > 0.95 * bound  # covers the range
    assert abs(values.mean()) < 0.01 * bound * 10 and abs(values.std() - bound / 3**0.5) < 0.02 * bound


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_layers=1), dict(num_layers=2, bidirectional=True), dict(num_layers=3, bias=False, batch_first=True)],
)
def test_same_seed_same_model_as_torch(kwargs):
    """Initialisation draws what torch.nn.GRU draws, z rows negated: with reset_after=True, grunet.GRU built under
    a seed is the function torch.nn.GRU built under that seed is; the tutorial variant gets the same r and n rows."""
    torch.manual_seed(7)
    theirs = nn.GRU(4, 6, **kwargs)
    torch.manual_seed(7)
    ours = grunet.GRU(4, 6, reset_after=True, **kwargs)
    torch.manual_seed(7)
    tutorial = grunet.GRU(4, 6, **kwargs)
    x = torch.randn(5, 3, 4)
    assert torch.allclose(ours(x)[0], theirs(x)[0], atol=1e-6) and torch.allclose(ours(x)[1], theirs(x)[1], atol=1e-6)
    for name, weight in theirs.named_parameters():
        assert torch.equal(getattr(ours, name), negate_update_gate(weight.detach())), name
        assert torch.equal(getattr(tutorial, name), getattr(ours, name)), name
    torch.manual_seed(1)
    torch_cell = nn.GRUCell(3, 5)
    torch.manual_seed(1)
    cell = grunet.GRUCell(3, 5, reset_after=True)
    h = torch.randn(2, 3)
    assert torch.allclose(cell(h), torch_cell(h), atol=1e-6)
