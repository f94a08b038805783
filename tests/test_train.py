"""The training loop (`grunet.training.train`): batches, early stopping that restores the best weights, keep_start,
epochs 0, a diverging loss, and a resumed fit that ends bitwise where the uninterrupted one ends."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.model import GRUNet
from grunet.training.config import TrainConfig
from grunet.training.evaluate import evaluate_loss
from grunet.training.train import TrainingDiverged, _batches, fit
from grunet.windows import WindowSet, prepare


def test_batches_cover_every_window_once():
    generator = torch.Generator().manual_seed(0)
    assert _batches(10, 0, generator) == [None] and _batches(10, 10, generator) == [None]  # the whole set, in order
    batches = _batches(10, 4, generator)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert torch.cat(_batches(10, 4, generator)).tolist() != torch.cat(batches).tolist()  # reshuffled each epoch


# A one-weight model on windows whose target is +f (training) or -f (validation), f the window's last feature:
# the training loss (w - 1)^2 E f^2 falls as w rises from -1, the validation loss (w + 1)^2 E f^2 rises.


class _Scale(nn.Module):
    def __init__(self, start):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([start]))

    def forward(self, x):
        return self.weight * x[:, -1, 1:2]  # (B, 1)


def _signed_windows(sign, count=64, seed=0):
    feature = torch.randn(count + 1, generator=torch.Generator().manual_seed(seed))
    target = torch.cat([torch.zeros(1), sign * feature[:-1]])  # y[t] = sign * f[t - 1]
    values = torch.stack([target, feature], dim=1)  # (count + 1, 2)
    return WindowSet(values, torch.arange(count), torch.zeros(count, dtype=torch.long), window=1, horizon=1)


def _config(**changes):
    settings = dict(epochs=30, batch_size=0, lr=0.1, patience=3, device="cpu")
    return TrainConfig(**{**settings, **changes})


def test_early_stopping_restores_the_best_weights():
    model = _Scale(-1.0)
    train, val = _signed_windows(1.0), _signed_windows(-1.0, seed=1)
    weights = []
    result = fit(model, train, val, _config(), on_epoch=lambda row: weights.append(model.weight.item()))
    losses = [row["val_loss"] for row in result.history]
    assert result.stopped_early and len(result.history) == 1 + 3  # the best epoch, then patience epochs
    assert result.best_epoch == 1 == int(np.argmin(losses)) + 1
    assert losses == sorted(losses) and weights[-1] > weights[0]  # it kept training past the best
    assert model.weight.item() == weights[0]  # ... and went back to it
    assert evaluate_loss(model, val) == pytest.approx(losses[0])
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_without_patience_training_runs_every_epoch_and_still_restores_the_best():
    model = _Scale(-1.0)
    result = fit(model, _signed_windows(1.0), _signed_windows(-1.0, seed=1), _config(epochs=8, patience=0))
    assert len(result.history) == 8 and not result.stopped_early and result.best_epoch == 1


def test_keep_start_keeps_the_starting_weights_when_training_does_not_beat_them():
    train, val = _signed_windows(1.0), _signed_windows(-1.0, seed=1)
    model = _Scale(-1.0)  # perfect on the validation windows from the start
    result = fit(model, train, val, _config(), keep_start=True)
    assert result.best_epoch == 0 and result.stopped_early and len(result.history) == 3
    assert model.weight.item() == -1.0
    # a start that training beats is left behind
    beaten = _Scale(-3.0)
    assert fit(beaten, train, val, _config(), keep_start=True).best_epoch >= 1 and beaten.weight.item() > -3.0


def test_epochs_0_trains_nothing():
    model = _Scale(0.25)
    calls = []
    result = fit(
        model,
        _signed_windows(1.0),
        _signed_windows(-1.0),
        _config(epochs=0),
        on_epoch=calls.append,
        on_checkpoint=lambda state, improved: calls.append(state),
    )
    assert result.history == [] and result.best_epoch == 0 and not result.stopped_early and calls == []
    assert model.weight.item() == 0.25


def test_without_validation_the_last_epoch_is_kept():
    model = _Scale(-1.0)
    weights = []
    result = fit(
        model, _signed_windows(1.0), None, _config(epochs=5), on_epoch=lambda row: weights.append(model.weight.item())
    )
    assert result.best_epoch == 5 and not result.stopped_early and model.weight.item() == weights[-1]
    assert all(math.isnan(row["val_loss"]) for row in result.history)


class _NanAfter(nn.Module):
    def __init__(self, calls):
        super().__init__()
        self.weight, self.calls, self.left = nn.Parameter(torch.ones(1)), 0, calls

    def forward(self, x):
        self.calls += 1
        out = self.weight * x[:, -1, 1:2]
        return out * float("nan") if self.calls > self.left else out


def test_a_loss_that_stops_being_finite_raises_training_diverged():
    model = _NanAfter(calls=5)  # batches of 16 of 64 windows: 4 steps per epoch, the 6th step is epoch 2, step 2
    with pytest.raises(TrainingDiverged) as error:
        fit(model, _signed_windows(1.0), None, _config(batch_size=16))
    assert (error.value.epoch, error.value.step) == (2, 2) and math.isnan(error.value.loss)
    assert "epoch 2, step 2" in str(error.value) and "--lr" in str(error.value) and "--clip" in str(error.value)


def test_checkpoints_come_every_n_epochs_at_each_improvement_and_at_the_end():
    model = _Scale(-1.25)  # improves for a few epochs, then passes the validation's best (-1)
    train, val = _signed_windows(1.0), _signed_windows(-1.0, seed=1)
    saved = []
    fit(
        model,
        train,
        val,
        _config(epochs=7, patience=0, checkpoint_every=3),
        on_checkpoint=lambda state, improved: saved.append((state["epoch"], improved)),
    )
    improved = [epoch for epoch, flag in saved if flag]
    assert improved[0] == 1 and improved[-1] < 6  # improvements, then none
    assert [epoch for epoch, _ in saved] == sorted({*improved, 3, 6, 7})


def test_the_cosine_schedule_anneals_over_the_epochs():
    result = fit(_Scale(0.0), _signed_windows(1.0), None, _config(epochs=5, lr_schedule="cosine"))
    expected = [0.1 * (1 + math.cos(math.pi * epoch / 5)) / 2 for epoch in range(5)]
    assert [row["lr"] for row in result.history] == pytest.approx(expected)


def _prepared():
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(120) / 5)[:, None] * 3 + rng.normal(0, 0.2, (120, 1))
    series = SeriesSet(names=["s"], values=[values], columns=["y"])
    return prepare(series, DataConfig(data="x", window=8, horizon=2, test_size=10, val_size=10, scale="standard"))


def test_a_resumed_fit_ends_bitwise_like_the_uninterrupted_one():
    """Shuffled mini-batches, dropout and a plateau schedule: every random and stateful part is in the state."""
    prepared = _prepared()
    config = TrainConfig(
        epochs=6, batch_size=16, lr=0.01, patience=0, lr_schedule="plateau", checkpoint_every=1, seed=3, device="cpu"
    )
    torch.manual_seed(0)
    model = GRUNet(1, 6, 2, num_layers=2, dropout=0.3)
    states = []
    whole = fit(
        model,
        prepared.train,
        prepared.val,
        config,
        on_checkpoint=lambda state, improved: states.append(copy.deepcopy(state)),
    )
    middle = [state for state in states if state["epoch"] == 3][-1]
    torch.manual_seed(99)  # another start and another global RNG: the state replaces both
    torch.rand(5)
    resumed_model = GRUNet(1, 6, 2, num_layers=2, dropout=0.3)
    resumed = fit(resumed_model, prepared.train, prepared.val, config, resume=middle)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, resumed_model.state_dict()[name]), name
    strip = [{key: value for key, value in row.items() if key != "seconds"} for row in whole.history]
    assert [{key: value for key, value in row.items() if key != "seconds"} for row in resumed.history] == strip
    assert resumed.best_epoch == whole.best_epoch
    # the same seed and start without a resume: the same numbers
    torch.manual_seed(0)
    again = GRUNet(1, 6, 2, num_layers=2, dropout=0.3)
    repeat = fit(again, prepared.train, prepared.val, config)
    assert [row["train_loss"] for row in repeat.history] == [row["train_loss"] for row in whole.history]
