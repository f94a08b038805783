"""`GRU` and `GRUCell`: drop-in modules with torch.nn.GRU's arguments, parameter names, shapes, inputs and outputs.

The arithmetic is in `grunet.equations` (the reference) and `grunet.fast` (the same equations with a hand-written
backward through time). This module holds the parameters, checks what the user passes in, and walks the
layers and directions.
"""

from __future__ import annotations

import math
import warnings
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grunet.equations import gru_cell_reference, gru_layer_reference, negate_update_gate
from grunet.fast import gru_layer


def run_layer(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reset_after: bool,
    reverse: bool,
) -> tuple[Tensor, Tensor]:
    """One layer, one direction: x (seq, batch, in) and h0 (batch, H) -> output (seq, batch, H), h_n (batch, H).

    `grunet.fast.gru_layer`: the hand-written backward through time, tested against
    `grunet.equations.gru_layer_reference` (the same numbers up to rounding). While torch.export traces the model
    (`grunet.export.pt2`), the reference itself: plain torch ops that an exported program can hold.
    """
    if torch.compiler.is_exporting():
        return gru_layer_reference(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)
    return gru_layer(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)


def _check_tensor(name: str, tensor: object, like: Tensor) -> None:
    """Type, dtype and device of a user tensor against the module's parameters."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != like.dtype:
        raise TypeError(
            f"{name} has dtype {tensor.dtype} but the GRU's parameters are {like.dtype}; "
            f"convert one of them (e.g. {name}.to({like.dtype}) or module.to({tensor.dtype}))"
        )
    if tensor.device != like.device:
        raise ValueError(
            f"{name} is on device {tensor.device} but the GRU's parameters are on {like.device}; "
            f"move one of them (e.g. module.to('{tensor.device}'))"
        )


def _shape(tensor: Tensor) -> str:
    return "(" + ", ".join(str(size) for size in tensor.shape) + ")"


class GRUCell(nn.Module):
    r"""One GRU step, as `torch.nn.GRUCell`, computing the tutorial's equations.

    .. math::
        z &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        r &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        \tilde h &= \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn}) \quad\text{(reset\_after=False)} \\
        \tilde h &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \quad\text{(reset\_after=True, torch's)} \\
        h' &= (1 - z) \odot h + z \odot \tilde h

    ``z`` here is the tutorial's: it multiplies the candidate. torch.nn.GRUCell's z is ``1 - z``; `from_torch` and
    `to_torch` convert (and need ``reset_after=True``).

    Args:
        input_size: features of x.  hidden_size: features of h.  bias: learn b_ih and b_hh (default True).
        reset_after: False (default) for the tutorial's form, True for torch's / cuDNN's.

    Inputs: input, hx
        input: (batch, input_size) or (input_size,).  hx: (batch, hidden_size) or (hidden_size,); zeros if absent.
    Outputs: h' (batch, hidden_size) or (hidden_size,).

    Attributes:
        weight_ih (3*hidden_size, input_size), weight_hh (3*hidden_size, hidden_size), bias_ih and bias_hh
        (3*hidden_size,): rows in gate order (r, z, n), all initialised from
        U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) with the same draws as torch.nn.GRUCell under the same seed
        (z rows negated: see `_torch_init`).

    Example::
        >>> cell = GRUCell(10, 20)
        >>> h = cell(torch.randn(3, 10))  # (3, 20)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = False, device=None, dtype=None
    ) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.bias, self.reset_after = input_size, hidden_size, bias, reset_after
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _torch_init(self, self.hidden_size)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        _check_tensor("input", input, self.weight_ih)
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRUCell expected input of shape (batch, input_size={self.input_size}) or "
                f"(input_size={self.input_size},), got {_shape(input)}"
            )
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        if hx is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            _check_tensor("hx", hx, self.weight_ih)
            if tuple(hx.shape) != expected:
                raise ValueError(
                    f"GRUCell expected hx of shape {expected} (batch, hidden_size) for input of shape "
                    f"{_shape(input)}, got {_shape(hx)}"
                )
            h = hx.unsqueeze(0) if unbatched else hx
        h_next = gru_cell_reference(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.reset_after)
        return h_next.squeeze(0) if unbatched else h_next

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, reset_after={self.reset_after}"

    @classmethod
    def from_torch(cls, module: nn.GRUCell) -> GRUCell:
        """A `GRUCell(reset_after=True)` computing exactly what `module` (a torch.nn.GRUCell) computes."""
        if not isinstance(module, nn.GRUCell):
            raise TypeError(f"from_torch expects a torch.nn.GRUCell, got {type(module).__name__}")
        weight = module.weight_ih
        cell = cls(
            module.input_size,
            module.hidden_size,
            module.bias,
            reset_after=True,
            device=weight.device,
            dtype=weight.dtype,
        )
        _copy_converted(
            module,
            cell,
            ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] if module.bias else ["weight_ih", "weight_hh"],
        )
        return cell

    def to_torch(self) -> nn.GRUCell:
        """A torch.nn.GRUCell computing exactly what this cell computes (needs ``reset_after=True``)."""
        _require_reset_after(self)
        weight = self.weight_ih
        module = nn.GRUCell(self.input_size, self.hidden_size, self.bias, device=weight.device, dtype=weight.dtype)
        _copy_converted(self, module, [name for name, _ in self.named_parameters()])
        return module


