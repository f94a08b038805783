"""Series in memory: `SeriesSet`, the tutorial's sine wave and the built-in data sets.

Everything grunet reads (a built-in set, a CSV file through `grunet.data.csvfile`, a DataFrame) becomes a
`SeriesSet`: one or many series, each an array of shape (length, 1 + n_features) whose first column is the target,
with its time stamps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from grunet.data.stamp_format import TimeFormat

# pandas is imported where time stamps are handled, not here: the tutorial's sine has none, and importing pandas
# costs about half a second of every `grunet train` on it.


@dataclass
class SeriesSet:
    """One or many series that share columns.

    names: one per series.  values: per series, (length, F) float64, column 0 the target.
    times: per series, a pandas Index of time stamps (length,), or None for plain steps 0, 1, 2, ...
    columns: the F column names, target first.  freq: the pandas frequency of the time stamps, if any.
    fingerprint: size and hash of the CSV file the series were read from.
    time_format: how the time column was written (`grunet.data.stamp_format.TimeFormat`), to write stamps back in that
    form (`time_labels`) and to read a second file (--future) the same way; None for data made in memory.
    """

    names: list[str]
    values: list[np.ndarray]
    columns: list[str]
    times: list[pd.Index | None] = field(default_factory=list)
    freq: str | None = None
    fingerprint: dict | None = None  # of the file read (`files.fingerprint`); None for data made in memory
    time_format: TimeFormat | None = None

    def __post_init__(self) -> None:
        if not self.times:
            self.times = [None] * len(self.values)

    @property
    def num_features(self) -> int:
        return len(self.columns)

    def positive(self, indices: Iterable[int] | None = None) -> bool:
        """Whether the target (column 0) is above zero at every point of the series `indices` (default: all): what
        its log needs."""
        chosen = range(len(self.values)) if indices is None else indices
        return all(bool((self.values[index][:, 0] > 0).all()) for index in chosen)

    def future_times(self, series: int, steps: int) -> list:
        """The `steps` time stamps after the end of series `series`, continuing its spacing (its own day of the
        month, weekday and time of day): dates (UTC where the file wrote offsets) or integer steps."""
        times = self.times[series]
        length = len(self.values[series])
        if times is None:
            return list(range(length, length + steps))
        from grunet.data.spacing import next_stamps

        spacing = self.freq if is_dated(times) else (self.time_format.step if self.time_format else None)
        if spacing is None and len(times) < 2:
            raise ValueError(
                f"series {self.names[series]!r} has a single time stamp and the file's spacing is "
                f"unknown, so its forecast steps have no time stamps"
            )
        stamps = next_stamps(times, spacing, steps)
        return stamps if is_dated(times) else [int(stamp) for stamp in stamps]

    def time_labels(self, series: int, stamps) -> list:
        """Time stamps of series `series` (e.g. `future_times`) in the input file's own form: quarters as the file
        wrote them (1965Q1, Q1 1965), months likewise (2020-01, Jan 2020), years and steps as integers, dates as
        dates, datetimes with the series' last UTC offset; stamps unchanged without a time_format (steps, or data
        made in memory)."""
        if self.time_format is None or self.times[series] is None:
            return list(stamps)
        return self.time_format.labels(stamps, self.names[series])


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

    with resources.files("grunet.data").joinpath("airline.csv").open() as handle:
        frame = pd.read_csv(handle)
    times = pd.DatetimeIndex(pd.to_datetime(frame["Date"], format="%Y-%m"))
    from grunet.data.stamp_format import TimeFormat

    return SeriesSet(
        names=["airline"],
        values=[frame[["Passengers"]].to_numpy(dtype=np.float64)],
        columns=["Passengers"],
        times=[times],
        freq="MS",
        time_format=TimeFormat("month", template="{y}-{m:02d}"),
    )


BUILTIN = {
    "sine": (sine, "the tutorial's exercise: sin(linspace(0, 100, 1000)), 1000 steps"),
    "airline": (airline, "monthly airline passengers 1949-1960 (Box & Jenkins series G), 144 months"),
}
