"""What `Forecaster.fit` does, step by step:

1. choose the settings from the data (`grunet.search`, for CSV data unless `search="none"` or they are given);
2. fit the chosen model (an ensemble of the best candidates) with the test part held out, and score it there
   against the baselines: metrics.json's `test`;
3. refit it on every point (train, validation and test), each member for the epoch count it stopped at: the model
   that `predict` and `export` use (`refit`, on by default for CSV data);
4. calibrate its prediction intervals (`grunet.evaluation.intervals`): on the validation origins for the test part's
   coverage (metrics.json), and for `predict` on those and the test part's errors, the latest a model made on
   points it never saw nor chose anything on.

With a run folder, step 2 and 3 write resumable checkpoints (checkpoint.pt: the phase, the training state, and in
phase 3 the scored members), so `Forecaster.resume` continues exactly where a killed run stopped.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from grunet.checkpoints import config_dict, save_checkpoint, save_training_state
from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.evaluation.intervals import (
    conformal_quantiles,
    normalised_errors,
    rescaled,
    series_scales,
    window_series,
)
from grunet.evaluation.scoring import forecast_windows, smoothed_forecasts, truth
from grunet.files import json_safe
from grunet.fitting import (
    MODEL_SETTINGS,
    RunResult,
    fit_run,
    member_state,
    restore_members,
    score_run,
    setup_run,
)
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.scaling import Scaler
from grunet.search import SearchConfig, SearchResult, search, search_table
from grunet.smoothing import combine
from grunet.smoothing import fit as fit_smoothing
from grunet.training.config import TrainConfig


@dataclass
class Outcome:
    """A fitted forecaster: the model predict uses, and how it was chosen and scored."""

    model: GRUNet | Ensemble  # refit on every point (or the scored model, without a refit)
    scaler: Scaler  # the model's
    series_names: list[str]  # the series the model knows, in the scaler's order
    data_config: DataConfig  # resolved: the model's data settings
    config: dict  # config.json: the chosen settings (repeatable with --config, no search)
    metrics: dict  # metrics.json
    scored: RunResult  # step 2: the model scored on the test part, its windows and forecasts
    intervals: dict | None  # predict's: levels, half-widths per level and step, the window norm they scale by
    searched: SearchResult | None
    test_intervals: dict | None = None  # the test part's (from validation errors alone)
    smoothing: dict | None = None  # the weight of the Holt-Winters forecast in predict's, and each series' model
    search: dict | None = None  # what the search found ({"summary", "table", "text"}), also after a resume


def fit_forecaster(
    series: SeriesSet,
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    search_config: SearchConfig,
    members: list[dict] | None = None,
    folder: Path | None = None,
    progress=None,
    resume: dict | None = None,
    intervals: dict | None = None,
) -> Outcome:
    """Steps 1-4 for `series` with the given settings (None: chosen). members: an ensemble's per-member settings
    and intervals: their half-widths (a config.json's, chosen by an earlier search: then nothing is searched).
    folder: where checkpoints and config.json go; progress: a `grunet.progress.Progress`; resume: a checkpoint.pt
    state to continue from."""
    tutorial = data_config.data == "sine"
    searched = None
    searching = members is None and resume is None and search_config.search == "auto" and not tutorial
    if searching and data_config.resolve(series).val_size == 0:
        warnings.warn(
            "the series are too short for a validation part to choose settings on: the default "
            "settings are trained (give them, or --search none, to silence this)"
        )
        searching = False
    if searching:
        searched = search(
            series, data_config, model_config, train_config, search_config, None if progress is None else progress.trial
        )
        # the chosen settings; their epoch counts replace early stopping, so the validation part trains too
        data_config = dataclasses.replace(data_config, **searched.data_settings, val_size=0)
        members = searched.member_settings
        if all(member.get("epochs") == 0 for member in members):
            warnings.warn(
                "every chosen candidate was best at epoch 0, before any training: the forecast is the untrained "
                "starting point (with the autoregressive skip, its least-squares fit, which reads no --features or "
                "--future-features); train longer (--epochs) for the GRU to learn anything"
            )
    # what the search found, for metrics.json, search.csv and the printed table: carried in every checkpoint, so
    # that a resumed run reports it as the run left alone would (resuming does not search again)
    found = None if searched is None else search_record(searched)
    if resume is not None:
        found = resume.get("search")
    setup = setup_run(data_config, model_config, train_config, series, members)
    setup.smoothing = search_config.weight(data_config) if searched is None else searched.smoothing
    repeat = dataclasses.replace(search_config, smoothing=setup.smoothing)
    if searched is not None:  # the chosen settings, repeated without a search
        repeat = dataclasses.replace(repeat, search="none")
    config = config_dict(setup.data_config, setup.model_config, setup.train_config, repeat, members)
    config["data_fingerprint"] = series.fingerprint
    # normalised errors are in the units of the scaler of the phase that measured them: the search's, the scored
    # model's, the refit's (each fitted on more points); each is calibrated in the units of the model it serves
    scored_scales = series_scales(setup.prepared)
    val_errors, val_series = None, None
    if searched is not None:  # in the scored model's units
        val_series = searched.residual_series
        val_errors = rescaled(searched.residuals, val_series, searched.residual_scales, scored_scales)
    if val_errors is None and intervals is not None and intervals.get("errors"):  # a repeat: the search's errors
        val_errors = np.asarray(intervals["errors"], dtype=np.float64)  # (in the scored model's units, as saved)
        val_series = _saved_series(intervals.get("series"), len(val_errors), len(series.names))
    if val_errors is not None:  # calibrated on the search's validation origins, which a repeat has no more
        intervals = _calibrate(val_errors, cast(str, setup.model_config.window_norm), search_config.level)
    if intervals is not None:  # with val_errors: a config.json's intervals carry their errors
        # (a config.json's intervals without their errors, as a user may write them: the half-widths as given)
        config["intervals"] = {
            **intervals,
            "errors": None if val_errors is None else json_safe(val_errors.tolist()),
            "series": None if val_series is None else val_series.tolist(),
        }
    else:
        intervals = None  # from the scored model's validation part, below
    names = [setup.prepared.series.names[index] for index in setup.prepared.kept]
    if folder is not None and resume is None:
        from grunet.files import atomic_write_json

        atomic_write_json(folder / "config.json", config)
    phase = "scored" if resume is None else resume.get("phase", "scored")
    if phase == "scored":
        if progress is not None:
            progress.restart("train", setup.members)
        scored = fit_run(
            setup,
            None if progress is None else progress.update,
            _checkpoints(folder, setup, config, names, "scored", {"search": found}),
            resume,
        )
    else:  # killed during the refit: the scored members are in the checkpoint
        scored = score_run(setup, *restore_members(setup, cast(dict, resume)["scored"]))  # phase: from resume
    metrics = dict(scored.metrics)
    model, scaler, data, names_used = scored.model, setup.prepared.scaler, setup.data_config, names
    fitted_on = setup.prepared  # the points of the model predict uses
    refit = search_config.refit if search_config.refit is not None else not tutorial
    if refit and len(setup.prepared.test) > 0:
        final = _refit_settings(setup, scored)
        final_setup = setup_run(
            dataclasses.replace(setup.data_config, test_size=0, val_size=0),
            model_config,
            dataclasses.replace(train_config, ensemble=1),
            series,
            final,
        )
        saved = {
            "scored": [member_state(member, result) for member, result in zip(scored.members, scored.fits)],
            "search": found,
        }
        final_resume = resume if phase == "refit" else None
        if progress is not None:
            progress.restart("refit on every point", final_setup.members)
        result = fit_run(
            final_setup,
            None if progress is None else progress.update,
            _checkpoints(
                folder,
                final_setup,
                config,
                [final_setup.prepared.series.names[index] for index in final_setup.prepared.kept],
                "refit",
                saved,
            ),
            final_resume,
            score_test=False,
        )
        model, scaler, data = result.model, final_setup.prepared.scaler, final_setup.data_config
        names_used = [final_setup.prepared.series.names[index] for index in final_setup.prepared.kept]
        fitted_on = final_setup.prepared
        metrics["refit"] = {"points": "every", "epochs": [len(fit.history) for fit in result.fits]}
        metrics["train_seconds"] += result.fit.train_seconds
    window_norm = cast(str, setup.model_config.window_norm)  # resolved
    if intervals is None and len(setup.prepared.val):  # no search: the scored model's own validation part
        prepared = setup.prepared
        forecast = forecast_windows(scored.model, prepared, prepared.val)
        if setup.smoothing:
            forecast = combine(forecast, smoothed_forecasts(prepared, prepared.val), setup.smoothing)
        val_errors = normalised_errors(prepared, forecast, prepared.val, window_norm)
        val_series = window_series(prepared, prepared.val)
        intervals = _calibrate(val_errors, window_norm, search_config.level)
    test_errors, test_series = None, None
    if intervals is not None and metrics.get("test") is not None:  # how often the test points fall inside
        from grunet.evaluation.intervals import coverage, window_bounds

        prepared = scored.prepared
        actual = truth(prepared, prepared.test)
        metrics["test"]["coverage"] = {
            str(level): coverage(actual, lower, upper)
            for level, lower, upper in window_bounds(prepared, scored.test_forecast, prepared.test, intervals)
        }
        test_errors = normalised_errors(prepared, scored.test_forecast, prepared.test, window_norm)
        test_series = window_series(prepared, prepared.test)
    # predict's intervals: the validation errors and the test part's (the latest errors, of a model that never saw
    # them nor chose anything on them), in the units of the model predict uses (the refit's scaler saw the test
    # part too: a series that grew there has a larger scale); the test coverage above used the validation errors
    predict_scales = series_scales(fitted_on)
    pooled = [
        errors if series is None else rescaled(errors, series, scored_scales, predict_scales)
        for errors, series in ((val_errors, val_series), (test_errors, test_series))
        if errors is not None
    ]
    predict_intervals = intervals
    if intervals is not None and test_errors is not None and (val_errors is not None or len(test_errors) >= 10):
        predict_intervals = _calibrate(np.concatenate(pooled), window_norm, search_config.level)
    elif intervals is not None and val_errors is not None and fitted_on is not setup.prepared:
        predict_intervals = _calibrate(pooled[0], window_norm, search_config.level)
    if predict_intervals is not None:
        _warn_few_origins(predict_intervals)
    if found is not None:
        metrics["search"] = found["summary"]
    smoothing = None
    if setup.smoothing:  # predict's Holt-Winters models: fitted on every point, as the refit is
        fitted = fit_smoothing(
            [fitted_on.history(position) for position in range(len(fitted_on.kept))],
            cast(int, fitted_on.config.season),
        )
        smoothing = {"weight": setup.smoothing, **fitted.to_dict()}
        metrics["smoothing"] = setup.smoothing
    return Outcome(
        model,
        scaler,
        names_used,
        data,
        config,
        metrics,
        scored,
        predict_intervals,
        searched,
        intervals,
        smoothing,
        found,
    )


def _refit_settings(setup, scored: RunResult) -> list[dict]:
    """Per trained member, its settings with the epochs it kept (no early stopping: there is no validation part)."""
    settings = []
    for member, fit in zip(setup.members, scored.fits):
        model = {
            name: value
            for name, value in dataclasses.asdict(member.model_config).items()
            if name
            in ("hidden_size", "num_layers", "dropout", "reset_after", "window_norm", "ar", "input_steps", "seasonal")
        }
        settings.append(
            {
                **model,
                "lr": member.train_config.lr,
                "batch_size": member.train_config.batch_size,
                "epochs": fit.best_epoch,
                "patience": 0,
                "seed": member.train_config.seed,
                "lr_schedule": member.train_config.lr_schedule,
            }
        )
    assert all(
        set(item) - {"lr", "batch_size", "epochs", "patience", "seed", "lr_schedule"} <= MODEL_SETTINGS
        for item in settings
    )
    return settings


def _checkpoints(
    folder: Path | None, setup, config: dict, names: list[str], phase: str, saved: dict | None = None
) -> Callable[[dict, bool], None] | None:
    """The checkpoint callback of one phase: checkpoint.pt always, model.pt when it is the best so far."""
    if folder is None:
        return None
    has_val = len(setup.prepared.val) > 0

    def on_checkpoint(state: dict, improved: bool) -> None:
        save_training_state(folder / "checkpoint.pt", {**state, "phase": phase, **(saved or {})}, config)
        if improved or not has_val:  # model.pt always holds a usable model: the best so far, or the latest
            save_checkpoint(folder / "model.pt", setup.model, config, setup.prepared.scaler, names)

    return on_checkpoint


def _saved_series(saved, rows: int, count: int) -> np.ndarray | None:
    """A config.json's series of its interval errors (SeriesSet indices, one per row), where they fit the data."""
    if not isinstance(saved, list) or len(saved) != rows:
        return None
    if not all(isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count for index in saved):
        return None
    return np.asarray(saved, dtype=np.int64)


def _calibrate(errors: np.ndarray | None, window_norm: str, levels: list[int]) -> dict | None:
    """Interval half-widths per level and step from normalised errors (N, horizon) (None without levels or
    errors)."""
    if errors is None or not levels or not np.isfinite(errors).any():
        return None
    quantiles = conformal_quantiles(errors, list(levels))
    return {
        "levels": list(levels),
        "half_widths": quantiles.tolist(),
        "window_norm": window_norm,
        "origins": int(np.isfinite(errors).all(axis=1).sum()),
    }


def _warn_few_origins(intervals: dict) -> None:
    """Warns where the intervals' forecast origins are too few for a level: with n errors a p % interval needs
    n >= p / (100 - p) for its conformal quantile (19 at 95 %); below that it is the largest error, which a new
    point falls under with probability n / (n + 1). Said where that is more than 5 points under the level."""
    count = int(intervals.get("origins", 0))
    short = [level for level in intervals["levels"] if count / (count + 1) < level / 100 - 0.05]
    if count and short:
        warnings.warn(
            f"the prediction intervals are calibrated on {count} forecast origin(s) before the end: too few for "
            f"the {' and '.join(map(str, short))} % level(s), which take the largest error seen (expected to "
            f"cover about {100 * count / (count + 1):.0f} % of new points)"
        )


def search_record(searched: SearchResult) -> dict:
    """What a search found, as plain data (it goes into checkpoint.pt): metrics.json's section, search.csv's rows,
    the table `grunet train` prints."""
    found = {"summary": _search_summary(searched), "table": [trial.row() for trial in searched.trials]}
    plain = json.loads(json.dumps(found, default=lambda value: value.item()))  # numpy's numbers as Python's
    return {**plain, "text": search_table(searched)}


def _search_summary(searched: SearchResult) -> dict:
    """What metrics.json says of the search."""
    best = searched.combined if searched.smoothing else searched.chosen[0].score  # of the forecast made
    beaten_by = [name for name, value in searched.baselines.items() if value < best]
    return {
        "candidates": len(searched.trials),
        "tried": sum(trial.status == "ok" for trial in searched.trials),
        "seconds": round(searched.seconds, 2),
        "validation_mase": best,
        "held_out": searched.held_out,
        "baselines": searched.baselines,
        "chosen": [trial.row() for trial in searched.chosen],
        "loses_to": beaten_by,
    }
