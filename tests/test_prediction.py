"""Forecasts past the end of the data (`grunet.prediction`): the last window of each series as the model sees it
(`forecast_inputs`: scaled with the run's own rows, padded, with the known future), and the model's outputs as a
table (`forecast_table`: original units, the file's time stamps, refusing non-finite forecasts, clipping absurd ones
to `plausible_range`, intervals), with
column names that never collide (`table_columns`)."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from grunet.data import calendar
from grunet.data.config import DATAFRAME, DataConfig, load_series
from grunet.data.series import SeriesSet
from grunet.prediction import data_config_from_dict, forecast_inputs, forecast_table, plausible_range, table_columns
from grunet.scaling import Scaler

LENGTH = 30  # months 2020-01 .. 2022-06: the forecast steps are 2022-07, 2022-08, 2022-09


def _frame(names=("a", "b"), length=LENGTH):
    months = pd.date_range("2020-01-01", periods=length, freq="MS").strftime("%Y-%m")
    return pd.DataFrame(
        [
            {"id": name, "month": month, "y": 10.0 * (i + 1) + t + (t % 3) ** 2, "promo": float(t % 2)}
            for i, name in enumerate(names)
            for t, month in enumerate(months)
        ]
    )


def _config(**changes):
    settings = dict(
        data=DATAFRAME,
        target="y",
        time_col="month",
        id_col="id",
        calendar="month",
        window=6,
        horizon=3,
        test_size=3,
        val_size=0,
        scale="standard",
        season=12,
        pad=False,
    )
    return DataConfig(**{**settings, **changes})


def _scaler(frame, config, run_names):
    """The run's scaler: one row per series of the run, in the run's order."""
    series = load_series(config, frame)
    return Scaler.fit([series.values[series.names.index(name)] for name in run_names], "standard")


def test_the_last_window_is_scaled_with_each_series_own_row():
    frame, config = _frame(), _config()
    scaler = _scaler(frame, config, ["b", "a"])  # the run knew b first
    series, inputs, future, positions = forecast_inputs(config, scaler, ["b", "a"], frame, input_size=3)
    assert series.names == ["a", "b"] and positions.tolist() == [1, 0]
    assert inputs.dtype == np.float32 and inputs.shape == (2, 6, 3)  # (series, window, y + month sin, cos)
    for index, position in enumerate(positions):
        expected = scaler.transform(series.values[index][-6:], position)[:, 0]
        np.testing.assert_allclose(inputs[index, :, 0], expected, rtol=1e-6)
    months = np.array([6, 7, 8])  # July, August, September
    assert future.shape == (2, 3, 2)
    np.testing.assert_allclose(future[0, :, 0], np.sin(2 * np.pi * months / 12), atol=1e-6)
    np.testing.assert_allclose(
        future[1], calendar.features(pd.date_range("2022-07-01", periods=3, freq="MS"), ["month"]), atol=1e-6
    )


def test_the_future_features_come_from_the_future_file_at_the_forecast_stamps():
    frame, config = _frame(), _config(future_features=["promo"], calendar="none")
    scaler = _scaler(frame, config, ["a", "b"])
    planned = pd.DataFrame(
        {
            "id": ["b", "a", "b", "a", "a", "b", "a"],  # any order, extra rows ignored
            "month": ["2022-09", "2022-07", "2022-07", "2022-08", "2022-09", "2022-08", "2023-01"],
            "promo": [5.0, 1.0, 3.0, 2.0, 3.0, 4.0, 9.0],
        }
    )
    _, inputs, future, _ = forecast_inputs(config, scaler, ["a", "b"], frame, future=planned)
    assert inputs.shape == (2, 6, 2) and future.shape == (2, 3, 1)
    for position, promo in ((0, [1.0, 2.0, 3.0]), (1, [3.0, 4.0, 5.0])):
        expected = (np.array(promo) - scaler.shift[position, 1]) / scaler.scale[position, 1]
        np.testing.assert_allclose(future[position, :, 0], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="pass --future FILE"):
        forecast_inputs(config, scaler, ["a", "b"], frame)
    with pytest.raises(ValueError, match="no row for series 'b' at 2022-09"):
        forecast_inputs(config, scaler, ["a", "b"], frame, future=planned.drop(index=0))
    broken = planned.assign(promo=planned["promo"].astype(object))
    broken.loc[3, "promo"] = "soon"
    with pytest.raises(ValueError, match="series 'a' has missing or non-numeric values of promo"):
        forecast_inputs(config, scaler, ["a", "b"], frame, future=broken)
    with pytest.raises(ValueError, match="lacks the column"):
        forecast_inputs(config, scaler, ["a", "b"], frame, future=planned.drop(columns="promo"))


def test_a_future_file_for_a_model_without_future_features_is_refused():
    frame, config = _frame(), _config()
    with pytest.raises(ValueError, match="trained without --future-features"):
        forecast_inputs(config, _scaler(frame, config, ["a", "b"]), ["a", "b"], frame, future=frame)


def test_a_short_series_is_padded_and_masked_only_with_padding():
    frame = pd.concat([_frame(("a",)), _frame(("b",), length=4)])
    config = _config(pad=True, calendar="none")
    scaler = _scaler(frame, config, ["a", "b"])
    _, inputs, future, _ = forecast_inputs(config, scaler, ["a", "b"], frame, input_size=2)
    assert future is None and inputs.shape == (2, 6, 2)
    assert inputs[1, :, 1].tolist() == [0, 0, 1, 1, 1, 1] and inputs[1, :2, 0].tolist() == [0, 0]
    assert inputs[0, :, 1].tolist() == [1] * 6
    with pytest.raises(ValueError, match="series 'b' has 4 points, fewer than the window \\(6\\)"):
        forecast_inputs(_config(calendar="none"), scaler, ["a", "b"], frame)


def test_the_input_size_must_match_the_model():
    frame, config = _frame(), _config()
    with pytest.raises(ValueError, match=r"takes 2 input column\(s\) but the data gives 3 \(y, month_sin, month_cos\)"):
        forecast_inputs(config, _scaler(frame, config, ["a", "b"]), ["a", "b"], frame, input_size=2)


def test_series_the_run_does_not_know_get_no_forecast():
    frame, config = _frame(("a", "b", "c")), _config()
    scaler = _scaler(frame, config, ["a", "c"])
    with pytest.warns(UserWarning, match="1 series not in the run's training data .* get no forecast: b"):
        series, inputs, _, positions = forecast_inputs(config, scaler, ["a", "c"], frame)
    assert series.names == ["a", "c"] and positions.tolist() == [0, 1] and len(inputs) == 2
    with pytest.raises(ValueError, match="no series of the data is in the run's training data; the run knows: x, y"):
        forecast_inputs(config, scaler, ["x", "y"], frame)
    # one series in, one out: a renamed file of the same series
    single = _frame(("renamed",))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        series, _, _, positions = forecast_inputs(config, _scaler(single, config, ["renamed"]), ["original"], single)
    assert series.names == ["renamed"] and positions.tolist() == [0]


def _table_setup():
    frame, config = _frame(), _config()
    scaler = _scaler(frame, config, ["a", "b"])
    series = load_series(config, frame)
    scaled = np.array([[0.1, 0.2, 0.3], [-1.0, 0.0, 1.0]])
    return series, scaled, scaler, np.array([0, 1]), config


def test_the_table_is_in_original_units_and_the_files_time_stamps():
    series, scaled, scaler, positions, config = _table_setup()
    table = forecast_table(series, scaled, scaler, positions, config)
    assert list(table.columns) == ["id", "month", "step", "value"]
    assert table["id"].tolist() == ["a"] * 3 + ["b"] * 3 and table["step"].tolist() == [1, 2, 3] * 2
    assert table["month"].tolist() == ["2022-07", "2022-08", "2022-09"] * 2
    np.testing.assert_allclose(table["value"], scaler.inverse_target(scaled, positions).ravel())
    assert table["value"].iloc[0] == pytest.approx(scaler.shift[0, 0] + 0.1 * scaler.scale[0, 0])


def test_a_forecast_that_is_not_finite_is_refused():
    series, scaled, scaler, positions, config = _table_setup()
    scaled[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"no finite forecast for 1 of 2 series \('b'\).*retrain it"):
        forecast_table(series, scaled, scaler, positions, config)
    broken = Scaler(scaler.method, scaler.log, scaler.shift.copy(), scaler.scale.copy())
    broken.scale[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"\('a'\)"):
        forecast_table(series, np.ones((2, 3)), broken, positions, config)  # an infinite scale


def test_an_absurd_forecast_is_clipped_to_the_plausible_range_with_a_warning():
    """A forecast far beyond anything the history suggests (a least-squares skip extrapolating a window with a
    break: 1e24 in a log view) is clipped, intervals too, and the warning names the series; a forecast inside is
    left as it is, to the last digit."""
    series, scaled, scaler, positions, config = _table_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = forecast_table(series, scaled, scaler, positions, config)
    wild = scaled.copy()
    wild[1, 1] = 1e6  # series b, step 2, in scaled units
    intervals = {"levels": [80], "window_norm": "none", "half_widths": [[0.1, 0.2, 0.3]]}
    with pytest.warns(UserWarning, match=r"forecast of 1 of 2 series \('b'\) went beyond"):
        table = forecast_table(series, wild, scaler, positions, config, intervals, np.zeros((2, 6, 3)))
    lowest, highest = plausible_range(series, 3)
    b = series.names.index("b")
    history = series.values[b][:, 0]
    assert table["value"].iloc[4] == pytest.approx(highest[b, 1])
    span = history.max() - history.min()
    assert highest[b, 1] == pytest.approx(
        history.max() + span + abs(history).max() + 2 * np.abs(np.diff(history)).max()
    )
    assert table["hi-80"].iloc[4] == table["lo-80"].iloc[4] == pytest.approx(highest[b, 1])  # both beyond it
    np.testing.assert_array_equal(table["value"].iloc[:3], plain["value"].iloc[:3])  # series a: untouched


def test_the_plausible_range_of_short_gappy_and_empty_histories():
    series = SeriesSet(
        ["gaps", "one", "swing", "none"],
        [
            np.array([[1.0], [2.0], [np.nan], [4.0]]),
            np.array([[5.0]]),
            np.array([[10.0], [0.0], [3.0]]),
            np.full((2, 1), np.nan),
        ],
        ["y"],
    )
    lowest, highest = plausible_range(series, 3)
    np.testing.assert_array_equal(lowest[:3], [[-7, -8, -9], [0, 0, 0], [-30, -40, -50]])
    np.testing.assert_array_equal(highest[:3], [[12, 13, 14], [10, 10, 10], [40, 50, 60]])
    assert np.isneginf(lowest[3]).all() and np.isposinf(highest[3]).all()  # nothing observed: no bound


def test_interval_columns_widen_with_the_level():
    series, scaled, scaler, positions, config = _table_setup()
    intervals = {"levels": [80, 95], "window_norm": "none", "half_widths": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}
    inputs = np.zeros((2, 6, 3))
    table = forecast_table(series, scaled, scaler, positions, config, intervals, inputs)
    assert list(table.columns) == ["id", "month", "step", "value", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert (table["lo-95"] < table["lo-80"]).all() and (table["lo-80"] < table["value"]).all()
    assert (table["value"] < table["hi-80"]).all() and (table["hi-80"] < table["hi-95"]).all()
    widths = np.array([0.1, 0.2, 0.3] * 2) * scaler.scale[positions, 0].repeat(3)  # scaled half-width x the scale
    np.testing.assert_allclose(table["hi-80"] - table["value"], widths)
    np.testing.assert_allclose(table["value"] - table["lo-80"], widths)
    # meanabs: the half-width is in each window's own scale, its mean absolute target
    inputs[0, :, 0], inputs[1, :, 0] = 2.0, -0.5
    scaled_table = forecast_table(
        series, scaled, scaler, positions, config, {**intervals, "window_norm": "meanabs"}, inputs
    )
    np.testing.assert_allclose(scaled_table["hi-80"] - scaled_table["value"], widths * np.repeat([2.0, 0.5], 3))
    assert "lo-80" not in forecast_table(series, scaled, scaler, positions, config, intervals).columns  # no inputs


@pytest.mark.parametrize(
    "id_col,time_col,expected",
    [
        (None, None, (None, "time")),
        ("store", "date", ("store", "date")),
        (None, "t", (None, "t")),
        ("value", "step", ("series", "time")),  # the table's own step and value columns
        ("step", "series", ("series", "time")),  # the id renamed to series takes that name from the time column
        ("id", "id", ("id", "time")),
        (None, "value", (None, "time")),
    ],
)
def test_table_columns_never_collide(id_col, time_col, expected):
    names = table_columns(DataConfig(id_col=id_col, time_col=time_col))
    assert names == expected
    columns = [name for name in names if name] + ["step", "value"]
    assert len(set(columns)) == len(columns)


def test_the_data_section_of_a_config_is_read_back():
    config = data_config_from_dict({"data": {"window": 12, "horizon": 3}}, "run/config.json")
    assert config == DataConfig(window=12, horizon=3)
    with pytest.raises(ValueError, match="run/config.json has unknown data settings: hidden_size"):
        data_config_from_dict({"data": {"hidden_size": 8}}, "run/config.json")


def test_prediction_needs_no_torch():
    code = "import sys, grunet.prediction; assert 'torch' not in sys.modules, 'torch was imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
