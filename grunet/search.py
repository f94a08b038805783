"""Settings chosen from the data: a small search over candidate settings, each scored by rolling-origin validation.

Every candidate is trained on each series' points before its validation part (never the test part) and forecasts
from every origin in the validation part, a horizon ahead each (``val_size - horizon + 1`` origins per series, see
`grunet.data.config.validation_size`); its score is the mean MASE over series and origins. Two stages keep the
search small:

1. the data's view: the window (1, 2 and 3 seasons for seasonal data, else a few lag counts, as far as the series'
   lengths allow) × the normalisation (each window divided by its mean absolute value; per-series standardising
   with each window shifted by its last value; per-series standardising alone), with a GRU of 32 units, one layer
   and the autoregressive skip over the whole window;
   plus, for seasonal data, the change from one season back (the model starts at the seasonal naive forecast);
   plus, for positive series, the log of the values shifted by the window's last one, and for seasonal data the
   change in the log from one season back (growth in proportion, as of a series whose swings grow with its level);
2. the model, around the best of stage 1: no skip, 64 units, two layers, another learning rate.

The `top_k` best candidates that share the winner's window and scaling become the ensemble (each with the epoch
count its early stopping found); a setting the user gave is fixed, never searched. Candidates not started within
`time_budget` seconds are skipped (the first always runs; the log views come after the others, so a budget that
binds on long data drops them first).

The ensemble's forecast is then combined with each series' Holt-Winters forecast (`grunet.smoothing`), the weight
`SearchConfig.smoothing` (default `SMOOTHING`). The ensemble's own validation score cannot judge that weight: it is
the least of the candidates' on those very origins, biased low, and the GRU alone would win where it then loses on
new points. So the origins are split in halves (by time within each series) and each half is forecast by the
ensemble chosen on the other half's scores; where that held-out forecast alone beats the combination (over at least
`HELD_OUT` windows), the default weight shrinks, to 0 where it is 30 % better (`JUDGED`; a weight the user gave
stands). The held-out errors of the forecast made calibrate the intervals.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import NamedTuple, cast

import numpy as np
import torch

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.evaluation.scoring import (
    baseline_forecasts,
    forecast_windows,
    origins,
    smoothed_forecasts,
    window_mase,
    window_scorer,
)
from grunet.files import check_types
from grunet.fitting import fit_run, setup_run
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.smoothing import combine
from grunet.training import distributed
from grunet.training.config import TrainConfig
from grunet.training.train import TrainingDiverged
from grunet.windows import Prepared

SEARCHES = ("auto", "none")
SMOOTHING = 0.75  # the default weight of the Holt-Winters forecast (benchmarks/NOTES.md: chosen on the validation
#                   corpus; the validation origins cannot choose it, they favour the GRU candidates chosen on them)
JUDGED = (0.7, 0.9)  # the default weight falls linearly to 0 as the GRU alone's held-out MASE over the
#                     combination's falls from 0.9 to 0.7 ...
HELD_OUT = 8  # ... over at least this many held-out windows (benchmarks/NOTES.md: both chosen on the corpus)


class View(NamedTuple):
    """A candidate's view of the data."""

    window_norm: str  # `ModelConfig.window_norm`
    scale: str  # the per-series scaling it goes with (`DataConfig.scale`)
    seasonal: bool  # the model forecasts the change from one season back (`ModelConfig.seasonal`; seasonal data)
    log: bool  # it models the log of the values (`DataConfig.log`; positive series: a level shift there is a
    #            change in proportion)

    @property
    def scaling(self) -> tuple[str, bool]:
        """What the members of one ensemble share: they read one input, scaled one way."""
        return self.scale, self.log


NORMS = {
    "meanabs": View("meanabs", "none", False, False),
    "last": View("last", "standard", False, False),
    "standard": View("none", "standard", False, False),
    "seasonal": View("last", "standard", True, False),
    "log last": View("last", "standard", False, True),
    "log seasonal": View("last", "standard", True, True),
}


class NoValidation(ValueError):
    """The data leaves no validation origin to score candidates on."""


