"""Forecasts past the end of the data, the steps shared by every model format: the last window of each series as the
model sees it (`forecast_inputs`), and the model's outputs as a table in original units (`forecast_table`).

numpy and pandas only: `grunet predict --model FILE.onnx` (onnxruntime, `grunet.export.bundle`) and
`Forecaster.predict` (torch) both use it, so both cut the same windows, scale them the same way and write the same
table.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from grunet.data.config import DATAFRAME, DataConfig, load_series
from grunet.data.continuation import all_labels, array_labels, future_array, future_times_all
from grunet.data.series import BUILTIN, SeriesSet
from grunet.features import concatenated, model_columns, model_values
from grunet.files import dataclass_from_section
from grunet.scaling import Scaler

if TYPE_CHECKING:
    import torch


def data_config_from_dict(config: dict, source: str) -> DataConfig:
    """The data section of a run's config as a DataConfig; ValueError for a missing section or unknown settings."""
    return dataclass_from_section(config, "data", DataConfig, source)


def forecast_inputs(
    data_config: DataConfig,
    scaler: Scaler,
    series_names: list[str],
    data: str | pd.DataFrame | SeriesSet | None = None,
    input_size: int | None = None,
    future: str | pd.DataFrame | None = None,
) -> tuple[SeriesSet, np.ndarray, np.ndarray | None, np.ndarray]:
    """The last window of every series as the model sees it, scaled as at training time.

    Uses the run's data, or `data` (a CSV file or DataFrame with the same columns, or the SeriesSet read from
    one). A series shorter than the window is padded at the start (when the run was trained with padding). Returns
    the series, the model's input (num_series, window, F)
    float32, the known-future input (num_series, horizon, K) float32 or None (calendar features of the next horizon
    time stamps, and the --future-features read from the CSV file `future`), and each series' position in the
    run's scaler (num_series,).
    """
    if isinstance(data, SeriesSet):
        series = data
    elif isinstance(data, pd.DataFrame):
        series = load_series(data_config, data)
    elif data is None:  # the run's own data, as it named it (a path the user may never have typed)
        if data_config.data == DATAFRAME:
            raise ValueError(
                "this run was fitted on a DataFrame, which is not saved with it: pass the data to forecast from "
                "(--data FILE; data= in Python)"
            )
        if data_config.data not in BUILTIN and not Path(data_config.data).exists():
            raise ValueError(
                f"data file {data_config.data}, the data the run was trained on, does not exist: pass the data to "
                f"forecast from with --data FILE (data= in Python)"
            )
        series = load_series(data_config)
    else:
        series = load_series(dataclasses.replace(data_config, data=str(data)))
    columns, known = model_columns(data_config, series.columns)
    if input_size is not None and len(columns) != input_size:
        raise ValueError(
            f"the model takes {input_size} input column(s) but the data gives {len(columns)} ({', '.join(columns)})"
        )
    if future is not None and not data_config.future_features:
        raise ValueError(
            "--future gives values of future features, but this model was trained without --future-features"
        )
    lookup = {name: position for position, name in enumerate(series_names)}
    if len(lookup) == 1 and len(series.names) == 1:
        lookup = {series.names[0]: 0}  # one series in, one out: a renamed file of the same series
    unknown = [name for name in series.names if name not in lookup]
    if unknown:  # new series, or ones skipped in training as too short: the run has no scaling for them
        message = (
            f"{len(unknown)} series not in the run's training data (new, or skipped there as too short) "
            f"get no forecast: {', '.join(unknown[:10])}"
        )
        if len(unknown) == len(series.names):
            raise ValueError(
                f"no series of the data is in the run's training data; the run knows: {', '.join(list(lookup)[:10])}"
            )
        warnings.warn(message)
        kept = [index for index, name in enumerate(series.names) if name in lookup]
        series = SeriesSet(
            [series.names[i] for i in kept],
            [series.values[i] for i in kept],
            series.columns,
            [series.times[i] for i in kept],
            series.freq,
            fingerprint=series.fingerprint,
            time_format=series.time_format,
        )
    planned = _read_future(future, data_config, series) if data_config.future_features else None
    window, horizon = cast(int, data_config.window), data_config.horizon  # a run's data config is resolved
    positions = np.array([lookup[name] for name in series.names], dtype=np.int64)  # each series' scaler row
    short = [index for index, values in enumerate(series.values) if len(values) < window and not data_config.pad]
    if short:
        if known is not None:  # a series before it without forecast stamps is named first, as series by series
            for index in range(short[0]):
                series.future_times(index, horizon)
        name, values = series.names[short[0]], series.values[short[0]]
        raise ValueError(
            f"series {name!r} has {len(values)} points, fewer than the window ({window}), and the "
            f"model was trained without padding (--pad)"
        )
    # every series' last window at once, as one flat block of points (a short series padded with zeros before)
    tails = [values[-window:] for values in series.values]
    if data_config.log:
        _check_positive(
            series,
            [tail[:, 0] for tail in tails],
            f"in its last {window} points, the window the model reads",
            "retrain without the log (log=False, --no-log)",
        )
    lengths = np.array([len(tail) for tail in tails], dtype=np.int64)
    times = concatenated(series.times, last=window) if data_config.cycles else None
    rows = model_values(data_config, scaler, np.repeat(positions, lengths), np.concatenate(tails), times)
    inputs = np.zeros((len(tails), window, rows.shape[1]))
    ends = np.cumsum(lengths)
    inputs.reshape(-1, rows.shape[1])[
        np.arange(ends[-1]) + np.repeat(np.arange(len(tails)) * window + window - ends, lengths)
    ] = rows
    future_inputs = None
    if known is not None:  # the known columns over every series' horizon: calendar and future features
        when = future_array(series, horizon)  # all at once, or series by series:
        stamps = when if when is not None else [stamp for steps in future_times_all(series, horizon) for stamp in steps]
        ahead = np.full((len(tails) * horizon, series.values[0].shape[1]), np.nan)  # the CSV columns
        if planned is not None:
            ahead[:, -len(data_config.future_features) :] = np.concatenate([planned[name] for name in series.names])
        block = model_values(data_config, scaler, np.repeat(positions, horizon), ahead, stamps)
        future_inputs = block[:, known].reshape(len(tails), horizon, -1).astype(np.float32)  # (S, horizon, K)
    return series, inputs.astype(np.float32), future_inputs, positions


