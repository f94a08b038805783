"""`grunet.Forecaster`, the library's forecasting API: the README's example on DataFrames, the same numbers as the
command line, run folders that go both ways between `save`/`load` and `grunet train`/`grunet predict`."""

import inspect
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DATA

import grunet
from grunet import smoothing
from grunet.cli import main
from grunet.data.config import DataConfig
from grunet.model import ModelConfig
from grunet.search import SearchConfig
from grunet.training.config import TrainConfig

FAST = dict(window=24, hidden_size=8, num_layers=1, epochs=3, search="none")


@pytest.fixture(scope="module")
def airline():
    frame = pd.read_csv(DATA.parent.parent / "grunet" / "data" / "airline.csv")
    return frame[frame["Date"] < "1960-01"].reset_index(drop=True)


@pytest.fixture(scope="module")
def macro():
    return pd.read_csv(DATA / "macro_quarterly_long.csv")


def test_every_train_flag_is_a_keyword_with_the_same_default():
    """The Forecaster's keywords are the three configs' settings (those fit takes aside), with their defaults."""
    parameters = inspect.signature(grunet.Forecaster).parameters
    fit_arguments = {"data", "target", "time_col", "id_col", "features", "future_features", "date_format"}
    derived = {"input_size", "output_size", "future_size", "mask", "input_steps"}  # set from the data / search
    expected = {}
    for config in (DataConfig(), ModelConfig(), TrainConfig(), SearchConfig()):
        for name, value in vars(config).items():
            if name not in fit_arguments | derived:
                expected[name] = value
    assert set(parameters) - {"verbose"} == set(expected)
    defaults = {name: parameters[name].default for name in expected}
    defaults["level"] = list(defaults["level"])  # a tuple in the signature: no mutable default
    assert defaults == expected
    fit = inspect.signature(grunet.Forecaster.fit).parameters
    assert fit_arguments <= set(fit)


