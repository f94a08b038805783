"""`GRUNet`: the tutorial's model, a grunet.GRU (batch_first) and a Linear head on the last step's output."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from grunet.layer import GRU


@dataclass
class ModelConfig:
    """Everything needed to rebuild a GRUNet; saved with every run and checkpoint."""
    input_size: int = 1
    hidden_size: int = 20
    output_size: int = 1
    num_layers: int = 2
    dropout: float = 0.0
    reset_after: bool = False
    window_norm: str | None = None  # none | mean | last: shift feature 0 of each window by that level and back;
    #                                 None: 'none' for the sine (the tutorial), 'last' for other data


class GRUNet(nn.Module):
    """GRU followed by a Linear layer applied to the last time step's output (the tutorial's Step 2).

    Args:
        input_size: features per time step.  hidden_size: GRU state size.  output_size: values predicted per
        sequence (the forecast horizon).  num_layers: stacked GRU layers.  dropout: between GRU layers.
        reset_after: False (default) for the tutorial's equations, True for torch's form.
        window_norm: 'none' (default, the tutorial), or 'mean' / 'last': feature 0 (the target) of each input window
            is shifted by its own mean / last value before the GRU, and the outputs shifted back. The model then
            sees shapes, not levels: a series that trends beyond its training range stays in the range the GRU
            was trained on (with per-series standardising, and with `log` a division by the geometric mean).

    Input: (batch, seq, input_size).  Output: (batch, output_size).

    Example::
        >>> model = GRUNet(input_size=10, hidden_size=20, output_size=1, num_layers=2)
        >>> model(torch.randn(32, 5, 10)).shape
        torch.Size([32, 1])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 dropout: float = 0.0, reset_after: bool = False, window_norm: str = "none") -> None:
        super().__init__()
        if window_norm not in ("none", "mean", "last"):
            raise ValueError(f"window_norm must be one of none, mean, last; got {window_norm!r}")
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"output_size must be an integer >= 1, got {output_size!r}")
        self.config = ModelConfig(input_size, hidden_size, output_size, num_layers, dropout, reset_after, window_norm)
        self.gru = GRU(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                       reset_after=reset_after)
        self.fc = nn.Linear(hidden_size, output_size)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "GRUNet":
        return cls(config.input_size, config.hidden_size, config.output_size, config.num_layers,
                   config.dropout, config.reset_after, config.window_norm or "none")

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.dim() != 3:
            raise ValueError(f"GRUNet expected input of shape (batch, seq, input_size={self.config.input_size}), "
                             f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
        level = None
        if self.config.window_norm != "none":
            target = x[..., :1]  # (B, T, 1)
            level = target.mean(dim=1, keepdim=True) if self.config.window_norm == "mean" else target[:, -1:]
            x = torch.cat([target - level, x[..., 1:]], dim=-1)  # (B, T, input_size)
        output, _ = self.gru(x)  # (B, T, H); h_0 defaults to zeros on x's device and dtype
        prediction = self.fc(output[:, -1, :])  # (B, output_size)
        return prediction if level is None else prediction + level[:, 0]
