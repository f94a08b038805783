"""The ridge autoregression a GRUNet's skip starts from (`GRUNet.init_skip`): least squares of the targets on the
last lags, with an unpenalised intercept and the penalty chosen by leave-one-out error.

The fit reads its rows in chunks (`ridge_fit_chunks`) and keeps only sums: the weighted means, then the Gram
matrix of the centred lags (p × p) and their products with the targets, then each penalty's leave-one-out
errors, so that a panel of millions of windows never holds all its lag rows at once. In float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

RIDGES = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)  # penalties tried, times the mean squared lag

# a chunk of rows: lags (n, p), targets (n, out), weights (n,) or None (all 1)
Rows = tuple[Tensor, Tensor, Tensor | None]


def ridge_fit(lags: Tensor, y: Tensor, ridge: float | None = None, weights: Tensor | None = None) -> Tensor | None:
    """Ridge regression of y (N, out) on lags (N, p) with an unpenalised intercept: (p + 1, out), the intercept
    last; None when it is not finite. ridge None: the penalty of `RIDGES` (times the mean squared centred lag) with
    the least leave-one-out squared error, in closed form (the hat matrix's diagonal). weights (N,): weighted least
    squares (each row's squared error times its weight)."""
    return ridge_fit_chunks(lambda: [(lags, y, weights)], ridge)


def ridge_fit_chunks(chunks: Callable[[], Iterable[Rows]], ridge: float | None = None) -> Tensor | None:
    """`ridge_fit` over the rows `chunks()` yields (called up to three times: the means, the sums, the errors).

    With the weights w normalised to sum to 1 and each centred row c_i = (x_i − m)·√(w_i·N): coef =
    (CᵀC + λ·u·I)⁻¹ Cᵀ(y − m_y)·√(w·N), u = trace(CᵀC) / p; the leave-one-out residual of row i is its residual
    over (1 − h_i), h_i = c_iᵀ (CᵀC + λ·u·I)⁻¹ c_i + w_i (the intercept's share)."""
    count, total, sum_lags, sum_y = 0, 0.0, None, None
    for lags, y, weights in chunks():
        if not (torch.isfinite(lags).all() and torch.isfinite(y).all()):
            return None  # values beyond float32 (the training's checks name them)
        w = _weights(lags, weights)
        if not torch.isfinite(w).all():
            return None
        count, total = count + len(lags), total + float(w.sum())
        sum_lags = (w @ lags) if sum_lags is None else sum_lags + w @ lags
        sum_y = (w @ y) if sum_y is None else sum_y + w @ y
    if count < 2 or not total > 0 or sum_lags is None or sum_y is None:
        return None  # too few windows, or no weight
    mean_lags, mean_y = sum_lags / total, sum_y / total
    gram = cross = None
    for lags, y, weights in chunks():
        root = (_weights(lags, weights) / total * count).sqrt()[:, None]
        centred, target = (lags - mean_lags) * root, (y - mean_y) * root
        gram = centred.T @ centred if gram is None else gram + centred.T @ centred
        cross = centred.T @ target if cross is None else cross + centred.T @ target
    assert gram is not None and cross is not None
    unit = (torch.diagonal(gram).mean()).clamp_min(1e-12)  # the mean squared lag, times N
    identity = torch.eye(len(gram), dtype=gram.dtype)
    penalties = [ridge] if ridge is not None else list(RIDGES)
    inverses = [torch.linalg.inv(gram + penalty * unit * identity) for penalty in penalties]
    coefs = [inverse @ cross for inverse in inverses]  # each (p, out)
    best = 0
    if ridge is None:
        errors = [0.0] * len(penalties)
        for lags, y, weights in chunks():
            w = _weights(lags, weights) / total
            root = (w * count).sqrt()[:, None]
            centred, target = (lags - mean_lags) * root, (y - mean_y) * root
            for index, (inverse, coef) in enumerate(zip(inverses, coefs)):
                hat = ((centred @ inverse) * centred).sum(dim=1) + w  # (n,)
                residual = (target - centred @ coef) / (1 - hat).clamp_min(1e-6)[:, None]
                errors[index] += float(residual.pow(2).sum())
        best = min(range(len(penalties)), key=lambda index: errors[index])
    coef = coefs[best]
    if not torch.isfinite(coef).all():
        return None
    intercept = mean_y - mean_lags @ coef
    return torch.cat([coef, intercept[None]], dim=0)


def _weights(lags: Tensor, weights: Tensor | None) -> Tensor:
    return torch.ones(len(lags), dtype=lags.dtype) if weights is None else weights.to(lags.dtype)