def test_the_readme_example_on_airline(airline, tmp_path):
    model = grunet.Forecaster(horizon=12, verbose=False, **FAST)
    assert model.fit(airline, target="Passengers", time_col="Date") is model
    forecast = model.predict()
    assert list(forecast.columns) == ["Date", "step", "value", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert list(forecast["Date"]) == [f"1960-{month:02d}" for month in range(1, 13)]  # the file's own form
    assert np.isfinite(forecast["value"]).all() and list(forecast["step"]) == list(range(1, 13))
    assert {"test", "baselines", "epochs"} <= set(model.metrics) and model.metrics["epochs"] == 3
    figure = model.plot()
    assert type(figure).__name__ == "Figure" and len(figure.axes) == 1
    model.save(tmp_path / "air")
    loaded = grunet.Forecaster.load(tmp_path / "air")
    pd.testing.assert_frame_equal(loaded.predict(airline), forecast)
    assert loaded.metrics == json.loads((tmp_path / "air" / "metrics.json").read_text())
    assert type(loaded.plot(airline)).__name__ == "Figure"
    # the DataFrame's used columns went with the run (data.csv): the loaded model forecasts and plots without it
    assert list(pd.read_csv(tmp_path / "air" / "data.csv").columns) == ["Date", "Passengers"]
    pd.testing.assert_frame_equal(loaded.predict(), forecast)
    assert type(loaded.plot()).__name__ == "Figure"
    loaded.save(tmp_path / "again")  # and from a loaded run to a new folder
    pd.testing.assert_frame_equal(grunet.Forecaster.load(tmp_path / "again").predict(), forecast)


def test_a_dataframe_run_keeps_its_series_names_and_only_the_used_columns(tmp_path):
    """Ids such as "007" stay text through data.csv; a column the settings do not read is not saved."""
    rows = [
        {"shop": shop, "day": f"2024-01-{day:02d}", "sales": 10.0 + day % 7 + offset, "note": "x"}
        for shop, offset in (("007", 0.0), ("12", 5.0))
        for day in range(1, 31)
    ]
    frame = pd.DataFrame(rows)
    model = grunet.Forecaster(horizon=3, verbose=False, **{**FAST, "window": 7})
    model.fit(frame, target="sales", time_col="day", id_col="shop")
    expected = model.predict()
    model.save(tmp_path / "shops", plots=False)
    assert list(pd.read_csv(tmp_path / "shops" / "data.csv").columns) == ["shop", "day", "sales"]
    got = grunet.Forecaster.load(tmp_path / "shops").predict()
    assert sorted(set(got["shop"])) == ["007", "12"]
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("freq", ["SMS", "SME", "SMS-10"])
def test_semi_monthly_data_is_forecast_on_its_own_days(freq):
    """Twice a month (the 1st and 15th; the 15th and month ends) is a spacing of its own with a season of 24, not
    an irregular 2-weekly one (pandas' infer_freq names neither)."""
    stamps = pd.date_range("2020-01-01", periods=62, freq=freq).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": stamps[:60], "y": 10 + np.sin(np.arange(60) * np.pi / 12)})
    model = grunet.Forecaster(horizon=2, verbose=False, **{**FAST, "window": 8}).fit(frame, target="y", time_col="date")
    assert model.config["data"]["season"] == 24
    assert list(model.predict()["date"]) == list(stamps[60:])


def test_an_unreadable_data_file_is_named(airline, tmp_path):
    model = grunet.Forecaster(horizon=12, verbose=False, **FAST).fit(airline, target="Passengers", time_col="Date")
    model.save(tmp_path / "air", plots=False)
    (tmp_path / "air" / "data.csv").write_bytes(b"")
    with pytest.raises(ValueError, match="data.csv, the data this run was fitted on, is not readable"):
        grunet.Forecaster.load(tmp_path / "air").predict()


def test_a_loaded_run_reads_its_json_files_when_they_are_first_asked_for(airline, tmp_path):
    """`predict` needs neither metrics.json nor config.json (a panel's hold megabytes of per-series scores and
    validation errors): each is read when `metrics` / `config` is first used, and a broken one is named then;
    model.pt leaves the intervals' errors to config.json."""
    model = grunet.Forecaster(horizon=12, verbose=False, **FAST).fit(airline, target="Passengers", time_col="Date")
    errors = [[0.5] * 12, [1.5] * 12]  # as a search leaves them in config.json, for a repeat
    model.config["intervals"] = {"levels": [80], "half_widths": [[1.0] * 12], "window_norm": "none", "errors": errors}
    model.save(tmp_path / "air", plots=False)
    (tmp_path / "air" / "metrics.json").write_text("{")
    loaded = grunet.Forecaster.load(tmp_path / "air")
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())
    for _ in range(2):  # named each time it is asked for
        with pytest.raises(ValueError, match=r"metrics.json is not readable JSON"):
            _ = loaded.metrics
    config = json.loads((tmp_path / "air" / "config.json").read_text())
    (tmp_path / "air" / "config.json").write_text("{")
    fresh = grunet.Forecaster.load(tmp_path / "air")
    pd.testing.assert_frame_equal(fresh.predict(), model.predict())
    with pytest.raises(ValueError, match=r"config.json is not readable JSON"):
        _ = fresh.config
    (tmp_path / "air" / "config.json").write_text(json.dumps(config))
    assert fresh.config == config and config["intervals"]["errors"] == errors
    assert torch.load(tmp_path / "air" / "model.pt", weights_only=True)["config"]["intervals"]["errors"] is None
    (tmp_path / "air" / "metrics.json").write_text(json.dumps({"test": {"rmse": 1.0}}))
    assert loaded.metrics == {"test": {"rmse": 1.0}}
    (tmp_path / "air" / "metrics.json").write_text("{")
    assert loaded.metrics == {"test": {"rmse": 1.0}}  # read once


