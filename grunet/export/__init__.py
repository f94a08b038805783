"""Shipping a trained model: a run's GRUNet (or ensemble) as ONNX (`grunet.export.onnx`) or as torch.export's
ExportedProgram (`grunet.export.pt2`), each verified against the PyTorch model before it is written, with the
deployment bundle NAME.json beside it (`grunet.export.bundle`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

from grunet.export.bundle import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    FUTURE_NAME,
    METADATA_KEY,
    bundle_path,
)
from grunet.files import atomic_write_json

if TYPE_CHECKING:  # torch stays out of `import grunet.export.bundle` (predict --model runs without it)
    from grunet.export.verify import ExportResult

FORMATS = ("onnx", "torch")
SUFFIXES = {"onnx": "onnx", "torch": "pt2"}


def _columns(data_config) -> list[str] | None:
    """The model's input columns, target first (`grunet.features.model_columns`). The data's own columns are the
    config's target, features and future features, in that order, when it names the target; else they are read
    from the data, and None when it can no longer be read."""
    from grunet.data.config import load_series
    from grunet.features import model_columns

    if data_config.target:
        data_columns = [data_config.target, *data_config.features, *data_config.future_features]
    else:
        try:
            data_columns = load_series(data_config).columns
        except (ValueError, OSError):  # the data is gone
            return None
    return model_columns(data_config, data_columns)[0]


def _refuse_overwrite(path: Path, run: Path) -> None:
    from grunet.run_folder import refuse_own_file

    exports = ("model.onnx", "model.pt2", "model.json")  # its own run's export it may replace, no other run's
    refuse_own_file(path, replaces=exports, run=run)
    refuse_own_file(bundle_path(path), replaces=exports, run=run)  # NAME.json: --out RUN/config.pt writes config.json
    if path.exists() and path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name")


def export_run(run: str | Path, format: str = "onnx", out: str | Path | None = None) -> ExportResult:
    """Exports a run folder's model to ONNX (default RUN/model.onnx) or torch.export's format (RUN/model.pt2),
    verified, and writes the deployment bundle NAME.json beside it (see `grunet.export.bundle`)."""
    from grunet.checkpoints import find_run
    from grunet.run_folder import check_finished, locked

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    run = find_run(run)
    with locked(run):  # no train in the folder meanwhile
        check_finished(run, "export it")
        return _export_locked(run, format, out)


def _export_locked(run: Path, format: str, out: str | Path | None) -> ExportResult:
    from grunet import __version__
    from grunet.checkpoints import configs_from_dict, load_model
    from grunet.export.onnx import INPUT_NAME, OUTPUT_NAME, export_onnx
    from grunet.export.pt2 import export_pt2

    model, payload = load_model(run / "model.pt")
    data_config, _, _ = configs_from_dict(payload["config"], str(run / "model.pt"))
    path = Path(out) if out is not None else run / f"model.{SUFFIXES[format]}"
    if path.suffix.lower() != f".{SUFFIXES[format]}":
        kind = {"onnx": "an ONNX", "torch": "a torch.export"}[format]
        raise ValueError(f"--out {path}: the file name of {kind} export must end in .{SUFFIXES[format]}")
    _refuse_overwrite(path, run)
    json_path = bundle_path(path)
    if json_path.exists():
        try:
            existing = json.loads(json_path.read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            existing = None
        if existing != BUNDLE_FORMAT:
            raise ValueError(
                f"refusing to overwrite {json_path}, which is not a grunet export bundle; choose another --out"
            )
    window = cast(int, data_config.window)  # a run's saved data config is resolved
    lengths = sorted({1, 7, window})  # export_onnx keeps those the model can read
    bundle = {
        "format": BUNDLE_FORMAT,
        "bundle_version": BUNDLE_VERSION,
        "grunet_version": __version__,
        "model_file": path.name,
        "model_format": format,
        "input_name": INPUT_NAME,
        "future_name": FUTURE_NAME if model.config.future_size else None,
        "output_name": OUTPUT_NAME,
        "window": data_config.window,
        "horizon": data_config.horizon,
        "columns": _columns(data_config),
        "series_names": list(payload["series_names"]),
        "scaler": payload["scaler"],
        "config": payload["config"],
        "intervals": payload.get("intervals"),
        "smoothing": payload.get("smoothing"),
        "spacing": payload.get("spacing"),
        "source_run": str(run.resolve()),  # absolute: predict reads it from wherever it runs
    }
    if format == "onnx":
        result = export_onnx(model, path, {METADATA_KEY: json.dumps(bundle)}, lengths=lengths)
    else:
        result = export_pt2(model, path, window)
    bundle["verification"] = result.verification.to_dict()
    if format == "onnx":
        bundle["onnx"] = result.details
    atomic_write_json(json_path, bundle)
    result.bundle = json_path
    return result
