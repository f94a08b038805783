"""Per-series scaling (`grunet.scaling.Scaler`): fitted on the train part only, round trips through transform,
transform_target and inverse_target, the log of the target alone, and its dict form."""

import json

import numpy as np
import pytest

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.scaling import Scaler
from grunet.windows import prepare


def test_scaler_round_trip_and_train_only_fit():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 2, size=(100, 2))
    for method in ("standard", "minmax", "none"):
        scaler = Scaler.fit([train], method)
        scaled = scaler.transform(train, 0)
        if method == "standard":
            assert np.allclose(scaled.mean(0), 0) and np.allclose(scaled.std(0), 1)
        if method == "minmax":
            assert np.isclose(scaled.min(), 0) and np.isclose(scaled.max(), 1)
        assert np.allclose(scaler.inverse_target(scaled[:, 0], 0), train[:, 0])
        again = Scaler.from_dict(scaler.to_dict())
        assert np.array_equal(again.shift, scaler.shift)
    logged = Scaler.fit([np.exp(train)], "standard", log=True)
    assert np.allclose(logged.inverse_target(logged.transform(np.exp(train), 0)[:, 0], 0), np.exp(train[:, 0]))
    with pytest.raises(ValueError, match="scale must be"):
        Scaler.fit([train], "robust")


def test_each_series_gets_its_own_row_and_a_constant_column_is_only_shifted():
    a = np.column_stack([np.arange(10.0), np.full(10, 3.0)])  # column 1 constant
    b = np.column_stack([np.arange(5.0) * 10 + 100, np.arange(5.0)])
    scaler = Scaler.fit([a, b], "minmax")
    assert scaler.shift.shape == scaler.scale.shape == (2, 2)
    np.testing.assert_array_equal(scaler.shift, [[0, 3], [100, 0]])
    np.testing.assert_array_equal(scaler.scale, [[9, 1], [40, 4]])  # 1: a constant column is not divided by 0
    assert np.all(scaler.transform(a, 0)[:, 1] == 0)
    np.testing.assert_allclose(scaler.transform(b, 1)[:, 0], np.linspace(0, 1, 5))


def test_the_scaler_is_fitted_on_the_train_part_only():
    rng = np.random.default_rng(3)
    values = [rng.normal(10 * (i + 1), i + 1, size=(60, 2)) for i in range(2)]
    series = SeriesSet(names=["a", "b"], values=values, columns=["y", "x"])
    config = DataConfig(data="x", window=5, horizon=2, test_size=8, val_size=6, scale="standard")
    prepared = prepare(series, config)
    train_end = 60 - 8 - 6
    expected = Scaler.fit([part[:train_end] for part in values], "standard")
    np.testing.assert_allclose(prepared.scaler.shift, expected.shift)
    np.testing.assert_allclose(prepared.scaler.scale, expected.scale)
    values[0][train_end:] *= 50  # the validation and test parts change: the scaling does not
    np.testing.assert_array_equal(prepare(series, config).scaler.shift, prepared.scaler.shift)


def _one_at_a_time(parts, method, log):
    """The shift and scale of each part fitted alone, as `Scaler.fit` fitted them before it stacked parts of one
    length."""
    shifts, scales = [], []
    for part in parts:
        part = np.array(part, dtype=np.float64)
        if log:
            part[:, 0] = np.log(part[:, 0])
        if method == "standard":
            shift, scale = part.mean(axis=0), part.std(axis=0)
        elif method == "minmax":
            shift, scale = part.min(axis=0), part.max(axis=0) - part.min(axis=0)
        else:
            shift, scale = np.zeros(part.shape[1]), np.ones(part.shape[1])
        shifts.append(shift)
        scales.append(np.where(scale > 0, scale, 1.0))
    return np.array(shifts), np.array(scales)


@pytest.mark.parametrize("method", ["standard", "minmax", "none"])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("columns", [1, 3])
def test_parts_of_one_length_fitted_together_equal_one_at_a_time(method, log, columns):
    """Bit for bit: stacked parts reduce like single ones (lengths around numpy's blocks of 8 and 128 too)."""
    rng = np.random.default_rng(columns)
    lengths = [1, 2, 7, 8, 9, 100, 127, 128, 129, 173, 1000, 4099]
    parts = [rng.lognormal(3, 2, (n, columns)) * rng.uniform(0.01, 1e4) for n in lengths * 3 for _ in range(2)]
    parts.append(np.full((9, columns), 4.0))  # a constant part: only shifted
    scaler = Scaler.fit(parts, method, log)
    shift, scale = _one_at_a_time(parts, method, log)
    assert np.array_equal(scaler.shift, shift) and np.array_equal(scaler.scale, scale)
    assert scaler.shift.dtype == scaler.scale.dtype == np.float64


def test_values_too_large_are_named_from_the_first_such_part():
    parts = [np.ones((5, 1)), np.full((5, 1), 1e308), np.full((4, 1), 1e307)]
    with pytest.raises(ValueError, match=r"values up to 1e\+308"):
        Scaler.fit(parts, "standard")
    assert Scaler.fit([], "standard").shift.shape == (0,)


@pytest.mark.parametrize("method", ["standard", "minmax", "none"])
@pytest.mark.parametrize("log", [False, True])
def test_target_transforms_round_trip_row_by_row(method, log):
    rng = np.random.default_rng(1)
    parts = [np.exp(rng.normal(i, 0.5, size=(40, 3))) for i in range(3)]
    scaler = Scaler.fit(parts, method, log)
    owners = np.array([2, 0, 1, 2])
    values = np.exp(rng.normal(0, 1, size=(4, 5)))  # (N, horizon), row i of series owners[i]
    scaled = scaler.transform_target(values, owners)
    for row, owner in enumerate(owners):  # each row scaled with its own series' target column
        expected = scaler.transform(np.column_stack([values[row], np.ones((5, 2))]), owner)[:, 0]
        np.testing.assert_allclose(scaled[row], expected)
    np.testing.assert_allclose(scaler.inverse_target(scaled, owners), values)
    # one series for every row: an int
    np.testing.assert_allclose(scaler.inverse_target(scaled, 1), scaler.inverse_target(scaled, np.ones(4, dtype=int)))
    cube = np.stack([scaled, scaled + 1], axis=-1)  # (N, horizon, 2): the series index broadcasts over the rest
    back = scaler.inverse_target(cube, owners)
    np.testing.assert_allclose(back[..., 0], values)


def test_log_applies_to_the_target_column_only():
    values = np.column_stack([np.exp(np.arange(1.0, 6.0)), np.array([0.0, 1.0, 0.0, 1.0, 1.0])])  # a 0/1 flag
    scaler = Scaler.fit([values], "none", log=True)
    scaled = scaler.transform(values, 0)
    np.testing.assert_allclose(scaled[:, 0], np.arange(1.0, 6.0))
    np.testing.assert_array_equal(scaled[:, 1], values[:, 1])  # log(0) would be -inf
    assert values[0, 0] == np.exp(1.0)  # the caller's array is not changed
    np.testing.assert_allclose(scaler.inverse_target(np.array([2.0, 3.0]), 0), np.exp([2.0, 3.0]))


def test_the_dict_form_survives_json():
    scaler = Scaler.fit([np.arange(1.0, 13.0).reshape(6, 2), np.arange(6.0, 18.0).reshape(6, 2) ** 2], "standard", True)
    again = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again.method == "standard" and again.log is True
    np.testing.assert_array_equal(again.shift, scaler.shift)
    np.testing.assert_array_equal(again.scale, scaler.scale)