@pytest.mark.slow
def test_many_series_from_newer_data(macro):
    model = grunet.Forecaster(horizon=8, test_size=8, verbose=False, **FAST)
    model.fit(macro, target="value", time_col="time", id_col="series")
    forecast = model.predict()
    assert list(forecast.columns)[:4] == ["series", "time", "step", "value"]
    assert len(forecast) == 8 * macro["series"].nunique() and np.isfinite(forecast["value"]).all()
    older = macro.groupby("series", sort=False).head(120)
    earlier = model.predict(older)
    assert (earlier.groupby("series")["time"].min() < forecast.groupby("series")["time"].min()).all()
    assert not np.allclose(earlier["value"], forecast["value"])


@pytest.mark.slow
def test_the_cli_and_the_forecaster_give_the_same_numbers(tmp_path, macro):
    flags = [
        "--window",
        "24",
        "--hidden-size",
        "8",
        "--num-layers",
        "1",
        "--epochs",
        "3",
        "--horizon",
        "8",
        "--test-size",
        "8",
        "--search",
        "none",
    ]
    data = DATA / "macro_quarterly_long.csv"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "value",
                "--time-col",
                "time",
                "--id-col",
                "series",
                "--quiet",
                "--no-plots",
                "--out",
                str(tmp_path / "cli"),
                *flags,
            ]
        )
        == 0
    )
    assert main(["predict", "--run", str(tmp_path / "cli")]) == 0
    model = grunet.Forecaster(horizon=8, test_size=8, verbose=False, **FAST)
    model.fit(str(data), target="value", time_col="time", id_col="series")
    cli_metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert cli_metrics["test"]["mase"] == model.metrics["test"]["mase"]
    from_cli = pd.read_csv(tmp_path / "cli" / "forecast.csv")
    ours = model.predict()
    np.testing.assert_array_equal(from_cli["value"].to_numpy(), ours["value"].to_numpy())
    # and the other way: a run folder the Forecaster writes, read by the command line
    model.save(tmp_path / "api", plots=False)
    assert main(["predict", "--run", str(tmp_path / "api"), "--out", str(tmp_path / "api.csv")]) == 0
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "api.csv")["value"].to_numpy(), ours["value"].to_numpy())
    loaded = grunet.Forecaster.load(tmp_path / "cli")  # the CLI's folder, read by the Forecaster
    np.testing.assert_array_equal(loaded.predict()["value"].to_numpy(), ours["value"].to_numpy())


def test_the_cli_and_the_forecaster_agree_on_a_small_file(tmp_path, macro):
    """The parity above in seconds (it runs on all 12 series, marked slow): 2 series, a small model, 2 epochs."""
    small = macro[macro["series"].isin(macro["series"].unique()[:2])]
    small.to_csv(tmp_path / "small.csv", index=False)
    flags = [
        "--window",
        "8",
        "--hidden-size",
        "4",
        "--num-layers",
        "1",
        "--epochs",
        "2",
        "--horizon",
        "4",
        "--test-size",
        "4",
        "--search",
        "none",
    ]
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "small.csv"),
                "--target",
                "value",
                "--time-col",
                "time",
                "--id-col",
                "series",
                "--quiet",
                "--no-plots",
                "--out",
                str(tmp_path / "cli"),
                *flags,
            ]
        )
        == 0
    )
    assert main(["predict", "--run", str(tmp_path / "cli")]) == 0
    model = grunet.Forecaster(
        window=8, hidden_size=4, num_layers=1, epochs=2, horizon=4, test_size=4, search="none", verbose=False
    )
    model.fit(str(tmp_path / "small.csv"), target="value", time_col="time", id_col="series")
    assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["test"] == model.metrics["test"]
    np.testing.assert_array_equal(
        pd.read_csv(tmp_path / "cli" / "forecast.csv")["value"].to_numpy(), model.predict()["value"].to_numpy()
    )


def test_save_writes_the_clis_run_folder_and_refuses_an_existing_one(tmp_path):
    model = grunet.Forecaster(verbose=False, epochs=2, hidden_size=4, num_layers=1).fit("sine")
    path = model.save(tmp_path / "run")
    names = {entry.name for entry in path.iterdir() if not entry.name.startswith(".")}
    assert names == {"config.json", "model.pt", "metrics.json", "history.csv", "forecast.png", "loss.png"}
    assert json.loads((path / "config.json").read_text()) == model.config
    with pytest.raises(ValueError, match="not empty"):
        model.save(path)
    model.save(path, overwrite=True, plots=False)
    assert not (path / "forecast.png").exists()


