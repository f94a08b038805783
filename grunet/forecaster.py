"""`Forecaster`: the one way grunet makes a forecast, from Python and from the command line (`grunet train` and
`grunet predict` are thin shells over it).

    model = grunet.Forecaster(horizon=12)                  # every `grunet train` flag is a keyword, same defaults
    model.fit(df, target="Passengers", time_col="Date")    # a DataFrame, a CSV file or a built-in data set
    forecast = model.predict()                             # DataFrame: [id,] time, step, value
    model.metrics                                          # what metrics.json holds
    model.save("runs/air"); model = grunet.Forecaster.load("runs/air")   # the CLI's run folder, both ways
    model.plot()                                           # a matplotlib Figure

Library code: it returns values and prints nothing; progress is a tqdm bar on stderr (off with verbose=False), and
what a user should know (a series skipped as too short, ...) is a warning.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from grunet import run_files
from grunet.checkpoints import (
    configs_from_dict,
    find_run,
    load_model,
    members_from_dict,
    search_config_from_dict,
)
from grunet.data.config import DATAFRAME, DataConfig, load_series
from grunet.data.frame_file import (
    DATA_FILE,
    column_kinds,
    index_as_columns,
    is_frame,
    read_frame,
    typed_like,
    used_columns,
    write_frame,
)
from grunet.files import atomic_write_bytes, atomic_write_json
from grunet.model import Ensemble, GRUNet, ModelConfig
from grunet.plots import forecast_figure, scored_panels
from grunet.procedure import fit_forecaster
from grunet.progress import Progress
from grunet.run_folder import RunFolder, own_data
from grunet.scaling import Scaler
from grunet.search import SearchConfig
from grunet.training import distributed
from grunet.training.config import TrainConfig

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from grunet.data.series import SeriesSet
    from grunet.windows import Prepared


class Forecaster:
    """A GRUNet forecaster: fit on one or many series, score against baselines on a held-out test part, forecast the
    next `horizon` steps after the end of each series.

    Every keyword is a `grunet train` flag with the same name (underscores for dashes) and default; None means
    chosen from the data. The data settings are the `DataConfig`, the model's the `ModelConfig`, training's the
    `TrainConfig`; `fit` records the resolved ones (`config`) and `save` writes them to config.json.

    Args:
        horizon: steps forecast at once.  window: input steps per window.  test_size, val_size: points of every
            series held out for testing / early stopping (test_size 0: a final fit, nothing scored).
        season: seasonal naive lag and MASE lag.  calendar: auto | none | cycles.  fill: error | ffill |
            interpolate | drop.  scale: none | standard | minmax.  log: model log(values) (None: searched for positive
            series).  pad: padding for series shorter than a window.
        hidden_size, num_layers, dropout, reset_after, window_norm, ar, seasonal: the GRUNet (see
            `grunet.model.GRUNet`).
        epochs, batch_size, lr, weight_decay, clip, patience, lr_schedule, seed, ensemble, device,
            checkpoint_every: training (see `grunet.training.config.TrainConfig`).
        search, time_budget, top_k, refit, level, smoothing: how the settings left None are chosen, the refit on
            every point, the prediction intervals, the Holt-Winters forecast's weight beside the GRU's (see
            `grunet.search.SearchConfig`, `grunet.smoothing`).
        verbose: a progress bar while training.
    """

    def __init__(
        self,
        horizon: int = 1,
        *,
        window: int | None = None,
        test_size: int | None = None,
        val_size: int | None = None,
        season: int | None = None,
        calendar: str = "auto",
        fill: str = "error",
        scale: str | None = None,
        log: bool | None = None,
        pad: bool | None = None,
        hidden_size: int | None = None,
        num_layers: int | None = None,
        dropout: float = 0.0,
        reset_after: bool = False,
        window_norm: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        weight_decay: float = 0.0,
        clip: float = 0.0,
        patience: int | None = None,
        lr_schedule: str = "none",
        seed: int = 0,
        ensemble: int = 1,
        device: str = "auto",
        checkpoint_every: int = 10,
        ar: int | None = None,
        seasonal: int | None = None,
        search: str = "auto",
        time_budget: float = 60.0,
        top_k: int = 3,
        refit: bool | None = None,
        level: list[int] | tuple[int, ...] = (80, 95),
        smoothing: float | None = None,
        verbose: bool = True,
    ) -> None:
        given = locals()  # each keyword goes to the settings (dataclass) with a field of its name
        levels = [level] if isinstance(level, int) and not isinstance(level, bool) else level
        if not isinstance(levels, (list, tuple)):
            raise TypeError(f"level must be a list of percentages, e.g. [80, 95], got {type(level).__name__}")
        self.data_config = DataConfig(**_fields(DataConfig, given))
        self.model_config = ModelConfig(**_fields(ModelConfig, given))
        self.train_config = TrainConfig(**_fields(TrainConfig, given))
        self.search_config = SearchConfig(**{**_fields(SearchConfig, given), "level": list(levels)})
        for settings in (self.data_config, self.model_config, self.train_config, self.search_config):
            settings.check()  # a wrong setting is named here, not at fit
        self.members: list[dict] | None = None  # per-member settings (a config.json's): nothing is searched
        self.chosen_intervals: dict | None = None  # with them, the intervals' calibration (a config.json's)
        self.verbose = verbose
        self._settings_file: Path | None = None  # a loaded run's config.json: the settings `fit` starts from
        self._forget()

    @classmethod
    def from_configs(
        cls,
        data_config: DataConfig,
        model_config: ModelConfig,
        train_config: TrainConfig,
        search_config: SearchConfig | None = None,
        members: list[dict] | None = None,
        verbose: bool = True,
    ) -> Forecaster:
        """A Forecaster with these settings (a config.json's, or the command line's); `members`: an ensemble's
        per-member settings, chosen before (then nothing is searched)."""
        forecaster = cls.__new__(cls)
        forecaster.data_config, forecaster.model_config = data_config, model_config
        forecaster.train_config = train_config
        forecaster.search_config = search_config or SearchConfig()
        forecaster.search_config.check()
        forecaster.members, forecaster.verbose = members, verbose
        forecaster.chosen_intervals = None
        forecaster._settings_file = None
        forecaster._forget()
        return forecaster

    def _forget(self) -> None:
        """No fitted state."""
        self.model: GRUNet | Ensemble | None = None
        self.scaler: Scaler | None = None
        self.series_names: list[str] = []
        self._metrics: dict | None = None
        self._unread: dict[str, Path] = {}  # a loaded run's metrics.json and config.json, read when first asked for
        self.history: list[dict] = []
        self.run_dir: Path | None = None
        self.resumed_after_epoch: int | None = None  # set by `resume`
        self.fitted_data_config: DataConfig | None = None  # resolved: the settings the model was fitted with
        self._config: dict | None = None
        self._series: SeriesSet | None = None  # the SeriesSet fitted on (None after `load`)
        self._prepared: Prepared | None = None
        self._test_forecast: np.ndarray | None = None
        self._baselines: dict = {}
        self._frame: pd.DataFrame | None = None  # the DataFrame fitted on (its used columns), saved as data.csv
        self._data_file: Path | None = None  # a loaded run's data.csv (a run fitted on a DataFrame)
        self.intervals: dict | None = None  # the conformal half-widths predict uses (`grunet.evaluation.intervals`)
        self._test_intervals: dict | None = None  # the test part's (calibrated without it)
        self.smoothing: dict | None = None  # the Holt-Winters weight and per-series models combined into predict's
        self.spacing: str | None = None  # the frequency of the dated data fitted on (None: not dated, or not known)
        self.kinds: dict | None = None  # the types of a DataFrame's time and id columns (`column_kinds`)
        self.search_table: list[dict] = []  # search.csv: every candidate tried
        self.search_summary: str | None = None  # the best candidates and the baselines, as grunet train prints them
        self._search_file: Path | None = None  # a loaded run's search.csv, copied when it is saved elsewhere
        self._unfinished = False  # loaded from a run that did not finish (no metrics.json): not saved elsewhere

    @property
    def metrics(self) -> dict | None:
        """What metrics.json holds (None before `fit`); a loaded run's is read on first use (a panel's is large)."""
        if "metrics" in self._unread:
            self._metrics = run_files.read_json_file(self._unread["metrics"])
            del self._unread["metrics"]  # once read (a broken file is named again on the next try)
        return self._metrics

    @property
    def config(self) -> dict:
        """The resolved settings of the fitted model: what config.json holds (a loaded run's: read on first use, its
        intervals' validation errors are megabytes for a large panel; without the file, model.pt's copy)."""
        self._require_fitted()
        if "config" in self._unread:
            self._config = run_files.read_json_file(self._unread["config"]) or self._config
            del self._unread["config"]
        assert self._config is not None
        return self._config

    # ------------------------------------------------------------------------------------------------ training

    def fit(
        self,
        data: Any,
        target: str | None = None,
        time_col: str | None = None,
        id_col: str | None = None,
        features: list[str] | tuple[str, ...] = (),
        future_features: list[str] | tuple[str, ...] = (),
        date_format: str | None = None,
        *,
        run_dir: str | Path | bool | RunFolder | None = None,
        overwrite: bool = False,
        plots: bool | Any = True,
    ) -> Forecaster:
        """Fits the model on `data` and scores it on the held-out test part; returns self.

        data: a pandas DataFrame, a CSV file, or a built-in data set's name ("sine", "airline"). target: the column
        to forecast (default: the only numeric one); time_col: time stamps; id_col: long format, one series per
        value; features / future_features: extra input columns, observed / known in advance; date_format: the
        time column's form in strftime codes ('%d/%m/%Y') where the column cannot tell day from month. A
        DataFrame's index is read where it holds the time stamps (a DatetimeIndex or PeriodIndex, taken as the
        time column when `time_col` names no column: by its own name, or "time") or index levels named
        `time_col` / `id_col`.
        run_dir: None (nothing is written: see `save`), a folder to write the run to as it trains (checkpoints, then
        config.json, model.pt, metrics.json, history.csv, plots; it must be new or empty unless `overwrite`), or
        True for a new folder under runs/. plots: whether to draw the run's plots there (or a drawer with
        `draw(kind, path, data)` and `finish()`, e.g. `grunet.plot_worker.PlotWorker`).
        """
        _check_data(data, "data")
        if self._settings_file is not None:  # a loaded run: its data settings as config.json holds them (model.pt
            # holds the refit's, without test or validation part)
            settings = run_files.read_json_file(self._settings_file)
            if settings is not None:
                self.data_config = configs_from_dict(settings, str(self._settings_file))[0]
            self._settings_file = None
        frame = data if is_frame(data) else None
        if frame is not None:
            frame, time_col = index_as_columns(frame, time_col, id_col)
        data_config = dataclasses.replace(
            self.data_config,
            data=DATAFRAME if frame is not None else str(data),
            target=_column_name(target, "target"),
            time_col=_column_name(time_col, "time_col"),
            id_col=_column_name(id_col, "id_col"),
            features=_column_names(features, "features"),
            future_features=_column_names(future_features, "future_features"),
            date_format=date_format,
        )
        self._train(data_config, frame, run_dir, overwrite, plots, resume=None)
        return self

    @classmethod
    def resume(cls, run_dir: str | Path | RunFolder, verbose: bool = True, plots: bool | Any = True) -> Forecaster:
        """Continues the interrupted run in `run_dir` from its last checkpoint, with its own settings and data; the
        result is what the uninterrupted run would have given (bitwise on the CPU)."""
        path = run_dir.path if isinstance(run_dir, RunFolder) else Path(run_dir)
        distributed.init()
        (configs, search_config, members, intervals), state = distributed.on_main(
            lambda: run_files.read_resumable(path)
        )
        data_config, model_config, train_config = configs
        forecaster = cls.from_configs(data_config, model_config, train_config, search_config, members, verbose)
        forecaster.chosen_intervals = intervals
        frame = None
        if data_config.data == DATAFRAME:  # the DataFrame, as its run kept it from its start
            if not (path / DATA_FILE).is_file():
                raise ValueError(
                    f"the run in {path} was fitted on a DataFrame, and {path / DATA_FILE} that keeps it is missing "
                    f"(grunet 0.2 wrote it at the end): it cannot be resumed; fit it again"
                )
            frame = read_frame(path / DATA_FILE, data_config)
        forecaster._train(data_config, frame, run_dir, False, plots, resume=state)
        return forecaster

    def _train(self, data_config: DataConfig, frame, run_dir, overwrite: bool, plots, resume: dict | None) -> None:
        distributed.init(self.train_config.device)  # under torchrun: join the group; rank 0 alone writes
        main = distributed.is_main()
        folder = run_dir if isinstance(run_dir, RunFolder) and main else None  # a folder opened by the caller
        opened = main and folder is None and run_dir is not None and run_dir is not False
        if opened:
            inputs = tuple(own_data(data_config.data, None))  # the data file this run reads
            folder = RunFolder.open(None if run_dir is True else run_dir, overwrite, resume is not None, inputs)
        try:
            self._train_in(data_config, frame, folder, plots, resume)
        except BaseException:
            if opened:  # a run that --overwrite replaced comes back
                cast(RunFolder, folder).restore()
            raise
        else:
            if opened:  # complete: the run it replaced goes
                cast(RunFolder, folder).finish()
        finally:
            if opened:
                # removes the folder only if this run made it and wrote nothing; unlocks it
                cast(RunFolder, folder).discard()

    def _train_in(self, data_config: DataConfig, frame, folder: RunFolder | None, plots, resume: dict | None) -> None:
        self._forget()
        self.run_dir = folder.path if folder is not None else None
        series = load_series(data_config, frame)
        if folder is not None and resume is not None:
            run_files.check_same_data(folder.path, series.fingerprint, data_config.data)
        elif folder is not None and frame is not None:  # a DataFrame's run keeps its data from the start: resumable
            write_frame(folder.path / DATA_FILE, used_columns(frame, data_config))
        progress = Progress(self.verbose)
        try:
            outcome = fit_forecaster(
                series,
                data_config,
                self.model_config,
                self.train_config,
                self.search_config,
                self.members,
                folder.path if folder is not None else None,
                progress if distributed.is_main() else None,
                resume,
                self.chosen_intervals,
            )
        finally:
            progress.close()
        scored = outcome.scored
        self.model, self.scaler, self.series_names = outcome.model, outcome.scaler, outcome.series_names
        self._metrics, self.history, self._config = outcome.metrics, scored.fit.history, outcome.config
        self.fitted_data_config, self.intervals = outcome.data_config, outcome.intervals
        self._test_intervals, self.smoothing = outcome.test_intervals, outcome.smoothing
        self._series, self._prepared = series, scored.prepared
        self.spacing = series.freq if isinstance(series.freq, str) else None
        self.kinds = None if frame is None else column_kinds(frame, outcome.data_config)
        self._frame = None if frame is None else used_columns(frame, outcome.data_config)
        self._test_forecast, self._baselines = scored.test_forecast, scored.baseline_forecasts
        if outcome.search is not None:  # (also a resumed run's: from its checkpoint)
            self.search_table, self.search_summary = outcome.search["table"], outcome.search["text"]
        self.resumed_after_epoch = None if resume is None else resume["epoch"]
        if folder is not None:
            self._write(folder.path, plots)

    # ------------------------------------------------------------------------------------------- files, loading

    def save(self, path: str | Path, overwrite: bool = False, plots: bool | Any = True) -> Path:
        """Writes the run folder `grunet train` writes (config.json, model.pt, metrics.json, history.csv, plots) to
        `path`, which must be new or empty unless `overwrite`; returns it."""
        self._require_fitted()
        if self.run_dir is not None and Path(path).resolve() == self.run_dir.resolve():
            return self.run_dir  # fitted into this folder: it is complete
        if not distributed.is_main():  # under torchrun: rank 0 alone writes, as `fit` does
            return Path(path)
        if self._unfinished:  # saved elsewhere, it would look finished (metrics.json written, no checkpoint.pt)
            raise ValueError(
                f"the run loaded from {self.run_dir} did not finish: finish it with grunet train --resume "
                f"{self.run_dir}, then save it"
            )
        with RunFolder.open(path, overwrite) as folder:
            atomic_write_json(folder.path / "config.json", self.config)
            self._write(folder.path, plots)
        return Path(path)

    def _write(self, path: Path, plots) -> None:
        assert self.model is not None and self.scaler is not None and self.fitted_data_config is not None  # fitted
        data: pd.DataFrame | Path | None = self._frame
        if data is None and self._data_file is not None and self._data_file.resolve() != (path / DATA_FILE).resolve():
            data = self._data_file  # a loaded DataFrame run saved elsewhere: its data.csv copied
        contents = run_files.RunContents(
            self.model,
            {**self.config, "data": dataclasses.asdict(self.fitted_data_config)},  # the data settings of the model
            self.scaler,
            self.series_names,
            self.intervals,
            self.metrics,
            self.history,
            self.search_table,
            data,
            self.smoothing,
            self.spacing,
            self.kinds,
        )
        run_files.write_run_files(path, contents, self._test_panels() if self._prepared is not None else None, plots)
        if (
            not self.search_table
            and self._search_file is not None
            and self._search_file.parent.resolve() != path.resolve()
        ):
            atomic_write_bytes(path / "search.csv", self._search_file.read_bytes())  # a loaded run's, as it is

    @classmethod
    def load(cls, path: str | Path, verbose: bool = True) -> Forecaster:
        """The fitted Forecaster of a run folder (written by `save`, `fit(run_dir=...)` or `grunet train`)."""
        run = find_run(path)
        model, payload = load_model(run / "model.pt")
        source = str(run / "model.pt")
        data_config, model_config, train_config = configs_from_dict(payload["config"], source)
        search_config = search_config_from_dict(payload["config"], source)
        members = members_from_dict(payload["config"], source)
        forecaster = cls.from_configs(data_config, model_config, train_config, search_config, members, verbose)
        forecaster.model, forecaster.scaler = model, Scaler.from_dict(payload["scaler"])
        forecaster.series_names, forecaster._config = list(payload["series_names"]), payload["config"]
        forecaster.fitted_data_config, forecaster.intervals = data_config, payload.get("intervals")
        forecaster.smoothing = payload.get("smoothing")
        spacing = payload.get("spacing")
        forecaster.spacing = spacing if isinstance(spacing, str) else None  # absent from runs before it was saved
        kinds = payload.get("kinds")
        forecaster.kinds = kinds if isinstance(kinds, dict) else None
        forecaster.run_dir = run
        config_file, metrics_file, forecaster.history, data_file = run_files.read_run_files(run)
        forecaster._unfinished = metrics_file is None and (run / "checkpoint.pt").is_file()
        if forecaster._unfinished:
            warnings.warn(
                f"the run in {run} did not finish (it has no metrics.json): its model is the best one so far; "
                f"finish it with grunet train --resume {run}"
            )
        forecaster._search_file = run / "search.csv" if (run / "search.csv").is_file() else None
        forecaster._unread = {name: file for name, file in (("config", config_file), ("metrics", metrics_file)) if file}
        forecaster._settings_file = config_file
        forecaster._data_file = data_file if data_config.data == DATAFRAME else None
        return forecaster

    # -------------------------------------------------------------------------------------------- forecasting

    def predict(self, data: Any = None, future: Any = None) -> pd.DataFrame:
        """The next `horizon` values after the end of every series: a DataFrame with the id column (long format),
        the time column, step (1..horizon) and value, in original units.

        data: None (the data fitted on, or the run's data file), or a DataFrame / CSV file with the same columns,
        e.g. newer data. future: for a model trained with future_features, their values over the horizon (a
        DataFrame or CSV file: the id column, the time column and those features).

        From a DataFrame (`data`, or the one fitted on), the time column has its type (datetime64, with its time
        zone; periods) and so has a numeric id column, so that the forecast merges with the data; from a CSV file
        they are text, in the file's own form.
        """
        self._require_fitted()
        config = cast(DataConfig, self.fitted_data_config)  # fitted
        kinds = self.kinds  # the data fitted on
        if is_frame(data):  # its own types
            data = index_as_columns(data, config.time_col, config.id_col)[0]
            kinds = column_kinds(data, config)
        elif data is not None:  # a file's text
            kinds = None
        return typed_like(self._forecast(data, future)[1], config, kinds)

    def plot(self, data: Any = None, future: Any = None) -> Figure:
        """A matplotlib Figure: the forecast over the test part against the actual values and the best baseline
        (after `fit` with a test part, and no `data`), else the data's last windows and the forecast past their end
        (`data`, `future`: as for `predict`)."""
        self._require_fitted()
        if data is None and self._prepared is not None and self._baselines:
            return forecast_figure(self._test_panels())
        from grunet.plots import future_panels

        series, table = self._forecast(data, future)
        return forecast_figure(future_panels(series, table, self.fitted_data_config))

    def _forecast(self, data: Any, future: Any) -> tuple[SeriesSet, pd.DataFrame]:
        """The series forecast from (`data`; else those fitted on; else a loaded DataFrame run's data.csv; else the
        run's data file) and `predict`'s table."""
        from grunet.prediction import (  # pandas: not for the sine
            check_spacing,
            forecast_inputs,
            forecast_table,
            run_model,
        )

        self._require_fitted()
        assert self.model is not None and self.scaler is not None and self.fitted_data_config is not None
        config = self.fitted_data_config
        _check_data(data, "data", none=True)
        _check_data(future, "future", none=True)
        if is_frame(data):
            data = index_as_columns(data, config.time_col, config.id_col)[0]
        if is_frame(future):
            future = index_as_columns(future, config.time_col, config.id_col)[0]
        if data is None and self._series is not None:
            data = self._series
        elif data is None and self._data_file is not None:  # its time column as the DataFrame had it (its zone)
            data = typed_like(read_frame(self._data_file, config), config, self.kinds, data=True)
        series, inputs, future_inputs, positions = forecast_inputs(
            config, self.scaler, self.series_names, data, None, future
        )
        check_spacing(series.freq, self.spacing)
        scaled = run_model(self.model, inputs, future_inputs)  # (S, horizon)
        return series, forecast_table(
            series, scaled, self.scaler, positions, config, self.intervals, inputs, self.smoothing
        )

    def _test_panels(self) -> list:
        """The forecast plot's panels: the test part's forecast beside the best baseline's (none: nothing scored)."""
        if not self._baselines:
            return []
        prepared, test, metrics = cast("Prepared", self._prepared), cast(np.ndarray, self._test_forecast), self.metrics
        return scored_panels(prepared, test, self._baselines, cast(dict, metrics), self._test_intervals)

    def _require_fitted(self) -> None:
        if self.model is None:
            raise ValueError("this Forecaster is not fitted yet: call fit() (or Forecaster.load a run folder)")


def _check_data(data: Any, name: str, none: bool = False) -> None:
    """TypeError unless `data` is a DataFrame, a path (a CSV file, or a built-in data set's name), or (`none`)
    None."""
    if not (is_frame(data) or isinstance(data, (str, os.PathLike)) or (none and data is None)):
        raise TypeError(
            f"{name} must be a pandas DataFrame or a CSV file's path{' (or None)' if none else ''}, got "
            f"{type(data).__name__}"
        )


def _column_name(name: Any, what: str) -> str | None:
    """A column named by the user: text (a DataFrame's column names are read as text, so 0 is the column "0")."""
    if name is None or isinstance(name, str):
        return name
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        return str(name)
    raise TypeError(f"{what} must be a column's name, got {type(name).__name__} {name!r}")


def _column_names(names: Any, what: str) -> list[str]:
    """Columns named by the user: a list of names, or one name."""
    if isinstance(names, (str, int, np.integer)):
        names = [names]
    if not isinstance(names, (list, tuple)):
        raise TypeError(f"{what} must be a list of column names, got {type(names).__name__}")
    return [cast(str, _column_name(name, what)) for name in names]


def _fields(settings: type, given: dict) -> dict:
    """The entries of `given` that are fields of the dataclass `settings`."""
    return {field.name: given[field.name] for field in dataclasses.fields(settings) if field.name in given}
