"""What `GRU` (`grunet.layer`) and `GRUCell` (`grunet.cell`) share to stand in for torch.nn.GRU and torch.nn.GRUCell:
torch's initialisation draw for draw (`torch_init`), the weights copied across both ways with the z rows negated
(`copy_converted`, for `from_torch` / `to_torch`), and the checks of sizes and user tensors, with messages that say
what to change.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from grunet.equations import negate_update_gate


def check_tensor(name: str, tensor: object, like: Tensor) -> None:
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


def shape_text(tensor: Tensor) -> str:
    """A tensor's shape as the error messages write it: "(2, 5, 7)"."""
    return "(" + ", ".join(str(size) for size in tensor.shape) + ")"


def torch_init(module: nn.Module, hidden_size: int) -> None:
    """torch.nn.GRU's initialisation, draw for draw: every parameter from U(-1/sqrt(H), 1/sqrt(H)) in registration
    order, then the z rows negated into grunet's convention (z = 1 - torch's z). The distribution is symmetric, so
    it is unchanged; and with reset_after=True, grunet.GRU / GRUCell built under torch.manual_seed(s) compute exactly
    what torch.nn.GRU / GRUCell built under the same seed compute."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        for weight in module.parameters():
            nn.init.uniform_(weight, -bound, bound)
            weight[hidden_size : 2 * hidden_size].neg_()


def check_sizes(input_size: int, hidden_size: int) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def require_reset_after(module: nn.Module) -> None:
    if not module.reset_after:
        raise ValueError(
            "to_torch needs reset_after=True: torch.nn.GRU computes only the reset-after form, so a "
            "reset_after=False (tutorial) model has no torch.nn.GRU equivalent"
        )


@torch.no_grad()
def copy_converted(source: nn.Module, target: nn.Module, names: list[str]) -> None:
    """Copies parameters by name, negating the z block (torch's z = 1 - grunet's z)."""
    for name in names:
        getattr(target, name).copy_(negate_update_gate(getattr(source, name)))