def test_fit_into_a_run_dir_writes_checkpoints_and_the_run(tmp_path):
    model = grunet.Forecaster(verbose=False, epochs=2, hidden_size=4, num_layers=1)
    model.fit("sine", run_dir=tmp_path / "run", plots=False)
    assert model.run_dir == tmp_path / "run"
    for name in ("config.json", "model.pt", "checkpoint.pt", "metrics.json", "history.csv"):
        assert (tmp_path / "run" / name).is_file(), name
    assert model.save(tmp_path / "run") == tmp_path / "run"  # already there


def test_unfitted_and_verbose(capsys):
    model = grunet.Forecaster()
    with pytest.raises(ValueError, match="not fitted"):
        model.predict()
    grunet.Forecaster(epochs=2, hidden_size=4, num_layers=1).fit("sine")
    captured = capsys.readouterr()
    assert captured.out == "" and "train" in captured.err  # a progress bar, on stderr only
    grunet.Forecaster(epochs=2, hidden_size=4, num_layers=1, verbose=False).fit("sine")
    assert capsys.readouterr().err == ""


def test_a_searched_run_in_the_log_predicts_saves_and_repeats_in_it(tmp_path):
    t = np.arange(96)
    values = (100 + 2.0 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12))  # swings in proportion to the level
    months = pd.date_range("2000-01-01", periods=96, freq="MS").strftime("%Y-%m")
    frame = pd.DataFrame({"month": months, "y": values})
    model = grunet.Forecaster(horizon=6, log=True, hidden_size=8, epochs=5, verbose=False)
    model.fit(frame, target="y", time_col="month")
    assert model.config["data"]["log"] is True and model.config["search"]["search"] == "none"  # repeatable as is
    assert {row["norm"] for row in model.metrics["search"]["chosen"]} <= {"log last", "log seasonal"}
    forecast = model.predict()
    assert (forecast["value"] > 0).all() and (forecast["lo-95"] > 0).all()  # exp of the log: positive
    assert (forecast["lo-95"] <= forecast["value"]).all() and (forecast["value"] <= forecast["hi-95"]).all()
    model.save(tmp_path / "run")
    pd.testing.assert_frame_equal(grunet.Forecaster.load(tmp_path / "run").predict(), forecast)
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["data"]["data"] = str(tmp_path / "data.csv")
    (tmp_path / "repeat.json").write_text(json.dumps(config))
    assert main(["train", "--config", str(tmp_path / "repeat.json"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert json.loads((tmp_path / "again" / "config.json").read_text())["data"]["log"] is True
    assert not (tmp_path / "again" / "search.csv").exists()  # the repeat searched nothing


def test_a_smoothing_weight_combines_holt_winters_in_the_test_score_predict_and_the_bundle(tmp_path):
    t = np.arange(90)
    values = 200 + 1.5 * t + 25 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(4).normal(0, 3, 90)
    months = pd.date_range("2000-01-01", periods=90, freq="MS").strftime("%Y-%m")
    frame = pd.DataFrame({"month": months, "y": values})
    settings = dict(horizon=6, search="none", window=12, hidden_size=8, epochs=3, verbose=False)
    alone = grunet.Forecaster(**settings, smoothing=0.0).fit(frame, target="y", time_col="month")
    whole = grunet.Forecaster(**settings, smoothing=1.0).fit(frame, target="y", time_col="month")
    half = grunet.Forecaster(**settings, smoothing=0.5).fit(frame, target="y", time_col="month")
    assert whole.config["search"]["smoothing"] == 1.0 and half.metrics["smoothing"] == 0.5
    assert "smoothing" not in alone.metrics and alone.smoothing is None
    # the test score: weight 1 is the Holt-Winters baseline's, weight 0.5 halfway between the two forecasts
    assert whole.metrics["test"]["rmse"] == pytest.approx(whole.metrics["baselines"]["holt_winters"]["rmse"])
    midway = (alone._test_forecast + whole._test_forecast) / 2
    np.testing.assert_allclose(half._test_forecast, midway, rtol=1e-9)
    # predict: the models fitted on every point, from the end of the data
    expected = smoothing.forecast(smoothing.fit([values], 12), [values], 6)[0]
    np.testing.assert_allclose(whole.predict()["value"], expected, rtol=1e-9)
    np.testing.assert_allclose(half.predict()["value"], (alone.predict()["value"] + expected) / 2, rtol=1e-9)
    forecast = half.predict()
    assert (forecast["lo-80"] < forecast["value"]).all() and (forecast["value"] < forecast["hi-80"]).all()
    assert np.isfinite(half.smoothing["start"][0][:14]).all()  # a solved start: the loaded run and the bundle use it
    half.save(tmp_path / "run")
    pd.testing.assert_frame_equal(grunet.Forecaster.load(tmp_path / "run").predict(), forecast)
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx")]) == 0
    from grunet.export.bundle import forecast_future_onnx

    frame.to_csv(tmp_path / "data.csv", index=False)
    shipped = forecast_future_onnx(tmp_path / "m.onnx", data=str(tmp_path / "data.csv"))
    np.testing.assert_allclose(shipped["value"], forecast["value"], rtol=1e-5)
    np.testing.assert_allclose(shipped["hi-95"], forecast["hi-95"], rtol=1e-5)


def test_a_search_that_judges_the_gru_alone_better_runs_predicts_and_repeats_it(tmp_path):
    t = np.arange(150)
    values = 100 + 40 * np.sin(2 * np.pi * t / 11) + np.random.default_rng(0).normal(0, 1, 150)  # a cycle, no season
    frame = pd.DataFrame({"year": pd.date_range("1800", periods=150, freq="YS").strftime("%Y"), "y": values})
    model = grunet.Forecaster(horizon=4, hidden_size=8, epochs=15, time_budget=10, verbose=False)
    model.fit(frame, target="y", time_col="year")
    judged = model.metrics["search"]["held_out"]
    from grunet.search import JUDGED

    assert judged["alone"] <= JUDGED[0] * judged["combined"] and judged["windows"] >= 8  # the ramp's foot: weight 0
    assert "smoothing" not in model.metrics and model.smoothing is None  # the GRU alone, in the test score and predict
    assert model.config["search"]["smoothing"] == 0.0  # --config repeats the weight chosen, without a search
    assert model.metrics["test"]["rmse"] != pytest.approx(model.metrics["baselines"]["holt_winters"]["rmse"])


def _monthly(periods=60, level=100.0, seed=0):
    t = np.arange(periods)
    noise = np.random.default_rng(seed).normal(0, 1, periods)
    return pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=periods, freq="MS"),
            "y": level + 10 * np.sin(2 * np.pi * t / 12) + noise,
        }
    )


