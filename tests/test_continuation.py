"""Every series continued at once (`grunet.data.continuation`) gives what `SeriesSet.future_times` and `time_labels`
give series by series, and `forecast_inputs` / `forecast_table`, which use it, equal their series-by-series build."""

import warnings

import numpy as np
import pandas as pd
import pytest
from test_regular import KINDS, panel

from grunet.data.config import DATAFRAME, DataConfig, load_series
from grunet.data.continuation import all_labels, array_labels, future_array, future_times_all
from grunet.data.csvfile import load_csv
from grunet.data.series import SeriesSet
from grunet.features import model_columns, model_values
from grunet.prediction import forecast_inputs, forecast_table
from grunet.scaling import Scaler


def _one_by_one(series: SeriesSet, steps: int) -> list:
    """Each series' future stamps, or the error the first series without any raises."""
    try:
        return [series.future_times(index, steps) for index in range(len(series.names))]
    except ValueError as error:
        return [str(error)]


def _all_at_once(series: SeriesSet, steps: int) -> list:
    try:
        return future_times_all(series, steps)
    except ValueError as error:
        return [str(error)]


def assert_same_stamps(mine: list, theirs: list) -> None:
    assert len(mine) == len(theirs)
    for ours, reference in zip(mine, theirs):
        if isinstance(reference, str):
            assert ours == reference
            continue
        assert ours == reference and [type(stamp) for stamp in ours] == [type(stamp) for stamp in reference]
        assert [getattr(stamp, "unit", None) for stamp in ours] == [getattr(stamp, "unit", None) for stamp in reference]


def _loaded(frame: pd.DataFrame, **options) -> SeriesSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_csv(frame, target="value", time_col="when", id_col="id", **options)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_loaded_panels_continue_as_series_by_series(monkeypatch, kind, seed):
    series = _loaded(panel(kind, seed))
    kind_is_dated = series.freq is not None
    for steps in (1, 7):
        theirs = _one_by_one(series, steps)
        with monkeypatch.context() as patch:  # a regular panel is continued at once, no series left to one by one
            patch.setattr(SeriesSet, "future_times", lambda *args: pytest.fail("continued series by series"))
            assert_same_stamps(future_times_all(series, steps), theirs)
    stamps = future_times_all(series, 5)
    expected = [label for index, ahead in enumerate(stamps) for label in series.time_labels(index, ahead)]
    assert all_labels(series, stamps) == expected
    flat = future_array(series, 5)  # one array: the same stamps, the same labels
    assert flat is not None and list(flat) == [np.datetime64(s) if kind_is_dated else s for s in sum(stamps, [])]
    assert array_labels(series, flat) == (None if series.time_format.offset is not None else expected)


def _dated(stamps: list, freq, units: str = "us") -> SeriesSet:
    times = [pd.DatetimeIndex(pd.to_datetime(list(each)).values.astype(f"datetime64[{units}]")) for each in stamps]
    return SeriesSet([f"s{i}" for i in range(len(times))], [np.zeros((len(t), 1)) for t in times], ["y"], times, freq)


ODD = {
    # monthly on the 31st: clamped to shorter months (not month ends throughout)
    "31st": (_dated([["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30", "2020-05-31"]], "ME"), True),
    "15th and ends": (_dated([["2020-01-15", "2020-02-15"], ["2020-01-31", "2020-02-29", "2020-03-31"]], "MS"), True),
    "mixed days": (_dated([["2020-01-01", "2020-02-03", "2020-03-01"], ["2020-01-05"]], "MS"), True),
    "quarters off grid": (_dated([["2020-01-01", "2020-03-01", "2020-07-01"]], "QS-JAN"), True),
    "hours off grid": (_dated([["2020-01-01 00:00", "2020-01-01 01:30", "2020-01-01 03:00"]], "h"), True),
    "business days": (_dated([[d.strftime("%F") for d in pd.bdate_range("2020-01-01", periods=8)]], "B"), True),
    "business month": (_dated([["2020-01-31", "2020-02-28", "2020-03-31"]], "BME"), True),
    "nanoseconds": (_dated([["2020-01-01", "2020-01-02"], ["2020-03-01", "2020-03-02"]], "D", "ns"), True),
    "ns months": (_dated([["2020-01-01", "2020-02-01"], ["2021-03-31", "2021-04-30"]], "MS", "ns"), True),
    "no spacing": (_dated([["2020-01-01", "2020-01-02", "2020-01-04"], ["2020-05-01", "2020-05-03"]], None), True),
    "a single stamp": (_dated([["2020-01-01"]], None), False),
    "weeks": (_dated([["2020-01-05", "2020-01-12"], ["2020-01-06", "2020-01-13", "2020-01-20"]], "W-SUN"), True),
}


@pytest.mark.parametrize("case", list(ODD))
def test_odd_series_continue_as_series_by_series(case):
    series, continues = ODD[case]
    theirs = _one_by_one(series, 4)
    assert_same_stamps(_all_at_once(series, 4), theirs)
    flat = future_array(series, 4)  # None where a series is continued series by series
    assert flat is None or list(pd.DatetimeIndex(flat)) == sum(theirs, [])
    assert continues == (not isinstance(theirs[0], str))


