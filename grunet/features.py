"""What the model sees at each time step: its input columns (the data's, the calendar features, the padding mask)
and their values for one series. numpy only: the ONNX prediction path uses it without torch.
"""

from __future__ import annotations

import numpy as np

from grunet.data import calendar
from grunet.data.config import DataConfig


def model_columns(config: DataConfig, data_columns: list[str]) -> tuple[list[str], slice | None]:
    """The model's input columns for a resolved config, target first: the data's columns (`SeriesSet.columns`:
    target, features, future features), then the calendar features, then the mask when padding is on; and the
    slice of the known-future ones (future features and calendar), None when there are none."""
    columns = list(data_columns) + calendar.column_names(config.cycles) + (["observed"] if config.pad else [])
    first = 1 + len(config.features)
    count = len(config.future_features) + 2 * len(config.cycles)
    return columns, (slice(first, first + count) if count else None)


def model_values(
    config: DataConfig, scaler, position: int | np.ndarray, values: np.ndarray, times, out: np.ndarray | None = None
) -> np.ndarray:
    """Points as the model sees them: (n, F) scaled columns, calendar features, mask (see `model_columns`).
    position: the series' row of the scaler, or each point's (n,) for points of many series at once (their stamps
    `concatenated`). out: an (n, F) array to write them into (e.g. float32, as the model takes them), else float64."""
    parts = [scaler.transform(values, position)]
    if config.cycles:
        parts.append(calendar.features(times, config.cycles))
    if config.pad:
        parts.append(np.ones((len(values), 1)))
    if out is None:
        return np.concatenate(parts, axis=1)
    column = 0
    for part in parts:  # each cast once into place (the same values as the float64 block cast whole)
        out[:, column : column + part.shape[1]] = part
        column += part.shape[1]
    return out


def concatenated(times: list, last: int | None = None):
    """The time stamps of many series (each one's `last` ones, or all) as one DatetimeIndex, for their calendar
    features at once."""
    import pandas as pd

    cut = slice(-last, None) if last else slice(None)
    indexes = [stamps if isinstance(stamps, pd.DatetimeIndex) else pd.DatetimeIndex(stamps) for stamps in times]
    if any(stamps.tz is not None for stamps in indexes):  # stamps with a zone keep it (their calendar is local)
        return indexes[0][cut].append([stamps[cut] for stamps in indexes[1:]])
    return pd.DatetimeIndex(np.concatenate([stamps.values[cut] for stamps in indexes]))