def _check_positive(series: SeriesSet, targets: list[np.ndarray], which: str, remedy: str) -> None:
    """ValueError naming the first series with a value <= 0 among `targets` (the values that `which` model, fitted
    on the log of the values, reads): the log of it is not a number, and there would be no forecast."""
    for name, values in zip(series.names, targets):
        if (values <= 0).any():
            raise ValueError(
                f"series {name!r} has the value {values[values <= 0][0]:g} {which}, which is fitted on the log of "
                f"the values and needs values > 0; forecast from positive values, or {remedy}"
            )


def check_spacing(freq, fitted: str | None) -> None:
    """ValueError when data to forecast from is dated at another spacing than the data the model was fitted on
    (`fitted`: its frequency; None: not dated or not known): daily values read by a monthly model (its season,
    calendar features and Holt-Winters models are the months') give a forecast without meaning."""
    if fitted is None or freq is None or isinstance(freq, (int, np.integer)):
        return
    from grunet.data import spacing

    if spacing.spacing_key(freq) != spacing.spacing_key(fitted):
        raise ValueError(
            f"the data is {spacing.describe(freq)}, but the model was fitted on {spacing.describe(fitted)} data: "
            f"forecast from data of the model's own spacing"
        )


def run_model(model: torch.nn.Module, inputs: np.ndarray, future_inputs: np.ndarray | None) -> np.ndarray:
    """The model's forecasts (S, horizon) float64 for `forecast_inputs`'s inputs (S, W, F) and known-future values
    (S, horizon, K) or None, on the model's device. (torch is imported here: the onnxruntime path does without.)"""
    import torch

    device = next(model.parameters()).device
    batch = [torch.from_numpy(inputs).to(device)]
    if future_inputs is not None:
        batch.append(torch.from_numpy(future_inputs).to(device))
    with torch.no_grad():
        return model.eval()(*batch).double().cpu().numpy()


