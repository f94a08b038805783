"""`GRUCell`: one GRU step, a drop-in module with torch.nn.GRUCell's arguments, parameter names, shapes, inputs and
outputs. The arithmetic is `grunet.equations.gru_cell_reference`; this module holds the parameters and checks what
the user passes in.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from grunet.equations import gru_cell_reference
from grunet.torch_compat import (
    Marked,
    check_flag,
    check_sizes,
    check_tensor,
    copy_converted,
    expect_type,
    require_reset_after,
    shape_text,
    torch_init,
)


class GRUCell(Marked):
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
        (z rows negated: see `grunet.torch_compat.torch_init`). The state_dict holds them under torch's names and
        ``_extra_state``, grunet's mark: a torch.nn.GRUCell's state_dict is refused (convert the module with
        `from_torch`), and torch refuses this one (`to_torch`).

    Example::
        >>> cell = GRUCell(10, 20)
        >>> h = cell(torch.randn(3, 10))  # (3, 20)
    """

    input_size: int
    hidden_size: int
    bias: bool

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = False, device=None, dtype=None
    ) -> None:
        super().__init__()
        input_size, hidden_size = check_sizes(input_size, hidden_size)
        bias, reset_after = check_flag("bias", bias), check_flag("reset_after", reset_after)
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
        torch_init(self, self.hidden_size)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_tensor("input", input, self.weight_ih)
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"GRUCell expected input of shape (batch, input_size={self.input_size}) or "
                f"(input_size={self.input_size},), got {shape_text(input)}"
            )
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        if hx is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            check_tensor("hx", hx, self.weight_ih)
            if tuple(hx.shape) != expected:
                raise ValueError(
                    f"GRUCell expected hx of shape {expected} (batch, hidden_size) for input of shape "
                    f"{shape_text(input)}, got {shape_text(hx)}"
                )
            h = hx.unsqueeze(0) if unbatched else hx
        h_next = gru_cell_reference(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.reset_after)
        return h_next.squeeze(0) if unbatched else h_next

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, reset_after={self.reset_after}"

    @classmethod
    def from_torch(cls, module: nn.GRUCell) -> GRUCell:
        """A `GRUCell(reset_after=True)` computing exactly what `module` (a torch.nn.GRUCell) computes."""
        expect_type(module, nn.GRUCell, "from_torch")
        weight = module.weight_ih
        cell = cls(
            module.input_size,
            module.hidden_size,
            module.bias,
            reset_after=True,
            device=weight.device,
            dtype=weight.dtype,
        )
        copy_converted(
            module,
            cell,
            ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] if module.bias else ["weight_ih", "weight_hh"],
        )
        return cell

    def to_torch(self) -> nn.GRUCell:
        """A torch.nn.GRUCell computing exactly what this cell computes (needs ``reset_after=True``)."""
        require_reset_after(self)
        weight = self.weight_ih
        module = nn.GRUCell(self.input_size, self.hidden_size, self.bias, device=weight.device, dtype=weight.dtype)
        copy_converted(self, module, [name for name, _ in self.named_parameters()])
        return module