class GRU(nn.Module):
    r"""A multi-layer GRU over a sequence, as `torch.nn.GRU`, computing the tutorial's equations.

    For each element of the input sequence, each layer computes (see `GRUCell` and `grunet.equations`)

    .. math::
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        \tilde h_t &= \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn}) \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    With ``reset_after=True`` the candidate is torch's ``tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))``. In both
    variants z is the tutorial's (torch's z is ``1 - z``): `from_torch` / `to_torch` convert the weights.
    Layer l > 0 takes the previous layer's output (both directions concatenated) as input, with dropout between
    layers during training.

    Args:
        input_size: H_in, features of x.  hidden_size: H_out, features of h.  num_layers: stacked layers (default 1).
        bias: learn b_ih and b_hh (default True).  batch_first: input and output are (N, L, H) instead of (L, N, H).
        dropout: probability of dropout on each layer's output except the last (default 0).
        bidirectional: add a reverse direction (D = 2).  reset_after: False (default) for the tutorial's form.

    Inputs: input, h_0
        input: (L, N, H_in), or (N, L, H_in) when batch_first, or (L, H_in) unbatched.
        h_0: (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched; zeros if absent.
    Outputs: output, h_n
        output: (L, N, D * H_out), or (N, L, D * H_out) when batch_first: the last layer's state at every step.
        h_n: (D * num_layers, N, H_out): the final state of every layer and direction.
        The output of a one-directional GRU may be a strided view of grunet's own buffers (no copy is made to save
        memory): flatten it with ``.reshape()``, where ``.view()`` could refuse.

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1.

    Attributes:
        weight_ih_l[k]: (3*H_out, H_in) for k = 0, else (3*H_out, D*H_out). weight_hh_l[k]: (3*H_out, H_out).
        bias_ih_l[k], bias_hh_l[k]: (3*H_out,). The reverse direction's have the suffix ``_reverse``.
        Rows are in gate order (r, z, n); all are initialised from U(-1/sqrt(H_out), 1/sqrt(H_out)), with the
        same draws as torch.nn.GRU under the same seed (z rows negated: see `_torch_init`).

    Example::
        >>> gru = GRU(10, 20, num_layers=2, batch_first=True)
        >>> output, h_n = gru(torch.randn(32, 5, 10))  # (32, 5, 20), (2, 32, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        reset_after: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer >= 1, got {num_layers!r}")
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} does nothing with num_layers=1: dropout is applied between layers, "
                f"after every layer but the last (as torch.nn.GRU)"
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.reset_after = bidirectional, reset_after
        num_directions = 2 if bidirectional else 1
        factory = {"device": device, "dtype": dtype}
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes: dict[str, tuple[int, ...]] = {
                    "weight_ih": (3 * hidden_size, layer_input_size),
                    "weight_hh": (3 * hidden_size, hidden_size),
                }
                if bias:
                    shapes.update({"bias_ih": (3 * hidden_size,), "bias_hh": (3 * hidden_size,)})
                for kind, shape in shapes.items():
                    self.register_parameter(kind + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _torch_init(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """No-op, for code written for torch.nn.GRU (grunet keeps no cuDNN flat weight buffer)."""

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Per layer and direction, [weight_ih, weight_hh(, bias_ih, bias_hh)], as torch.nn.GRU.all_weights."""
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, name) for name in names[i : i + per]] for i in range(0, len(names), per)]

    def layer_weights(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        weights = self.all_weights[layer * self.num_directions + direction]
        return (weights[0], weights[1], weights[2], weights[3]) if self.bias else (weights[0], weights[1], None, None)

    def _check_input(self, input: Tensor, h_0: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        """Validates the user's tensors; returns x (seq, batch, in), h0 (D*layers, batch, H) and whether unbatched."""
        like = cast(Tensor, self.weight_ih_l0)  # a parameter (`__init__`)
        _check_tensor("input", input, like)
        layout = "(batch, seq, input_size)" if self.batch_first else "(seq, batch, input_size)"
        if input.dim() not in (2, 3):
            raise ValueError(
                f"GRU expected input of shape {layout} (batch_first={self.batch_first}) or "
                f"(seq, input_size) unbatched, got a {input.dim()}-D tensor of shape {_shape(input)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRU expected input of shape {layout} with input_size={self.input_size} features in the "
                f"last dimension, got shape {_shape(input)}"
            )
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[0] == 0:
            raise ValueError(
                f"GRU got an empty sequence: input of shape {_shape(input)} has seq length 0 (expected layout {layout})"
            )
        states = self.num_layers * self.num_directions
        batch = x.shape[1]
        if h_0 is None:
            return x, x.new_zeros(states, batch, self.hidden_size), unbatched
        _check_tensor("h_0", h_0, like)
        expected = (states, self.hidden_size) if unbatched else (states, batch, self.hidden_size)
        if tuple(h_0.shape) != expected:
            raise ValueError(
                f"GRU expected h_0 of shape {expected} (num_layers * num_directions, "
                f"{'' if unbatched else 'batch, '}hidden_size) for input of shape {_shape(input)}, "
                f"got {_shape(h_0)}"
            )
        return x, (h_0.unsqueeze(1) if unbatched else h_0), unbatched

    def forward(self, input: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, h0, unbatched = self._check_input(input, h_0)  # (T, B, I), (D*L, B, H)
        layer_input, final_states = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                output, h_n = run_layer(
                    layer_input,
                    h0[index],
                    *self.layer_weights(layer, direction),
                    self.reset_after,
                    reverse=direction == 1,
                )
                outputs.append(output)  # (T, B, H)
                final_states.append(h_n)  # (B, H)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)  # (T, B, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        # no .contiguous(): a copy of the whole output would cost a (T, B, D*H) buffer for every call; the output
        # may be a strided view (use .reshape(), not .view(), to flatten it)
        output, h_n = layer_input, torch.stack(final_states)  # (T, B, D*H), (D*L, B, H)
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text + f", reset_after={self.reset_after}"

    @classmethod
    def from_torch(cls, module: nn.GRU) -> GRU:
        """A `GRU(reset_after=True)` computing exactly what `module` (a torch.nn.GRU) computes, every layer and
        direction; the z rows are negated to convert torch's z into the tutorial's."""
        if not isinstance(module, nn.GRU):
            raise TypeError(f"from_torch expects a torch.nn.GRU, got {type(module).__name__}")
        weight = module.weight_ih_l0
        gru = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            module.dropout,
            module.bidirectional,
            reset_after=True,
            device=weight.device,
            dtype=weight.dtype,
        )
        _copy_converted(module, gru, gru._flat_weights_names)
        return gru

    def to_torch(self) -> nn.GRU:
        """A torch.nn.GRU computing exactly what this GRU computes (needs ``reset_after=True``)."""
        _require_reset_after(self)
        weight = self.weight_ih_l0
        module = nn.GRU(
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bias,
            self.batch_first,
            self.dropout,
            self.bidirectional,
            device=weight.device,
            dtype=weight.dtype,
        )
        _copy_converted(self, module, self._flat_weights_names)
        return module


def _torch_init(module: nn.Module, hidden_size: int) -> None:
    """torch.nn.GRU's initialisation, draw for draw: every parameter from U(-1/sqrt(H), 1/sqrt(H)) in registration
    order, then the z rows negated into grunet's convention (z = 1 - torch's z). The distribution is symmetric, so
    it is unchanged; and with reset_after=True, grunet.GRU / GRUCell built under torch.manual_seed(s) compute exactly
    what torch.nn.GRU / GRUCell built under the same seed compute."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for weight in module.parameters():
            nn.init.uniform_(weight, -bound, bound)
            weight[hidden_size : 2 * hidden_size].neg_()


def _check_sizes(input_size: int, hidden_size: int) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _require_reset_after(module: nn.Module) -> None:
    if not module.reset_after:
        raise ValueError(
            "to_torch needs reset_after=True: torch.nn.GRU computes only the reset-after form, so a "
            "reset_after=False (tutorial) model has no torch.nn.GRU equivalent"
        )


@torch.no_grad()
def _copy_converted(source: nn.Module, target: nn.Module, names: list[str]) -> None:
    """Copies parameters by name, negating the z block (torch's z = 1 - grunet's z)."""
    for name in names:
        getattr(target, name).copy_(negate_update_gate(getattr(source, name)))
