"""Forecasts without torch: the deployment bundle (an ONNX model and its JSON) run with onnxruntime alone.

This module never imports torch, directly or through another grunet module: `grunet predict --model FILE.onnx`
runs on a machine with numpy, pandas and onnxruntime only. It also holds the torch-free steps that
`grunet.predict.forecast_future` shares with it (`forecast_inputs`, `forecast_table`), so both paths cut the same
windows, scale them the same way and write the same table.

The bundle. `grunet export` writes ``NAME.onnx`` and beside it ``NAME.json``:

    format, bundle_version, grunet_version   what this file is
    model_file                               the ONNX (or TorchScript) file's name, in the same folder
    model_format                             onnx | torchscript
    input_name, output_name                  (batch, seq, input_size) float32 -> (batch, output_size) float32
    future_name                              the second input, (batch, horizon, K) float32: the known-future
                                             columns (calendar features, --future-features); None without them
    window, horizon                          the run's window and forecast horizon
    columns                                  the model's input columns, target first (None if unknown at export)
    series_names                             the series the scaling was fitted on, in order
    scaler                                   `Scaler.to_dict()`: method, log, shift, scale
    config                                   the run's whole config.json (data, model, train)
    verification                             the export's check against the PyTorch model: max_abs_diff, ...

The same JSON is stored in the ONNX file's metadata (key ``grunet``), so a lone .onnx file still predicts.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from grunet.data.config import DataConfig, load_series
from grunet.data.series import SeriesSet
from grunet.features import model_columns, model_values
from grunet.files import dataclass_from_section
from grunet.scaling import Scaler

BUNDLE_FORMAT = "grunet-bundle"
BUNDLE_VERSION = 1
METADATA_KEY = "grunet"
FUTURE_NAME = "future"  # the ONNX graph's second input, (batch, output_size, future_size), when future_size > 0


# ---- shared with grunet.predict (the torch path) ----

def data_config_from_dict(config: dict, source: str) -> DataConfig:
    """The data section of a run's config as a DataConfig; ValueError for a missing section or unknown settings."""
    return dataclass_from_section(config, "data", DataConfig, source)


def forecast_inputs(data_config: DataConfig, scaler: Scaler, series_names: list[str], data: str | None = None,
                    input_size: int | None = None, future: str | None = None
                    ) -> tuple[SeriesSet, np.ndarray, np.ndarray | None, np.ndarray]:
    """The last window of every series as the model sees it, scaled as at training time.

    Uses the run's data, or `data` (a CSV file with the same columns). A series shorter than the window is padded at
    the start (when the run was trained with padding). Returns the series, the model's input (num_series, window, F)
    float32, the known-future input (num_series, horizon, K) float32 or None (calendar features of the next horizon
    time stamps, and the --future-features read from the CSV file `future`), and each series' position in the
    run's scaler (num_series,).
    """
    if data is not None:
        data_config = dataclasses.replace(data_config, data=data)
    series = load_series(data_config)
    columns, known = model_columns(data_config, series.columns)
    if input_size is not None and len(columns) != input_size:
        raise ValueError(f"the model takes {input_size} input column(s) but the data gives {len(columns)} "
                         f"({', '.join(columns)})")
    if future is not None and not data_config.future_features:
        raise ValueError("--future gives values of future features, but this model was trained without "
                         "--future-features")
    lookup = {name: position for position, name in enumerate(series_names)}
    if len(lookup) == 1 and len(series.names) == 1:
        lookup = {series.names[0]: 0}  # one series in, one out: a renamed file of the same series
    unknown = [name for name in series.names if name not in lookup]
    if unknown:  # new series, or ones skipped in training as too short: the run has no scaling for them
        message = (f"{len(unknown)} series not in the run's training data (new, or skipped there as too short) "
                   f"get no forecast: {', '.join(unknown[:10])}")
        if len(unknown) == len(series.names):
            raise ValueError(f"no series of the data is in the run's training data; the run knows: "
                             f"{', '.join(list(lookup)[:10])}")
        warnings.warn(message)
        kept = [index for index, name in enumerate(series.names) if name in lookup]
        series = SeriesSet([series.names[i] for i in kept], [series.values[i] for i in kept], series.columns,
                           [series.times[i] for i in kept], series.freq)
    planned = _read_future(future, data_config, series) if data_config.future_features else None
    window, horizon = data_config.window, data_config.horizon
    inputs, futures, positions = [], [], []
    for index, name in enumerate(series.names):
        position = lookup[name]
        values, times = series.values[index], series.times[index]
        if len(values) < window and not data_config.pad:
            raise ValueError(f"series {name!r} has {len(values)} points, fewer than the window ({window}), and the "
                             f"model was trained without padding (--pad)")
        rows = model_values(data_config, scaler, position, values[-window:],
                            None if times is None else times[-window:])
        inputs.append(np.concatenate([np.zeros((window - len(rows), rows.shape[1])), rows]))  # (W, F)
        if known is not None:
            when = series.future_times(index, horizon)
            ahead = np.full((horizon, values.shape[1]), np.nan)  # the CSV columns over the horizon
            if planned is not None:
                ahead[:, -len(data_config.future_features):] = planned[name]
            block = model_values(data_config, scaler, position, ahead, when)
            futures.append(block[:, known])  # (horizon, K)
        positions.append(position)
    future_inputs = np.stack(futures).astype(np.float32) if known is not None else None
    return series, np.stack(inputs).astype(np.float32), future_inputs, np.array(positions)


