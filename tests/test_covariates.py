"""Issue 8 end to end through the command line: short series padded in a multi-series file, calendar features,
future features that predict needs, and ensembles."""

import copy
import json

import numpy as np
import pandas as pd
import pytest

from grunet.cli import main


def train(argv):
    """`grunet train` with the given settings (no search: these tests are about the features, not the choice)."""
    return main(["train", "--search", "none", *argv])


def _mixed_lengths_file(path, lengths=(15, 22, 37, 48, 60)):
    """Monthly series of lengths 15..60 ending at different months, long format."""
    rng = np.random.default_rng(0)
    frames = []
    for index, length in enumerate(lengths):
        times = pd.date_range("2015-01-01", periods=length, freq="MS") + pd.DateOffset(months=index)
        season = 10 * np.sin(2 * np.pi * times.month.to_numpy() / 12)
        frames.append(
            pd.DataFrame(
                {
                    "id": f"shop{index}",
                    "month": times.strftime("%Y-%m-%d"),
                    "sales": 100 + 20 * index + season + rng.normal(size=length),
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    data = _mixed_lengths_file(folder / "shops.csv")
    out = folder / "run"
    assert (
        train(
            [
                "--data",
                str(data),
                "--id-col",
                "id",
                "--time-col",
                "month",
                "--target",
                "sales",
                "--window",
                "24",
                "--horizon",
                "6",
                "--epochs",
                "3",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out, data


def test_a_15_point_series_gets_a_test_forecast_and_a_prediction(mixed_run, capsys):
    out, data = mixed_run
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["pad"] is True and config["data"]["calendar"] == "month"
    assert config["model"]["mask"] is True and config["model"]["future_size"] == 2  # month sin, cos
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]["per_series"]) == {f"shop{index}" for index in range(5)}
    assert metrics["skipped_series"] == []
    assert main(["predict", "--run", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns)[:4] == ["id", "month", "step", "value"]  # the data's own id and time columns
    assert sorted(table["id"].unique()) == [f"shop{index}" for index in range(5)]
    short = table[table["id"] == "shop0"]  # 15 points, shorter than the window of 24
    assert list(short["step"]) == list(range(1, 7)) and np.isfinite(short["value"]).all()
    assert list(short["month"]) == [f"2016-{month:02d}-01" for month in range(4, 10)]  # after 2016-03


def test_the_onnx_export_predicts_the_same_with_calendar_and_mask(mixed_run, tmp_path):
    out, _ = mixed_run
    model_file = tmp_path / "shops.onnx"
    assert main(["export", "--run", str(out), "--out", str(model_file)]) == 0
    assert main(["predict", "--run", str(out), "--out", str(tmp_path / "torch.csv")]) == 0
    assert main(["predict", "--model", str(model_file), "--out", str(tmp_path / "onnx.csv")]) == 0
    torch_table, onnx_table = pd.read_csv(tmp_path / "torch.csv"), pd.read_csv(tmp_path / "onnx.csv")
    assert torch_table[["id", "month", "step"]].equals(onnx_table[["id", "month", "step"]])
    assert np.allclose(torch_table["value"], onnx_table["value"], rtol=1e-4, atol=1e-3)


def test_series_shorter_than_horizon_plus_one_are_skipped_by_name(tmp_path, capsys):
    data = _mixed_lengths_file(tmp_path / "shops.csv", lengths=(6, 40, 50))
    assert (
        train(
            [
                "--data",
                str(data),
                "--id-col",
                "id",
                "--time-col",
                "month",
                "--target",
                "sales",
                "--window",
                "12",
                "--horizon",
                "6",
                "--epochs",
                "2",
                "--quiet",
                "--no-plots",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    assert "'shop0'" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["skipped_series"] == ["shop0"] and set(metrics["test"]["per_series"]) == {"shop1", "shop2"}


def _planned_file(path, length=60, extra=0):
    """One daily series whose target follows a known-in-advance 'promo' column."""
    rng = np.random.default_rng(1)
    times = pd.date_range("2024-01-01", periods=length + extra, freq="D")
    promo = (rng.random(length + extra) < 0.3).astype(float)
    sales = 50 + 30 * promo + rng.normal(size=length + extra)
    frame = pd.DataFrame({"day": times.strftime("%Y-%m-%d"), "promo": promo, "sales": sales})
    frame.iloc[:length].to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_future_features_are_used_and_predict_asks_for_them(tmp_path, capsys):
    frame = _planned_file(tmp_path / "sales.csv", extra=3)
    out = tmp_path / "run"
    assert (
        train(
            [
                "--data",
                str(tmp_path / "sales.csv"),
                "--time-col",
                "day",
                "--target",
                "sales",
                "--future-features",
                "promo",
                "--calendar",
                "none",
                "--window",
                "7",
                "--horizon",
                "3",
                "--epochs",
                "200",
                "--lr",
                "0.01",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["future_size"] == 1 and config["model"]["input_size"] == 2
    capsys.readouterr()
    assert main(["predict", "--run", str(out)]) == 2
    err = capsys.readouterr().err
    assert "promo" in err and "--future" in err and err.count("\n") == 1
    frame.iloc[-3:][["day", "promo"]].to_csv(tmp_path / "plan.csv", index=False)
    assert main(["predict", "--run", str(out), "--future", str(tmp_path / "plan.csv")]) == 0
    table = pd.read_csv(out / "forecast.csv")
    promo = frame["promo"].to_numpy()[-3:]
    # the model learned that promotions lift sales by about 30: the forecast follows the plan
    assert promo.min() != promo.max()  # the plan has days with and without a promotion
    assert table["value"][promo == 1].mean() - table["value"][promo == 0].mean() > 15
    flipped = frame.iloc[-3:][["day", "promo"]].assign(promo=1 - promo)
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    assert (
        main(
            [
                "predict",
                "--run",
                str(out),
                "--future",
                str(tmp_path / "flipped.csv"),
                "--out",
                str(tmp_path / "flipped_forecast.csv"),
            ]
        )
        == 0
    )
    other = pd.read_csv(tmp_path / "flipped_forecast.csv")
    lift = (other["value"] - table["value"]).to_numpy() * np.where(promo == 1, -1, 1)
    assert (lift > 15).all()  # turning a promotion on raises the forecast of that day, off lowers it
    frame.iloc[-2:][["day", "promo"]].to_csv(tmp_path / "short_plan.csv", index=False)
    capsys.readouterr()
    assert main(["predict", "--run", str(out), "--future", str(tmp_path / "short_plan.csv")]) == 2
    assert "no row" in capsys.readouterr().err
    # the exported model asks for the same plan and forecasts the same with onnxruntime alone
    assert main(["export", "--run", str(out), "--out", str(tmp_path / "sales.onnx")]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "sales.onnx")]) == 2
    assert "--future" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "sales.onnx"),
                "--future",
                str(tmp_path / "plan.csv"),
                "--out",
                str(tmp_path / "onnx_forecast.csv"),
            ]
        )
        == 0
    )
    assert np.allclose(pd.read_csv(tmp_path / "onnx_forecast.csv")["value"], table["value"], rtol=1e-4, atol=1e-3)


def test_ensemble_reports_each_member_and_predicts_with_the_median(tmp_path):
    out = tmp_path / "ensemble"
    assert (
        train(
            [
                "--data",
                "airline",
                "--window",
                "24",
                "--horizon",
                "12",
                "--test-size",
                "12",
                "--epochs",
                "5",
                "--ensemble",
                "3",
                "--seed",
                "1",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    members = metrics["members"]
    assert [member["seed"] for member in members] == [3, 4, 5]
    assert all(member["epochs"] >= 1 and "rmse" in member["test"] for member in members)
    history = pd.read_csv(out / "history.csv")
    assert sorted(history["member"].unique()) == [0, 1, 2]
    from grunet.checkpoints import load_model
    from grunet.model import Ensemble

    model, _ = load_model(out / "model.pt")
    assert isinstance(model, Ensemble) and len(model.members) == 3
    assert main(["predict", "--run", str(out)]) == 0
    assert len(pd.read_csv(out / "forecast.csv")) == 12


@pytest.mark.slow
def test_airline_with_defaults_beats_seasonal_naive_and_predicts_1961(tmp_path):
    """No settings but the data's: the search, the ensemble and the refit; scored on 1960 (seasonal naive's RMSE
    there is 50.71; benchmarks/accuracy.py measures seeds 0, 1, 2 against Holt-Winters), then predict continues
    into 1961 from the refit model."""
    out = tmp_path / "airline"
    assert (
        main(
            [
                "train",
                "--data",
                "airline",
                "--horizon",
                "12",
                "--test-size",
                "12",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["baselines"]["seasonal_naive"]["rmse"] == pytest.approx(50.71, abs=0.01)
    assert metrics["test"]["rmse"] < 0.6 * metrics["baselines"]["seasonal_naive"]["rmse"]
    assert metrics["refit"] and (out / "search.csv").is_file()
    assert main(["predict", "--run", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table["time"]) == [f"1961-{month:02d}" for month in range(1, 13)]
    assert (table["lo-95"] < table["value"]).all() and (table["value"] < table["hi-95"]).all()


def test_export_names_the_model_columns_even_when_the_data_is_gone(tmp_path):
    data = _mixed_lengths_file(tmp_path / "shops.csv")
    out = tmp_path / "run"
    assert (
        train(
            [
                "--data",
                str(data),
                "--id-col",
                "id",
                "--time-col",
                "month",
                "--target",
                "sales",
                "--window",
                "24",
                "--horizon",
                "6",
                "--epochs",
                "1",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    expected = ["sales", "month_sin", "month_cos", "observed"]
    assert main(["export", "--run", str(out), "--out", str(tmp_path / "a.onnx")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["columns"] == expected
    data.unlink()
    assert main(["export", "--run", str(out), "--out", str(tmp_path / "b.onnx")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["columns"] == expected


def test_a_final_fit_holds_nothing_out_and_predicts(tmp_path, capsys):
    """--test-size 0: nothing is scored (the validation part before the end still stops the training early), and
    predict forecasts from the end of the data."""
    data = _mixed_lengths_file(tmp_path / "shops.csv")
    out = tmp_path / "final"
    assert (
        train(
            [
                "--data",
                str(data),
                "--id-col",
                "id",
                "--time-col",
                "month",
                "--target",
                "sales",
                "--window",
                "12",
                "--horizon",
                "3",
                "--test-size",
                "0",
                "--epochs",
                "2",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "no test part" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] is None and metrics["baselines"] == {} and metrics["test_windows"] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["test_size"] == 0 and config["data"]["val_size"] >= 3  # at least a horizon
    assert (out / "loss.png").is_file() and not (out / "forecast.png").exists()
    assert main(["predict", "--run", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert len(table) == 5 * 3 and table[table["id"] == "shop0"]["month"].iloc[0] == "2016-04-01"
    assert train(["--test-size", "-1", "--quiet"]) == 2
    assert "or 0 for a final fit" in capsys.readouterr().err


def test_a_short_padded_series_is_scaled_on_its_train_part_only():
    """Its validation points (which drive early stopping) must not reach the scaler."""
    from grunet.data.config import DataConfig
    from grunet.data.series import SeriesSet
    from grunet.windows import prepare

    series = SeriesSet(
        ["long", "short"], [np.arange(1.0, 41.0)[:, None], np.array([[1.0], [100], [200], [5], [6]])], ["y"]
    )
    prepared = prepare(
        series, DataConfig(data="x", window=4, horizon=2, test_size=2, val_size=2, scale="standard", pad=True)
    )
    assert prepared.scaler.shift[1, 0] == 1.0  # train part: the first point only (100 and 200 are validation)


def test_one_or_two_stamps_do_not_decide_the_frequency(tmp_path, capsys):
    frames = [
        pd.DataFrame(
            {
                "id": "A",
                "t": pd.date_range("2015-01-01", periods=60, freq="MS").strftime("%Y-%m-%d"),
                "y": np.arange(60.0) + 10,
            }
        ),
        pd.DataFrame({"id": "B", "t": ["2015-01-01", "2015-02-01"], "y": [3.0, 4.0]}),
        pd.DataFrame({"id": "C", "t": ["2016-05-01"], "y": [7.0]}),
    ]
    pd.concat(frames).to_csv(tmp_path / "three.csv", index=False)
    from grunet.data.csvfile import load_csv

    series = load_csv(tmp_path / "three.csv", target="y", time_col="t", id_col="id")
    assert series.freq == "MS"
    assert [str(t.date()) for t in series.future_times(1, 2)] == ["2015-03-01", "2015-04-01"]
    assert [str(t.date()) for t in series.future_times(2, 1)] == ["2016-06-01"]
    out = tmp_path / "run"
    assert (
        train(
            [
                "--data",
                str(tmp_path / "three.csv"),
                "--id-col",
                "id",
                "--time-col",
                "t",
                "--target",
                "y",
                "--window",
                "6",
                "--horizon",
                "1",
                "--test-size",
                "1",
                "--epochs",
                "1",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["calendar"] == "month"
    assert config["data"]["pad"] is True  # B and C are shorter than a window: padded (the mask)
    capsys.readouterr()
    # C (one point) has no window to train on, but a padded model forecasts from any length
    assert main(["predict", "--run", str(out)]) == 0
    assert capsys.readouterr().err == ""
    table = pd.read_csv(out / "forecast.csv")
    assert table.set_index("id")["t"].to_dict() == {"A": "2020-01-01", "B": "2015-03-01", "C": "2016-06-01"}


def test_predict_skips_series_the_run_could_not_train_on(tmp_path, capsys):
    data = _mixed_lengths_file(tmp_path / "shops.csv", lengths=(3, 40, 50))
    out = tmp_path / "run"
    assert (
        train(
            [
                "--data",
                str(data),
                "--id-col",
                "id",
                "--time-col",
                "month",
                "--target",
                "sales",
                "--window",
                "12",
                "--horizon",
                "3",
                "--epochs",
                "1",
                "--no-pad",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["predict", "--run", str(out)]) == 0  # without padding, 3 points are too few to forecast from
    err = capsys.readouterr().err
    assert "warning:" in err and "shop0" in err and "Traceback" not in err
    assert sorted(pd.read_csv(out / "forecast.csv")["id"].unique()) == ["shop1", "shop2"]


def test_log_applies_to_the_target_only_and_flags_need_a_time_column(tmp_path, capsys):
    _planned_file(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert (
        train(
            [
                "--data",
                str(tmp_path / "sales.csv"),
                "--time-col",
                "day",
                "--target",
                "sales",
                "--future-features",
                "promo",
                "--log",
                "--window",
                "7",
                "--horizon",
                "3",
                "--epochs",
                "2",
                "--quiet",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )  # promo is 0/1: not logged
    capsys.readouterr()
    assert (
        train(
            [
                "--data",
                str(tmp_path / "sales.csv"),
                "--target",
                "sales",
                "--future-features",
                "promo",
                "--quiet",
                "--no-plots",
                "--out",
                str(tmp_path / "no_time"),
            ]
        )
        == 2
    )
    assert "--future-features needs --time-col" in capsys.readouterr().err
    assert (
        train(["--data", "airline", "--features", "x", "--quiet", "--no-plots", "--out", str(tmp_path / "builtin")])
        == 2
    )
    assert "no feature columns" in capsys.readouterr().err


def test_ensemble_members_start_from_their_own_seeds(monkeypatch):
    """Member i of a run with seed s and N members starts from seed s·N + i, member 0 included, so runs with seeds
    0, 1, 2 share no member."""
    import torch

    from grunet.data.config import DataConfig
    from grunet.fitting import fit_run, setup_run
    from grunet.model import GRUNet, ModelConfig
    from grunet.training.config import TrainConfig

    built = []  # the initial weights of every model the run builds
    build = GRUNet.from_config
    monkeypatch.setattr(
        GRUNet, "from_config", classmethod(lambda cls, config: built.append(build(config)) or copy.deepcopy(built[-1]))
    )
    setup = setup_run(
        DataConfig(data="airline", window=12, horizon=3, test_size=3),
        ModelConfig(hidden_size=4, num_layers=1),
        TrainConfig(seed=1, ensemble=2, epochs=1),
    )
    fit_run(setup)  # builds member 1
    assert len(built) == 2
    for seed, initial in zip((2, 3), built):  # seed 1, 2 members: seeds 2 and 3
        torch.manual_seed(seed)
        expected = build(setup.model_config)
        for name, tensor in expected.state_dict().items():
            assert torch.equal(initial.state_dict()[name], tensor), (seed, name)
