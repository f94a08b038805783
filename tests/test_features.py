"""What the model sees at each step (`grunet.features`): its columns in order (the data's, the calendar's, the mask),
which of them are known over the horizon, and one series' values in those columns."""

import sys

import numpy as np
import pandas as pd
import pytest

from grunet.data.config import DataConfig
from grunet.features import model_columns, model_values
from grunet.scaling import Scaler


def test_the_columns_are_the_datas_then_the_calendars_then_the_mask():
    config = DataConfig(features=["price"], future_features=["promo", "holiday"], calendar="month,quarter", pad=True)
    columns, known = model_columns(config, ["sales", "price", "promo", "holiday"])
    assert columns == [
        "sales",
        "price",
        "promo",
        "holiday",
        "month_sin",
        "month_cos",
        "quarter_sin",
        "quarter_cos",
        "observed",
    ]
    assert columns[known] == ["promo", "holiday", "month_sin", "month_cos", "quarter_sin", "quarter_cos"]


@pytest.mark.parametrize(
    "config,expected",
    [
        (DataConfig(calendar="none"), (["y"], None)),
        (DataConfig(calendar="auto"), (["y"], None)),  # auto, not resolved: no cycles
        (DataConfig(calendar="none", features=["f"], pad=True), (["y", "f", "observed"], None)),  # observed: past only
        (DataConfig(calendar="month"), (["y", "month_sin", "month_cos"], slice(1, 3))),
        (DataConfig(calendar="none", features=["f"], future_features=["g"]), (["y", "f", "g"], slice(2, 3))),
    ],
)
def test_known_columns_are_the_future_features_and_the_calendar(config, expected):
    data_columns = ["y"] + config.features + config.future_features
    assert model_columns(config, data_columns) == expected


def test_one_series_values_are_scaled_with_calendar_and_mask():
    times = pd.date_range("2021-11-01", periods=4, freq="MS")
    values = np.array([[10.0, 1.0], [12.0, 0.0], [14.0, 1.0], [16.0, 0.0]])
    other = np.array([[0.0, 5.0], [2.0, 7.0]])
    scaler = Scaler.fit([other, values], "standard")
    config = DataConfig(future_features=["promo"], calendar="month", pad=True)
    rows = model_values(config, scaler, 1, values, times)  # series 1's scaling, not series 0's
    assert rows.shape == (4, 2 + 2 + 1)
    np.testing.assert_allclose(rows[:, :2], (values - values.mean(0)) / values.std(0))
    months = np.array([10, 11, 0, 1])  # November, December, January, February
    np.testing.assert_allclose(rows[:, 2], np.sin(2 * np.pi * months / 12), atol=1e-12)
    np.testing.assert_allclose(rows[:, 3], np.cos(2 * np.pi * months / 12), atol=1e-12)
    assert rows[:, 4].tolist() == [1.0] * 4
    columns, _ = model_columns(config, ["y", "promo"])
    assert len(columns) == rows.shape[1]


def test_without_calendar_and_mask_the_values_are_the_scaled_columns():
    values = np.arange(12.0).reshape(6, 2)
    scaler = Scaler.fit([values], "minmax")
    rows = model_values(DataConfig(calendar="none"), scaler, 0, values, None)
    np.testing.assert_array_equal(rows, scaler.transform(values, 0))


def test_features_need_no_torch():
    import subprocess

    code = "import sys, grunet.features; assert 'torch' not in sys.modules, 'torch was imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
