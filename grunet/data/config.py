"""`DataConfig`: which series a run reads and how they are cut into windows; `load_series` reads them."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from grunet.data.calendar import cycles_for, parse_cycles
from grunet.data.series import BUILTIN, SeriesSet, is_dated
from grunet.files import check_settings

if TYPE_CHECKING:
    import pandas as pd

# the ranges of the data settings (beyond them a run could not fit in memory or end in any sensible time)
LIMITS = {"window": 100_000, "horizon": 10_000, "season": 1_000_000, "points": 1_000_000_000}
DATAFRAME = "<DataFrame>"  # DataConfig.data of a run fitted on a DataFrame (not saved with the run)


@dataclass
class DataConfig:
    """Which series, and how they are cut into windows. None means 'chosen from the data' (see `resolve`)."""

    data: str = "sine"  # a built-in data set (grunet datasets) or a CSV file
    target: str | None = None  # CSV: the column to forecast (default: the only numeric column)
    time_col: str | None = None  # CSV: time stamps; sorted by, checked for regular spacing
    date_format: str | None = None  # CSV: the time column's form in strftime codes ('%d/%m/%Y'), for dates whose
    #                                 order of day and month the column cannot tell (None: read from the column)
    id_col: str | None = None  # CSV: long format, one series per value of this column
    features: list[str] = field(default_factory=list)  # CSV: extra numeric input columns (observed, past only)
    future_features: list[str] = field(default_factory=list)  # CSV: input columns known in advance (the model
    #                                 also sees their values over the horizon; predict needs them for the future)
    calendar: str = "auto"  # auto (from the time stamps' frequency) | none | cycles, e.g. month,quarter
    fill: str = "error"  # missing values: error | ffill | interpolate | drop
    window: int | None = None  # input steps (sine: 50, the tutorial's; else searched, or `default_window`)
    horizon: int = 1  # output steps
    test_size: int | None = None  # last points of every series held out (sine: 150, the tutorial's split);
    #                                 0: no test part, a final fit on every point (then `grunet predict`)
    val_size: int | None = None  # points before the test part for early stopping and for choosing settings
    #                                 (sine: 0; else `validation_size`: one or two horizons)
    scale: str | None = None  # none | standard | minmax (sine: none, else standard)
    log: bool | None = None  # model log(values): positive series with multiplicative growth (None: searched for
    #                                 positive series, else no)
    season: int | None = None  # seasonal naive lag and MASE lag (None: from the time stamps' frequency,
    #                                 `season_for`; 1 for the sine and plain step numbers)
    pad: bool | None = None  # windows may reach before a series' start (padded, masked); None: when some
    #                                 series is too short for window + horizon + test and validation parts (and,
    #                                 for a window given, another is long enough)

    def check(self) -> None:
        """Raises TypeError for a setting of the wrong type, ValueError naming the first out-of-range setting (the
        ranges: `LIMITS`)."""
        check_settings(
            self,
            lambda: [
                (
                    "window",
                    self.window is None or 1 <= self.window <= LIMITS["window"],
                    f">= 1 (at most {LIMITS['window']})",
                ),
                ("horizon", 1 <= self.horizon <= LIMITS["horizon"], f">= 1 (at most {LIMITS['horizon']})"),
                (
                    "season",
                    self.season is None or 1 <= self.season <= LIMITS["season"],
                    f">= 1 (at most {LIMITS['season']})",
                ),
                (
                    "test_size",
                    self.test_size is None or self.test_size == 0 or self.horizon <= self.test_size <= LIMITS["points"],
                    f">= horizon ({self.horizon}) and at most {LIMITS['points']}, or 0 for a final fit on every point",
                ),
                (
                    "val_size",
                    self.val_size is None or self.val_size == 0 or self.horizon <= self.val_size <= LIMITS["points"],
                    f"0, or >= horizon ({self.horizon}) and at most {LIMITS['points']}",
                ),
                ("scale", self.scale in (None, "none", "standard", "minmax"), "one of none, standard, minmax"),
                (
                    "fill",
                    self.fill in ("error", "ffill", "interpolate", "drop"),
                    "one of error, ffill, interpolate, drop",
                ),
            ],
        )
        if self.date_format is not None and (not isinstance(self.date_format, str) or "%" not in self.date_format):
            raise ValueError(
                f"date_format must be a date format in strftime codes, e.g. '%d/%m/%Y', got {self.date_format!r}"
            )
        if self.calendar not in ("auto", "none"):
            parse_cycles(self.calendar)
        both = set(self.features) & set(self.future_features)
        if both:
            raise ValueError(f"column {sorted(both)[0]!r} is given both as a feature and as a future feature")

    @property
    def min_length_unpadded(self) -> int:
        """Points a series needs for one training window and all its test windows without padding (resolved)."""
        return cast(int, self.window) + self.horizon + cast(int, self.test_size) + cast(int, self.val_size)

    @property
    def cycles(self) -> list[str]:
        """The calendar cycles of a resolved config ([] for none)."""
        return [] if self.calendar in ("none", "auto") else parse_cycles(self.calendar)

    def resolve(self, series: SeriesSet) -> DataConfig:
        """A copy with every None replaced by the value used for `series`."""
        resolved = copy.copy(self)
        if self.data not in BUILTIN and self.data != DATAFRAME:  # an absolute path: repeatable from any folder
            resolved.data = str(Path(self.data).resolve())
        is_sine = self.data == "sine"
        lengths = [len(values) for values in series.values]
        shortest = min(lengths)
        if resolved.season is None:
            resolved.season = 1
            if series.freq is not None:  # pandas (times) only for dated data: the sine runs without it
                from grunet.data.spacing import season_for

                resolved.season = season_for(series.freq) or 1
        if resolved.test_size is None:
            resolved.test_size = 150 if is_sine else max(self.horizon, shortest // 10)
        if resolved.val_size is None:
            resolved.val_size = 0 if is_sine else validation_size(lengths, self.horizon, resolved.test_size)
        # series too short to train on what the held-out parts leave (even padded): hold out less, the test part
        # first (then nothing is scored: the validation part still chooses the settings), then the validation part
        longest = max(lengths)
        if self.test_size is None and longest < self.horizon + 1 + resolved.test_size + resolved.val_size:
            resolved.test_size = 0
        if self.val_size is None and longest < self.horizon + 1 + resolved.test_size + resolved.val_size:
            resolved.val_size = 0
        if resolved.window is None:
            resolved.window = (
                50
                if is_sine
                else default_window(lengths, self.horizon, resolved.season, resolved.test_size + resolved.val_size)
            )
        if resolved.log is None:
            resolved.log = False
        if resolved.scale is None:
            resolved.scale = "none" if is_sine and not resolved.log else "standard"
        if self.future_features and self.time_col is None:
            raise ValueError(
                "--future-features needs --time-col: predict matches the future values to the forecast "
                "steps by their time stamps"
            )
        dated = bool(series.times) and all(is_dated(times) for times in series.times)
        if self.calendar == "auto":
            resolved.calendar = ",".join(cycles_for(series.freq) if dated else []) or "none"
        elif self.calendar != "none" and not dated:
            raise ValueError(
                f"calendar features ({self.calendar}) need dates: give --time-col with dates or "
                f"periods, or --calendar none"
            )
        if resolved.pad is None:  # a series too short for one window and its held-out parts: pad (unless the
            # window the user gave is longer than every series: then the error says so)
            resolved.pad = shortest < resolved.min_length_unpadded and (
                (self.window is None and not is_sine) or longest >= resolved.min_length_unpadded
            )
        resolved.check()
        return resolved


def load_series(config: DataConfig, frame: pd.DataFrame | None = None) -> SeriesSet:
    """The series named by `config.data`: a built-in data set or a CSV file; or those of `frame`, a DataFrame laid
    out as such a file (then `config.data` is `DATAFRAME`)."""
    if frame is not None or config.data == DATAFRAME:
        if frame is None:
            raise ValueError("this run was fitted on a DataFrame, which is not saved with it: pass the data")
        from grunet.data.csvfile import load_csv

        return load_csv(
            frame,
            target=config.target,
            time_col=config.time_col,
            id_col=config.id_col,
            features=list(config.features) + list(config.future_features),
            fill=config.fill,
            date_format=config.date_format,
        )
    if config.data in BUILTIN:
        if config.features or config.future_features:
            raise ValueError(
                f"the built-in data set {config.data!r} has no feature columns; --features and "
                f"--future-features need a CSV file"
            )
        series = BUILTIN[config.data][0]()
        time_columns = BUILTIN_TIME_COLUMNS.get(config.data, [])
        for flag, name, known in (
            ("--target", config.target, series.columns),
            ("--time-col", config.time_col, time_columns),
            ("--id-col", config.id_col, []),
        ):
            if name is not None and flag == "--id-col":
                raise ValueError(
                    f"--id-col {name!r}: the built-in data set {config.data!r} is one series, with no id "
                    f"column; for a CSV file in long format give its path with --data"
                )
            if name is not None and name not in known:
                has = f"the column {series.columns[0]}" + (
                    f" and the time column {time_columns[0]}" if time_columns else ""
                )
                raise ValueError(
                    f"{flag} {name!r} names no column of the built-in data set {config.data!r} (it has "
                    f"{has}, one series); for a CSV file give its path with --data"
                )
        return series
    from grunet.data.csvfile import load_csv

    return load_csv(
        config.data,
        target=config.target,
        time_col=config.time_col,
        id_col=config.id_col,
        features=list(config.features) + list(config.future_features),
        fill=config.fill,
        date_format=config.date_format,
    )


BUILTIN_TIME_COLUMNS = {"airline": ["Date"]}  # the time column of each built-in data set that has one

ORIGINS = 24  # validation origins wanted over all series: enough that choosing settings on them is not luck


def validation_size(lengths: list[int], horizon: int, test_size: int) -> int:
    """Points before the test part that choose settings and stop training: h - 1 + k points give k forecast origins
    a horizon long per series; k is enough for `ORIGINS` origins over all series (at least one per series), at most
    max(h + 1, ORIGINS / 2) (two horizons: the search's models keep most of the data); V is at most a third of what
    the median series has before its test part, and never less than a horizon."""
    per_series = min(math.ceil(ORIGINS / len(lengths)), max(horizon + 1, ORIGINS // 2))
    room = sorted(lengths)[len(lengths) // 2] - test_size  # the median series' points before its test part
    return max(horizon, min(horizon - 1 + per_series, room // 3))


def default_window(lengths: list[int], horizon: int, season: int, held_out: int) -> int:
    """The input window when none is given or searched: two seasons (seasonal data), else max(2 horizons, 10)
    steps; at most what the median series has left for one training window before its held-out parts."""
    wanted = 2 * season if season > 1 else max(2 * horizon, 10)
    room = sorted(lengths)[len(lengths) // 2] - held_out - horizon
    return max(1, min(wanted, room))
