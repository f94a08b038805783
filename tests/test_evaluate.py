"""A model's outputs and loss over a `WindowSet` (`grunet.training.evaluate`): every window, in batches, in eval mode
(the caller's mode restored), with the known future when the windows have one."""

import numpy as np
import pytest
import torch
from torch import nn

from grunet.model import GRUNet
from grunet.training.evaluate import evaluate_loss, predict
from grunet.windows import WindowSet


def _windows(count=10, window=4, horizon=2, known=None, features=2):
    values = torch.arange(60 * features, dtype=torch.float32).reshape(60, features) / 60
    return WindowSet(values, torch.arange(count) * 3, torch.zeros(count, dtype=torch.long), window, horizon, known)


class _Sum(nn.Module):
    """Each window's target sum, plus the known future's sum per step when given; records the mode it ran in."""

    def __init__(self):
        super().__init__()
        self.modes = []

    def forward(self, x, future=None):
        self.modes.append(self.training)
        out = x[:, :, 0].sum(dim=1, keepdim=True).repeat(1, 2)  # (B, horizon)
        return out if future is None else out + future.sum(dim=2)


def test_predict_gives_every_window_in_order_in_any_batch_size():
    windows = _windows()
    model = _Sum()
    expected = windows.inputs()[:, :, 0].sum(dim=1, keepdim=True).repeat(1, 2).double().numpy()
    for batch_size in (1, 3, 4096):
        got = predict(model, windows, batch_size)
        assert got.dtype == np.float64 and got.shape == (10, 2)
        np.testing.assert_array_equal(got, expected)
    assert len(model.modes) == 10 + 4 + 1  # one call per batch


def test_predict_runs_in_eval_mode_and_restores_the_callers_mode():
    model = _Sum().train()
    predict(model, _windows())
    assert model.modes == [False] and model.training
    model.eval()
    predict(model, _windows())
    assert not model.training
    torch.manual_seed(0)
    dropout = GRUNet(2, 8, 2, num_layers=2, dropout=0.5).train()
    assert np.array_equal(predict(dropout, _windows()), predict(dropout, _windows()))  # no dropout in eval mode


def test_predict_passes_the_known_future():
    windows = _windows(known=slice(1, 2))
    got = predict(_Sum(), windows)
    future = windows.future()  # (N, horizon, 1)
    expected = windows.inputs()[:, :, 0].sum(dim=1, keepdim=True) + future[:, :, 0]
    np.testing.assert_allclose(got, expected.double().numpy(), rtol=1e-6)


def test_no_windows_no_outputs():
    empty = _windows(count=0, horizon=3)
    assert predict(GRUNet(2, 4, 3), empty).shape == (0, 3)


def test_the_loss_is_the_mean_squared_error_against_the_targets():
    windows = _windows()
    outputs = predict(_Sum(), windows)
    expected = np.mean((outputs - windows.targets().double().numpy()) ** 2)
    assert evaluate_loss(_Sum(), windows, batch_size=3) == pytest.approx(expected, rel=1e-12)
    assert evaluate_loss(_Sum(), windows) > 0
    with torch.no_grad():
        model = GRUNet(2, 4, 2)
        model.fc.weight.zero_()
        model.fc.bias.fill_(0.5)  # outputs 0.5 for every window
    assert evaluate_loss(model, windows) == pytest.approx(float(((windows.targets() - 0.5) ** 2).mean()), rel=1e-6)
