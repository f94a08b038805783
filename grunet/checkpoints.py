"""Run folders and checkpoints: what `grunet train` writes and what `predict` / `export` read back.

A run folder holds config.json (every resolved setting), model.pt (weights and plain data only), metrics.json,
history.csv and the plots. Every file is written atomically: to a temporary file in the same folder, flushed and
fsynced, then renamed over the old one, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import cast

import numpy as np
import torch

from grunet.data.config import DATAFRAME, DataConfig
from grunet.data.frame_file import DATA_FILE
from grunet.files import (  # noqa: F401
    MAX_JSON_BYTES,
    atomic_write_bytes,
    atomic_write_json,
    check_types,
    dataclass_from_section,
    json_safe,
    read_json,
    shown,
)
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.scaling import Scaler
from grunet.search import SearchConfig
from grunet.torch_compat import with_marks
from grunet.training.config import TrainConfig

CONFIG_VERSION = 1
CHECKPOINT_FORMAT = "grunet-checkpoint"
TRAINING_STATE_FORMAT = "grunet-training-state"


def config_dict(
    data: DataConfig,
    model: ModelConfig,
    train: TrainConfig,
    search: SearchConfig | None = None,
    members: list[dict] | None = None,
) -> dict:
    """The whole run's settings as plain data: what config.json holds. `members`: per ensemble member, the settings
    that differ from the model and train sections (a search's choice)."""
    from grunet import __version__  # noqa: F401

    config = {
        "grunet_version": __version__,
        "config_version": CONFIG_VERSION,
        "data": dataclasses.asdict(data),
        "model": dataclasses.asdict(model),
        "train": dataclasses.asdict(train),
        "search": dataclasses.asdict(search or SearchConfig()),
    }
    if members is not None:
        config["members"] = [dict(settings) for settings in members]
    return config


def search_config_from_dict(config: dict, source: str = "config") -> SearchConfig:
    """The search section (a config without one, from an older grunet: no search, no refit, no intervals)."""
    if "search" not in config:
        return SearchConfig(search="none", refit=False, level=[])
    return dataclass_from_section(config, "search", SearchConfig, source)


def members_from_dict(config: dict, source: str = "config") -> list[dict] | None:
    """The per-member settings of a config (None: one setting for every member)."""
    members = config.get("members")
    if members is None:
        return None
    from grunet.fitting import MODEL_SETTINGS, TRAIN_SETTINGS

    if not isinstance(members, list) or not members or not all(isinstance(member, dict) for member in members):
        raise ValueError(f"{source}: members must be a non-empty list of settings")
    for number, member in enumerate(members):
        unknown = set(member) - MODEL_SETTINGS - TRAIN_SETTINGS
        if unknown:
            raise ValueError(f"{source} has unknown member settings: {', '.join(sorted(unknown))}")
        where = f"{source}, members[{number}]"
        model = {key: value for key, value in member.items() if key in MODEL_SETTINGS}
        train = {key: value for key, value in member.items() if key in TRAIN_SETTINGS}
        check_types(model, ModelConfig, where)
        check_types(train, TrainConfig, where)
        try:
            dataclasses.replace(ModelConfig(), **model).check()
            dataclasses.replace(TrainConfig(), **train).check()
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return members


def configs_from_dict(config: dict, source: str = "config") -> tuple[DataConfig, ModelConfig, TrainConfig]:
    """Rebuilds the three configs; ValueError when the file is from a newer grunet or has unknown settings."""
    if not isinstance(config, dict) or not {"data", "model", "train"} <= config.keys():
        raise ValueError(f"{source} is not a grunet run config: expected the sections data, model and train")
    version = config.get("config_version", CONFIG_VERSION)
    check_versions(config, source)
    if version > CONFIG_VERSION:
        raise ValueError(
            f"{source} was written by a newer grunet (config version {version}, this grunet reads "
            f"up to {CONFIG_VERSION}); upgrade grunet to use it"
        )
    return (
        dataclass_from_section(config, "data", DataConfig, source),
        dataclass_from_section(config, "model", ModelConfig, source),
        dataclass_from_section(config, "train", TrainConfig, source),
    )


def check_versions(config: dict, source: str) -> None:
    """config_version an integer >= 1, grunet_version a string (when present); ValueError naming the file."""
    version = config.get("config_version", CONFIG_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(
            f"{source}: config_version must be an integer >= 1 (this grunet writes {CONFIG_VERSION}), "
            f"got {shown(version)}"
        )
    if "grunet_version" in config and not isinstance(config["grunet_version"], str):
        raise ValueError(
            f"{source}: grunet_version must be a string such as '0.1.0', got {shown(config['grunet_version'])}"
        )


def read_config(path: str | Path) -> tuple[DataConfig, ModelConfig, TrainConfig]:
    """The three configs of a config.json (see `read_run_config` for all of it)."""
    return read_run_config(path)[0]


def read_run_config(
    path: str | Path,
) -> tuple[tuple[DataConfig, ModelConfig, TrainConfig], SearchConfig, list[dict] | None, dict | None]:
    """A config.json whole: the three configs, the search section, the per-member settings and the intervals'
    calibration (the last two: a search's choice, None without one)."""
    path = Path(path)
    config = read_json(path, "config file")
    return (
        configs_from_dict(config, str(path)),
        search_config_from_dict(config, str(path)),
        members_from_dict(config, str(path)),
        intervals_from_dict(config, str(path)),
    )


def run_configs(config_file, given):
    """The configs of a new run (data, model, train, search) and the per-member settings: `config_file`'s (a
    config.json) or the defaults, overridden by the settings `given` by name (the `grunet train` flags given). A
    config.json's members (a search's choice) are kept, unless search auto is given, to search again. (A DataFrame
    run's data is the data.csv beside its config.json: `repeated_data`.)"""
    if config_file:
        (data, model, train), search, members, intervals = read_run_config(Path(config_file))
    else:
        (data, model, train), search, members, intervals = (
            (DataConfig(), ModelConfig(), TrainConfig()),
            SearchConfig(),
            None,
            None,
        )
    saved = (data, model, train, search)
    configs = [
        dataclasses.replace(
            config, **{field.name: given[field.name] for field in dataclasses.fields(config) if field.name in given}
        )
        for config in saved
    ]
    for config in configs:  # every flag in its range before any data is read or memory taken
        config.check()
    if given.get("search") == "auto":
        return configs, None, None
    changed = {
        field.name
        for before, after in zip(saved, configs)
        for field in dataclasses.fields(before)
        if getattr(before, field.name) != getattr(after, field.name)
    }
    if members is not None:  # a search's choice: a flag that changes a setting changes its members' too (a flag
        # that repeats the run's value, as --epochs its cap, leaves each member's own: its early stopping's count)
        members = [{**member, **{key: given[key] for key in member.keys() & changed}} for member in members]
        if "top_k" in changed and given["top_k"] > len(members):
            raise ValueError(
                f"--top-k {given['top_k']}: this repeat has the {len(members)} members its search chose, best "
                f"first; search again (--search auto) to ensemble more"
            )
        members = members[: given["top_k"]] if "top_k" in changed else members
    if intervals is not None and changed - REPEAT_ONLY:  # calibrated on the earlier run's models and horizon
        intervals = None  # (then on this run's own validation part, where it has one)
        if members is not None and not configs[0].val_size:
            warnings.warn(
                f"this repeat changes {', '.join(sorted(changed - REPEAT_ONLY))}: the prediction intervals its "
                f"search calibrated do not apply, and it has no validation part to calibrate others; give one "
                f"(--val-size N) or search again (--search auto) for intervals"
            )
    return configs, members, intervals


# settings that change how a repeat runs, not its models: a repeat that changes only these reuses the intervals'
# calibration of the run it repeats (its search's validation errors)
REPEAT_ONLY = {"device", "checkpoint_every", "time_budget", "level"}


def repeated_data(config_file, data: DataConfig):
    """What a repeat of the run of `config_file` fits on: its data setting (a file, a built-in data set), or for a
    run fitted on a DataFrame the DataFrame its data.csv keeps, so that the repeat keeps its own copy (it read the
    other run's file by its path, and lost it with that run)."""
    if data.data != DATAFRAME or not config_file:
        return data.data
    kept = Path(config_file).with_name(DATA_FILE)
    if not kept.is_file():
        raise ValueError(
            f"the run of {config_file} was fitted on a DataFrame, and {kept} that keeps it is missing: give the "
            f"data to fit on with --data FILE"
        )
    from grunet.data.frame_file import read_frame

    return read_frame(kept, data)


def intervals_from_dict(config: dict, source: str = "config") -> dict | None:
    """A config's (or checkpoint's) interval calibration: levels, half-widths per level and step, window norm."""
    intervals = config.get("intervals")
    if intervals is None:
        return None
    try:
        levels, widths = list(intervals["levels"]), [list(map(float, row)) for row in intervals["half_widths"]]
        if len(widths) != len(levels) or str(intervals["window_norm"]) not in ("none", "mean", "last", "meanabs"):
            raise ValueError
        errors = intervals.get("errors")
        if errors is not None:
            errors = [[math.nan if value is None else float(value) for value in row] for row in errors]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"{source}: intervals must hold levels, half_widths (one row per level) and window_norm"
        ) from None
    return {**intervals, "levels": levels, "half_widths": widths, "errors": errors}


def save_checkpoint(
    path: str | Path,
    model: GRUNet | Ensemble,
    config: dict,
    scaler: Scaler,
    series_names: list[str],
    extra: dict | None = None,
) -> None:
    """model.pt: the state_dict, the run's config, the scaler and the series names (and each member's model config
    for an ensemble); tensors and plain data only, so it loads with ``torch.load(path, weights_only=True)``."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config_version": CONFIG_VERSION,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "config": json_safe(config),
        "scaler": scaler.to_dict(),
        "series_names": list(series_names),
        **(extra or {}),
    }
    payload = _tables(payload, list, _table)
    if isinstance(model, Ensemble):
        payload["member_configs"] = [dataclasses.asdict(cast(GRUNet, member).config) for member in model.members]
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


# model.pt's per-series tables: the scaler's rows and each series' Holt-Winters model. They are saved as tensors, as
# torch's weights_only unpickler reads a list item by item in Python (0.15-0.25 s of `grunet predict` on 10,000
# series, against 3 ms as tensors), and read back as the lists the run's JSON files and bundles hold.
_TABLES = {
    "scaler": ("shift", "scale"),
    "smoothing": ("season", "log", "alpha", "beta", "gamma", "phi", "start", "start_from"),
}


def _tables(payload: dict, kind: type, convert) -> dict:
    """A copy of `payload` with each entry of `_TABLES` that is a `kind` converted by `convert`."""
    converted = dict(payload)
    for section, keys in _TABLES.items():
        if isinstance(payload.get(section), dict):
            converted[section] = {
                key: convert(value) if key in keys and isinstance(value, kind) else value
                for key, value in payload[section].items()
            }
    return converted


def _table(values: list):
    """A tensor of the list's own dtype (float64, int64, bool), or the list where it is not a table of numbers."""
    try:
        array = np.asarray(values)
    except ValueError:  # ragged
        return values
    return torch.from_numpy(array) if array.dtype.kind in "fib" else values


def save_training_state(path: str | Path, state: dict, config: dict) -> None:
    """checkpoint.pt: everything `train.fit` needs to continue (see `train._snapshot`), written atomically."""
    payload = {
        "format": TRAINING_STATE_FORMAT,
        "config_version": CONFIG_VERSION,
        "config": json_safe(config),
        "state": state,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_training_state(path: str | Path) -> dict:
    """The training state saved by `save_training_state`, loaded with weights_only=True (`train.fit` checks that it
    holds what it needs to continue)."""
    return load_checkpoint(path, TRAINING_STATE_FORMAT)["state"]


def load_checkpoint(path: str | Path, expected_format: str = CHECKPOINT_FORMAT) -> dict:
    """Reads a model.pt with ``weights_only=True``: a file holding anything but tensors and plain data (a pickled
    object that could run code) is refused with ValueError, as is a truncated or corrupted file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} {'is not a regular file' if path.exists() else 'does not exist'}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))  # torch names the global it refused to import
        if found is None:  # not a pickled object: bytes that are no checkpoint at all
            raise ValueError(f"{path} is not a readable grunet checkpoint (truncated or corrupted?)") from None
        raise ValueError(
            f"refused to load {path}: it holds a pickled object ({found.group(1)}), not only tensors "
            f"and plain data, and unpickling it could run code"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as error:
        raise ValueError(
            f"{path} is not a readable grunet checkpoint (truncated or corrupted?): "
            f"{str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise ValueError(f"{path} is not a grunet checkpoint (no '{expected_format}' marker)")
    payload = _tables(payload, torch.Tensor, torch.Tensor.tolist)
    check_versions(payload, str(path))
    if payload.get("config_version", CONFIG_VERSION) > CONFIG_VERSION:
        raise ValueError(
            f"{path} was written by a newer grunet (config version {payload['config_version']}); "
            f"upgrade grunet to use it"
        )
    for key, kind, expected in PAYLOAD_KEYS[expected_format]:
        if key not in payload:
            raise ValueError(f"{path} lacks its {key!r} entry: it is not a complete grunet checkpoint")
        if not isinstance(payload[key], kind):
            raise ValueError(f"{path}: its {key!r} entry must be {expected}, got {shown(payload[key])}")
    return payload


# what each kind of checkpoint must hold: (key, type, as said in an error)
PAYLOAD_KEYS: dict[str, list[tuple[str, type, str]]] = {
    CHECKPOINT_FORMAT: [
        ("config", dict, "the run's config (a dict)"),
        ("state_dict", dict, "the model's weights (a dict of tensors)"),
        ("scaler", dict, "the scaling (a dict)"),
        ("series_names", list, "a list of series names"),
    ],
    TRAINING_STATE_FORMAT: [("config", dict, "the run's config (a dict)"), ("state", dict, "the training state")],
}


def load_model(path: str | Path) -> tuple[GRUNet | Ensemble, dict]:
    """A GRUNet (or, for an ensemble run, an Ensemble of them) in eval mode from a model.pt, and the checkpoint's
    plain data."""
    payload = load_checkpoint(path)
    _, model_config, _ = configs_from_dict(payload["config"], str(path))
    state = payload["state_dict"]
    bad = next((name for name, value in state.items() if not isinstance(value, torch.Tensor)), None)
    if bad is not None:
        raise ValueError(f"{path}: the weights must be tensors, but {bad!r} is {shown(state[bad])}")
    broken = next(
        (name for name, value in state.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())),
        None,
    )
    if broken is not None:
        raise ValueError(
            f"the weights in {path} are not finite ({broken} holds NaN or infinite values): the model "
            f"diverged or the file is damaged; retrain it"
        )
    scaler = Scaler.from_dict(payload["scaler"], str(path))
    if not all(isinstance(name, str) for name in payload["series_names"]):
        raise ValueError(f"{path}: series_names must be a list of strings")
    if len(payload["series_names"]) != scaler.shift.shape[0]:
        raise ValueError(
            f"{path}: the scaler has {scaler.shift.shape[0]} rows but series_names names "
            f"{len(payload['series_names'])} series (one row each)"
        )
    members = {name.split(".")[1] for name in state if name.startswith("members.")}
    configs = [model_config] * len(members)
    if "member_configs" in payload:  # members of different settings (a search's ensemble)
        entries = payload["member_configs"]
        if not isinstance(entries, list) or len(entries) != len(members):
            raise ValueError(
                f"{path}: member_configs must be a list of one model config per member "
                f"({len(members)}), got {shown(entries)}"
            )
        configs = [
            dataclass_from_section({"model": entry}, "model", ModelConfig, f"{path}, member_configs")
            for entry in entries
        ]
    try:
        model = (
            Ensemble([GRUNet.from_config(config) for config in configs])
            if members
            else GRUNet.from_config(model_config)
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"the model config in {path} is not usable: {error}") from None
    try:
        model.load_state_dict(with_marks(model, state))  # model.pt of grunet 0.2: unmarked
    except RuntimeError as error:
        raise ValueError(f"the weights in {path} do not fit its config: {str(error).splitlines()[0][:200]}") from None
    return model.eval(), payload


def write_history(path: str | Path, history: list[dict]) -> None:
    """history.csv: epoch, train_loss, val_loss, lr, seconds (and member, for an ensemble)."""
    buffer = io.StringIO()
    fields = ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    writer = csv.DictWriter(buffer, fieldnames=(["member"] if history and "member" in history[0] else []) + fields)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(path, buffer.getvalue().encode())


def find_run(path: str | Path) -> Path:
    """Checks that `path` is a run folder (holds config.json and model.pt)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"run folder {path} {'is not a folder' if path.exists() else 'does not exist'}")
    missing = [name for name in ("config.json", "model.pt") if not (path / name).is_file()]
    if missing:
        odd = [name for name in missing if (path / name).exists()]
        if odd:
            raise ValueError(f"{path / odd[0]} is not a regular file: {path} is not a usable grunet run folder")
        from grunet.run_folder import PREVIOUS

        if (path / PREVIOUS).is_dir():  # an --overwrite cut short where it could not put the earlier run back
            raise ValueError(
                f"{path} holds no finished run: an --overwrite of it was stopped, and the earlier run is in "
                f"{path / PREVIOUS}; move its files back into {path}, or finish the new run with "
                f"grunet train --resume {path}"
            )
        if missing == ["model.pt"] and (path / "checkpoint.pt").is_file():  # stopped before its first model
            raise ValueError(
                f"the run in {path} did not finish (or is being trained now): it has no model.pt yet; finish it "
                f"with grunet train --resume {path}"
            )
        raise ValueError(f"{path} is not a grunet run folder: {' and '.join(missing)} missing")
    return path
