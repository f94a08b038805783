"""A forecasting run, from series to metrics: load, split by time, scale, window, train, evaluate against baselines,
and forecast past the end of the data. Library code: returns values, prints nothing.
"""
from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from grunet import baselines, distributed
from grunet.datasets import DataConfig, SeriesSet, load_series, model_columns, model_values
from grunet.metrics import average_metrics, forecast_metrics, naive_scale
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.train import FitResult, TrainConfig, fit, predict
from grunet.scaling import Scaler
from grunet.windows import SplitSizes, WindowSet, split_series


@dataclass
class Prepared:
    """Series split, scaled and windowed. raw: (total, F_csv) all kept series flat, in original units.

    Each kept series is a block of the flat arrays: `pad` rows of padding (NaN in raw, zeros in the model's
    values), then its points; `bounds(position)` gives where its points are.
    """
    series: SeriesSet
    config: DataConfig
    kept: list[int]                  # indices into series of the series used
    skipped: list[str]               # names of series too short (with padding: fewer than test size + 1 points)
    scaler: Scaler                   # one row per kept series
    offsets: np.ndarray              # (len(kept) + 1,) where each kept series' block starts in the flat arrays
    splits: list[SplitSizes]
    raw: np.ndarray
    train: WindowSet
    val: WindowSet
    test: WindowSet
    columns: list[str] = field(default_factory=list)  # the model's input columns, target first
    pad: int = 0                     # padding rows at the start of each block (window - 1 when padding is on)

    def bounds(self, position: int) -> tuple[int, int]:
        """[start, end) of kept series `position`'s points in the flat arrays."""
        return int(self.offsets[position]) + self.pad, int(self.offsets[position + 1])


def _starts(offsets: np.ndarray, splits: list[SplitSizes], part: str, pad: int) -> tuple[np.ndarray, np.ndarray]:
    starts, series = [], []
    for index, split in enumerate(splits):
        first, last = getattr(split, part)
        if last >= first:
            starts.append(offsets[index] + pad + np.arange(first, last + 1))
            series.append(np.full(last + 1 - first, index))
    if not starts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(starts), np.concatenate(series)


def prepare(series: SeriesSet, config: DataConfig) -> Prepared:
    """Splits every series by time, fits the scaler on the train parts, and builds the three window sets.

    `config` must be resolved. Without padding, a series too short for one training window and its test windows is
    skipped (named in `skipped`). With padding, windows may reach before a series' start, so a short series still
    gets its test forecast; only series with fewer than test_size + 1 points (horizon + 1 with the default test size)
    are skipped. If no training window is left, ValueError.
    """
    window, horizon, test_size, val_size = config.window, config.horizon, config.test_size, config.val_size
    pad = window - 1 if config.pad else 0
    kept, skipped, splits = [], [], []
    for index, values in enumerate(series.values):
        split = split_series(len(values), window, horizon, test_size, val_size, bool(config.pad))
        too_short = len(values) < test_size + 1 if config.pad else len(values) < config.min_length_unpadded
        if too_short:  # with padding: the whole test part needs one observed point before it
            skipped.append(series.names[index])
            continue
        kept.append(index)
        splits.append(split)
    if not any(split.train[1] >= split.train[0] for split in splits):
        shortest = min(len(values) for values in series.values)
        first = "1 observed step (padding on)" if config.pad else f"window ({window})"
        raise ValueError(f"every series is too short: {first} + horizon ({horizon}) + test size ({test_size}) + "
                         f"validation size ({val_size}) needs at least "
                         f"{(1 if config.pad else window) + horizon + test_size + val_size} points in one series, "
                         f"the longest has {max(len(values) for values in series.values)} (shortest {shortest})")
    if config.log and any((series.values[index][:, 0] <= 0).any() for index in kept):
        raise ValueError("--log needs a positive target, but the target has values <= 0")
    # the train part only (a padded series may have fewer than two train points: at least its first point)
    fit_parts = [series.values[index][:max(split.train_end, 1)] for index, split in zip(kept, splits)]
    scaler = Scaler.fit(fit_parts, config.scale, config.log)
    columns, known = model_columns(config, series.columns)
    blocks, raw_blocks = [], []
    for position, index in enumerate(kept):
        values = series.values[index]
        block = model_values(config, scaler, position, values, series.times[index])
        blocks.append(np.concatenate([np.zeros((pad, block.shape[1])), block]))
        raw_blocks.append(np.concatenate([np.full((pad, values.shape[1]), np.nan), values]))
    raw = np.concatenate(raw_blocks)
    offsets = np.concatenate([[0], np.cumsum([len(block) for block in blocks])])
    flat = torch.tensor(np.concatenate(blocks), dtype=torch.float32)
    sets = {}
    for part in ("train", "val", "test"):
        starts, owners = _starts(offsets, splits, part, pad)
        sets[part] = WindowSet(flat, torch.from_numpy(starts), torch.from_numpy(owners), window, horizon, known)
    return Prepared(series, config, kept, skipped, scaler, offsets, splits, raw, sets["train"], sets["val"],
                    sets["test"], columns, pad)


