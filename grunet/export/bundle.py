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
    intervals                                the conformal half-widths per level and step (None: no intervals)
    smoothing                                the Holt-Winters weight and per-series models combined with the
                                             model's forecast (`grunet.smoothing`; None: the model's alone)
    spacing                                  the frequency of the dated data the model was fitted on (e.g. "MS"),
                                             which data to forecast from must share (None: not dated, or unknown)
    verification                             the export's check against the PyTorch model: max_abs_diff, ...

The same JSON is stored in the ONNX file's metadata (key ``grunet``), so a lone .onnx file still predicts.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import NoReturn

import pandas as pd

from grunet.data.config import DATAFRAME
from grunet.data.frame_file import DATA_FILE
from grunet.prediction import check_spacing, data_config_from_dict, forecast_inputs, forecast_table
from grunet.scaling import Scaler

BUNDLE_FORMAT = "grunet-bundle"
BUNDLE_VERSION = 1
METADATA_KEY = "grunet"
FUTURE_NAME = "future"  # the ONNX graph's second input, (batch, output_size, future_size), when future_size > 0


def bundle_path(model_path: str | Path) -> Path:
    """The JSON beside a model file: NAME.onnx -> NAME.json."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".json")


def _warn_if_stale(model_path: Path, source_run) -> None:
    """A warning when the run the model was exported from has a newer model.pt (trained on, e.g. by --resume, or
    trained again after the export): the exported model is not the run's any more."""
    if not isinstance(source_run, str):
        return
    try:
        newer = (Path(source_run) / "model.pt").stat().st_mtime > model_path.stat().st_mtime
    except OSError:  # the run moved or is gone: the bundle stands alone
        return
    if newer:
        warnings.warn(
            f"{model_path} is older than the model.pt of the run it was exported from ({source_run}): it forecasts "
            f"with the model as it was then; export the run again for its current model"
        )


def bundle_data(model_path: str | Path) -> str | None:
    """The data setting of the run an exported model came from (the file `predict --model` reads without --data),
    from the JSON beside it; None where that is not readable (reading the model then names what is wrong)."""
    from grunet.files import read_json

    try:
        bundle = read_json(bundle_path(model_path), "bundle")
        data = bundle["config"]["data"]["data"]
    except (ValueError, KeyError, TypeError):
        return None
    if data == DATAFRAME:  # a DataFrame's run: the data.csv its folder keeps
        kept = _kept_data(bundle)
        return None if kept is None else str(kept)
    return data if isinstance(data, str) else None


def _kept_data(bundle: dict) -> Path | None:
    """The data.csv of the run a bundle came from, where it was fitted on a DataFrame and the folder still holds it."""
    run = bundle.get("source_run")
    kept = Path(run) / DATA_FILE if isinstance(run, str) else None
    return kept if kept is not None and kept.is_file() else None


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
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"{source}: bundle_version must be an integer >= 1 (this grunet writes {BUNDLE_VERSION}), got {version!r}"
        )
    if version > BUNDLE_VERSION:
        raise ValueError(
            f"{source} was written by a newer grunet (bundle version {version}, this grunet reads up "
            f"to {BUNDLE_VERSION}); upgrade grunet to use it"
        )
    missing = [
        key
        for key in ("config", "scaler", "series_names", "input_name", "output_name", "window", "horizon")
        if key not in bundle
    ]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}")
    if not isinstance(bundle["config"], dict):
        raise ValueError(f"{source}: config must be the run's config (a JSON object)")
    for key in ("input_name", "output_name"):
        if not isinstance(bundle[key], str):
            raise ValueError(f"{source}: {key} must be a string, got {bundle[key]!r}")
    return bundle


def read_bundle(model_path: str | Path, session=None) -> dict:
    """The bundle of an exported model: NAME.json beside it, else the copy in the ONNX file's metadata. A NAME.json
    that describes another model file (NAME.pt2's export writes the same NAME.json) gives way to the metadata copy,
    which belongs to this file; without one it is refused."""
    from grunet.files import read_json

    model_path = Path(model_path)
    path = bundle_path(model_path)
    embedded = _embedded_bundle(model_path, session)
    if path.exists() or path.is_symlink():
        bundle = check_bundle(read_json(path, "bundle"), str(path))
        if bundle.get("model_file") in (None, model_path.name):
            if session is not None:
                check_against_graph(bundle, session, str(path))
            if embedded is not None:
                _check_same_as_embedded(bundle, embedded, path, model_path)
            return bundle
        if embedded is None:
            raise ValueError(
                f"bundle {path} describes {bundle.get('model_file')!r}, not {model_path.name!r} (a later "
                f"export with another format wrote it); export this model again"
            )
    if embedded is not None:
        check_against_graph(embedded, session, f"the metadata of {model_path}")
        return embedded
    raise ValueError(f"{model_path} has no bundle: {path} is missing (write it with grunet export)")


