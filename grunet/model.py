"""`GRUNet`: the tutorial's model, a grunet.GRU (batch_first) and a Linear head on the last step's output; and
`Ensemble`, the median of several GRUNets."""
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
    #                                 meanabs: divide it by its mean absolute value and multiply back;
    #                                 None: 'none' for the sine (the tutorial), 'last' for other data
    future_size: int = 0            # known-future columns the head sees for each horizon step (calendar, ...)
    mask: bool = False              # the last input column is 1 for observed steps, 0 for padding


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
            'meanabs': feature 0 is divided by its mean absolute value over the window and the outputs multiplied
            back, so one global model serves series of any scale (use it with unscaled or min-max scaled data).
        future_size: K, the number of known-future columns (calendar features, --future-features). The head then
            also sees their values at each of the output_size horizon steps: it is a Linear layer on
            [last output, future flattened], and forward takes them as a second input.
        mask: the last input column marks observed steps (1) and padding (0) of windows that reach before the
            start of a short series; the window norms use observed steps only, and padded steps are zeroed.

    Input: x (batch, seq, input_size), and with future_size > 0 future (batch, output_size, future_size).
    Output: (batch, output_size).

    Example::
        >>> model = GRUNet(input_size=10, hidden_size=20, output_size=1, num_layers=2)
        >>> model(torch.randn(32, 5, 10)).shape
        torch.Size([32, 1])
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, num_layers: int = 1,
                 dropout: float = 0.0, reset_after: bool = False, window_norm: str = "none", future_size: int = 0,
                 mask: bool = False) -> None:
        super().__init__()
        if window_norm not in WINDOW_NORMS:
            raise ValueError(f"window_norm must be one of {', '.join(WINDOW_NORMS)}; got {window_norm!r}")
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"output_size must be an integer >= 1, got {output_size!r}")
        if future_size < 0:
            raise ValueError(f"future_size must be >= 0, got {future_size!r}")
        self.config = ModelConfig(input_size, hidden_size, output_size, num_layers, dropout, reset_after, window_norm,
                                  future_size, mask)
        self.gru = GRU(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
                       reset_after=reset_after)
        self.fc = nn.Linear(hidden_size + output_size * future_size, output_size)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "GRUNet":
        return cls(config.input_size, config.hidden_size, config.output_size, config.num_layers,
                   config.dropout, config.reset_after, config.window_norm or "none", config.future_size, config.mask)

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        config = self.config
        if isinstance(x, Tensor) and x.dim() != 3:
            raise ValueError(f"GRUNet expected input of shape (batch, seq, input_size={config.input_size}), "
                             f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
        expected = (x.shape[0], config.output_size, config.future_size)
        if config.future_size and (future is None or tuple(future.shape) != expected):
            got = "nothing" if future is None else f"shape {tuple(future.shape)}"
            raise ValueError(f"GRUNet expected the known-future input of shape (batch, horizon={config.output_size}, "
                             f"future_size={config.future_size}) = {expected}, got {got}")
        if not config.future_size and future is not None:
            raise ValueError("this GRUNet has no known-future columns (future_size 0), but a future input was given")
        observed = x[..., -1:] if config.mask else None  # (B, T, 1): 1 observed, 0 padding
        shift, scale = None, None
        if config.window_norm != "none":
            target = x[..., :1]  # (B, T, 1)
            if config.window_norm == "last":
                shift = target[:, -1:]
            elif config.window_norm == "mean":
                shift = masked_mean(target, observed)
            else:  # meanabs
                scale = masked_mean(target.abs(), observed).clamp_min(1e-8)
            target = target - shift if shift is not None else target / scale
            if observed is not None:
                target = target * observed
            x = torch.cat([target, x[..., 1:]], dim=-1)  # (B, T, input_size)
        output, h_n = self.gru(x)  # (B, T, D*H), (num_layers * D, B, H); h_0 defaults to zeros
        # the output's last step; in one direction that is the last layer's h_n, and taken from there the backward
        # gets a (B, H) gradient instead of a (B, T, H) one that is zero but for its last step (4 % of a train step)
        last = output[:, -1, :] if self.gru.bidirectional else h_n[-1]  # (B, D*H)
        if config.future_size:
            last = torch.cat([last, future.flatten(1)], dim=1)  # (B, H + output_size * K)
        prediction = self.fc(last)  # (B, output_size)
        if shift is not None:
            return prediction + shift[:, 0]
        return prediction if scale is None else prediction * scale[:, 0]


WINDOW_NORMS = ("none", "mean", "last", "meanabs")


def masked_mean(values: Tensor, observed: Tensor | None) -> Tensor:
    """(B, T, 1) -> (B, 1, 1): the mean over the observed steps (all when `observed` is None)."""
    if observed is None:
        return values.mean(dim=1, keepdim=True)
    return (values * observed).sum(dim=1, keepdim=True) / observed.sum(dim=1, keepdim=True).clamp_min(1)


class Ensemble(nn.Module):
    """The median of several GRUNets of one configuration (trained from different seeds): the forecast of
    `grunet train --ensemble N`. Same inputs and outputs as a GRUNet; for an even count the median is the mean of
    the two middle forecasts, as numpy's."""

    def __init__(self, members: list[GRUNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        forecasts = torch.stack([member(x, future) for member in self.members])  # (N, B, output_size)
        return median(forecasts)


def median(stacked: Tensor) -> Tensor:
    """(N, ...) -> (...): the median over dim 0, the mean of the two middle values when N is even."""
    ordered = stacked.sort(dim=0).values
    count = len(stacked)
    return (ordered[(count - 1) // 2] + ordered[count // 2]) / 2
