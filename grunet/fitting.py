"""Fitting a run's model: resolve the settings for the data, prepare the windows, train one model or an ensemble
(resumable from a checkpoint), and score it and the baselines on the test part. `grunet.forecaster.Forecaster`
drives it (and `grunet.search` for each candidate).

An ensemble's members are the `member_settings` (per member, model and training settings that differ from the run's,
e.g. the best candidates of a search), each trained `ensemble` times from its own seed; its forecast is their median.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from grunet.data.config import DataConfig, load_series
from grunet.data.series import SeriesSet
from grunet.evaluation.scoring import (
    baseline_forecasts,
    forecast_windows,
    score,
    score_all,
    smoothed_forecasts,
    unfitted_series,
)
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.smoothing import combine
from grunet.torch_compat import with_marks
from grunet.training import distributed
from grunet.training.config import TrainConfig
from grunet.training.train import FitResult, check_memory, fit
from grunet.windows import Prepared, prepare

MODEL_SETTINGS = {field.name for field in dataclasses.fields(ModelConfig)}
TRAIN_SETTINGS = {field.name for field in dataclasses.fields(TrainConfig)}


@dataclass
class Member:
    """One model of a run: its resolved settings."""

    model_config: ModelConfig
    train_config: TrainConfig


@dataclass
class RunSetup:
    """A run ready to train: resolved configs, prepared data, each member's settings, and member 0's initialised
    model on its device."""

    data_config: DataConfig
    model_config: ModelConfig
    train_config: TrainConfig
    prepared: Prepared
    model: GRUNet
    members: list[Member] = field(default_factory=list)
    smoothing: float = 0.0  # the Holt-Winters forecast's weight in the scored forecast (`grunet.smoothing`)


@dataclass
class RunResult:
    model: GRUNet | Ensemble  # an Ensemble of more than one member
    data_config: DataConfig  # resolved
    model_config: ModelConfig  # resolved (member 0's)
    train_config: TrainConfig  # resolved (member 0's)
    prepared: Prepared
    fit: FitResult
    metrics: dict  # what metrics.json holds
    test_forecast: np.ndarray  # (N_test, horizon), original units
    baseline_forecasts: dict  # name -> (N_test, horizon), original units, the same test windows
    members: list[GRUNet] = field(default_factory=list)
    fits: list[FitResult] = field(default_factory=list)


def setup_run(
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    series: SeriesSet | None = None,
    member_settings: list[dict] | None = None,
) -> RunSetup:
    """Loads and checks the data, resolves every 'auto' setting, prepares the windows and seeds the model.

    member_settings: per ensemble member, settings (of ModelConfig and TrainConfig) that replace the run's; None:
    one member with the run's settings. Each is trained `train_config.ensemble` times (seeds: `member_seed`).
    """
    data_config.check()
    train_config.check()
    series = load_series(data_config) if series is None else series
    if model_config.window_norm == "meanabs" and data_config.scale is None:
        data_config = dataclasses.replace(data_config, scale="none")  # the window's own scale replaces the series'
    data_config = data_config.resolve(series)
    prepared = prepare(series, data_config)
    for name in prepared.skipped:
        warnings.warn(
            f"series {name!r} is shorter than window + horizon + test and validation parts: left out of this fit "
            f"(a refit on every point holds nothing out and may still take it)"
        )
    tutorial = data_config.data == "sine"
    known = prepared.train.known
    shape: dict[str, Any] = dict(
        input_size=len(prepared.columns),
        output_size=data_config.horizon,
        mask=bool(data_config.pad),
        future_size=0 if known is None else known.stop - known.start,
    )
    members: list[Member] = []
    window = cast(int, data_config.window)  # resolved
    for settings in member_settings or [{}]:
        unknown = set(settings) - MODEL_SETTINGS - TRAIN_SETTINGS
        if unknown:
            raise ValueError(f"unknown member settings: {', '.join(sorted(unknown))}")
        member_model = dataclasses.replace(
            model_config, **{key: value for key, value in settings.items() if key in MODEL_SETTINGS}, **shape
        ).resolve(tutorial)
        reads = member_model.input_steps or window
        if member_model.ar is None:  # data: a skip over the whole window, started at its least-squares fit
            member_model = dataclasses.replace(member_model, ar=reads)
        if cast(int, member_model.ar) > reads or reads > window:  # ar: set just above when None
            raise ValueError(
                f"a member reads {reads} steps with a skip over {member_model.ar}: it needs ar <= its "
                f"window <= the data's window ({data_config.window})"
            )
        if cast(int, member_model.seasonal) > reads:  # resolved: an int
            raise ValueError(
                f"seasonal ({member_model.seasonal}) must be at most the window ({reads}): the model reads the "
                f"values one season back inside its window; give a longer --window or a shorter --seasonal"
            )
        member_train = dataclasses.replace(
            train_config, **{key: value for key, value in settings.items() if key in TRAIN_SETTINGS}
        )
        member_train = member_train.resolve(len(prepared.val) > 0, tutorial, len(prepared.train))
        member_train.device = distributed.device_for(member_train.device)  # under torchrun: cuda:LOCAL_RANK
        members.extend(Member(member_model, member_train) for _ in range(member_train.ensemble))
    first = members[0]
    torch.manual_seed(member_seed(first.train_config, 0))  # = seed for a single model
    model = GRUNet.from_config(first.model_config).to(torch.device(first.train_config.device))
    check_memory(model, prepared.train, first.train_config)  # before a run folder gets its first file
    return RunSetup(data_config, first.model_config, first.train_config, prepared, model, members)


def fit_run(
    setup: RunSetup,
    on_epoch: Callable[[dict], None] | None = None,
    on_checkpoint: Callable[[dict, bool], None] | None = None,
    resume: dict | None = None,
    score_test: bool = True,
) -> RunResult:
    """Trains the set-up members (or continues from `resume`), then scores the model and the baselines on the test
    part (unless `score_test` is False: a search's candidate never looks at it).

    Members are trained one after another, member i from `member_seed` (member 0 is `setup.model`); with more than
    one, the run's model is their `Ensemble` (the median forecast), and metrics.json reports each member beside
    it. Checkpoint states carry the finished members, so `resume` continues inside the ensemble. History rows carry
    the member's index.
    """
    prepared = setup.prepared
    device = torch.device(setup.train_config.device)
    train, val = prepared.train.to(device), prepared.val.to(device)
    finished = [] if resume is None else list(resume.get("finished", []))
    members, fits = [], []
    for index, member in enumerate(setup.members):
        if index == 0:
            model = setup.model
        else:
            torch.manual_seed(member_seed(member.train_config, index))
            model = GRUNet.from_config(member.model_config).to(device)
        if index < len(finished):  # completed before the interruption
            model.load_state_dict(with_marks(model, finished[index]["model"]))
            members.append(model)
            fits.append(FitResult(**{key: value for key, value in finished[index].items() if key != "model"}))
            continue

        def member_epoch(row: dict, index=index) -> None:
            if on_epoch is not None:
                on_epoch({**row, "member": index})

        def member_checkpoint(state: dict, improved: bool, index=index, finished=finished) -> None:
            if on_checkpoint is not None:
                on_checkpoint({**state, "member": index, "finished": finished}, improved)

        member_resume = resume if resume is not None and resume.get("member", 0) == index else None
        if member_resume is None and member.model_config.ar and len(train):
            model.init_skip_chunks(train.chunks)  # the linear AR it contains, to start
        config = dataclasses.replace(member.train_config, seed=member_seed(member.train_config, index))
        result = fit(
            model,
            train,
            val,
            config,
            member_epoch,
            member_checkpoint if on_checkpoint is not None else None,
            member_resume,
            keep_start=bool(member.model_config.ar),
        )  # a least-squares skip starts as a forecaster
        members.append(model)
        fits.append(result)
        if index + 1 < len(setup.members):
            finished = finished + [member_state(model, result)]
    return score_run(setup, members, fits, score_test)


def member_state(model: GRUNet, result: FitResult) -> dict:
    """A trained member as tensors and plain data (a checkpoint's "finished" entries): its weights and its fit."""
    weights = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    return {"model": weights, **dataclasses.asdict(result)}


def restore_members(setup: RunSetup, states: list[dict]) -> tuple[list[GRUNet], list[FitResult]]:
    """The members saved by `member_state`, on the set-up device."""
    device = torch.device(setup.train_config.device)
    members = [GRUNet.from_config(member.model_config).to(device) for member in setup.members[: len(states)]]
    for model, state in zip(members, states):
        model.load_state_dict(with_marks(model, state["model"]))
    return members, [FitResult(**{key: value for key, value in state.items() if key != "model"}) for state in states]


def score_run(setup: RunSetup, members: list[GRUNet], fits: list[FitResult], score_test: bool = True) -> RunResult:
    """The run's model (one member, or the Ensemble's median), its history, and its test metrics beside the
    baselines' (unless `score_test` is False)."""
    prepared = setup.prepared
    model = members[0] if len(members) == 1 else Ensemble(members)
    history = (
        [{**row, "member": index} for index, result in enumerate(fits) for row in result.history]
        if len(fits) > 1
        else fits[0].history
    )
    combined = FitResult(
        history,
        fits[-1].best_epoch,
        any(result.stopped_early for result in fits),
        sum(result.train_seconds for result in fits),
    )
    tested = score_test and len(prepared.test) > 0  # test_size 0: a final fit, nothing held out to score
    forecast, model_metrics, baselines, baseline_metrics, best_by, best = (
        np.zeros((0, prepared.config.horizon)),
        None,
        {},
        {},
        None,
        None,
    )
    if tested:
        smoothed = smoothed_forecasts(prepared, prepared.test)  # NaN for a series too short to fit: the GRU alone
        baselines = baseline_forecasts(prepared, smoothed=smoothed)
        forecast = combine(forecast_windows(model, prepared, prepared.test), smoothed, setup.smoothing)
        baseline_metrics = score_all(prepared, {"model": forecast, **baselines})  # truth and scales found once
        model_metrics = baseline_metrics.pop("model")
        # one series: rank by MSE; many: by mean MASE, which does not let the largest series decide alone
        best_by = "mse" if len(model_metrics["per_series"]) == 1 else "mase"
        ranking = {"model": model_metrics[best_by], **{name: m[best_by] for name, m in baseline_metrics.items()}}
        best = min(ranking, key=lambda name: np.inf if np.isnan(ranking[name]) else ranking[name])
    metrics: dict[str, Any] = {
        "test": model_metrics,
        "baselines": baseline_metrics,
        "best_by": best_by,
        "best": best,
        "epochs": sum(len(result.history) for result in fits),
        "best_epoch": combined.best_epoch,
        "stopped_early": combined.stopped_early,
        "train_seconds": combined.train_seconds,
        "test_windows": len(prepared.test) if tested else 0,
        "skipped_series": prepared.skipped,
        **({"processes": distributed.world_size()} if distributed.active() else {}),
    }
    unfitted = unfitted_series(smoothed, prepared.test) if tested else 0
    if unfitted:  # the series the Holt-Winters row forecasts by persistence
        metrics["holt_winters_persistence"] = unfitted
    if len(members) > 1:
        metrics["members"] = [
            {
                "seed": member_seed(member.train_config, index),
                "epochs": len(result.history),
                "best_epoch": result.best_epoch,
                "best_val_loss": min((row["val_loss"] for row in result.history), default=float("nan")),
                "train_seconds": result.train_seconds,
                "test": {
                    key: value
                    for key, value in score(prepared, forecast_windows(model_, prepared, prepared.test)).items()
                    if key != "per_series"
                }
                if tested
                else None,
            }
            for index, (member, model_, result) in enumerate(zip(setup.members, members, fits))
        ]
    return RunResult(
        model,
        setup.data_config,
        setup.model_config,
        setup.train_config,
        prepared,
        combined,
        metrics,
        forecast,
        baselines,
        members,
        fits,
    )


def member_seed(config: TrainConfig, index: int) -> int:
    """The seed of ensemble member `index`: seed * N + index, so that runs with seeds 0, 1, 2 train disjoint
    members (and member 0 of seed 0 is the single model of seed 0); N is the run's `ensemble`."""
    return config.seed * config.ensemble + index