@dataclass
class SearchConfig:
    """How the forecaster's settings are chosen, refit and given intervals (the steps around training)."""

    search: str = "auto"  # auto: search the settings for CSV data (the sine keeps the tutorial's) | none
    time_budget: float = 60.0  # seconds the search may take; candidates not started by then are skipped
    top_k: int = 3  # the best candidates ensembled (their median forecast)
    refit: bool | None = None  # the model predict and export use is refit on every point after scoring
    #                                   (None: yes for CSV data with a test part; no for the sine)
    level: list[int] = field(default_factory=lambda: [80, 95])  # prediction intervals, percent ([]: none)
    smoothing: float | None = None  # the Holt-Winters forecast's weight beside the GRU's (`grunet.smoothing`):
    #                                 None: SMOOTHING for CSV data (less where the search finds the GRU alone
    #                                 better on held-out origins), 0 (the GRU alone) for the tutorial's sine and for
    #                                 data with --features / --future-features (Holt-Winters reads the target alone)

    def weight(self, data: DataConfig) -> float:
        """The Holt-Winters forecast's weight for this data (the default's is judged again by `search`)."""
        if self.smoothing is not None:
            return float(self.smoothing)
        return 0.0 if data.data == "sine" or data.features or data.future_features else SMOOTHING

    def check(self) -> None:
        check_types({item.name: getattr(self, item.name) for item in fields(self)}, SearchConfig, "SearchConfig")
        checks = [
            ("search", self.search in SEARCHES, f"one of {', '.join(SEARCHES)}"),
            ("time_budget", _number(self.time_budget) and self.time_budget > 0, "> 0 seconds"),
            (
                "top_k",
                isinstance(self.top_k, int) and not isinstance(self.top_k, bool) and 1 <= self.top_k <= 20,
                "an integer from 1 to 20",
            ),
            (
                "smoothing",
                self.smoothing is None or (_number(self.smoothing) and 0 <= self.smoothing <= 1),
                "a weight from 0 to 1 (or None: the default)",
            ),
            (
                "level",
                isinstance(self.level, (list, tuple))
                and all(
                    isinstance(level, int) and not isinstance(level, bool) and 0 < level < 100 for level in self.level
                ),
                "percentages between 0 and 100, e.g. 80,95",
            ),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")


@dataclass
class Candidate:
    """One combination of settings tried: the data's view (window, scaling) and the model's."""

    window: int
    norm: str  # a key of NORMS: the window norm and the per-series scaling it goes with
    hidden_size: int
    num_layers: int
    ar: int
    lr: float | None  # None: TrainConfig.resolve's for the data
    season: int = 1  # the data's season (for the seasonal view)
    epochs: int | None = None  # 0: not trained (a baseline: the least-squares skip as it starts)

    def member_settings(self) -> dict:
        """The ModelConfig / TrainConfig settings of this candidate (what `fitting.setup_run` takes per member)."""
        settings = dict(
            window_norm=NORMS[self.norm].window_norm,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            ar=self.ar,
            seasonal=self.season if NORMS[self.norm].seasonal else 0,
        )
        if self.epochs is not None:
            settings["epochs"] = self.epochs
        return settings if self.lr is None else {**settings, "lr": self.lr}

    @property
    def label(self) -> str:
        """The view's name, or for an untrained candidate the baseline it is: drift (the last value plus the mean
        change) or seasonal drift (one season back plus the mean change), of the log where the view takes it."""
        if self.epochs == 0 and self.ar == 1:
            view = NORMS[self.norm]
            return ("log " if view.log else "") + ("seasonal drift" if view.seasonal else "drift")
        return self.norm


@dataclass
class Trial:
    candidate: Candidate
    stage: int
    score: float = float("nan")  # mean MASE over series and validation origins
    origin_scores: list[float] = field(default_factory=list)  # per validation origin (window), in order
    best_epoch: int = 0
    lr: float = float("nan")  # the learning rate it trained with
    seconds: float = 0.0
    status: str = "skipped (time budget)"

    def row(self) -> dict:
        """One line of search.csv."""
        candidate = self.candidate
        return {
            "stage": self.stage,
            "window": candidate.window,
            "norm": candidate.label,
            "hidden_size": candidate.hidden_size,
            "num_layers": candidate.num_layers,
            "ar": candidate.ar,
            "lr": self.lr,
            "best_epoch": self.best_epoch,
            "score": self.score,
            "seconds": round(self.seconds, 3),
            "status": self.status,
            "origin_scores": " ".join(f"{value:.4g}" for value in self.origin_scores),
        }


@dataclass
class SearchResult:
    trials: list[Trial]
    chosen: list[Trial]  # the ensemble: best first
    data_settings: dict  # window and scale of the chosen, and the test part held out while choosing
    member_settings: list[dict]  # per chosen candidate, its settings and its epoch count
    baselines: dict  # baseline name -> mean validation MASE, on the same origins
    residuals: np.ndarray  # (N_val, horizon) the ensemble's validation errors, normalised (`intervals`)
    residual_series: np.ndarray  # (N_val,) their windows' series (SeriesSet indices)
    residual_scales: np.ndarray  # per series of the SeriesSet, the target's scale they are normalised by
    seconds: float
    smoothing: float = 0.0  # the Holt-Winters forecast's weight in the combined forecast
    combined: float = float("nan")  # the combined forecast's mean validation MASE
    held_out: dict = field(default_factory=dict)  # the ensemble chosen on the other half of the origins: its mean
    #   validation MASE alone and combined, over how many windows (`_held_out_forecast`; empty: not judged)


def search(
    series: SeriesSet,
    data_config: DataConfig,
    model_config: ModelConfig,
    train_config: TrainConfig,
    config: SearchConfig,
    on_trial: Callable[[int, int, Trial | None], None] | None = None,
) -> SearchResult:
    """Runs the search for `series` (the data's settings as given: None where chosen). on_trial(i, n, trial) is
    called before each candidate (trial None) and after it."""
    started = time.perf_counter()
    base = data_config.resolve(series)  # the season, the test and validation parts, what fits in the series
    season = cast(int, base.season)  # resolved
    points = max(len(values) for values in series.values)  # the longest series'
    if data_config.season is not None and season >= points:  # no series has a point one season back for MASE
        raise ValueError(
            f"season ({season}) is not shorter than the longest series ({points} points): the search scores "
            f"candidates by MASE, which looks one season back; give a shorter --season, or --search none"
        )
    windows = _windows(series, base) if data_config.window is None else [data_config.window]
    norms = _norms(data_config, model_config, season, series.positive())  # every point: the refit takes their log
    hidden = model_config.hidden_size or 32
    layers = model_config.num_layers or 1
    stage1 = [
        Candidate(
            window,
            norm,
            hidden,
            layers,
            window if model_config.ar is None else model_config.ar,
            train_config.lr,
            season,
        )
        for logged in (False, True)  # the log views last: a time budget that binds drops them first
        for window in windows
        for norm in norms
        if NORMS[norm].log == logged and (not NORMS[norm].seasonal or window >= season)
    ]
    if model_config.ar is None:  # the untrained baselines: a GRUNet whose skip over one lag starts at the drift
        stage1 += [
            Candidate(
                windows[0],
                next(name for name in names if name in norms),
                hidden,
                layers,
                1,
                train_config.lr,
                season,
                epochs=0,
            )
            for names in (("last", "log last"), ("seasonal", "log seasonal"))  # of the log where only it is tried
            if any(name in norms for name in names) and (names[0] == "last" or windows[0] >= season)
        ]
    if not stage1:  # --seasonal leaves the seasonal views alone, and they need a window of a season
        raise ValueError(
            f"every window the search can use ({', '.join(map(str, windows))}) is shorter than the season "
            f"({season}) that --seasonal reads back: give a --window of at least {season} (and series long enough "
            f"for it), or leave --seasonal out"
        )
    trials: list[Trial] = []
    total = len(stage1) + 4
    kept: dict[int, tuple] = {}  # trial index -> (models of the trial, prepared)

    def run(candidate: Candidate, stage: int) -> Trial:
        trial = Trial(candidate, stage)
        trials.append(trial)
        if on_trial is not None:
            on_trial(len(trials), total, None)
        over = any(done.status == "ok" for done in trials) and time.perf_counter() - started > config.time_budget
        if distributed.on_main(lambda: over):  # rank 0's clock decides for all (under torchrun, each rank's own
            return trial  # could skip another candidate, and the ranks' collectives then mismatch)
        trial_started = time.perf_counter()
        try:
            _fit_trial(trial, candidate)
        except NoValidation:
            raise
        except (ValueError, TrainingDiverged) as error:
            trial.status = f"failed: {' '.join(str(error).split())[:200]}"
            trial.seconds = time.perf_counter() - trial_started
        if on_trial is not None:
            on_trial(len(trials), total, trial)
        return trial

    def _fit_trial(trial: Trial, candidate: Candidate) -> None:
        trial_started = time.perf_counter()
        setup = setup_run(
            dataclasses.replace(
                data_config, window=candidate.window, scale=NORMS[candidate.norm].scale, log=NORMS[candidate.norm].log
            ),
            model_config,
            dataclasses.replace(train_config, ensemble=1),
            series,
            [candidate.member_settings()],
        )
        result = fit_run(setup, score_test=False)
        prepared = setup.prepared
        if len(prepared.val) == 0:
            raise NoValidation(
                "no series has a validation part to choose settings on: give --search none and the "
                "settings, or longer series"
            )
        forecast = forecast_windows(result.model, prepared, prepared.val)
        scores = window_mase(prepared, forecast, prepared.val)
        trial.score = float(np.nanmean(scores)) if np.isfinite(scores).any() else float("inf")
        trial.origin_scores = [float(value) for value in scores]
        trial.best_epoch, trial.lr = result.fit.best_epoch, cast(float, setup.train_config.lr)  # resolved
        trial.seconds, trial.status = time.perf_counter() - trial_started, "ok"
        kept[len(trials) - 1] = (result.model, prepared)

    for candidate in stage1:
        run(candidate, 1)
    if not any(trial.status == "ok" for trial in trials):
        raise ValueError(f"no candidate of the search could be trained: {trials[0].status}")
    trained = [trial for trial in trials if trial.status == "ok" and trial.candidate.epochs != 0]
    best = min(trained or [trial for trial in trials if trial.status == "ok"], key=lambda trial: trial.score)
    tried = {dataclasses.astuple(trial.candidate) for trial in trials}
    for changes in _stage2(best, model_config, train_config):
        candidate = dataclasses.replace(best.candidate, **changes)
        if dataclasses.astuple(candidate) not in tried:
            run(candidate, 2)
    ok = {index: trial.score for index, trial in enumerate(trials) if trial.status == "ok"}
    chosen = _choose(trials, ok, config.top_k)
    view = NORMS[trials[chosen[0]].candidate.norm]  # members share its per-series scaling; each reads its own window
    ensemble, prepared = _ensemble(trials, kept, chosen)
    forecast = forecast_windows(ensemble, prepared, prepared.val)
    smoothed = smoothed_forecasts(prepared, prepared.val)  # NaN for a series too short to fit: the GRU alone
    others = baseline_forecasts(prepared, prepared.val, smoothed)
    mase = window_scorer(prepared, prepared.val)
    baselines = {name: _mean(mase(values)) for name, values in others.items()}
    weight = config.weight(data_config)
    held_out = _held_out_forecast(trials, kept, config.top_k, prepared)
    scores = mase(held_out)
    counted = int(np.isfinite(scores).sum())
    judged = {}
    if weight and counted:
        judged = {
            "windows": counted,
            "alone": _mean(scores),
            "combined": _mean(mase(combine(held_out, smoothed, weight))),
        }
        if config.smoothing is None and counted >= HELD_OUT:  # less Holt-Winters where the GRU alone is better
            weight = judged_weight(weight, judged["alone"], judged["combined"])
    combined = combine(forecast, smoothed, weight)
    score = _mean(mase(combined))
    from grunet.evaluation.intervals import normalised_errors, series_scales, window_series

    # the intervals: each window's error from the ensemble not chosen on it where there is one (the errors on the
    # origins the ensemble was chosen on are too small), else the ensemble's
    final = np.where(np.isfinite(held_out).all(axis=1)[:, None], combine(held_out, smoothed, weight), combined)
    residuals = normalised_errors(prepared, final, prepared.val, view.window_norm)  # the best's norm
    longest = cast(int, prepared.config.window)  # the ensemble's data: the longest of its windows (`_ensemble`)
    members = [
        {
            **trials[index].candidate.member_settings(),
            "lr": trials[index].lr,
            "epochs": trials[index].best_epoch,
            "input_steps": trials[index].candidate.window,
        }
        for index in chosen
    ]
    return SearchResult(
        trials,
        [trials[index] for index in chosen],
        # the test part the search held out: 0 where the series were too short for both parts, its validation part
        # then the end of the data, which a scored run without a validation part would take back as its test part
        # (and score the points the settings were chosen on)
        {"window": longest, "scale": view.scale, "log": view.log, "test_size": base.test_size},
        members,
        baselines,
        residuals,
        window_series(prepared, prepared.val),
        series_scales(prepared),
        time.perf_counter() - started,
        weight,
        score,
        judged,
    )


def _mean(scores: np.ndarray) -> float:
    """The mean of the finite-or-inf scores (NaN ignored); NaN, without numpy's warning, where there are none (a
    panel of constant series has no MASE scale)."""
    kept = scores[~np.isnan(scores)]
    return float(kept.mean()) if len(kept) else float("nan")


def _windows(series: SeriesSet, base: DataConfig) -> list[int]:
    """Window candidates: 1, 2 and 3 seasons, or (no season) max(8, 2h), max(16, 4h), max(32, 6h) steps; each at most
    what the median series has before its validation and test parts, less a horizon."""
    season, horizon = cast(int, base.season), base.horizon  # `base` is resolved
    wanted = (
        [season, 2 * season, 3 * season]
        if season > 1
        else [max(8, 2 * horizon), max(16, 4 * horizon), max(32, 6 * horizon)]
    )
    lengths = sorted(len(values) for values in series.values)
    room = max(1, lengths[len(lengths) // 2] - cast(int, base.test_size) - cast(int, base.val_size) - horizon)
    return sorted({min(window, room) for window in wanted})


def _norms(data_config: DataConfig, model_config: ModelConfig, season: int, positive: bool) -> list[str]:
    """The views to try: all (the seasonal ones for seasonal data, the log ones for positive series), or those that
    agree with a window norm, scaling, log or seasonal setting the user gave."""
    return [
        name
        for name, (norm, scale, seasonal, log) in NORMS.items()
        if model_config.window_norm in (None, norm)
        and data_config.scale in (None, scale)
        and (not seasonal or season > 1)
        and model_config.seasonal in (None, season if seasonal else 0)
        and data_config.log in (None, log)
        and (not log or positive)
    ] or (["log last"] if data_config.log else ["last"])


def _stage2(best: Trial, model_config: ModelConfig, train_config: TrainConfig) -> list[dict]:
    """Changes to the best candidate's model that the user left open: no skip, 64 units, two layers, and a learning
    rate three times lower than the one it trained with."""
    changes: list[dict] = []
    if model_config.ar is None and best.candidate.ar:
        changes.append({"ar": 0})
    if best.candidate.epochs == 0:  # only baselines trained (the others failed): nothing to vary
        return []
    if model_config.hidden_size is None:
        changes.append({"hidden_size": 64})
    if model_config.num_layers is None:
        changes.append({"num_layers": 2})
    if train_config.lr is None:
        changes.append({"lr": float(f"{best.lr / 3:.2g}")})
    return changes


def judged_weight(weight: float, alone: float, combined: float) -> float:
    """The default weight shrunk by the held-out MASE of the GRU alone over the combination's: whole at
    `JUDGED[1]` and above, 0 at `JUDGED[0]` and below, linear between."""
    low, high = JUDGED
    return weight * float(np.clip((alone / combined - low) / (high - low), 0, 1))


def _choose(trials: list[Trial], scores: dict[int, float], top_k: int) -> list[int]:
    """The ensemble by `scores` (trial index -> mean validation MASE): the best and the next best that share its
    per-series scaling, `top_k` in all, best first."""
    best = min(scores, key=scores.__getitem__)
    scaling = NORMS[trials[best].candidate.norm].scaling
    same = [index for index in scores if NORMS[trials[index].candidate.norm].scaling == scaling]
    return sorted(same, key=scores.__getitem__)[:top_k]


def _ensemble(trials: list[Trial], kept: dict[int, tuple], chosen: list[int]) -> tuple[GRUNet | Ensemble, Prepared]:
    """The chosen trials' models as one (their median), and the data prepared for the longest window of them."""
    longest = max(trials[index].candidate.window for index in chosen)
    prepared = next(kept[index][1] for index in chosen if trials[index].candidate.window == longest)
    models = [kept[index][0] for index in chosen]
    for model, index in zip(models, chosen):
        model.config.input_steps = trials[index].candidate.window  # reads its own window of the longest
    return (models[0] if len(models) == 1 else Ensemble(models)), prepared


def _later_half(prepared: Prepared) -> np.ndarray:
    """(N_val,) bool: whether each validation window is in the later half of its series' origins (a series with one
    origin: in alternate series, by the series' index)."""
    owners = prepared.val.series.cpu().numpy()
    counts = np.bincount(owners, minlength=len(prepared.kept))
    rank = np.arange(len(owners)) - (np.cumsum(counts) - counts)[owners]  # windows come series by series, in time
    kept = np.asarray(prepared.kept)[owners]
    return np.where(counts[owners] > 1, rank >= counts[owners] // 2, kept % 2 == 1)


def _window_keys(prepared: Prepared) -> np.ndarray:
    """(N_val,) each validation window as one ascending number, the same for every window length: its series'
    index and its origin's place in the series."""
    owners = prepared.val.series.cpu().numpy()
    place = origins(prepared, prepared.val) - prepared.offsets[owners] - prepared.pad
    longest = max(len(values) for values in prepared.series.values)
    return np.asarray(prepared.kept, dtype=np.int64)[owners] * (longest + 1) + place


def _held_out_forecast(trials: list[Trial], kept: dict[int, tuple], top_k: int, prepared: Prepared) -> np.ndarray:
    """(N_val, horizon) the forecast of `prepared`'s validation windows by ensembles not chosen on them: the later
    half of the origins by the ensemble chosen on the earlier half's scores, and the reverse (NaN where a half has
    no window). A candidate's score on its own validation origins is biased low (the least of ~24 candidates',
    each stopped early there); these are not."""
    held_out = np.full((len(prepared.val), prepared.config.horizon), np.nan)
    wanted = _window_keys(prepared)
    if not len(wanted):
        return held_out
    later = {index: _later_half(kept[index][1]) for index, trial in enumerate(trials) if trial.status == "ok"}
    for half in (False, True):
        scores = {}
        for index, halves in later.items():
            values = np.asarray(trials[index].origin_scores)[halves == half]
            scores[index] = float(np.nanmean(values)) if np.isfinite(values).any() else np.inf
        if not scores or not np.isfinite(min(scores.values())):
            continue
        ensemble, own = _ensemble(trials, kept, _choose(trials, scores, top_k))
        other = _later_half(own) != half
        keys = _window_keys(own)[other]
        place = np.minimum(np.searchsorted(wanted, keys), len(wanted) - 1)
        found = wanted[place] == keys
        rows = torch.from_numpy(np.flatnonzero(other)[found])
        held_out[place[found]] = forecast_windows(ensemble, own, own.val.subset(rows))
    return held_out


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def search_table(result: SearchResult, top: int = 5) -> str:
    """The best candidates and the baselines' validation scores, as printed by `grunet train`."""
    lines = [f"{'validation MASE':>16}  window  norm          hidden  layers  ar   lr       epochs"]
    ranked = sorted((trial for trial in result.trials if trial.status == "ok"), key=lambda trial: trial.score)
    for trial in ranked[:top]:
        candidate = trial.candidate
        mark = " <- ensembled" if trial in result.chosen else ""
        lines.append(
            f"{trial.score:>16.4g}  {candidate.window:>6}  {candidate.label:<12}  {candidate.hidden_size:>6}  "
            f"{candidate.num_layers:>6}  {candidate.ar:>3}  {trial.lr:<7.2g}  {trial.best_epoch:>6}{mark}"
        )
    for name, value in result.baselines.items():
        lines.append(f"{value:>16.4g}  {name.replace('_', ' ')}")
    judged = result.held_out
    if judged:
        lines.append(
            f"{judged['alone']:>16.4g}  held out: the ensembled alone, chosen on the other half of "
            f"{judged['windows']} origins"
        )
        lines.append(f"{judged['combined']:>16.4g}  held out: the same with holt winters")
        if judged["windows"] < HELD_OUT:
            lines.append(f"{'':>16}  (fewer than {HELD_OUT} held-out windows: too few to move the weight)")
    if result.smoothing:
        lines.append(
            f"{result.combined:>16.4g}  the ensembled and holt winters, {1 - result.smoothing:.2g} : "
            f"{result.smoothing:.2g}  <- the forecast"
        )
    return "\n".join(lines)