def _read_future(path: str | pd.DataFrame | None, config: DataConfig, series: SeriesSet) -> dict[str, np.ndarray]:
    """Per series, the (horizon, len(future_features)) values of the future features at the horizon's time stamps,
    from the CSV file `path` (columns: the id column if any, the time column, the future features)."""
    from grunet.data.csv_frame import read_frame
    from grunet.data.file_stamps import future_stamps

    names = config.future_features
    needed = (
        f"a CSV file with the columns {', '.join(filter(None, [config.id_col, config.time_col, *names]))} "
        f"holding the next {config.horizon} time stamps of every series"
    )
    if path is None:
        raise ValueError(
            f"this model needs the future values of {', '.join(names)} (--future-features) for the "
            f"{config.horizon} steps it forecasts: pass --future FILE, {needed}"
        )
    if config.time_col is None:
        raise ValueError(
            "--future needs the run's time column to match rows to the forecast steps; the run has no --time-col"
        )
    frame = path if isinstance(path, pd.DataFrame) else read_frame(path)
    path = "the future DataFrame" if isinstance(path, pd.DataFrame) else path
    missing = [
        column for column in filter(None, [config.id_col, config.time_col, *names]) if column not in frame.columns
    ]
    if missing:
        raise ValueError(f"future file {path} lacks the column(s) {', '.join(missing)}; it must be {needed}")
    planned = {}
    found = future_stamps(frame, path, config.time_col, config.id_col, like=series.time_format)
    for index, name in enumerate(series.names):
        stamps, positions = found.get(name if config.id_col else None, (pd.Index([]), np.zeros(0, dtype=int)))
        wanted = series.future_times(index, config.horizon)
        by_time = dict(zip(stamps, positions))
        absent = [stamp for stamp in wanted if stamp not in by_time]
        if absent:
            raise ValueError(
                f"future file {path} has no row for series {name!r} at "
                f"{series.time_labels(index, [absent[0]])[0]}"
                + (f" and {len(absent) - 1} later time(s)" if len(absent) > 1 else "")
                + f": it must hold the next {config.horizon} time stamps of every series"
            )
        chosen = frame.iloc[[by_time[stamp] for stamp in wanted]]
        values = chosen[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(
                f"future file {path}: series {name!r} has missing or non-numeric values of "
                f"{', '.join(names)} in the forecast steps"
            )
        planned[name] = values
    return planned


def with_smoothing(
    series: SeriesSet, scaled: np.ndarray, scaler: Scaler, positions: np.ndarray, smoothing: dict
) -> np.ndarray:
    """The model's scaled forecasts (S, horizon) combined with each series' Holt-Winters forecast from its whole
    history (`grunet.smoothing`, the run's models: rows `positions`), scaled the same way."""
    from grunet import smoothing as holt_winters

    weight, models = holt_winters.Smoothing.from_saved(smoothing, scaler.shift.shape[0], "the run's smoothing")
    logged = models.log[positions] & np.isfinite(models.alpha[positions])  # fitted on the log of the values
    _check_positive(
        series,
        [values[:, 0] if log else values[:0, 0] for values, log in zip(series.values, logged)],
        "where its Holt-Winters model reads",
        "retrain without Holt-Winters (smoothing=0, --smoothing 0)",
    )
    chosen = models.rows(positions)
    short = [
        (name, len(values), holt_winters.needed(int(season)))
        for name, values, season, alpha in zip(series.names, series.values, chosen.season, chosen.alpha)
        if np.isfinite(alpha) and len(values) < holt_winters.needed(int(season))
    ]
    if short:
        name, length, needed = short[0]
        warnings.warn(
            f"{len(short)} series {'is' if len(short) == 1 else 'are'} too short here for "
            f"{'its' if len(short) == 1 else 'their'} Holt-Winters model (series {name!r}: {length} points, it "
            f"needs {needed}): {'its' if len(short) == 1 else 'their'} forecast is the GRU's alone"
        )
    made = holt_winters.forecast(chosen, [values[:, 0] for values in series.values], scaled.shape[1])
    combined = holt_winters.combine(scaler.inverse_target(scaled, positions), made, weight)
    return scaler.transform_target(combined, positions)


def table_columns(config: DataConfig) -> tuple[str | None, str]:
    """The id and time columns of a forecast table: the data's own names (None: no id column), or "series" and
    "time" where the data has none or its name is taken by the table's step and value columns."""
    taken = {"step", "value"}
    id_name = None if config.id_col is None else (config.id_col if config.id_col not in taken else "series")
    time_name = config.time_col if config.time_col and config.time_col not in taken | {id_name} else "time"
    return id_name, time_name


def forecast_table(
    series: SeriesSet,
    scaled: np.ndarray,
    scaler: Scaler,
    positions: np.ndarray,
    config: DataConfig,
    intervals: dict | None = None,
    inputs: np.ndarray | None = None,
    smoothing: dict | None = None,
) -> pd.DataFrame:
    """The model's scaled outputs (num_series, horizon) as a table: [id,] time, step (1..horizon), value (original
    units), one row per series and step; times continue each series' spacing. With `intervals` (a run's conformal
    half-widths) and the model's `inputs` (S, W, F), columns lo-P and hi-P for each level P. A forecast that is not
    a finite number (a model with NaN weights, a broken scale) is refused, never written as an empty cell. With
    `smoothing` (a run's weight and per-series Holt-Winters models), the forecast is the two combined."""
    scaled = np.asarray(scaled, dtype=np.float64)
    if smoothing and smoothing.get("weight"):
        scaled = with_smoothing(series, scaled, scaler, positions, smoothing)
    forecast = scaler.inverse_target(scaled, positions)  # (S, horizon)
    broken = ~np.isfinite(forecast).all(axis=1)
    if broken.any():
        names = [series.names[index] for index in np.flatnonzero(broken)]
        raise ValueError(
            f"the model gives no finite forecast for {len(names)} of {len(series.names)} series "
            f"({', '.join(map(repr, names[:3]))}{' ...' if len(names) > 3 else ''}): its weights or "
            f"scaling are not finite (a diverged or damaged model); retrain it"
        )
    horizon = forecast.shape[1]
    lowest, highest = plausible_range(series, horizon)
    beyond = ((forecast < lowest) | (forecast > highest)).any(axis=1)
    if beyond.any():
        names = [series.names[index] for index in np.flatnonzero(beyond)]
        warnings.warn(
            f"the model's forecast of {len(names)} of {len(series.names)} series "
            f"({', '.join(map(repr, names[:3]))}{' ...' if len(names) > 3 else ''}) went beyond what the history "
            f"makes plausible (a window unlike the windows it was trained on, extrapolated): clipped to the "
            f"history's range widened by that range, its largest magnitude and its largest one-step change per "
            f"step ahead (`grunet.prediction.plausible_range`)",
            stacklevel=2,
        )
        forecast = np.clip(forecast, lowest, highest)
    id_name, time_name = table_columns(config)
    columns = ([id_name] if id_name else []) + [time_name, "step", "value"]
    when = future_array(series, horizon)  # the forecast's stamps, in the input's own form
    labels = None if when is None else array_labels(series, when)
    if labels is None:
        labels = all_labels(series, future_times_all(series, horizon))
    table = pd.DataFrame(
        ({id_name: [name for name in series.names for _ in range(horizon)]} if id_name else {})
        | {time_name: labels, "step": np.tile(np.arange(1, horizon + 1), len(series.names)), "value": forecast.ravel()},
        columns=columns,
    )
    if intervals and inputs is not None:
        from grunet.evaluation.intervals import bounds, window_factor

        half_widths = np.asarray(intervals["half_widths"], dtype=np.float64)  # (levels, horizon)
        factor = window_factor(inputs, intervals["window_norm"], cast(bool, config.pad))  # resolved
        lower, upper = bounds(scaled, factor, half_widths)  # (levels, S, horizon), scaled units
        for row, level in enumerate(intervals["levels"]):
            table[f"lo-{level}"] = np.clip(scaler.inverse_target(lower[row], positions), lowest, highest).ravel()
            table[f"hi-{level}"] = np.clip(scaler.inverse_target(upper[row], positions), lowest, highest).ravel()
    return table


def plausible_range(series: SeriesSet, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, horizon) each the bounds a forecast is kept within: the series' range of observed values, widened on
    both sides by that range, by the largest magnitude observed, and by k times its largest change from one
    observed point to the next at step k (a straight line continued from the history stays well inside; a series
    of one point keeps 0 to twice its value). Only an absurd forecast leaves them: an extrapolation of a window
    unlike any the model was trained on (a least-squares skip whose coefficients a smooth series left large, on a
    window with a break in it, forecast 1e24 in a log view)."""
    count = len(series.values)
    if not count:
        return np.zeros((0, horizon)), np.zeros((0, horizon))
    lengths = np.array([len(values) for values in series.values])
    # every series' target, one after another
    flat = np.concatenate([values[:, 0] for values in series.values]).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    finite = np.isfinite(flat)
    low = np.minimum.reduceat(np.where(finite, flat, np.inf), starts)
    high = np.maximum.reduceat(np.where(finite, flat, -np.inf), starts)
    change = np.abs(np.diff(flat))
    change[starts[1:] - 1] = 0.0  # from one series' last point to the next one's first
    change = np.maximum.reduceat(np.append(np.where(np.isfinite(change), change, 0.0), 0.0), starts)
    magnitude = np.maximum(np.abs(low), np.abs(high))
    room = (high - low + magnitude)[:, None] + np.arange(1, horizon + 1)[None, :] * change[:, None]  # (S, horizon)
    known = (np.isfinite(low) & np.isfinite(high))[:, None]  # a series with no observed value: no bound
    return np.where(known, low[:, None] - room, -np.inf), np.where(known, high[:, None] + room, np.inf)
