"""What a fitted Forecaster leaves in its run folder, written and read back: model.pt (the model, its settings and
scaling), metrics.json, history.csv, search.csv, data.csv (a run fitted on a DataFrame) and the plots. config.json is
written when the run starts (`grunet.forecaster`); `grunet.run_folder` owns the folder itself."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grunet.checkpoints import load_training_state, read_run_config, save_checkpoint, write_history
from grunet.data.frame_file import DATA_FILE, write_frame
from grunet.files import atomic_write_bytes, atomic_write_json, write_csv_rows

if TYPE_CHECKING:
    import pandas as pd

    from grunet.model import Ensemble, GRUNet
    from grunet.scaling import Scaler


@dataclass
class RunContents:
    """A fitted model and what goes with it into the run folder."""

    model: GRUNet | Ensemble
    config: dict  # model.pt's: config.json's, with the data settings the model itself was fitted with
    scaler: Scaler
    series_names: list[str]
    intervals: dict | None
    metrics: dict | None
    history: list[dict]
    search_table: list[dict]
    data: pd.DataFrame | Path | None  # fitted on a DataFrame: its used columns, or a loaded run's data.csv
    smoothing: dict | None = None  # the Holt-Winters weight and per-series models (`grunet.smoothing`)
    spacing: str | None = None  # the dated data's frequency (e.g. "MS"), which data to forecast from must share
    kinds: dict | None = None  # fitted on a DataFrame: the types of its time and id columns (`column_kinds`)


def write_run_files(path: Path, contents: RunContents, panels: list | None, plots: bool | Any) -> None:
    """Writes `contents` into the folder `path`; with `plots` (True, or a drawer with `draw(kind, path, data)` and
    `finish()` such as `grunet.plot_worker.PlotWorker`) also loss.png, and forecast.png from `panels`."""
    drawer = None
    if plots is not False and plots is not None and panels is not None:
        from grunet.plot_worker import PlotWorker

        drawer = PlotWorker(start=False) if plots is True else plots
        if panels:  # queued first: a worker draws while the files are written
            drawer.draw("forecast", path / "forecast.png", panels)
        drawer.draw("loss", path / "loss.png", contents.history)
    extra = {
        name: value
        for name, value in (
            ("intervals", contents.intervals),
            ("smoothing", contents.smoothing),
            ("spacing", contents.spacing),
            ("kinds", contents.kinds),
        )
        if value
    }
    config = contents.config
    if config.get("intervals"):  # their validation errors (megabytes for a panel) stay in config.json, for a repeat
        config = {**config, "intervals": {**config["intervals"], "errors": None, "series": None}}
    save_checkpoint(path / "model.pt", contents.model, config, contents.scaler, contents.series_names, extra)
    atomic_write_json(path / "metrics.json", contents.metrics)
    write_history(path / "history.csv", contents.history)
    if contents.search_table:
        write_csv_rows(path / "search.csv", contents.search_table)
    if isinstance(contents.data, Path):  # a loaded run's data.csv, copied as it is
        atomic_write_bytes(path / DATA_FILE, contents.data.read_bytes())
    elif contents.data is not None:  # the data goes with the run, as a CSV file's path does
        write_frame(path / DATA_FILE, contents.data)
    if drawer is not None:
        drawer.finish()


def read_run_files(run: Path) -> tuple[Path | None, Path | None, list[dict], Path | None]:
    """The paths of a run folder's config.json and metrics.json (read by `read_json_file` when needed), its
    history.csv read, and data.csv's path; None (or empty) where absent. model.pt is read by
    `grunet.checkpoints.load_model`."""
    config, metrics, data = (
        run / name if (run / name).is_file() else None for name in ("config.json", "metrics.json", DATA_FILE)
    )
    history = read_history(run / "history.csv") if (run / "history.csv").is_file() else []
    return config, metrics, history, data


def read_json_file(path: Path) -> dict | None:
    """A run folder's JSON file, or None where it is absent."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not readable JSON: {error}") from None


def read_resumable(path: Path) -> tuple[tuple, dict]:
    """An interrupted run's settings (`grunet.checkpoints.read_run_config`) and training state (checkpoint.pt)."""
    if not path.exists():
        raise ValueError(f"run folder {path} does not exist: --resume continues an interrupted run in its folder")
    if not (path / "config.json").is_file() or not (path / "checkpoint.pt").is_file():
        raise ValueError(f"{path} is not a run folder that can be resumed: it needs config.json and checkpoint.pt")
    if (path / "metrics.json").is_file():
        raise ValueError(
            f"the run in {path} finished (it has metrics.json): there is nothing to resume; to train it again, "
            f"grunet train --config {path / 'config.json'} --out NEW"
        )
    return read_run_config(path / "config.json"), load_training_state(path / "checkpoint.pt")


def read_history(path: Path) -> list[dict]:
    """history.csv back as rows of numbers (the member and epoch columns as ints)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {key: (int(value) if key in ("epoch", "member") else float(value)) for key, value in row.items()}
        for row in rows
    ]


def check_same_data(run: Path, fingerprint: dict | None, data: str) -> None:
    """A resumed run refuses a data file whose size or bytes differ from those it started on."""
    stored = json.loads((run / "config.json").read_text()).get("data_fingerprint")
    if stored is not None and fingerprint is not None and stored != fingerprint:
        raise ValueError(
            f"the data file {data} changed since the run in {run} started (now {fingerprint['size']} "
            f"bytes, then {stored['size']}; other contents): --resume continues only on the same data; "
            f"start a new run on it with grunet train --config {run / 'config.json'} --out NEW_FOLDER"
        )
