"""The training loop (`grunet.training.train`): TrainConfig's defaults for the sine and for data, check(), early
stopping that restores the best weights, keep_start, epochs 0, a diverging loss, and a resumed fit that ends bitwise
where the uninterrupted one ends."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.model import GRUNet
from grunet.training.evaluate import evaluate_loss
from grunet.training.train import (
    FULL_BATCH,
    MINI_BATCH,
    STEPS,
    TrainConfig,
    TrainingDiverged,
    _batches,
    fit,
    resolve_device,
)
from grunet.windows import WindowSet, prepare


def test_the_sine_resolves_to_the_tutorials_loop():
    resolved = TrainConfig().resolve(has_validation=False, tutorial=True, windows=800)
    assert (resolved.epochs, resolved.batch_size, resolved.lr, resolved.patience) == (200, 0, 1e-3, 0)
    assert resolved.device == str(resolve_device("auto")) and TrainConfig().device == "auto"  # resolved: a device
    assert TrainConfig().resolve(has_validation=True, tutorial=True, windows=800).patience == 20


def test_data_resolves_by_its_number_of_windows():
    small = TrainConfig().resolve(has_validation=True, windows=FULL_BATCH)
    assert (small.batch_size, small.lr, small.epochs, small.patience) == (0, 1e-2, STEPS, STEPS // 10)
    large = TrainConfig().resolve(has_validation=True, windows=1000)
    steps_per_epoch = math.ceil(1000 / MINI_BATCH)
    assert (large.batch_size, large.lr) == (MINI_BATCH, 3e-3)
    assert large.epochs == max(20, math.ceil(STEPS / steps_per_epoch)) == 25 and large.patience == 20
    huge = TrainConfig().resolve(has_validation=False, windows=100_000)
    assert huge.epochs == 20 and huge.patience == 0  # at least 20 epochs; no validation, no early stopping
    # given settings are kept; a batch as large as the data is a full batch (its learning rate)
    given = TrainConfig(epochs=7, batch_size=2000, patience=3).resolve(has_validation=True, windows=1000)
    assert (given.epochs, given.batch_size, given.lr, given.patience) == (7, 2000, 1e-2, 3)
    assert TrainConfig(lr=0.5).resolve(False, windows=10).lr == 0.5
    config = TrainConfig()
    config.resolve(True, windows=10)
    assert config.epochs is None and config.lr is None  # a copy


@pytest.mark.parametrize(
    "changes,words",
    [
        (dict(epochs=-1), "epochs must be >= 0 (0: the model as it starts, untrained; at most 100000), got -1"),
        (dict(lr=0.0), "lr must be > 0 (a finite number), got 0.0"),
        (dict(weight_decay=-0.1), "weight_decay must be >= 0 (a finite number), got -0.1"),
        (dict(clip=-1.0), "clip must be >= 0 (a finite number; 0 = off), got -1.0"),
        (dict(ensemble=0), "ensemble must be >= 1 (at most 100), got 0"),
        (dict(batch_size=-4), "batch_size must be >= 0 (0 = full batch; at most 1000000000), got -4"),
        (dict(patience=-1), "patience must be >= 0 (0 = off; at most 100000), got -1"),
        (dict(checkpoint_every=-1), "checkpoint_every must be >= 0 (0 = only at the end; at most 100000), got -1"),
        (dict(lr_schedule="step"), "lr_schedule must be one of none, plateau, cosine, got 'step'"),
    ],
)
def test_check_names_the_setting_and_the_value(changes, words):
    with pytest.raises(ValueError) as error:
        TrainConfig(**changes).check()
    assert str(error.value) == words


def test_devices_must_exist():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N, got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda:1' was asked for but CUDA is not available"):
            resolve_device("cuda:1")


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


def test_a_step_keeps_torch_on_one_thread_and_the_count_comes_back():
    """Where the compiled loop does a step's heavy work (small layers: it sums the weight gradients itself), torch's
    own ops run on one thread and the loop keeps torch's count for itself; where torch's GEMMs do the weight
    gradients (hidden 128 here) torch keeps its count; the counts are set back on leaving, also after an error."""
    from grunet import native
    from grunet.model import GRUNet
    from grunet.native import threads as loop_threads
    from grunet.training.train import step_threads

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small = GRUNet(5, 20, 1, num_layers=2)
        with step_threads(small, 800):
            expected = (1, 2) if native.available() else (2, None)
            assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == expected
            if native.available():
                assert loop_threads.threads_for(800, 20, 20) == 2  # the loop may still take two
        assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
        with step_threads(small, 4):
            assert torch.get_num_threads() == 1
        large = GRUNet(64, 128, 1)
        with step_threads(large, 800):
            assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
        with pytest.raises(RuntimeError), step_threads(small, 32):
            raise RuntimeError("a step that fails")
        assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
    finally:
        torch.set_num_threads(previous)
