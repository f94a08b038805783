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


def model_values(config: DataConfig, scaler, position: int, values: np.ndarray, times) -> np.ndarray:
    """One series' points as the model sees them: (n, F) scaled columns, calendar features, mask (see
    `model_columns`)."""
    parts = [scaler.transform(values, position)]
    if config.cycles:
        parts.append(calendar.features(times, config.cycles))
    if config.pad:
        parts.append(np.ones((len(values), 1)))
    return np.concatenate(parts, axis=1)
