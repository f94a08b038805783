"""`GRU`: a drop-in module with torch.nn.GRU's arguments, parameter names, shapes, inputs and outputs (one step of
it, `GRUCell`, is in `grunet.cell`).

The arithmetic is in `grunet.equations` (the reference) and `grunet.fast` (the same equations with a hand-written
backward through time). This module holds the parameters, checks what the user passes in, and walks the
layers and directions.
"""

from __future__ import annotations

import numbers
import warnings
from typing import cast, overload

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from grunet.equations import gru_layer_reference
from grunet.fast import gru_layer
from grunet.torch_compat import (
    Marked,
    check_flag,
    check_sizes,
    check_tensor,
    copy_converted,
    expect_type,
    positive_int,
    require_reset_after,
    shape_text,
    torch_init,
)


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
    (`grunet.export.pt2`), or torch.jit.trace (and torch.onnx.export's TorchScript exporter) does, the reference
    itself: plain torch ops that a trace can hold (the compiled loop's call through ctypes is invisible to it: a
    trace of it returned its unfilled buffer).
    """
    if torch.compiler.is_exporting() or torch.jit.is_tracing():
        return gru_layer_reference(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)
    return gru_layer(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)


def _gather_steps(tensor: Tensor, index: Tensor) -> Tensor:
    """tensor (T, B, F) with its steps taken at index (T, B): out[t, b] = tensor[index[t, b], b]."""
    return tensor.gather(0, index[..., None].expand(-1, -1, tensor.shape[2]))


class GRU(Marked):
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

    Inputs: input, hx
        input: (L, N, H_in), or (N, L, H_in) when batch_first, or (L, H_in) unbatched; or a PackedSequence of
        sequences of different lengths (then output is one too).
        hx (torch's h_0): (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched; zeros if absent.
    Outputs: output, h_n
        output: (L, N, D * H_out), or (N, L, D * H_out) when batch_first: the last layer's state at every step.
        h_n: (D * num_layers, N, H_out): the final state of every layer and direction.
        The output of a one-directional GRU may be a strided view of grunet's own buffers (no copy is made to save
        memory): flatten it with ``.reshape()``, where ``.view()`` could refuse; and while it is saved for the
        backward, it cannot be changed in place (``out = out.clone()`` first, or an op that is not in place).

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1.

    Attributes:
        weight_ih_l[k]: (3*H_out, H_in) for k = 0, else (3*H_out, D*H_out). weight_hh_l[k]: (3*H_out, H_out).
        bias_ih_l[k], bias_hh_l[k]: (3*H_out,). The reverse direction's have the suffix ``_reverse``.
        Rows are in gate order (r, z, n); all are initialised from U(-1/sqrt(H_out), 1/sqrt(H_out)), with the
        same draws as torch.nn.GRU under the same seed (z rows negated: see `grunet.torch_compat.torch_init`).
        The state_dict holds them under torch's names and ``_extra_state``, grunet's mark: a torch.nn.GRU's
        state_dict is refused (convert the module with `from_torch`), and torch refuses this one (`to_torch`).

    Example::
        >>> gru = GRU(10, 20, num_layers=2, batch_first=True)
        >>> output, h_n = gru(torch.randn(32, 5, 10))  # (32, 5, 20), (2, 32, 20)
    """

    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool

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
        input_size, hidden_size = check_sizes(input_size, hidden_size)
        num_layers = positive_int("num_layers", num_layers)
        if not isinstance(dropout, numbers.Real) or isinstance(dropout, (bool, np.bool_)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        bias, batch_first = check_flag("bias", bias), check_flag("batch_first", batch_first)
        bidirectional, reset_after = check_flag("bidirectional", bidirectional), check_flag("reset_after", reset_after)
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
        torch_init(self, self.hidden_size)

    def __prepare_scriptable__(self):
        """torch.jit.script calls this first: a clear refusal, where the scripting compiler named grunet's own
        lines (`getattr`'s argument)."""
        raise RuntimeError(
            "grunet.GRU cannot be scripted (torch.jit.script): its forward picks a compiled loop at run time; "
            "use torch.jit.trace, torch.compile, torch.export or torch.onnx.export, which take it"
        )

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

    def _check_input(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        """Validates the user's tensors; returns x (seq, batch, in), h0 (D*layers, batch, H) and whether unbatched."""
        like = cast(Tensor, self.weight_ih_l0)  # a parameter (`__init__`)
        check_tensor("input", input, like)
        layout = "(batch, seq, input_size)" if self.batch_first else "(seq, batch, input_size)"
        if input.dim() not in (2, 3):
            raise ValueError(
                f"GRU expected input of shape {layout} (batch_first={self.batch_first}) or "
                f"(seq, input_size) unbatched, got a {input.dim()}-D tensor of shape {shape_text(input)}"
            )
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRU expected input of shape {layout} with input_size={self.input_size} features in the "
                f"last dimension, got shape {shape_text(input)}"
            )
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[0] == 0:
            raise ValueError(
                f"GRU got an empty sequence: input of shape {shape_text(input)} has seq length 0 "
                f"(expected layout {layout})"
            )
        states = self.num_layers * self.num_directions
        batch = x.shape[1]
        if hx is None:
            return x, x.new_zeros(states, batch, self.hidden_size), unbatched
        check_tensor("hx", hx, like)
        expected = (states, self.hidden_size) if unbatched else (states, batch, self.hidden_size)
        if tuple(hx.shape) != expected:
            raise ValueError(
                f"GRU expected h_0 of shape {expected} (hx: num_layers * num_directions, "
                f"{'' if unbatched else 'batch, '}hidden_size) for input of shape {shape_text(input)}, "
                f"got {shape_text(hx)}"
            )
        return x, (hx.unsqueeze(1) if unbatched else hx), unbatched

    @overload
    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]: ...

    @overload
    def forward(self, input: PackedSequence, hx: Tensor | None = None) -> tuple[PackedSequence, Tensor]: ...

    def forward(self, input, hx=None):
        """input (see the class's text; or a PackedSequence) and hx, torch's h_0 (zeros if absent) -> output, h_n."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, h0, unbatched = self._check_input(input, hx)  # (T, B, I), (D*L, B, H)
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

    def _forward_packed(self, packed: PackedSequence, hx: Tensor | None) -> tuple[PackedSequence, Tensor]:
        """Sequences of different lengths, as torch.nn.GRU runs them: a sequence's final state is the one after its
        own last step, its reverse direction starts there, and hx and h_n are in the batch's own order. The padded
        batch runs through the layers as one: a step never reads the padding after it, and the reverse direction
        reads each sequence reversed in place (the padding left after it)."""
        padded, lengths = pad_packed_sequence(packed, self.batch_first)  # as a padded input; (B,): the batch order
        x, h0, _ = self._check_input(padded, hx)
        steps, lengths = torch.arange(x.shape[0])[:, None], lengths.to(torch.long)  # (T, 1), (B,)
        flip = torch.where(steps < lengths, lengths - 1 - steps, steps).to(x.device)  # (T, B), its own inverse
        last, batch = (lengths - 1).to(x.device), torch.arange(x.shape[1], device=x.device)
        layer_input, final_states = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                source = layer_input if direction == 0 else _gather_steps(layer_input, flip)
                weights = self.layer_weights(layer, direction)
                output, _ = run_layer(
                    source, h0[layer * self.num_directions + direction], *weights, self.reset_after, False
                )
                final_states.append(output[last, batch])  # (B, H): after the sequence's last step, either way
                outputs.append(output if direction == 0 else _gather_steps(output, flip))  # (T, B, H)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        order = packed.sorted_indices  # the packed data's order: longest first (None: already so)
        if order is not None:
            layer_input, lengths = layer_input.index_select(1, order), lengths[order.cpu()]
        data = pack_padded_sequence(layer_input, lengths).data
        return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices), torch.stack(
            final_states
        )

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
        expect_type(module, nn.GRU, "from_torch")
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
        copy_converted(module, gru, gru._flat_weights_names)
        return gru

    def to_torch(self) -> nn.GRU:
        """A torch.nn.GRU computing exactly what this GRU computes (needs ``reset_after=True``)."""
        require_reset_after(self)
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
        copy_converted(self, module, self._flat_weights_names)
        return module
