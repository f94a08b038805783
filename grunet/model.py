"""`GRUNet`: the tutorial's model, a grunet.GRU (batch_first) and a Linear head on the last step's output; and
`Ensemble`, the median of several GRUNets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from grunet.files import check_settings, is_number
from grunet.layer import GRU
from grunet.ridge import ridge_fit_chunks

# the ranges of the model settings: far beyond any forecasting model, and small enough that checking the memory a
# model takes (grunet.memory) before building it is the only other guard needed
LIMITS = {
    "input_size": 100_000,
    "hidden_size": 8192,
    "output_size": 10_000,
    "num_layers": 32,
    "future_size": 1_000_000,
    "ar": 100_000,
    "input_steps": 100_000,
    "seasonal": 1_000_000,
}


@dataclass
class ModelConfig:
    """Everything needed to rebuild a GRUNet; saved with every run and checkpoint. None: chosen for the data (the
    tutorial's values for the sine; a search, or `resolve`'s defaults, for other data)."""

    input_size: int = 1
    hidden_size: int | None = None  # the sine: 20 (the tutorial's)
    output_size: int = 1
    num_layers: int | None = None  # the sine: 2
    dropout: float = 0.0
    reset_after: bool = False
    window_norm: str | None = None  # none | mean | last: shift feature 0 of each window by that level and back;
    #                                 meanabs: divide it by its mean absolute value and multiply back;
    #                                 None: 'none' for the sine (the tutorial), 'last' for other data
    future_size: int = 0  # known-future columns the head sees for each horizon step (calendar, ...)
    mask: bool = False  # the last input column is 1 for observed steps, 0 for padding
    ar: int | None = None  # the autoregressive skip: a linear term over the window's last `ar` target
    #                                 values added to the head's output (0: none; None: 0 for the sine)
    input_steps: int = 0  # the model reads the last `input_steps` steps of its input (0: all of them);
    #                                 an ensemble's members may read windows of different lengths
    seasonal: int | None = None  # m > 0: the model forecasts the change from one season (m steps) back: the
    #                                 window's values m steps before each forecast step are added to its output

    def check(self) -> None:
        """Raises TypeError for a setting of the wrong type, ValueError naming the first out-of-range setting (the
        ranges: `LIMITS`; None is 'not resolved yet'). The memory a model takes is checked when it is built
        (`GRUNet.from_config`, `grunet.memory`)."""

        def within(name: str, low: int) -> tuple[str, bool, str]:
            value = getattr(self, name)
            return (
                name,
                value is None or low <= value <= LIMITS[name],
                f"an integer >= {low} (at most {LIMITS[name]})",
            )

        check_settings(
            self,
            lambda: [
                within("input_size", 1),
                within("hidden_size", 1),
                within("output_size", 1),
                within("num_layers", 1),
                ("dropout", is_number(self.dropout) and 0 <= self.dropout <= 1, "a number in [0, 1]"),
                (
                    "window_norm",
                    self.window_norm is None or self.window_norm in WINDOW_NORMS,
                    f"one of {', '.join(WINDOW_NORMS)}",
                ),
                within("future_size", 0),
                within("ar", 0),
                within("input_steps", 0),
                within("seasonal", 0),
            ],
        )

    def resolve(self, tutorial: bool) -> ModelConfig:
        """A copy with every None replaced: the tutorial's model for the sine, else grunet's defaults for data."""
        defaults: dict[str, Any] = (
            dict(hidden_size=20, num_layers=2, window_norm="none", ar=0, seasonal=0)
            if tutorial
            else dict(hidden_size=32, num_layers=1, window_norm="last", seasonal=0)
        )  # ar: the window (`fitting`)
        return dataclasses.replace(
            self, **{name: value for name, value in defaults.items() if getattr(self, name) is None}
        )


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
        ar: p > 0 adds an autoregressive skip (LSTNet's highway, Lai et al. 2018, arXiv:1803.07521): a Linear layer
            (no bias, initialised to zero) from the last p values of the window's target, as normalised by
            window_norm, to the output_size forecasts, added to the head's output. The linear part of a series
            is then learned directly; the GRU learns the rest.
        mask: the last input column marks observed steps (1) and padding (0) of windows that reach before the
            start of a short series; the window norms use observed steps only, and padded steps are zeroed.
        input_steps: w > 0: the model reads only the last w steps of its input (0: all), so that the members of
            an ensemble fed one input may read windows of different lengths.
        seasonal: m > 0: the output is the change from one season back: for forecast step k the window's
            (normalised) target value m - (k mod m) steps before the window's end is added to it, so the model
            starts at the seasonal naive forecast and learns what differs from it.

    Input: x (batch, seq, input_size), and with future_size > 0 future (batch, output_size, future_size).
    Output: (batch, output_size).

    Example::
        >>> model = GRUNet(input_size=10, hidden_size=20, output_size=1, num_layers=2)
        >>> model(torch.randn(32, 5, 10)).shape
        torch.Size([32, 1])
    """

    season_steps: Tensor  # a buffer (`__init__`)
    ar: nn.Linear  # the autoregressive skip, only with config.ar > 0 (`__init__`)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        reset_after: bool = False,
        window_norm: str = "none",
        future_size: int = 0,
        mask: bool = False,
        ar: int = 0,
        input_steps: int = 0,
        seasonal: int = 0,
    ) -> None:
        super().__init__()
        if window_norm not in WINDOW_NORMS:
            raise ValueError(f"window_norm must be one of {', '.join(WINDOW_NORMS)}; got {window_norm!r}")
        if not isinstance(output_size, int) or isinstance(output_size, bool) or output_size < 1:
            raise ValueError(f"output_size must be an integer >= 1, got {output_size!r}")
        if future_size < 0:
            raise ValueError(f"future_size must be >= 0, got {future_size!r}")
        if not isinstance(ar, int) or isinstance(ar, bool) or ar < 0:
            raise ValueError(f"ar must be an integer >= 0 (lags of the autoregressive skip), got {ar!r}")
        if not isinstance(input_steps, int) or isinstance(input_steps, bool) or input_steps < 0 or 0 < input_steps < ar:
            raise ValueError(f"input_steps must be 0 (all steps) or an integer >= ar ({ar}), got {input_steps!r}")
        if not isinstance(seasonal, int) or isinstance(seasonal, bool) or seasonal < 0 or 0 < input_steps < seasonal:
            raise ValueError(f"seasonal must be 0 or a season length of at most the window, got {seasonal!r}")
        self.config = ModelConfig(
            input_size,
            hidden_size,
            output_size,
            num_layers,
            dropout,
            reset_after,
            window_norm,
            future_size,
            mask,
            ar,
            input_steps,
            seasonal,
        )
        self.gru = GRU(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout, reset_after=reset_after)
        self.fc = nn.Linear(hidden_size + output_size * future_size, output_size)
        if ar:  # after the GRU and the head, so that their initial weights are those of a model without the skip
            self.ar = nn.Linear(ar, output_size, bias=False)
            nn.init.zeros_(self.ar.weight)
        # for each forecast step k (0-based), the window step one season before it: -m + (k mod m)
        lags = [-seasonal + step % seasonal for step in range(output_size)] if seasonal else []
        self.register_buffer("season_steps", torch.tensor(lags, dtype=torch.long), persistent=False)

    @classmethod
    def from_config(cls, config: ModelConfig) -> GRUNet:
        if config.hidden_size is None or config.num_layers is None or config.ar is None or config.seasonal is None:
            raise ValueError(
                "the model config is not resolved: hidden_size, num_layers, ar and seasonal must be "
                "set (ModelConfig.resolve)"
            )
        config.check()
        from grunet import memory

        memory.check_fits(
            memory.model_bytes(config),
            f"a GRUNet of hidden_size {config.hidden_size}, num_layers "
            f"{config.num_layers} and {config.input_size} input column(s)",
        )
        return cls(
            config.input_size,
            config.hidden_size,
            config.output_size,
            config.num_layers,
            config.dropout,
            config.reset_after,
            config.window_norm or "none",
            config.future_size,
            config.mask,
            config.ar,
            config.input_steps,
            config.seasonal,
        )

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        config = self.config
        if isinstance(x, Tensor) and x.dim() != 3:
            raise ValueError(
                f"GRUNet expected input of shape (batch, seq, input_size={config.input_size}), "
                f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}"
            )
        expected = (x.shape[0], config.output_size, config.future_size)
        if config.future_size and (future is None or tuple(future.shape) != expected):
            got = "nothing" if future is None else f"shape {tuple(future.shape)}"
            raise ValueError(
                f"GRUNet expected the known-future input of shape (batch, horizon={config.output_size}, "
                f"future_size={config.future_size}) = {expected}, got {got}"
            )
        if not config.future_size and future is not None:
            raise ValueError("this GRUNet has no known-future columns (future_size 0), but a future input was given")
        # a GRUNet's config is resolved: ar and seasonal are ints
        needs = max(config.input_steps, cast(int, config.ar), cast(int, config.seasonal))
        if x.shape[1] < needs:
            raise ValueError(
                f"this GRUNet reads {needs} steps (input_steps {config.input_steps}, ar {config.ar}, "
                f"seasonal {config.seasonal}); got an input of {x.shape[1]}"
            )
        if config.input_steps:
            x = x[:, -config.input_steps :]  # (B, input_steps, input_size): the steps this model reads
        x, shift, scale = self.normalise(x)  # (B, T, input_size), the target's level or scale, (B, 1, 1) or None
        output, h_n = self.gru(x)  # (B, T, D*H), (num_layers * D, B, H); h_0 defaults to zeros
        # the output's last step; in one direction that is the last layer's h_n, and taken from there the backward
        # gets a (B, H) gradient instead of a (B, T, H) one that is zero but for its last step (4 % of a train step)
        last = output[:, -1, :] if self.gru.bidirectional else h_n[-1]  # (B, D*H)
        if config.future_size:
            # future: checked above
            last = torch.cat([last, cast(Tensor, future).flatten(1)], dim=1)  # (B, H + output_size * K)
        prediction = self.fc(last)  # (B, output_size)
        if config.ar:  # the skip reads the target as the GRU saw it: normalised, padded steps zero
            prediction = prediction + self.ar(x[:, -config.ar :, 0])  # (B, ar) -> (B, output_size)
        if config.seasonal:  # relative to one season back (a padded step counts as the window's level)
            prediction = prediction + x[:, self.season_steps, 0]  # (B, output_size)
        if shift is not None:
            return prediction + shift[:, 0]
        return prediction if scale is None else prediction * scale[:, 0]

    @property
    def steps_needed(self) -> int:
        """The fewest input steps this model reads (its skip, its season, its own window)."""
        return max(1, self.config.input_steps, cast(int, self.config.ar), cast(int, self.config.seasonal))

    def normalise(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """The window norm: x (B, T, input_size) with feature 0 shifted by its level (mean / last) or divided by its
        scale (meanabs), and that level or scale (B, 1, 1), the other None (both None for 'none'). With the mask, the
        level and scale use the observed steps only and the padded steps of feature 0 are zero."""
        window_norm = self.config.window_norm
        if window_norm == "none":
            return x, None, None
        observed = x[..., -1:] if self.config.mask else None  # (B, T, 1): 1 observed, 0 padding
        target = x[..., :1]  # (B, T, 1)
        shift, scale = None, None
        if window_norm == "last":
            shift = target[:, -1:]
        elif window_norm == "mean":
            shift = masked_mean(target, observed)
        else:  # meanabs
            scale = masked_mean(target.abs(), observed).clamp_min(1e-8)
        target = target - shift if shift is not None else target / cast(Tensor, scale)  # meanabs: a scale
        if observed is not None:
            target = target * observed
        return torch.cat([target, x[..., 1:]], dim=-1), shift, scale

    @torch.no_grad()
    def init_skip(self, inputs: Tensor, targets: Tensor, ridge: float | None = None) -> None:
        """Starts the autoregressive skip at the ridge least-squares fit of the targets on each window's last `ar`
        target values, both as the window norm normalises them (and, with `seasonal`, relative to one season
        back), and the head at that fit's intercept with zero weights: the model starts as the linear
        autoregression it contains, and training adds what the GRU finds. The ridge penalty is `ridge` times the
        mean squared lag, or (None) the one of `grunet.ridge.RIDGES` with the least blocked cross-validation error
        (windows in time order; leave-one-out where they are too few), so that a fit on few windows does not chase
        their noise. inputs (N, T, input_size), targets (N, output_size)."""
        self.init_skip_chunks(lambda: [(inputs, targets)], ridge)

    @torch.no_grad()
    def init_skip_chunks(self, chunks: Callable[[], Iterable[tuple[Tensor, Tensor]]], ridge: float | None = None):
        """`init_skip` on the windows `chunks()` yields as (inputs, targets) pieces (a training set of any size, a
        piece at a time: `grunet.ridge.ridge_fit_chunks`)."""
        if not self.config.ar:
            return
        solution = ridge_fit_chunks(lambda: (self._skip_rows(*chunk) for chunk in chunks()), ridge)
        if solution is None:
            return  # degenerate windows (constant, too few): the skip starts at zero
        self.ar.weight.copy_(solution[:-1].T)
        self.fc.weight.zero_()
        self.fc.bias.copy_(solution[-1])

    def _skip_rows(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """The skip's regression rows: the last `ar` normalised target values (n, ar), what it should forecast
        (n, output_size) and each row's weight (n,) or None, in float64."""
        steps = self.config.input_steps
        x, shift, scale = self.normalise(inputs[:, -steps:] if steps else inputs)
        y = (
            targets
            if shift is None and scale is None
            else (targets - shift[:, 0] if shift is not None else targets / cast(Tensor, scale)[:, 0])
        )
        if self.config.seasonal:
            y = y - x[:, self.season_steps, 0]  # the skip fits the change from one season back
        # with a scale (meanabs) the fit is weighted by its square: the squared error of the forecast itself, so
        # that windows of a tiny scale (a series near zero) do not dominate it in normalised terms
        weights = None if scale is None else scale[:, 0, 0].double() ** 2
        return x[:, -cast(int, self.config.ar) :, 0].double(), y.double(), weights


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

    @property
    def steps_needed(self) -> int:
        """The fewest input steps every member can read."""
        return max(cast(GRUNet, member).steps_needed for member in self.members)

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        forecasts = torch.stack([member(x, future) for member in self.members])  # (N, B, output_size)
        return median(forecasts)


def median(stacked: Tensor) -> Tensor:
    """(N, ...) -> (...): the median over dim 0, the mean of the two middle values when N is even."""
    ordered = stacked.sort(dim=0).values
    count = len(stacked)
    return (ordered[(count - 1) // 2] + ordered[count // 2]) / 2