def test_steps_and_undated_series():
    steps = load_csv(pd.DataFrame({"id": list("aaabb"), "t": [10, 15, 20, 5, 10], "v": range(5)}), "v", "t", "id")
    assert future_times_all(steps, 2) == [[25, 30], [15, 20]] == _one_by_one(steps, 2)
    steps.times[1] = pd.Index([5, 12])  # off the file's step of 5: continued as before
    assert_same_stamps(future_times_all(steps, 2), _one_by_one(steps, 2))
    plain = SeriesSet(["a", "b"], [np.zeros((3, 1)), np.zeros((2, 1))], ["y"])
    assert future_times_all(plain, 2) == [[3, 4], [2, 3]] == _one_by_one(plain, 2)
    assert all_labels(plain, [[3, 4], [2, 3]]) == [3, 4, 2, 3]


def test_labels_with_offsets_are_written_for_each_series():
    frame = panel("offsets", 2)
    series = _loaded(frame)
    series.time_format.offsets[series.names[1]] = 120  # one series written at +02:00
    stamps = future_times_all(series, 3)
    expected = [label for index, ahead in enumerate(stamps) for label in series.time_labels(index, ahead)]
    assert all_labels(series, stamps) == expected and expected[3].endswith("+02:00")


# ---- forecast_inputs and forecast_table against their series-by-series build


def _inputs_one_by_one(config, scaler, series, positions, planned=None):
    """The model's inputs (S, W, F) and known future (S, H, K) built one series at a time."""
    window, horizon = config.window, config.horizon
    _, known = model_columns(config, series.columns)
    inputs, futures = [], []
    for index, position in enumerate(positions):
        values, times = series.values[index], series.times[index]
        rows = model_values(config, scaler, position, values[-window:], None if times is None else times[-window:])
        inputs.append(np.concatenate([np.zeros((window - len(rows), rows.shape[1])), rows]))
        if known is not None:
            ahead = np.full((horizon, values.shape[1]), np.nan)
            if planned is not None:
                ahead[:, -len(config.future_features) :] = planned[index]
            futures.append(model_values(config, scaler, position, ahead, series.future_times(index, horizon))[:, known])
    return np.stack(inputs).astype(np.float32), None if known is None else np.stack(futures).astype(np.float32)


@pytest.mark.parametrize("kind", ["daily", "monthly", "hourly", "quarter-text", "years-int"])
@pytest.mark.parametrize("pad", [False, True])
def test_forecast_inputs_and_table_equal_their_series_by_series_build(kind, pad):
    frame = panel(kind, 5, series=40, features=1)
    long = frame.groupby("id")["id"].transform("size") >= 17
    frame = frame[long | pad].reset_index(drop=True)  # without padding, series at least as long as the window
    calendar = {"daily": "dayofweek,dayofyear", "monthly": "month", "hourly": "hour,dayofweek"}.get(kind, "none")
    config = DataConfig(
        data=DATAFRAME, target="value", time_col="when", id_col="id", features=[], future_features=["x0"],
        calendar=calendar, window=17, horizon=4, test_size=4, val_size=0, scale="standard", season=1, pad=pad,
    )  # fmt: skip
    series = load_series(config, frame)
    run_names = list(reversed(series.names))
    scaler = Scaler.fit([series.values[series.names.index(name)] for name in run_names])
    positions = np.array([run_names.index(name) for name in series.names])
    rng = np.random.default_rng(0)
    planned = [rng.normal(size=(4, 1)) for _ in series.names]
    stamps = future_times_all(series, 4)
    future = pd.DataFrame(
        {
            "id": [name for name in series.names for _ in range(4)],
            "when": [label for label in all_labels(series, stamps)],
            "x0": np.concatenate(planned).ravel(),
        }
    )
    got, inputs, future_inputs, got_positions = forecast_inputs(config, scaler, run_names, frame, future=future)
    expected_inputs, expected_future = _inputs_one_by_one(config, scaler, series, positions, planned)
    assert got.names == series.names and np.array_equal(got_positions, positions)
    assert inputs.dtype == np.float32 and np.array_equal(inputs, expected_inputs)
    assert future_inputs.dtype == np.float32 and np.array_equal(future_inputs, expected_future)
    scaled = rng.normal(size=(len(series.names), 4))
    table = forecast_table(series, scaled, scaler, positions, config)
    forecast = scaler.inverse_target(scaled, positions)
    rows = []
    for index, name in enumerate(series.names):
        labels = series.time_labels(index, series.future_times(index, 4))
        for step, (when, value) in enumerate(zip(labels, forecast[index]), start=1):
            rows.append({"id": name, "when": when, "step": step, "value": float(value)})
    pd.testing.assert_frame_equal(table, pd.DataFrame(rows, columns=["id", "when", "step", "value"]))
