"""Windows into series: the time split (train / validation / test), and every series of a run split, scaled and cut
into windows (`prepare` -> `Prepared`), batches gathered by index.

A window starting at position s of a series has inputs ``values[s : s + window]`` (all columns, the target first) and
targets ``target[s + window : s + window + horizon]``. Windows are never copied one by one: all series live in one
flat array and a window is a start index into a strided view of it (`Tensor.unfold`), so memory grows with the
series' length, not with length × window. A batch is gathered when it is asked for.

The split is by time, per series of length n, with S = test_size and V = val_size points:

    [ train: n - S - V points | validation: V points | test: S points ]

A window belongs to the part its *targets* fall in; its inputs may reach back into earlier parts (they are the
observed past). Scaling is fitted on the train part only, so nothing of the validation or test part is seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from torch import Tensor

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.features import concatenated, model_columns, model_values
from grunet.scaling import Scaler


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's `create_sequences`, vectorised: inputs (N, window) and next values (N,), N = len - window.

    The inputs are a read-only strided view of `series`, not a copy.
    """
    series = np.asarray(series)
    if not 0 < window < len(series):
        raise ValueError(f"window must be between 1 and the series length - 1 ({len(series) - 1}), got {window}")
    inputs = np.lib.stride_tricks.sliding_window_view(series, window)[:-1]  # (N, window)
    return inputs, series[window:]


@dataclass(frozen=True)
class SplitSizes:
    """Window start ranges of one series for each part: [first, last] inclusive; empty when first > last."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    train_end: int  # points [0, train_end) are the train part: scaling and in-sample errors use only these


def split_series(
    length: int, window: int, horizon: int, test_size: int, val_size: int, pad: bool = False
) -> SplitSizes:
    """Window start ranges of a series of `length` points (see the module docstring for the layout).

    With `pad`, windows may start before the series (down to 1 - window: at least one observed input step); the
    steps before the start are padding, which the caller stores and masks.
    """
    train_end = length - test_size - val_size
    lowest = 1 - window if pad else 0

    def part(first: int, last: int) -> tuple[int, int]:
        return max(first, lowest), last

    return SplitSizes(
        train=part(lowest, train_end - window - horizon),
        val=part(train_end - window, train_end + val_size - window - horizon),
        test=part(length - test_size - window, length - window - horizon),
        train_end=train_end,
    )


class WindowSet:
    """Windows of a set of series stored once, flat; batches are gathered on demand.

    Args:
        values: (total_length, F) all series one after another (scaled), column 0 the target.
        starts: (N,) flat start index of each window.  series: (N,) series index of each window.
        known: the columns known in advance (calendar features, --future-features), as a slice of the F columns:
            their values over each window's horizon are the model's second input (`model_inputs`). None: no such
            columns, the model takes the window alone.
    """

    def __init__(
        self, values: Tensor, starts: Tensor, series: Tensor, window: int, horizon: int, known: slice | None = None
    ) -> None:
        self.values, self.starts, self.series = values, starts, series
        self.window, self.horizon, self.known = window, horizon, known
        self._input_view = values.unfold(0, window, 1)  # (total - W + 1, F, W), a view
        self._target_view = values[:, 0].unfold(0, horizon, 1)  # (total - H + 1, H), a view
        self._future_view = None if known is None else values[:, known].unfold(0, horizon, 1)  # (.., K, H), a view

    def __len__(self) -> int:
        return len(self.starts)

    def inputs(self, index: Tensor | None = None) -> Tensor:
        """(B, window, F) inputs of the windows `index` (all when None)."""
        starts = self.starts if index is None else self.starts[index]
        # index_select, not view[starts]: the same values and layout, but torch's advanced indexing shares even a
        # mini-batch of 32 windows among its threads, and a thread that waits for that (spinning, or descheduled
        # beside another program) costs more than the copy itself
        return self._input_view.index_select(0, starts).transpose(1, 2).contiguous()

    def targets(self, index: Tensor | None = None) -> Tensor:
        """(B, horizon) targets of the windows `index` (all when None)."""
        starts = self.starts if index is None else self.starts[index]
        return self._target_view.index_select(0, starts + self.window)

    def future(self, index: Tensor | None = None) -> Tensor | None:
        """(B, horizon, K) values of the known columns over the windows' horizons; None without known columns."""
        if self._future_view is None:
            return None
        starts = self.starts if index is None else self.starts[index]
        return self._future_view.index_select(0, starts + self.window).transpose(1, 2).contiguous()

    def model_inputs(self, index: Tensor | None = None) -> tuple[Tensor, ...]:
        """What the model is called with for the windows `index`: (inputs,) or (inputs, future)."""
        future = self.future(index)
        return (self.inputs(index),) if future is None else (self.inputs(index), future)

    def chunks(self, size: int = 65536) -> Iterator[tuple[Tensor, Tensor]]:
        """(inputs, targets) of `size` consecutive windows at a time: a large set is never copied whole."""
        for start in range(0, len(self), size):
            index = torch.arange(start, min(start + size, len(self)), device=self.starts.device)
            yield self.inputs(index), self.targets(index)

    def subset(self, index: Tensor) -> WindowSet:
        """The windows `index` of this set, sharing its values."""
        return WindowSet(self.values, self.starts[index], self.series[index], self.window, self.horizon, self.known)

    def to(self, device: torch.device | str) -> WindowSet:
        return WindowSet(
            self.values.to(device),
            self.starts.to(device),
            self.series.to(device),
            self.window,
            self.horizon,
            self.known,
        )


