"""Fitting a run's model: resolve the settings for the data, prepare the windows, train one model or an ensemble
(resumable from a checkpoint), and score it and the baselines on the test part. `grunet.forecaster.Forecaster`
drives it.
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from grunet.data.config import DataConfig, load_series
from grunet.data.series import SeriesSet
from grunet.evaluation.scoring import baseline_forecasts, forecast_test, score
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.training import distributed
from grunet.training.train import FitResult, TrainConfig, fit
from grunet.windows import Prepared, prepare


@dataclass
class RunSetup:
    """A run ready to train: resolved configs, prepared data, and the initialised model on its device."""
    data_config: DataConfig
    model_config: ModelConfig
    train_config: TrainConfig
    prepared: Prepared
    model: GRUNet


@dataclass
class RunResult:
    model: GRUNet | Ensemble           # an Ensemble with train_config.ensemble > 1
    data_config: DataConfig          # resolved
    model_config: ModelConfig        # resolved
    train_config: TrainConfig        # resolved
    prepared: Prepared
    fit: FitResult
    metrics: dict                    # what metrics.json holds
    test_forecast: np.ndarray        # (N_test, horizon), original units
    baseline_forecasts: dict         # name -> (N_test, horizon), original units, the same test windows


def setup_run(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig,
              series: SeriesSet | None = None) -> RunSetup:
    """Loads and checks the data, resolves every 'auto' setting, prepares the windows and seeds the model."""
    data_config.check()
    train_config.check()
    series = load_series(data_config) if series is None else series
    if model_config.window_norm == "meanabs" and data_config.scale is None:
        data_config = dataclasses.replace(data_config, scale="none")  # the window's own scale replaces the series'
    data_config = data_config.resolve(series)
    prepared = prepare(series, data_config)
    for name in prepared.skipped:
        warnings.warn(f"series {name!r} is shorter than window + horizon + test and validation parts; skipped")
    tutorial = data_config.data == "sine"
    train_config = train_config.resolve(len(prepared.val) > 0, tutorial)
    train_config.device = distributed.device_for(train_config.device)  # under torchrun: cuda -> cuda:LOCAL_RANK
    model_config = copy.copy(model_config)
    model_config.input_size, model_config.output_size = len(prepared.columns), data_config.horizon
    known = prepared.train.known
    model_config.future_size = 0 if known is None else known.stop - known.start
    model_config.mask = bool(data_config.pad)
    if model_config.window_norm is None:
        model_config.window_norm = "none" if tutorial else "last"
    torch.manual_seed(member_seed(train_config, 0))  # = seed for a single model
    model = GRUNet.from_config(model_config).to(torch.device(train_config.device))
    return RunSetup(data_config, model_config, train_config, prepared, model)


def fit_run(setup: RunSetup, on_epoch: Callable[[dict], None] | None = None,
            on_checkpoint: Callable[[dict, bool], None] | None = None, resume: dict | None = None) -> RunResult:
    """Trains the set-up model (or continues from `resume`), then scores it and the baselines on the test part.

    With train_config.ensemble = N > 1, N models are trained one after another, member i from `member_seed` (member
    0 is `setup.model`); the run's model is their `Ensemble` (the median forecast), and metrics.json reports each
    member beside it. Checkpoint states carry the finished members, so `resume` continues inside the ensemble.
    History rows carry the member's index.
    """
    device = torch.device(setup.train_config.device)
    prepared, config = setup.prepared, setup.train_config
    train, val = prepared.train.to(device), prepared.val.to(device)
    finished = [] if resume is None else list(resume.get("finished", []))
    members, fits = [], []
    for position, done in enumerate(finished):  # members completed before the interruption
        member = setup.model if position == 0 else GRUNet.from_config(setup.model_config).to(device)
        member.load_state_dict(done["model"])
        members.append(member)
        fits.append(FitResult(**{key: value for key, value in done.items() if key != "model"}))
    for index in range(len(finished), config.ensemble):
        member_config = dataclasses.replace(config, seed=member_seed(config, index))
        if index == 0:
            member = setup.model
        else:
            torch.manual_seed(member_config.seed)
            member = GRUNet.from_config(setup.model_config).to(device)

        def member_epoch(row: dict, index=index) -> None:
            if on_epoch is not None:
                on_epoch({**row, "member": index})

        def member_checkpoint(state: dict, improved: bool, index=index, finished=finished) -> None:
            if on_checkpoint is not None:
                on_checkpoint({**state, "member": index, "finished": finished}, improved)

        member_resume = resume if resume is not None and resume.get("member", 0) == index else None
        result = fit(member, train, val, member_config, member_epoch, member_checkpoint, member_resume)
        members.append(member)
        fits.append(result)
        if index + 1 < config.ensemble:
            weights = {name: value.detach().cpu().clone() for name, value in member.state_dict().items()}
            finished = finished + [{"model": weights, **dataclasses.asdict(result)}]
    model = members[0] if len(members) == 1 else Ensemble(members)
    tested = len(prepared.test) > 0  # test_size 0: a final fit, nothing held out to score
    forecast, model_metrics, baselines, baseline_metrics, best_by, best = \
        np.zeros((0, prepared.config.horizon)), None, {}, {}, None, None
    if tested:
        forecast = forecast_test(model, prepared)
        model_metrics = score(prepared, forecast)
        baselines = baseline_forecasts(prepared)
        baseline_metrics = {name: score(prepared, values) for name, values in baselines.items()}
        # one series: rank by MSE; many: by mean MASE, which does not let the largest series decide alone
        best_by = "mse" if len(model_metrics["per_series"]) == 1 else "mase"
        ranking = {"model": model_metrics[best_by], **{name: m[best_by] for name, m in baseline_metrics.items()}}
        best = min(ranking, key=lambda name: np.inf if np.isnan(ranking[name]) else ranking[name])
    history = [{**row, "member": index} for index, result in enumerate(fits) for row in result.history] \
        if len(fits) > 1 else fits[0].history
    combined = FitResult(history, fits[-1].best_epoch, any(result.stopped_early for result in fits),
                         sum(result.train_seconds for result in fits))
    metrics = {"test": model_metrics, "baselines": baseline_metrics, "best_by": best_by,
               "best": best,
               "epochs": sum(len(result.history) for result in fits), "best_epoch": combined.best_epoch,
               "stopped_early": combined.stopped_early, "train_seconds": combined.train_seconds,
               "test_windows": len(prepared.test), "skipped_series": prepared.skipped,
               **({"processes": distributed.world_size()} if distributed.active() else {})}
    if len(members) > 1:
        metrics["members"] = [
            {"seed": member_seed(config, index), "epochs": len(result.history), "best_epoch": result.best_epoch,
             "best_val_loss": min((row["val_loss"] for row in result.history), default=float("nan")),
             "train_seconds": result.train_seconds,
             "test": {key: value for key, value in score(prepared, forecast_test(member, prepared)).items()
                      if key != "per_series"} if tested else None}
            for index, (member, result) in enumerate(zip(members, fits))]
    return RunResult(model, setup.data_config, setup.model_config, setup.train_config, prepared, combined,
                     metrics, forecast, baselines)


def member_seed(config: TrainConfig, index: int) -> int:
    """The seed of ensemble member `index`: seed * N + index, so that runs with seeds 0, 1, 2 train disjoint
    members (and member 0 of seed 0 is the single model of seed 0)."""
    return config.seed * config.ensemble + index
