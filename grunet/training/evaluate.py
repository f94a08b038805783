"""A model's outputs and loss over a `WindowSet`, in eval mode and in batches: used by training (validation loss),
scoring and data-parallel evaluation alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from grunet.windows import WindowSet


@torch.no_grad()
def evaluate_loss(model: nn.Module, windows: WindowSet, batch_size: int = 4096) -> float:
    """Mean squared error of the model on `windows` (in scaled units)."""
    return float(np.mean((predict(model, windows, batch_size) - windows.targets().cpu().numpy()) ** 2))


@torch.no_grad()
def predict(model: nn.Module, windows: WindowSet, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs (N, horizon) for every window, in eval mode, as float64 numpy."""
    was_training = model.training
    model.eval()
    outputs = [
        model(*windows.model_inputs(index)).double().cpu()
        for index in torch.arange(len(windows), device=windows.starts.device).split(batch_size)
    ]
    model.train(was_training)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, windows.horizon))
