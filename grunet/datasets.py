"""Series in: the tutorial's sine wave, the built-in data sets, and (see `grunet.csvdata`) the user's CSV files.

Everything becomes a `SeriesSet`: one or many series, each an array of shape (length, 1 + n_features) whose first
column is the target, with its time stamps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd


@dataclass
class SeriesSet:
    """One or many series that share columns.

    names: one per series.  values: per series, (length, F) float64, column 0 the target.
    times: per series, a pandas Index of time stamps (length,), or None for plain steps 0, 1, 2, ...
    columns: the F column names, target first.  freq: the pandas frequency of the time stamps, if any.
    """
    names: list[str]
    values: list[np.ndarray]
    columns: list[str]
    times: list[pd.Index | None] = field(default_factory=list)
    freq: str | None = None

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
        if isinstance(times, pd.DatetimeIndex) and self.freq is not None:
            return list(pd.date_range(times[-1], periods=steps + 1, freq=self.freq)[1:])
        step = times[-1] - times[-2]
        return [times[-1] + step * (k + 1) for k in range(steps)]


def sine(length: int = 1000, stop: float = 100.0) -> SeriesSet:
    """The tutorial's exercise: ``np.sin(np.linspace(0, 100, 1000))``, one series, steps as time."""
    values = np.sin(np.linspace(0, stop, length))
    return SeriesSet(names=["sine"], values=[values[:, None]], columns=["value"])


def airline() -> SeriesSet:
    """Box & Jenkins series G: monthly international airline passengers (thousands), 1949-01..1960-12, 144 points."""
    with resources.files("grunet").joinpath("data/airline.csv").open() as handle:
        frame = pd.read_csv(handle)
    times = pd.DatetimeIndex(pd.to_datetime(frame["Date"], format="%Y-%m"))
    return SeriesSet(names=["airline"], values=[frame[["Passengers"]].to_numpy(dtype=np.float64)],
                     columns=["Passengers"], times=[times], freq="MS")


BUILTIN = {
    "sine": (sine, "the tutorial's exercise: sin(linspace(0, 100, 1000)), 1000 steps"),
    "airline": (airline, "monthly airline passengers 1949-1960 (Box & Jenkins series G), 144 months"),
}
