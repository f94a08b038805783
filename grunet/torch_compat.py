"""What `GRU` (`grunet.layer`) and `GRUCell` (`grunet.cell`) share to stand in for torch.nn.GRU and torch.nn.GRUCell:
torch's initialisation draw for draw (`torch_init`), the weights copied across both ways with the z rows negated
(`copy_converted`, for `from_torch` / `to_torch`), the state_dict's mark of grunet's weights (`Marked`), and the
checks of arguments, sizes and user tensors, with messages that say what to change.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
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


def check_sizes(input_size: int, hidden_size: int) -> tuple[int, int]:
    """The sizes as ints (numpy's integers too, as torch takes them); ValueError for anything else or < 1."""
    return positive_int("input_size", input_size), positive_int("hidden_size", hidden_size)


def positive_int(name: str, value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_flag(name: str, value: object) -> bool:
    """A switch (bias, batch_first, bidirectional, reset_after) must be a bool: the text "False" would be true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool (True or False), got {type(value).__name__} {value!r}")
    return bool(value)


MARK = 1  # the state_dict's mark of grunet's weights: its convention (z is the tutorial's: torch's is 1 - z)


class Marked(nn.Module):
    """A module whose state_dict carries the mark of grunet's weights, ``_extra_state`` = [MARK, reset_after].

    The parameters have torch.nn.GRU's names and shapes, but the z rows are torch's negated: a torch.nn.GRU
    state_dict loaded as it is would compute another function without a word, and so would grunet's loaded into
    torch.nn.GRU. With the mark, both loads fail: torch's (strict) finds an unexpected key, grunet's refuses weights
    without the mark and says how to convert; a state_dict of the other variant (reset_after) is refused too."""

    reset_after: bool

    def get_extra_state(self) -> Tensor:
        return torch.tensor([MARK, int(self.reset_after)])

    def set_extra_state(self, state: object) -> None:
        if not isinstance(state, Tensor) or state.shape != (2,) or int(state[0]) != MARK:
            raise ValueError(f"the state_dict's grunet mark (_extra_state) is not one this grunet writes: {state!r}")
        if bool(state[1]) != self.reset_after:
            raise ValueError(
                f"the state_dict is of a {type(self).__name__} with reset_after={bool(state[1])}, but this one has "
                f"reset_after={self.reset_after}: the two variants compute different functions; build it with "
                f"reset_after={bool(state[1])}"
            )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors):
        # (torch passes strict=True here whatever the caller asked: an unmarked dict that holds this module's
        # weights is refused in either mode, where a partial strict=False load of other modules' weights is not)
        if prefix + "_extra_state" not in state_dict and any(prefix + name in state_dict for name in self._parameters):
            errors.append(
                f"the state_dict has no grunet mark ({prefix}_extra_state): it is torch.nn.{type(self).__name__}'s "
                f"(or was made by hand). torch's z is grunet's 1 - z, so loaded as it is it would compute another "
                f"function: load it into a torch.nn.{type(self).__name__} and convert that with "
                f"grunet.{type(self).__name__}.from_torch(module). (A state_dict saved by grunet 0.2, the same "
                f"weights before the mark: model.load_state_dict(grunet.torch_compat.with_marks(model, state)).)"
            )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors)


def with_marks(model: nn.Module, state: dict) -> dict:
    """`state` (a grunet model's weights) with the marks of `model`'s grunet modules that it lacks: files saved by
    grunet 0.2, before the mark (model.pt, checkpoint.pt), are grunet's own convention."""
    marks = {
        f"{name}._extra_state" if name else "_extra_state": module.get_extra_state()
        for name, module in model.named_modules()
        if isinstance(module, Marked)
    }
    return {**{key: value for key, value in marks.items() if key not in state}, **state}


def require_reset_after(module: nn.Module) -> None:
    if not module.reset_after:
        raise ValueError(
            "to_torch needs reset_after=True: torch.nn.GRU computes only the reset-after form, so a "
            "reset_after=False (tutorial) model has no torch.nn.GRU equivalent"
        )


@torch.no_grad()
def copy_converted(source: nn.Module, target: nn.Module, names: list[str]) -> None:
    """Copies parameters by name, negating the z block (torch's z = 1 - grunet's z), with what else a converted
    module keeps: train or eval mode, and which parameters are frozen (requires_grad)."""
    for name in names:
        getattr(target, name).copy_(negate_update_gate(getattr(source, name)))
        getattr(target, name).requires_grad_(getattr(source, name).requires_grad)
    target.train(source.training)


def expect_type(module: object, kind: type, method: str) -> None:
    """TypeError naming both classes by module: grunet.GRU and torch.nn.GRU share a name."""
    if not isinstance(module, kind):
        found = type(module)
        raise TypeError(f"{method} expects a torch.nn.{kind.__name__}, got {found.__module__}.{found.__qualname__}")
