"""grunet.training.optim: Adam step for step the same as torch.optim.Adam, and the two schedules as torch's."""

import copy

import pytest
import torch
from torch import nn

from grunet.model import GRUNet
from grunet.training.optim import Adam, CosineAnnealingLR, ReduceLROnPlateau


def _model(seed=0):
    torch.manual_seed(seed)
    return GRUNet(2, 8, 3, num_layers=2)


def _train(model, optimizer, steps, seed=1, start=0):
    generator = torch.Generator().manual_seed(seed)
    batches = [
        (torch.randn(16, 6, 2, generator=generator), torch.randn(16, 3, generator=generator))
        for _ in range(start + steps)
    ][start:]
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_is_torchs_adam_bit_for_bit(weight_decay):
    ours_model, torch_model = _model(), _model()
    ours = Adam(ours_model.parameters(), lr=3e-3, weight_decay=weight_decay)
    theirs = torch.optim.Adam(torch_model.parameters(), lr=3e-3, weight_decay=weight_decay)
    _train(ours_model, ours, 30)
    _train(torch_model, theirs, 30)
    for (name, a), b in zip(ours_model.named_parameters(), torch_model.parameters()):
        assert torch.equal(a, b), name
    assert not torch.equal(next(ours_model.parameters()), next(_model().parameters()))  # it moved


def test_state_dict_resumes_exactly_and_reads_torchs():
    whole_model, resumed_model = _model(), _model()
    whole = Adam(whole_model.parameters(), lr=1e-2)
    _train(whole_model, whole, 20)
    first = Adam(resumed_model.parameters(), lr=1e-2)
    _train(resumed_model, first, 10)
    saved, weights = copy.deepcopy(first.state_dict()), copy.deepcopy(resumed_model.state_dict())
    fresh_model = _model(5)
    fresh_model.load_state_dict(weights)
    fresh = Adam(fresh_model.parameters(), lr=1e-2)
    fresh.load_state_dict(saved)
    _train(fresh_model, fresh, 10, start=10)
    for a, b in zip(whole_model.parameters(), fresh_model.parameters()):
        assert torch.equal(a, b)
    # a state written by torch.optim.Adam (older checkpoints) continues the same way
    torch_model = _model()
    theirs = torch.optim.Adam(torch_model.parameters(), lr=1e-2)
    _train(torch_model, theirs, 10)
    continued = Adam(torch_model.parameters(), lr=1e-2)
    continued.load_state_dict(theirs.state_dict())
    _train(torch_model, continued, 10, start=10)
    for a, b in zip(whole_model.parameters(), torch_model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="parameters"):
        Adam(list(_model().parameters())[:2]).load_state_dict(saved)


def test_schedules_follow_torchs():
    params = [nn.Parameter(torch.zeros(1))]
    ours, theirs = Adam(params, lr=0.1), torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.1)
    cosine, torch_cosine = CosineAnnealingLR(ours, 50), torch.optim.lr_scheduler.CosineAnnealingLR(theirs, 50)
    for _ in range(50):
        cosine.step()
        torch_cosine.step()
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
    ours, theirs = Adam(params, lr=0.1), torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = ReduceLROnPlateau(ours, factor=0.5, patience=3)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, factor=0.5, patience=3)
    losses = [1.0, 0.9, 0.95, 0.9, 0.89999, 0.91, 0.92, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4]
    rates = []
    for loss in losses:
        plateau.step(loss)
        torch_plateau.step(loss)
        rates.append(ours.param_groups[0]["lr"])
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]
    assert min(rates) < 0.1  # the schedule did cut the rate
    restored = ReduceLROnPlateau(Adam(params, lr=0.1), factor=0.5, patience=3)
    restored.load_state_dict(plateau.state_dict())
    assert restored.best == plateau.best and restored.num_bad_epochs == plateau.num_bad_epochs