def _embedded_bundle(model_path: Path, session) -> dict | None:
    """The bundle stored in the ONNX file's metadata at export (None without one)."""
    if session is None:
        return None
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if not text:
        return None
    try:
        return check_bundle(json.loads(text), f"the metadata of {model_path}")
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"the metadata of {model_path} is not readable JSON: {error}") from None


# the keys of a bundle that must agree with the copy exported inside the model file
_FIXED_KEYS = ("input_name", "output_name", "future_name", "window", "horizon", "columns", "series_names", "scaler")


def _check_same_as_embedded(bundle: dict, embedded: dict, path: Path, model_path: Path) -> None:
    """NAME.json against the copy exported inside NAME.onnx: a key edited since (or a bundle of another export)
    is refused, naming the key."""
    for key in _FIXED_KEYS:
        if key in embedded and bundle.get(key) != embedded[key]:
            values = (
                ""
                if isinstance(embedded[key], (dict, list))
                else f" ({_short(bundle.get(key))} here, {_short(embedded[key])} there)"
            )
            raise ValueError(
                f"bundle {path}: {key!r} differs from the copy exported inside {model_path.name}"
                f"{values}: the bundle was edited or belongs to another export; export the model again"
            )
    for section in ("data", "model"):
        mine, theirs = bundle["config"].get(section), embedded["config"].get(section)
        if isinstance(theirs, dict) and isinstance(mine, dict):
            changed = sorted(key for key in theirs.keys() | mine.keys() if mine.get(key) != theirs.get(key))
            if changed:
                raise ValueError(
                    f"bundle {path}: config.{section}.{changed[0]} differs from the copy exported "
                    f"inside {model_path.name} ({_short(mine.get(changed[0]))} here, "
                    f"{_short(theirs.get(changed[0]))} there): the bundle was edited; export again"
                )


def _short(value) -> str:
    from grunet.files import shown

    return shown(value)


def _dims(node) -> list:
    """An ONNX input's or output's shape: ints where fixed, names (str) or None where dynamic."""
    return list(getattr(node, "shape", None) or [])


