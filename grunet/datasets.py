"""Series in: the tutorial's sine wave, the built-in data sets, and (see `grunet.csvdata`) the user's CSV files.

Everything becomes a `SeriesSet`: one or many series, each an array of shape (length, 1 + n_features) whose first
column is the target, with its time stamps.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grunet import calendar
from grunet.calendar import cycles_for, parse_cycles

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where time stamps are handled, not here: the tutorial's sine has none, and importing pandas
# costs about half a second of every `grunet train` on it.


@dataclass
class SeriesSet:
    """One or many series that share columns.

    names: one per series.  values: per series, (length, F) float64, column 0 the target.
    times: per series, a pandas Index of time stamps (length,), or None for plain steps 0, 1, 2, ...
    columns: the F column names, target first.  freq: the pandas frequency of the time stamps, if any.
    fingerprint: size and hash of the CSV file the series were read from.
    """
    names: list[str]
    values: list[np.ndarray]
    columns: list[str]
    times: list[pd.Index | None] = field(default_factory=list)
    freq: str | None = None
    fingerprint: dict | None = None  # of the file read (`files.fingerprint`); None for data made in memory

    def __post_init__(self) -> None:
        if not self.times:
            self.times = [None] * len(self.values)

    @property
    def num_features(self) -> int:
        return len(self.columns)

    def future_times(self, series: int, steps: int) -> list:
        """The `steps` time stamps after the end of series `series`, continuing its spacing."""
        times = self.times[series]
        length = len(self.values[series])
        if times is None:
            return list(range(length, length + steps))
        if is_dated(times) and self.freq is not None:
            import pandas as pd
            return list(pd.date_range(times[-1], periods=steps + 1, freq=self.freq)[1:])
        if len(times) < 2:
            raise ValueError(f"series {self.names[series]!r} has a single time stamp and the file's spacing is "
                             f"unknown, so its forecast steps have no time stamps")
        step = times[-1] - times[-2]
        return [times[-1] + step * (k + 1) for k in range(steps)]


def is_dated(times) -> bool:
    """Whether a series' time stamps are dates (a pandas DatetimeIndex) rather than step numbers or None."""
    if times is None:
        return False
    import pandas as pd
    return isinstance(times, pd.DatetimeIndex)


def sine(length: int = 1000, stop: float = 100.0) -> SeriesSet:
    """The tutorial's exercise: ``np.sin(np.linspace(0, 100, 1000))``, one series, steps as time."""
    values = np.sin(np.linspace(0, stop, length))
    return SeriesSet(names=["sine"], values=[values[:, None]], columns=["value"])


def airline() -> SeriesSet:
    """Box & Jenkins series G: monthly international airline passengers (thousands), 1949-01..1960-12, 144 points."""
    import pandas as pd
    with resources.files("grunet").joinpath("data/airline.csv").open() as handle:
        frame = pd.read_csv(handle)
    times = pd.DatetimeIndex(pd.to_datetime(frame["Date"], format="%Y-%m"))
    return SeriesSet(names=["airline"], values=[frame[["Passengers"]].to_numpy(dtype=np.float64)],
                     columns=["Passengers"], times=[times], freq="MS")


BUILTIN = {
    "sine": (sine, "the tutorial's exercise: sin(linspace(0, 100, 1000)), 1000 steps"),
    "airline": (airline, "monthly airline passengers 1949-1960 (Box & Jenkins series G), 144 months"),
}


