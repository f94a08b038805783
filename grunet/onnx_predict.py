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
from pathlib import Path

import numpy as np
import pandas as pd

from grunet.datasets import DataConfig, SeriesSet, load_series
from grunet.files import dataclass_from_section
from grunet.scaling import Scaler

BUNDLE_FORMAT = "grunet-bundle"
BUNDLE_VERSION = 1
METADATA_KEY = "grunet"


# ---- shared with grunet.predict (the torch path) ----

def data_config_from_dict(config: dict, source: str) -> DataConfig:
    """The data section of a run's config as a DataConfig; ValueError for a missing section or unknown settings."""
    return dataclass_from_section(config, "data", DataConfig, source)


def forecast_inputs(data_config: DataConfig, scaler: Scaler, series_names: list[str], data: str | None = None,
                    input_size: int | None = None) -> tuple[SeriesSet, np.ndarray, np.ndarray]:
    """The last window of every series, scaled as at training time.

    Uses the run's data, or `data` (a CSV file with the same columns). Returns the series, the model's input
    (num_series, window, F) float32 and each series' position in the run's scaler (num_series,).
    """
    if data is not None:
        data_config = dataclasses.replace(data_config, data=data)
    series = load_series(data_config)
    if input_size is not None and series.num_features != input_size:
        raise ValueError(f"the model takes {input_size} input column(s) but the data has {series.num_features} "
                         f"({', '.join(series.columns)})")
    known = {name: position for position, name in enumerate(series_names)}
    window = data_config.window
    inputs, positions = [], []
    for index, name in enumerate(series.names):
        position = known.get(name)
        if position is None and len(known) == 1 and len(series.names) == 1:
            position = 0  # one series in, one out: a renamed file of the same series
        if position is None:
            raise ValueError(f"series {name!r} was not in the training data, so the run has no scaling for it; "
                             f"known series: {', '.join(list(known)[:10])}")
        values = series.values[index]
        if len(values) < window:
            raise ValueError(f"series {name!r} has {len(values)} points, fewer than the window ({window})")
        inputs.append(scaler.transform(values[-window:], position))  # (W, F)
        positions.append(position)
    return series, np.stack(inputs).astype(np.float32), np.array(positions)


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


def forecast_future_onnx(model_path: str | Path, data: str | None = None, threads: int = 0) -> pd.DataFrame:
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
    series, inputs, positions = forecast_inputs(data_config, scaler, bundle["series_names"], data, input_size)
    scaled = session.run([bundle["output_name"]], {bundle["input_name"]: inputs})[0]  # (S, horizon)
    return forecast_table(series, scaled, scaler, positions, data_config.horizon)