def check_against_graph(bundle: dict, session, source: str) -> None:
    """The bundle against the ONNX graph's own shapes and against itself: the input (batch, seq, F) with F =
    len(columns) = config.model.input_size, the output (batch, horizon) with horizon = config.data.horizon =
    config.model.output_size, the known-future input (batch, horizon, K) with K = config.model.future_size, the
    input and output names present, the window a positive integer equal to config.data.window, the scaler one row
    per series name and one column per data column. ValueError naming the key that disagrees."""
    config = bundle["config"]
    data, model = config.get("data"), config.get("model")
    if not isinstance(data, dict) or not isinstance(model, dict):
        raise ValueError(f"bundle {source}: config must hold the run's data and model sections")
    inputs = {node.name: _dims(node) for node in session.get_inputs()}
    outputs = {node.name: _dims(node) for node in session.get_outputs()}

    def refuse(key: str, found, expected) -> NoReturn:
        raise ValueError(f"bundle {source}: {key} is {_short(found)}, but {expected}")

    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    window, horizon = bundle.get("window"), bundle.get("horizon")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        refuse("window", window, "it must be a positive integer")
    if data.get("window") != window:
        refuse("config.data.window", data.get("window"), f"the bundle's window is {window}")
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        refuse("horizon", horizon, "it must be a positive integer")
    if data.get("horizon") != horizon or model.get("output_size") != horizon:
        refuse(
            "config.data.horizon / config.model.output_size",
            [data.get("horizon"), model.get("output_size")],
            f"the bundle's horizon is {horizon}",
        )
    name = bundle["input_name"]
    if name not in inputs:
        refuse("input_name", name, f"the model's inputs are {', '.join(inputs)}")
    if bundle["output_name"] not in outputs:
        refuse("output_name", bundle["output_name"], f"the model's outputs are {', '.join(outputs)}")
    shape = inputs[name]
    features = shape[2] if len(shape) == 3 and integer(shape[2]) else None
    if features is not None and model.get("input_size") != features:
        refuse("config.model.input_size", model.get("input_size"), f"the model's input takes {features} columns")
    columns = bundle.get("columns")
    if columns is not None:
        if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
            refuse("columns", columns, "it must be a list of column names")
        if features is not None and len(columns) != features:
            refuse("columns", columns, f"the model's input takes {features} columns")
    produced = outputs[bundle["output_name"]]
    if len(produced) == 2 and integer(produced[1]) and produced[1] != horizon:
        refuse("horizon", horizon, f"the model's output has {produced[1]} steps")
    future_size = model.get("future_size", 0)
    future_name = bundle.get("future_name") or FUTURE_NAME
    if future_size:
        if future_name not in inputs:
            refuse(
                "future_name",
                bundle.get("future_name"),
                f"config.model.future_size is {future_size} and the model's inputs are {', '.join(inputs)}",
            )
        ahead = inputs[future_name]
        if len(ahead) == 3 and (
            (integer(ahead[1]) and ahead[1] != horizon) or (integer(ahead[2]) and ahead[2] != future_size)
        ):
            refuse("config.model.future_size / horizon", [future_size, horizon], f"the model's future input is {ahead}")
    elif len(inputs) > 1:
        refuse("config.model.future_size", future_size, f"the model has a second input ({', '.join(inputs)})")
    names = bundle["series_names"]
    if not isinstance(names, list) or not names or not all(isinstance(item, str) for item in names):
        refuse("series_names", names, "it must be a non-empty list of names")
    if len(set(names)) != len(names):
        refuse("series_names", names, "each name must appear once")
    scaler = Scaler.from_dict(bundle["scaler"], f"bundle {source}")
    if scaler.shift.shape[0] != len(names):
        raise ValueError(
            f"bundle {source}: scaler has {scaler.shift.shape[0]} rows, but series_names has "
            f"{len(names)} names (one row each)"
        )
    data_columns = 1 + len(data.get("features") or []) + len(data.get("future_features") or [])
    if scaler.shift.shape[1] != data_columns:
        raise ValueError(
            f"bundle {source}: scaler has {scaler.shift.shape[1]} columns, but the data has "
            f"{data_columns} (the target and its features)"
        )
    intervals = bundle.get("intervals")
    if intervals is not None:
        widths = intervals.get("half_widths") if isinstance(intervals, dict) else None
        if not isinstance(widths, list) or not all(isinstance(row, list) and len(row) == horizon for row in widths):
            refuse("intervals.half_widths", widths, f"it must hold one row of {horizon} (the horizon) per level")


def forecast_future_onnx(
    model_path: str | Path, data: str | None = None, threads: int = 0, future: str | None = None
) -> pd.DataFrame:
    """What `grunet.predict.forecast_future` returns for the run, from its exported ONNX model and bundle alone."""
    model_path = Path(model_path)
    if model_path.suffix.lower() != ".onnx":
        raise ValueError(
            f"--model expects an ONNX file (NAME.onnx written by grunet export --format onnx), got {model_path}"
        )
    session = onnx_session(model_path, threads)
    bundle = read_bundle(model_path, session)  # checked against the graph's shapes and its exported copy
    _warn_if_stale(model_path, bundle.get("source_run"))
    data_config = data_config_from_dict(bundle["config"], str(bundle_path(model_path)))
    if data is None and data_config.data == DATAFRAME:  # fitted on a DataFrame: the data.csv its run keeps
        kept = _kept_data(bundle)
        if kept is None:
            raise ValueError(
                f"{model_path} was exported from a run fitted on a DataFrame, and that run's {DATA_FILE} is not "
                f"at {bundle.get('source_run')}: pass the data to forecast from with --data FILE"
            )
        data = str(kept)
    input_size = bundle["config"]["model"]["input_size"]
    scaler = Scaler.from_dict(bundle["scaler"], f"bundle {bundle_path(model_path)}")
    series, inputs, future_inputs, positions = forecast_inputs(
        data_config, scaler, bundle["series_names"], data, input_size, future
    )
    spacing = bundle.get("spacing")
    check_spacing(series.freq, spacing if isinstance(spacing, str) else None)
    feed = {bundle["input_name"]: inputs}
    if future_inputs is not None:
        feed[bundle.get("future_name") or FUTURE_NAME] = future_inputs
    scaled = session.run([bundle["output_name"]], feed)[0]  # (S, horizon)
    return forecast_table(
        series, scaled, scaler, positions, data_config, bundle.get("intervals"), inputs, bundle.get("smoothing")
    )
