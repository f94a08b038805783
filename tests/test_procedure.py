"""What `grunet train` does with no flags on CSV data (`grunet.procedure`): a search, the scored fit, a refit on every
point for predict, prediction intervals; config.json repeats the choice without searching; a run killed during its
refit resumes to the same result."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import grunet
from grunet.checkpoints import load_checkpoint, load_training_state
from grunet.cli import main

QUICK = ["--epochs", "12", "--quiet", "--no-plots"]
REPEAT = ["--quiet", "--no-plots"]  # a --config repeat (an --epochs given would set every member's epochs)


def _monthly_csv(path, length=84, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    values = 200 + 2 * t + 30 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, length)
    frame = pd.DataFrame(
        {"month": pd.date_range("2010-01-01", periods=length, freq="MS").strftime("%Y-%m"), "sales": values.round(2)}
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("defaults")
    data = _monthly_csv(folder / "sales.csv")
    out = folder / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "sales",
                "--time-col",
                "month",
                "--horizon",
                "6",
                "--out",
                str(out),
                *QUICK,
            ]
        )
        == 0
    )
    return out, data


@pytest.mark.slow
def test_no_flags_search_score_refit_and_intervals(default_run, capsys):
    out, data = default_run
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    search = metrics["search"]
    assert search["tried"] == search["candidates"] >= 9 and len(search["chosen"]) == 3
    assert config["search"]["search"] == "none" and len(config["members"]) == 3  # the choice, to repeat
    assert config["data"]["season"] == 12 and config["data"]["window"] in (12, 24, 36)
    assert metrics["refit"]["points"] == "every" and metrics["test"]["rmse"] > 0
    rows = (out / "search.csv").read_text().splitlines()
    assert len(rows) == 1 + search["candidates"] and rows[0].startswith("stage,window,norm")
    model = load_checkpoint(out / "model.pt")
    assert model["config"]["data"]["test_size"] == 0 and model["config"]["data"]["val_size"] == 0  # refit on all
    assert model["intervals"]["levels"] == [80, 95] and len(model["intervals"]["half_widths"][0]) == 6
    capsys.readouterr()
    assert main(["predict", "--run", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["month", "step", "value", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert (table["lo-95"] <= table["lo-80"]).all() and (table["lo-80"] <= table["value"]).all()
    assert (table["value"] <= table["hi-80"]).all() and (table["hi-80"] <= table["hi-95"]).all()
    assert table["month"].iloc[0].startswith("2017-01")  # after the last point: the refit saw the end of the data


@pytest.mark.slow
def test_the_config_repeats_the_choice_without_searching(default_run, tmp_path):
    out, data = default_run
    again = tmp_path / "again"
    assert main(["train", "--config", str(out / "config.json"), "--out", str(again), *REPEAT]) == 0
    metrics = json.loads((again / "metrics.json").read_text())
    assert "search" not in metrics and not (again / "search.csv").exists()
    first = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] == first["test"]  # the same members, epochs and seeds: the same model
    assert main(["predict", "--run", str(again), "--out", str(tmp_path / "a.csv")]) == 0
    assert main(["predict", "--run", str(out), "--out", str(tmp_path / "b.csv")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_search_none_and_no_refit_and_no_intervals(tmp_path):
    data = _monthly_csv(tmp_path / "sales.csv")
    model = grunet.Forecaster(horizon=6, search="none", refit=False, level=[], epochs=5, verbose=False)
    model.fit(str(data), target="sales", time_col="month")
    assert "search" not in model.metrics and "refit" not in model.metrics and model.intervals is None
    assert list(model.predict().columns) == ["month", "step", "value"]
    assert model.fitted_data_config.test_size > 0  # no refit: the scored model predicts


@pytest.mark.slow
def test_a_run_killed_during_its_refit_resumes_to_the_same_result(tmp_path, monkeypatch):
    """The refit phase's checkpoint (taken at its third epoch) and the run's config.json, as a SIGKILL would leave
    them, resume to the uninterrupted run's model and metrics."""
    data = _monthly_csv(tmp_path / "sales.csv")
    from grunet import procedure

    saved = {}
    original = procedure.save_training_state

    def spy(path, state, config):
        original(path, state, config)
        if state["phase"] == "refit" and state["epoch"] == 3 and not saved:
            shutil.copy(path, tmp_path / "killed_checkpoint.pt")
            saved["yes"] = True

    monkeypatch.setattr(procedure, "save_training_state", spy)
    whole = tmp_path / "whole"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "sales",
                "--time-col",
                "month",
                "--horizon",
                "6",
                "--checkpoint-every",
                "1",
                "--out",
                str(whole),
                *QUICK,
            ]
        )
        == 0
    )
    assert saved and load_training_state(tmp_path / "killed_checkpoint.pt")["phase"] == "refit"
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(whole / "config.json", killed / "config.json")
    shutil.copy(tmp_path / "killed_checkpoint.pt", killed / "checkpoint.pt")
    assert main(["train", "--resume", str(killed), "--quiet", "--no-plots"]) == 0
    for name in ("metrics.json",):
        ours, theirs = json.loads((killed / name).read_text()), json.loads((whole / name).read_text())
        assert ours["test"] == theirs["test"] and ours["refit"] == theirs["refit"]
        # what the search found, carried by the checkpoint (resuming does not search: it was lost)
        assert ours["search"] == theirs["search"] and "held_out" in ours["search"]
    assert (killed / "search.csv").read_text() == (whole / "search.csv").read_text()
    import torch

    a, b = load_checkpoint(killed / "model.pt"), load_checkpoint(whole / "model.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][key], b["state_dict"][key]) for key in a["state_dict"])


def test_a_quick_search_is_scored_refit_given_intervals_and_repeated(tmp_path):
    """The no-flags path in seconds (the tests above run the whole search, marked slow): a time budget that lets one
    candidate train, then the scored fit, the refit on every point, intervals, and --config repeating the choice."""
    data = _monthly_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "sales",
                "--time-col",
                "month",
                "--horizon",
                "6",
                "--time-budget",
                "0.001",
                "--out",
                str(out),
                *QUICK,
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["search"]["tried"] == 1 < metrics["search"]["candidates"] and len(metrics["search"]["chosen"]) == 1
    assert config["search"]["search"] == "none" and len(config["members"]) == 1
    assert metrics["refit"]["points"] == "every" and metrics["test"]["rmse"] > 0
    model = load_checkpoint(out / "model.pt")
    assert model["config"]["data"]["test_size"] == 0 and model["intervals"]["levels"] == [80, 95]
    assert main(["predict", "--run", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["month", "step", "value", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert (table["lo-80"] <= table["value"]).all() and table["month"].iloc[0].startswith("2017-01")
    again = tmp_path / "again"
    assert main(["train", "--config", str(out / "config.json"), "--out", str(again), *REPEAT]) == 0
    repeated = json.loads((again / "metrics.json").read_text())
    assert "search" not in repeated and repeated["test"] == metrics["test"]
    edited = tmp_path / "edited.json"  # intervals without the validation errors they were calibrated on
    intervals = {
        key: value for key, value in model["intervals"].items() if key in ("levels", "half_widths", "window_norm")
    }
    edited.write_text(json.dumps({**config, "intervals": intervals}))
    assert main(["train", "--config", str(edited), "--out", str(tmp_path / "edited"), *REPEAT]) == 0
    assert load_checkpoint(tmp_path / "edited" / "model.pt")["intervals"]["half_widths"] == intervals["half_widths"]


def test_a_search_whose_choice_never_trained_says_so(tmp_path, monkeypatch):
    """With short training every chosen candidate can be best at epoch 0: the forecast is the starting point,
    which reads no --future-features (a review found such a run ignoring its future values without a word)."""
    from grunet import procedure

    real = procedure.search

    def untrained(*args, **kwargs):
        found = real(*args, **kwargs)
        found.member_settings = [{**member, "epochs": 0} for member in found.member_settings]
        return found

    monkeypatch.setattr(procedure, "search", untrained)
    model = grunet.Forecaster(horizon=6, epochs=2, hidden_size=4, verbose=False)
    with pytest.warns(UserWarning, match="every chosen candidate was best at epoch 0"):
        model.fit(str(_monthly_csv(tmp_path / "sales.csv")), target="sales", time_col="month")


def test_series_too_short_for_both_held_out_parts_are_not_scored_on_what_chose_the_settings(tmp_path, capsys):
    """18 points a series, horizon 6: the search holds out the validation part alone (its origins end at the end of
    the data); the scored run, which has no validation part, must not take those points back as a test part and
    report the scores the settings were chosen on as held-out ones."""
    rng = np.random.default_rng(3)
    rows = [
        {"state": f"s{series}", "year": 1970 + t, "sales": 100 + series + 2 * t + rng.normal(0, 3)}
        for series in range(8)
        for t in range(18)
    ]
    data = tmp_path / "short.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "run"
    flags = ["--target", "sales", "--time-col", "year", "--id-col", "state", "--horizon", "6"]
    assert main(["train", "--data", str(data), *flags, "--time-budget", "0.001", "--out", str(out), *QUICK]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert metrics["search"]["held_out"] or metrics["search"]["validation_mase"] > 0  # the search chose on them
    assert metrics["test"] is None and metrics["test_windows"] == 0 and "refit" not in metrics
    assert config["data"]["test_size"] == 0 and config["intervals"]["origins"] == 8
    printed = capsys.readouterr()
    assert "no test part" in printed.out
    # 8 origins: the 95 % intervals are their largest error (8 / 9 of new points), and the warning says so
    assert "calibrated on 8 forecast origin(s)" in printed.err and "for the 95 % level(s)" in printed.err
    assert "Mean of empty slice" not in printed.err
    assert main(["predict", "--run", str(out)]) == 0
    assert len(pd.read_csv(out / "forecast.csv")) == 8 * 6


def test_a_panel_of_constant_series_is_forecast_without_numpys_warnings(tmp_path, capsys):
    """Constant series have no MASE scale: every score is inf or NaN, and the summary shows them so, without
    numpy's "Mean of empty slice" on the way."""
    rows = [{"id": f"s{i}", "year": 2000 + t, "value": float(i)} for i in range(6) for t in range(14)]
    data = tmp_path / "flat.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "run"
    flags = ["--target", "value", "--time-col", "year", "--id-col", "id", "--horizon", "3"]
    assert main(["train", "--data", str(data), *flags, "--time-budget", "0.001", "--out", str(out), *QUICK]) == 0
    assert "Mean of empty slice" not in capsys.readouterr().err
    assert main(["predict", "--run", str(out)]) == 0
    forecast = pd.read_csv(out / "forecast.csv")
    assert np.allclose(forecast["value"], forecast["id"].str[1:].astype(float))