SMALL = dict(horizon=3, search="none", epochs=3, window=12, hidden_size=8, num_layers=1, verbose=False)


def test_dates_in_the_index_are_the_time_column():
    """A DataFrame with its dates in the index (as Darts and NeuralForecast users keep them) is read as with the
    dates in a column: the same season, calendar features and forecast, for fit and for predict's data."""
    frame = _monthly()
    expected = grunet.Forecaster(**SMALL).fit(frame, target="y", time_col="date").predict()
    model = grunet.Forecaster(**SMALL).fit(frame.set_index("date"), target="y")
    assert model.config["data"]["time_col"] == "date" and model.config["data"]["season"] == 12
    pd.testing.assert_frame_equal(model.predict(), expected)
    pd.testing.assert_frame_equal(model.predict(frame.set_index("date")), expected)
    unnamed = frame.set_index("date").rename_axis(None)
    pd.testing.assert_frame_equal(  # an unnamed index, named by time_col
        grunet.Forecaster(**SMALL).fit(unnamed, target="y", time_col="date").predict(), expected
    )


def test_data_of_another_spacing_is_refused_by_predict(tmp_path):
    model = grunet.Forecaster(**SMALL).fit(_monthly(), target="y", time_col="date")
    daily = _monthly().assign(date=pd.date_range("2024-01-01", periods=60, freq="D"))
    with pytest.raises(ValueError, match=r"the data is daily \(D\), but the model was fitted on monthly \(MS\) data"):
        model.predict(daily)
    month_ends = _monthly().assign(date=pd.date_range("2020-01-31", periods=60, freq="ME"))
    assert len(model.predict(month_ends)) == 3  # monthly all the same: month ends are the same spacing
    model.save(tmp_path / "run", plots=False)
    with pytest.raises(ValueError, match="fitted on monthly"):  # the spacing is saved with the run
        grunet.Forecaster.load(tmp_path / "run", verbose=False).predict(daily)