def _read_future(path: str | None, config: DataConfig, series: SeriesSet) -> dict[str, np.ndarray]:
    """Per series, the (horizon, len(future_features)) values of the future features at the horizon's time stamps,
    from the CSV file `path` (columns: the id column if any, the time column, the future features)."""
    from grunet.data.csvfile import parse_times, read_frame
    names = config.future_features
    needed = (f"a CSV file with the columns {', '.join(filter(None, [config.id_col, config.time_col, *names]))} "
              f"holding the next {config.horizon} time stamps of every series")
    if path is None:
        raise ValueError(f"this model needs the future values of {', '.join(names)} (--future-features) for the "
                         f"{config.horizon} steps it forecasts: pass --future FILE, {needed}")
    if config.time_col is None:
        raise ValueError("--future needs the run's time column to match rows to the forecast steps; the run has "
                         "no --time-col")
    frame = read_frame(path)
    missing = [column for column in filter(None, [config.id_col, config.time_col, *names])
               if column not in frame.columns]
    if missing:
        raise ValueError(f"future file {path} lacks the column(s) {', '.join(missing)}; it must be {needed}")
    planned = {}
    ids = None if config.id_col is None else frame[config.id_col].astype(str)
    for index, name in enumerate(series.names):
        rows = frame if ids is None else frame[ids == name]
        times = parse_times(rows[config.time_col], Path(path)) if len(rows) else pd.Index([])
        wanted = series.future_times(index, config.horizon)
        by_time = {stamp: position for position, stamp in enumerate(times)}
        absent = [stamp for stamp in wanted if stamp not in by_time]
        if absent:
            raise ValueError(f"future file {path} has no row for series {name!r} at {absent[0]}"
                             + (f" and {len(absent) - 1} later time(s)" if len(absent) > 1 else "")
                             + f": it must hold the next {config.horizon} time stamps of every series")
        chosen = rows.iloc[[by_time[stamp] for stamp in wanted]]
        values = chosen[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"future file {path}: series {name!r} has missing or non-numeric values of "
                             f"{', '.join(names)} in the forecast steps")
        planned[name] = values
    return planned


def forecast_table(series: SeriesSet, scaled: np.ndarray, scaler: Scaler, positions: np.ndarray,
                   horizon: int) -> pd.DataFrame:
    """The model's scaled outputs (num_series, horizon) as a table series, time, step (1..horizon), value
    (original units); times continue each series' spacing."""
    forecast = scaler.inverse_target(np.asarray(scaled, dtype=np.float64), positions)
    rows = []
    for index, name in enumerate(series.names):
        for step, (when, value) in enumerate(zip(series.future_times(index, horizon), forecast[index]), start=1):
            rows.append({"series": name, "time": when, "step": step, "value": float(value)})
    return pd.DataFrame(rows, columns=["series", "time", "step", "value"])


# ---- the bundle and onnxruntime ----

def bundle_path(model_path: str | Path) -> Path:
    """The JSON beside a model file: NAME.onnx -> NAME.json."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".json")


def onnx_session(path: str | Path, threads: int = 0):
    """An onnxruntime CPU session for an exported model (`threads` 0: onnxruntime's default). For inference and
    benchmarks: ``session.run(None, {session.get_inputs()[0].name: x})[0]`` with x (batch, seq, F) float32."""
    import onnxruntime
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable or invalid files
        message = " ".join(str(error).split())[:200]
        raise ValueError(f"{path} is not a model onnxruntime can load: {message}") from None


def check_bundle(bundle: object, source: str) -> dict:
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{source} is not a grunet export bundle (no '{BUNDLE_FORMAT}' marker)")
    version = bundle.get("bundle_version")
    if not isinstance(version, int) or version > BUNDLE_VERSION:
        raise ValueError(f"{source} was written by a newer grunet (bundle version {version}, this grunet reads up "
                         f"to {BUNDLE_VERSION}); upgrade grunet to use it")
    missing = [key for key in ("config", "scaler", "series_names", "input_name", "output_name")
               if key not in bundle]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}")
    return bundle


def read_bundle(model_path: str | Path, session=None) -> dict:
    """The bundle of an exported model: NAME.json beside it, else the copy in the ONNX file's metadata."""
    path = bundle_path(model_path)
    if path.is_file():
        try:
            return check_bundle(json.loads(path.read_text()), str(path))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"bundle {path} is not readable JSON: {error}") from None
    if session is not None:
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if text:
            try:
                return check_bundle(json.loads(text), f"the metadata of {model_path}")
            except json.JSONDecodeError as error:
                raise ValueError(f"the metadata of {model_path} is not readable JSON: {error}") from None
    raise ValueError(f"{model_path} has no bundle: {path} is missing (write it with grunet export)")


def forecast_future_onnx(model_path: str | Path, data: str | None = None, threads: int = 0,
                         future: str | None = None) -> pd.DataFrame:
    """What `grunet.predict.forecast_future` returns for the run, from its exported ONNX model and bundle alone."""
    model_path = Path(model_path)
    if model_path.suffix.lower() != ".onnx":
        raise ValueError(f"--model expects an ONNX file (NAME.onnx written by grunet export --format onnx), "
                         f"got {model_path}")
    session = onnx_session(model_path, threads)
    bundle = read_bundle(model_path, session)
    data_config = data_config_from_dict(bundle["config"], str(bundle_path(model_path)))
    input_size = bundle["config"].get("model", {}).get("input_size")
    scaler = Scaler.from_dict(bundle["scaler"])
    series, inputs, future_inputs, positions = forecast_inputs(data_config, scaler, bundle["series_names"], data,
                                                               input_size, future)
    feed = {bundle["input_name"]: inputs}
    if future_inputs is not None:
        feed[bundle.get("future_name") or FUTURE_NAME] = future_inputs
    scaled = session.run([bundle["output_name"]], feed)[0]  # (S, horizon)
    return forecast_table(series, scaled, scaler, positions, data_config.horizon)


