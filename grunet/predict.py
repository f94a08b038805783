"""Forecasting past the end of the data with a trained run: the next `horizon` values of every series.

The torch-free steps (windows, scaling, the result table) are in `grunet.onnx_predict`, shared with the ONNX path.
"""
from __future__ import annotations

import pandas as pd
import torch

from grunet.model import Ensemble, GRUNet
from grunet.onnx_predict import forecast_inputs, forecast_table
from grunet.runs import configs_from_dict
from grunet.scaling import Scaler


def forecast_future(model: GRUNet | Ensemble, checkpoint: dict, data: str | None = None,
                    future: str | None = None) -> pd.DataFrame:
    """Forecasts the next horizon values after the last point of each series.

    Uses the run's data (or `data`, a CSV file with the same columns), the run's window and the scaling fitted at
    training time; `future`: a CSV file with the future features' values over the horizon, for a model trained with
    --future-features. Returns a table with columns series, time, step (1..horizon), value (original units); times
    continue each series' spacing.
    """
    data_config, _, _ = configs_from_dict(checkpoint["config"], "the checkpoint's config")
    scaler = Scaler.from_dict(checkpoint["scaler"])
    series, inputs, future_inputs, positions = forecast_inputs(data_config, scaler, checkpoint["series_names"], data,
                                                               None, future)  # the GRU checks the input size
    device = next(model.parameters()).device
    batch = [torch.from_numpy(inputs).to(device)]  # (S, W, F) float32
    if future_inputs is not None:
        batch.append(torch.from_numpy(future_inputs).to(device))  # (S, horizon, K)
    with torch.no_grad():
        scaled = model.eval()(*batch).double().cpu().numpy()  # (S, H)
    return forecast_table(series, scaled, scaler, positions, data_config.horizon)