@dataclass
class DataConfig:
    """Which series, and how they are cut into windows. None means 'chosen from the data' (see `resolve`)."""
    data: str = "sine"               # a built-in data set (grunet datasets) or a CSV file
    target: str | None = None        # CSV: the column to forecast (default: the only numeric column)
    time_col: str | None = None      # CSV: time stamps; sorted by, checked for regular spacing
    id_col: str | None = None        # CSV: long format, one series per value of this column
    features: list[str] = field(default_factory=list)  # CSV: extra numeric input columns (observed, past only)
    future_features: list[str] = field(default_factory=list)  # CSV: input columns known in advance (the model
    #                                 also sees their values over the horizon; predict needs them for the future)
    calendar: str = "auto"           # auto (from the time stamps' frequency) | none | cycles, e.g. month,quarter
    fill: str = "error"              # missing values: error | ffill | interpolate | drop
    window: int = 50                 # input steps
    horizon: int = 1                 # output steps
    test_size: int | None = None     # last points of every series held out (sine: 150, the tutorial's split);
    #                                 0: no test part, a final fit on every point (then `grunet predict`)
    val_size: int | None = None      # points before the test part for early stopping (sine: 0)
    scale: str | None = None         # none | standard | minmax (sine: none, else standard)
    log: bool = False                # model log(values): positive series with multiplicative growth
    season: int = 1                  # seasonal naive lag and MASE lag
    pad: bool | None = None          # windows may reach before a series' start (padded, masked); None: when some
    #                                 series is too short for window + horizon + test and validation parts and
    #                                 another is long enough

    def check(self) -> None:
        checks = [("window", self.window >= 1, ">= 1"), ("horizon", self.horizon >= 1, ">= 1"),
                  ("season", self.season >= 1, ">= 1"),
                  ("test_size", self.test_size is None or self.test_size == 0 or self.test_size >= self.horizon,
                   f">= horizon ({self.horizon}), or 0 for a final fit on every point"),
                  ("val_size", self.val_size is None or self.val_size == 0 or self.val_size >= self.horizon,
                   f"0 or >= horizon ({self.horizon})"),
                  ("scale", self.scale in (None, "none", "standard", "minmax"), "one of none, standard, minmax"),
                  ("fill", self.fill in ("error", "ffill", "interpolate", "drop"),
                   "one of error, ffill, interpolate, drop")]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")
        if self.calendar not in ("auto", "none"):
            parse_cycles(self.calendar)
        both = set(self.features) & set(self.future_features)
        if both:
            raise ValueError(f"column {sorted(both)[0]!r} is given both as a feature and as a future feature")

    @property
    def min_length_unpadded(self) -> int:
        """Points a series needs for one training window and all its test windows without padding (resolved)."""
        return self.window + self.horizon + self.test_size + self.val_size

    @property
    def cycles(self) -> list[str]:
        """The calendar cycles of a resolved config ([] for none)."""
        return [] if self.calendar in ("none", "auto") else parse_cycles(self.calendar)

    def resolve(self, series: SeriesSet) -> "DataConfig":
        """A copy with every None replaced by the value used for `series`."""
        resolved = copy.copy(self)
        if self.data not in BUILTIN:  # an absolute path: the run can be repeated or resumed from any folder
            resolved.data = str(Path(self.data).resolve())
        is_sine = self.data == "sine"
        shortest = min(len(values) for values in series.values)
        if resolved.test_size is None:
            resolved.test_size = 150 if is_sine else max(self.horizon, shortest // 10)
        if resolved.val_size is None:
            resolved.val_size = 0 if is_sine else resolved.test_size
        if resolved.scale is None:
            resolved.scale = "none" if is_sine and not self.log else "standard"
        if self.future_features and self.time_col is None:
            raise ValueError("--future-features needs --time-col: predict matches the future values to the forecast "
                             "steps by their time stamps")
        dated = bool(series.times) and all(is_dated(times) for times in series.times)
        if self.calendar == "auto":
            resolved.calendar = ",".join(cycles_for(series.freq) if dated else []) or "none"
        elif self.calendar != "none" and not dated:
            raise ValueError(f"calendar features ({self.calendar}) need dates: give --time-col with dates or "
                             f"periods, or --calendar none")
        if resolved.pad is None:  # short series beside long ones: pad them; if none is long enough, an error follows
            longest = max(len(values) for values in series.values)
            resolved.pad = shortest < resolved.min_length_unpadded <= longest
        resolved.check()
        return resolved


def load_series(config: DataConfig) -> SeriesSet:
    """The series named by `config.data`: a built-in data set or a CSV file."""
    if config.data in BUILTIN:
        if config.features or config.future_features:
            raise ValueError(f"the built-in data set {config.data!r} has no feature columns; --features and "
                             f"--future-features need a CSV file")
        return BUILTIN[config.data][0]()
    from grunet.csvdata import load_csv
    return load_csv(config.data, target=config.target, time_col=config.time_col, id_col=config.id_col,
                    features=list(config.features) + list(config.future_features), fill=config.fill)


def model_columns(config: DataConfig, data_columns: list[str]) -> tuple[list[str], slice | None]:
    """The model's input columns for a resolved config, target first: the data's columns (`SeriesSet.columns`:
    target, features, future features), then the calendar features, then the mask when padding is on; and the
    slice of the known-future ones (future features and calendar), None when there are none."""
    columns = list(data_columns) + calendar.column_names(config.cycles) + (["observed"] if config.pad else [])
    first = 1 + len(config.features)
    count = len(config.future_features) + 2 * len(config.cycles)
    return columns, (slice(first, first + count) if count else None)


def model_values(config: DataConfig, scaler, position: int, values: np.ndarray, times) -> np.ndarray:
    """One series' points as the model sees them: (n, F) scaled columns, calendar features, mask (see
    `model_columns`)."""
    parts = [scaler.transform(values, position)]
    if config.cycles:
        parts.append(calendar.features(times, config.cycles))
    if config.pad:
        parts.append(np.ones((len(values), 1)))
    return np.concatenate(parts, axis=1)