@dataclass
class Prepared:
    """Series split, scaled and windowed. raw: (total, F_csv) all kept series flat, in original units.

    Each kept series is a block of the flat arrays: `pad` rows of padding (NaN in raw, zeros in the model's
    values), then its points; `bounds(position)` gives where its points are.
    """

    series: SeriesSet
    config: DataConfig
    kept: list[int]  # indices into series of the series used
    skipped: list[str]  # names of series too short (with padding: fewer than test size + 1 points)
    scaler: Scaler  # one row per kept series
    offsets: np.ndarray  # (len(kept) + 1,) where each kept series' block starts in the flat arrays
    splits: list[SplitSizes]
    raw: np.ndarray
    train: WindowSet
    val: WindowSet
    test: WindowSet
    columns: list[str] = field(default_factory=list)  # the model's input columns, target first
    pad: int = 0  # padding rows at the start of each block (window - 1 when padding is on)

    def bounds(self, position: int) -> tuple[int, int]:
        """[start, end) of kept series `position`'s points in the flat arrays."""
        return int(self.offsets[position]) + self.pad, int(self.offsets[position + 1])

    def history(self, position: int) -> np.ndarray:
        """Kept series `position`'s target at every point, original units (a view of `raw`)."""
        return self.raw[slice(*self.bounds(position)), 0]


def _starts(offsets: np.ndarray, splits: list[SplitSizes], part: str, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat start index and the series of every window of `part`, series after series."""
    ranges = np.array([getattr(split, part) for split in splits], dtype=np.int64).reshape(-1, 2)  # [first, last]
    counts = np.maximum(ranges[:, 1] - ranges[:, 0] + 1, 0)
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    before = np.cumsum(counts) - counts  # windows of the series before each
    first = offsets[: len(splits)] + pad + ranges[:, 0]
    return np.repeat(first - before, counts) + np.arange(total), np.repeat(np.arange(len(splits)), counts)


def prepare(series: SeriesSet, config: DataConfig) -> Prepared:
    """Splits every series by time, fits the scaler on the train parts, and builds the three window sets.

    `config` must be resolved. Without padding, a series too short for one training window and its test windows is
    skipped (named in `skipped`). With padding, windows may reach before a series' start, so a short series still
    gets its test forecast; only series with fewer than test_size + 1 points (horizon + 1 with the default test size)
    are skipped. If no training window is left, ValueError.
    """
    window, horizon = cast(int, config.window), config.horizon  # `config` is resolved
    test_size, val_size = cast(int, config.test_size), cast(int, config.val_size)
    pad = window - 1 if config.pad else 0
    kept, skipped, splits = [], [], []
    for index, values in enumerate(series.values):
        split = split_series(len(values), window, horizon, test_size, val_size, bool(config.pad))
        too_short = len(values) < test_size + 1 if config.pad else len(values) < config.min_length_unpadded
        if too_short:  # with padding: the whole test part needs one observed point before it
            skipped.append(series.names[index])
            continue
        kept.append(index)
        splits.append(split)
    if not any(split.train[1] >= split.train[0] for split in splits):
        shortest = min(len(values) for values in series.values)
        first = "1 observed step (padding on)" if config.pad else f"window ({window})"
        raise ValueError(
            f"every series is too short: {first} + horizon ({horizon}) + test size ({test_size}) + "
            f"validation size ({val_size}) needs at least "
            f"{(1 if config.pad else window) + horizon + test_size + val_size} points in one series, "
            f"the longest has {max(len(values) for values in series.values)} (shortest {shortest})"
        )
    if config.log and not series.positive(kept):
        raise ValueError("--log needs a positive target, but the target has values <= 0")
    # the train part only (a padded series may have fewer than two train points: at least its first point)
    fit_parts = [series.values[index][: max(split.train_end, 1)] for index, split in zip(kept, splits)]
    scaler = Scaler.fit(fit_parts, cast(str, config.scale), bool(config.log))
    columns, known = model_columns(config, series.columns)
    # all kept series at once, one after another, each behind `pad` rows of padding (NaN in raw, zeros in the model's)
    lengths = np.array([len(series.values[index]) for index in kept], dtype=np.int64)
    owner = np.repeat(np.arange(len(kept)), lengths)  # each point's series, its row of the scaler
    values = np.concatenate([series.values[index] for index in kept])
    times = [series.times[index] for index in kept]
    stamps = concatenated(times) if config.cycles else None
    offsets = np.concatenate([[0], np.cumsum(lengths + pad)])
    if pad:
        points = np.arange(len(values)) + pad * (owner + 1)  # where each point goes among the padding
        raw = np.full((int(offsets[-1]), values.shape[1]), np.nan)
        raw[points] = values
        model_rows = np.zeros((int(offsets[-1]), len(columns)), dtype=np.float32)
        model_rows[points] = model_values(config, scaler, owner, values, stamps)
    else:  # written straight into the model's float32 rows
        raw = values.astype(np.float64, copy=False)
        model_rows = model_values(
            config, scaler, owner, values, stamps, out=np.empty((len(values), len(columns)), np.float32)
        )
    flat = torch.from_numpy(model_rows)
    sets = {}
    for part in ("train", "val", "test"):
        starts, owners = _starts(offsets, splits, part, pad)
        sets[part] = WindowSet(flat, torch.from_numpy(starts), torch.from_numpy(owners), window, horizon, known)
    return Prepared(
        series,
        config,
        kept,
        skipped,
        scaler,
        offsets,
        splits,
        raw,
        sets["train"],
        sets["val"],
        sets["test"],
        columns,
        pad,
    )
