"""Forecasting past the end of the data with a trained run: the next `horizon` values of every series."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from grunet.datasets import load_series
from grunet.model import GRUNet
from grunet.runs import configs_from_dict
from grunet.scaling import Scaler


def forecast_future(model: GRUNet, checkpoint: dict, data: str | None = None) -> pd.DataFrame:
    """Forecasts the next horizon values after the last point of each series.

    Uses the run's data (or `data`, a CSV file with the same columns), the run's window and the scaling fitted at
    training time. Returns a table with columns series, time, step (1..horizon), value (original units); times
    continue each series' spacing.
    """
    data_config, _, _ = configs_from_dict(checkpoint["config"], "the checkpoint's config")
    if data is not None:
        data_config = dataclasses.replace(data_config, data=data)
    series = load_series(data_config)
    scaler = Scaler.from_dict(checkpoint["scaler"])
    known = {name: position for position, name in enumerate(checkpoint["series_names"])}
    window, horizon = data_config.window, data_config.horizon
    rows, inputs, positions = [], [], []
    for index, name in enumerate(series.names):
        position = known.get(name)
        if position is None and len(known) == 1 and len(series.names) == 1:
            position = 0  # one series in, one out: a renamed file of the same series
        if position is None:
            raise ValueError(f"series {name!r} was not in the training data, so the run has no scaling for it; "
                             f"known series: {', '.join(list(known)[:10])}")
        values = series.values[index]
        if len(values) < window:
            raise ValueError(f"series {name!r} has {len(values)} points, fewer than the window ({window})")
        inputs.append(scaler.transform(values[-window:], position))  # (W, F)
        positions.append(position)
    device = next(model.parameters()).device
    batch = torch.tensor(np.stack(inputs), dtype=torch.float32, device=device)  # (S, W, F)
    with torch.no_grad():
        scaled = model.eval()(batch).double().cpu().numpy()  # (S, H)
    forecast = scaler.inverse_target(scaled, np.array(positions))
    for index, name in enumerate(series.names):
        for step, (when, value) in enumerate(zip(series.future_times(index, horizon), forecast[index]), start=1):
            rows.append({"series": name, "time": when, "step": step, "value": float(value)})
    return pd.DataFrame(rows, columns=["series", "time", "step", "value"])