def test_a_run_of_columns_named_by_numbers_or_padded_saves_and_loads(tmp_path):
    frame = _monthly()
    for name, data, columns in (
        ("numbers", frame.set_axis([0, 1], axis=1), dict(target=1, time_col=0)),
        ("padded", frame.set_axis([" date", "y "], axis=1), dict(target="y", time_col="date")),
    ):
        model = grunet.Forecaster(**SMALL).fit(data, **columns)
        model.save(tmp_path / name, plots=False)
        loaded = grunet.Forecaster.load(tmp_path / name, verbose=False)
        pd.testing.assert_frame_equal(loaded.predict(), model.predict())


def test_a_dataframe_run_is_overwritten_with_its_data_csv(tmp_path):
    model = grunet.Forecaster(**SMALL).fit(_monthly(), target="y", time_col="date")
    model.save(tmp_path / "run", plots=False)
    assert (tmp_path / "run" / "data.csv").is_file()
    model.save(tmp_path / "run", overwrite=True, plots=False)  # data.csv is the run's own
    model.fit(_monthly(), target="y", time_col="date", run_dir=tmp_path / "run", overwrite=True, plots=False)
    assert (tmp_path / "run" / "data.csv").is_file()


def test_a_loaded_run_fits_again_with_its_own_settings(tmp_path):
    """model.pt holds the refit's data settings (no test or validation part); fit on a loaded run starts from
    config.json's, as `grunet train --config` does: a test score and intervals again."""
    model = grunet.Forecaster(**SMALL).fit(_monthly(), target="y", time_col="date")
    model.save(tmp_path / "run", plots=False)
    loaded = grunet.Forecaster.load(tmp_path / "run", verbose=False)
    loaded.fit(_monthly(), target="y", time_col="date")
    assert loaded.metrics["test"] is not None
    assert loaded.config["data"]["test_size"] == model.config["data"]["test_size"] > 0
    assert list(loaded.predict().columns) == list(model.predict().columns)
    assert {"lo-80", "hi-95"} <= set(loaded.predict().columns)


def test_a_log_model_refuses_newer_data_it_cannot_read():
    model = grunet.Forecaster(**SMALL, log=True).fit(_monthly(), target="y", time_col="date")
    newer = _monthly()
    newer.loc[55, "y"] = 0.0
    with pytest.raises(ValueError, match=r"series 'y' has the value 0 in its last 12 points.*log=False"):
        model.predict(newer)
    t = np.arange(72)
    growing = pd.DataFrame(  # multiplicative growth and season: Holt-Winters fitted on the log
        {
            "date": pd.date_range("2015-01-01", periods=72, freq="MS"),
            "y": 100 * np.exp(0.03 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)),
        }
    )
    with_smoothing = grunet.Forecaster(**{**SMALL, "smoothing": 0.5}).fit(growing, target="y", time_col="date")
    assert with_smoothing.smoothing["log"] == [True]
    older = growing.copy()
    older.loc[3, "y"] = -1.0  # long before the window: read by Holt-Winters alone
    with pytest.raises(ValueError, match=r"has the value -1 where its Holt-Winters model reads.*smoothing=0"):
        with_smoothing.predict(older)


