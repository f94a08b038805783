"""Adam and the two learning-rate schedules of `grunet train`, without torch.optim.

Why: building any torch.optim optimizer imports torch._dynamo (its methods are wrapped by torch._disable_dynamo),
which costs about 1.8 s per process on the 2-core machines this project runs on, as long as the tutorial's whole
200-epoch training loop in the compiled path. These classes do exactly what torch.optim.Adam (its single-tensor
algorithm, torch's default for CPU tensors), ReduceLROnPlateau and CosineAnnealingLR do, in plain tensor ops:
`tests/test_optim.py` holds Adam to torch's, bit for bit, and the schedules to torch's learning rates.

Their state_dicts use torch's key names, so a checkpoint written with torch.optim.Adam still resumes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


class Adam:
    """torch.optim.Adam(params, lr, betas, eps, weight_decay) with amsgrad, maximize, foreach, fused all off.

    Per parameter p with gradient g, at step t (L2 weight decay added to the gradient, as torch.optim.Adam):
        g = g + weight_decay · p
        m = m + (g − m)(1 − β1)            (torch's lerp_)
        v = β2 · v + (1 − β2) · g²
        p = p − lr / (1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        params = list(params)
        if not params:
            raise ValueError("Adam got an empty parameter list")
        self.param_groups: list[dict[str, Any]] = [
            {"params": params, "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        ]
        self.state: dict[int, dict[str, Tensor]] = {}

    def zero_grad(self) -> None:
        for param in self.param_groups[0]["params"]:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient, as one `torch._foreach_*` call per line of the
        formula (torch.optim.Adam's multi-tensor form): the single-tensor form's values, bit for bit, with a tenth
        of its Python calls (the tutorial model's 10 parameters: 0.20 -> 0.12 ms a step)."""
        group = self.param_groups[0]
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        params: list[Tensor] = []
        grads: list[Tensor] = []
        exp_avgs: list[Tensor] = []
        exp_avg_sqs: list[Tensor] = []
        steps: list[Tensor] = []
        for index, param in enumerate(group["params"]):
            if param.grad is None:
                continue
            state = self.state.get(index)
            if state is None:
                state = self.state[index] = {
                    "step": torch.tensor(0.0, dtype=torch.float32),
                    "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
                }
            params.append(param)
            grads.append(param.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            return
        torch._foreach_add_(steps, 1)
        decayed: list[Tensor] | tuple[Tensor, ...] = grads
        if weight_decay != 0:
            decayed = torch._foreach_add(grads, params, alpha=weight_decay)
        torch._foreach_lerp_(exp_avgs, decayed, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, decayed, decayed, 1 - beta2)
        counts = [step.item() for step in steps]
        denominators = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denominators, [(1 - beta2**count) ** 0.5 for count in counts])
        torch._foreach_add_(denominators, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denominators, [-(lr / (1 - beta1**count)) for count in counts])

    def state_dict(self) -> dict:
        """torch.optim.Adam's layout: {'state': {index: {step, exp_avg, exp_avg_sq}}, 'param_groups': [...]}."""
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        group.update(
            params=list(range(len(self.param_groups[0]["params"]))),
            amsgrad=False,
            maximize=False,
            foreach=None,
            capturable=False,
            differentiable=False,
            fused=None,
            decoupled_weight_decay=False,
        )
        return {
            "state": {
                index: {key: value.clone() for key, value in state.items()} for index, state in self.state.items()
            },
            "param_groups": [group],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        params = self.param_groups[0]["params"]
        group = state_dict["param_groups"][0]
        if len(group["params"]) != len(params):
            raise ValueError(f"the optimizer state holds {len(group['params'])} parameters, the model {len(params)}")
        for key in ("lr", "eps", "weight_decay"):
            self.param_groups[0][key] = group[key]
        self.param_groups[0]["betas"] = tuple(group["betas"])
        self.state = {}
        for index, state in state_dict["state"].items():
            param = params[int(index)]
            self.state[int(index)] = {
                "step": state["step"].detach().clone().to(torch.float32).cpu().reshape(()),
                "exp_avg": state["exp_avg"].detach().clone().to(param),
                "exp_avg_sq": state["exp_avg_sq"].detach().clone().to(param),
            }


class ReduceLROnPlateau:
    """torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode='min', factor, patience) with its other defaults
    (threshold 1e-4 relative, no cooldown, min_lr 0, eps 1e-8): the learning rate is multiplied by `factor` after
    more than `patience` epochs without a loss below best · (1 − 1e-4)."""

    threshold, eps = 1e-4, 1e-8

    def __init__(self, optimizer: Adam, factor: float = 0.5, patience: int = 10) -> None:
        self.optimizer, self.factor, self.patience = optimizer, factor, patience
        self.best, self.num_bad_epochs, self.last_epoch = math.inf, 0, 0

    def step(self, loss: float) -> None:
        self.last_epoch += 1
        if loss < self.best * (1 - self.threshold):
            self.best, self.num_bad_epochs = loss, 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            group = self.optimizer.param_groups[0]
            new_lr = group["lr"] * self.factor
            if group["lr"] - new_lr > self.eps:
                group["lr"] = new_lr
            self.num_bad_epochs = 0

    def state_dict(self) -> dict:
        return {"best": self.best, "num_bad_epochs": self.num_bad_epochs, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.num_bad_epochs, self.last_epoch = state["best"], state["num_bad_epochs"], state["last_epoch"]


class CosineAnnealingLR:
    """torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max) with eta_min 0: after epoch e the learning rate
    is base_lr · (1 + cos(π · e / T_max)) / 2 (torch's closed form; its recursive update agrees to rounding)."""

    def __init__(self, optimizer: Adam, T_max: int) -> None:
        self.optimizer, self.T_max = optimizer, T_max
        self.base_lr = optimizer.param_groups[0]["lr"]
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.param_groups[0]["lr"] = self.base_lr * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch, "base_lrs": [self.base_lr], "T_max": self.T_max}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch, self.base_lr = state["last_epoch"], state["base_lrs"][0]
