"""`TrainConfig` (`grunet.training.config`): its defaults for the sine and for data, check() naming the setting and
its value, and the devices it may name."""

import math

import pytest
import torch

from grunet.training.config import FULL_BATCH, MINI_BATCH, STEPS, TrainConfig, resolve_device


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