def test_arguments_of_the_wrong_kind_are_named():
    frame = _monthly().assign(temp=1.0)
    model = grunet.Forecaster(**SMALL)
    for data in (np.arange(100.0), pd.Series(np.arange(100.0)), [1.0] * 50):
        with pytest.raises(
            TypeError, match=f"data must be a pandas DataFrame or a CSV file's path, got {type(data).__name__}"
        ):
            model.fit(data)
    with pytest.raises(TypeError, match="target must be a column's name, got list"):
        model.fit(frame, target=["y"], time_col="date")
    model.fit(frame, target="y", time_col="date", features="temp")  # one name: a list of one
    assert model.config["data"]["features"] == ["temp"]
    with pytest.raises(TypeError, match="future must be a pandas DataFrame or a CSV file's path"):
        model.predict(future={"date": [1]})
    assert grunet.Forecaster(level=80).search_config.level == [80]
    with pytest.raises(TypeError, match="level must be a list of percentages"):
        grunet.Forecaster(level="80")


def test_settings_are_checked_when_the_forecaster_is_made():
    for settings, error, message in (
        (dict(horizon=0), ValueError, "horizon must be >= 1"),
        (dict(fill="bogus"), ValueError, "fill must be one of"),
        (dict(device="tpu"), ValueError, "device must be"),
        (dict(epochs=-1), ValueError, "epochs must be >= 0"),
        (dict(hidden_size=0), ValueError, "hidden_size"),
        (dict(refit="no"), TypeError, "refit must be true or false"),
    ):
        with pytest.raises(error, match=message):
            grunet.Forecaster(**settings)


@pytest.mark.parametrize(
    "times",
    [
        pd.date_range("2020-01-01", periods=60, freq="MS"),
        pd.date_range("2020-03-07", periods=60, freq="h", tz="America/New_York"),
        pd.period_range("2020-01", periods=60, freq="M"),
    ],
    ids=["datetime", "time zone", "period"],
)
def test_a_forecast_from_a_dataframe_keeps_its_types(times, tmp_path):
    """From a DataFrame the forecast's time and numeric id columns have the frame's types (and merge with it), the
    same after save and load; `grunet predict` writes them as text as before."""
    frame = pd.DataFrame({"store": 7, "date": times, "y": np.arange(60.0) + 100})
    model = grunet.Forecaster(**SMALL).fit(frame, target="y", time_col="date", id_col="store")
    forecast = model.predict()
    assert forecast["date"].dtype == frame["date"].dtype and forecast["store"].dtype == frame["store"].dtype
    assert (forecast["date"] > frame["date"].max()).all()
    assert len(forecast.merge(frame.groupby("store", as_index=False)["y"].last(), on="store")) == 3
    assert model.predict(frame.iloc[:50])["date"].dtype == frame["date"].dtype  # newer data: its own types
    model.save(tmp_path / "run", plots=False)
    pd.testing.assert_frame_equal(grunet.Forecaster.load(tmp_path / "run", verbose=False).predict(), forecast)
    assert main(["predict", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "f.csv")]) == 0
    labels = model._forecast(None, None)[1]  # the table as text, in the data's own form
    written = pd.read_csv(tmp_path / "f.csv", dtype=str)
    assert written["date"].tolist() == labels["date"].tolist() and written["store"].tolist() == ["7"] * 3


