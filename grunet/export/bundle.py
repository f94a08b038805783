"""The deployment bundle (an exported model and its JSON), and forecasts from an ONNX bundle with onnxruntime alone.

This module never imports torch, directly or through another grunet module: `grunet predict --model FILE.onnx`
runs on a machine with numpy, pandas and onnxruntime only. The steps it shares with `Forecaster.predict` are in
`grunet.prediction`.

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

import json
from pathlib import Path

import pandas as pd

from grunet.prediction import data_config_from_dict, forecast_inputs, forecast_table
from grunet.scaling import Scaler

BUNDLE_FORMAT = "grunet-bundle"
BUNDLE_VERSION = 1
METADATA_KEY = "grunet"
FUTURE_NAME = "future"  # the ONNX graph's second input, (batch, output_size, future_size), when future_size > 0


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
    return forecast_table(series, scaled, scaler, positions, data_config, bundle.get("intervals"), inputs)