def _origins(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """Flat index of the first forecast point of each window."""
    return windows.starts.cpu().numpy() + windows.window


def _truth(prepared: Prepared, windows: WindowSet) -> np.ndarray:
    """(N, horizon) targets in original units."""
    index = _origins(prepared, windows)[:, None] + np.arange(windows.horizon)[None, :]
    return prepared.raw[index, 0]


def baseline_forecasts(prepared: Prepared) -> dict[str, np.ndarray]:
    """Each baseline's (N_test, horizon) forecasts in original units, on exactly the test windows."""
    test, horizon, window = prepared.test, prepared.config.horizon, prepared.config.window
    owners = test.series.cpu().numpy()
    origins = _origins(prepared, test)
    raw_inputs = prepared.raw[origins[:, None] - window + np.arange(window)[None, :], 0]  # (N, W)
    forecasts = {"persistence": baselines.persistence(raw_inputs, horizon)}
    if prepared.config.season > 1:
        seasonal = np.empty((len(origins), horizon))
        for position in range(len(prepared.kept)):
            rows = owners == position
            start, end = prepared.bounds(position)
            history = prepared.raw[start:end, 0]
            seasonal[rows] = baselines.seasonal_naive(history, origins[rows] - start, horizon, prepared.config.season)
        forecasts["seasonal_naive"] = seasonal
    train = prepared.train
    model = baselines.LinearAR().fit(train.inputs()[..., 0].double().numpy(), train.targets().double().numpy())
    scaled = model.predict(test.inputs()[..., 0].double().numpy())
    forecasts["linear_ar"] = prepared.scaler.inverse_target(scaled, owners)
    return forecasts


def score(prepared: Prepared, forecast: np.ndarray) -> dict:
    """Metrics of (N_test, horizon) forecasts in original units: averaged over series, and per series."""
    test = prepared.test
    truth, owners = _truth(prepared, test), test.series.cpu().numpy()
    per_series = {}
    for position, index in enumerate(prepared.kept):
        rows = owners == position
        if not rows.any():
            continue
        (start, _), split = prepared.bounds(position), prepared.splits[position]
        in_sample = prepared.raw[start:start + split.train_end + prepared.config.val_size, 0]
        scale = naive_scale(in_sample, prepared.config.season)
        per_series[prepared.series.names[index]] = forecast_metrics(truth[rows], forecast[rows], scale)
    return {**average_metrics(list(per_series.values())), "per_series": per_series}


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


def train_run(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig,
              on_epoch: Callable[[dict], None] | None = None, series: SeriesSet | None = None) -> RunResult:
    """The main job in one call: `setup_run`, then `fit_run`."""
    return fit_run(setup_run(data_config, model_config, train_config, series), on_epoch)


def forecast_test(model: GRUNet | Ensemble, prepared: Prepared) -> np.ndarray:
    """The model's (N_test, horizon) forecasts of the test windows, in original units."""
    device = next(model.parameters()).device
    test = prepared.test.to(device)
    scaled = distributed.predict_all(model, test) if distributed.active() else predict(model, test)
    return prepared.scaler.inverse_target(scaled, prepared.test.series.cpu().numpy())