@pytest.mark.parametrize(
    "zone,start,end,expected",
    [
        ("Europe/Berlin", "2021-09-01", "2021-10-29", ["2021-11-01 00:00:00+01:00", "2021-11-02 00:00:00+01:00"]),
        ("America/New_York", "2021-01-01", "2021-03-12", ["2021-03-15 00:00:00-04:00", "2021-03-16 00:00:00-04:00"]),
    ],
)
def test_daily_data_in_a_named_zone_stays_at_local_midnight_past_a_daylight_saving_change(
    zone, start, end, expected, tmp_path
):
    """A DataFrame's zone-aware column names its zone: a daily forecast past a change the data does not reach stays
    at local midnight (it kept the data's one offset: 23:00 or 01:00 of the wrong day), after save and load too."""
    times = pd.date_range(start, end, freq="D", tz=zone)
    frame = pd.DataFrame({"date": times, "y": np.sin(np.arange(len(times))) + 5})
    model = grunet.Forecaster(**{**SMALL, "horizon": 4}).fit(frame, target="y", time_col="date")
    assert model.predict()["date"].astype(str).tolist()[2:] == expected
    model.save(tmp_path / "run", plots=False)
    loaded = grunet.Forecaster.load(tmp_path / "run", verbose=False)
    assert loaded.predict()["date"].astype(str).tolist()[2:] == expected


def test_config_repeats_a_dataframe_run_from_its_data_csv(tmp_path):
    """`grunet train --config RUN/config.json` of a run fitted on a DataFrame reads the data.csv beside it (it said
    the data was not saved with the run)."""
    grunet.Forecaster(**SMALL).fit(_monthly(), target="y", time_col="date").save(tmp_path / "run", plots=False)
    config = str(tmp_path / "run" / "config.json")
    assert main(["train", "--config", config, "--out", str(tmp_path / "again"), "--quiet", "--no-plots"]) == 0
    assert json.loads((tmp_path / "again" / "config.json").read_text())["data"]["data"] == "<DataFrame>"
    # the repeat keeps its own copy: it read the other run's data.csv by its path, and lost it with that run
    assert (tmp_path / "again" / "data.csv").read_bytes() == (tmp_path / "run" / "data.csv").read_bytes()
    shutil.rmtree(tmp_path / "run")
    assert main(["predict", "--run", str(tmp_path / "again"), "--out", str(tmp_path / "f.csv")]) == 0
    (tmp_path / "again" / "data.csv").unlink()
    config = str(tmp_path / "again" / "config.json")
    assert main(["train", "--config", config, "--out", str(tmp_path / "third"), "--quiet", "--no-plots"]) == 2


def test_weekly_periods_are_read_by_their_first_day():
    """A week's text (2019-12-30/2020-01-05) is no time stamp: weekly periods were refused; they are read by their
    first day and the forecast continues them, as periods."""
    weeks = pd.period_range("2020-01-01", periods=40, freq="W-SUN")
    frame = pd.DataFrame({"y": np.sin(np.arange(40)) + 5}, index=weeks.rename("week"))
    forecast = grunet.Forecaster(**SMALL).fit(frame, target="y", time_col="week").predict()
    assert forecast["week"].tolist() == list(pd.period_range(weeks[-1] + 1, periods=3, freq="W-SUN"))


def test_a_loaded_run_saved_elsewhere_keeps_its_search_and_an_unfinished_one_is_not_saved(tmp_path):
    """search.csv was dropped by load then save; an unfinished run saved elsewhere looked finished (metrics.json
    written, no checkpoint.pt to warn by)."""
    run = tmp_path / "run"
    frame = _monthly()
    grunet.Forecaster(horizon=3, epochs=2, hidden_size=4, verbose=False).fit(frame, target="y", time_col="date").save(
        run, plots=False
    )
    assert (run / "search.csv").is_file()
    grunet.Forecaster.load(run, verbose=False).save(tmp_path / "copy", plots=False)
    assert (tmp_path / "copy" / "search.csv").read_bytes() == (run / "search.csv").read_bytes()
    (run / "metrics.json").unlink()
    (run / "checkpoint.pt").write_bytes(b"")  # as a run stopped before its end leaves it
    with pytest.warns(UserWarning, match="did not finish"):
        unfinished = grunet.Forecaster.load(run, verbose=False)
    with pytest.raises(ValueError, match="did not finish: finish it with grunet train --resume"):
        unfinished.save(tmp_path / "other", plots=False)
    assert not (tmp_path / "other").exists()
