"""The ridge autoregression a GRUNet's skip starts from (`GRUNet.init_skip`): least squares of the targets on the
last lags, with an unpenalised intercept and the penalty chosen by blocked cross-validation.

The rows are windows in time order (a series' windows one after another), and neighbours share all but one of
their values: leaving one row out leaves its values in its neighbours, so leave-one-out error is not that of a
forecast of unseen data. The penalty is chosen instead on `FOLDS` folds of consecutive
rows, each scored by the fit on the other rows less the `gap` rows either side of it that share values with it
(Bergmeir & Benítez 2012, "On the use of cross-validation for time series predictor evaluation"; the h-block
cross-validation of Burman, Chow & Nolan 1994). Where the rows are too few for that (a fold with nothing left to
fit on), leave-one-out in closed form (the hat matrix's diagonal).

The fit reads its rows in chunks (`ridge_fit_chunks`) and keeps only sums: the weighted means, then the Gram
matrix of the centred lags (p × p) and their products with the targets, whole and per fold, (then the
leave-one-out errors), so that a panel of millions of windows never holds all its lag rows at once. In float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

RIDGES = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)  # penalties tried, times the mean squared lag
FLOOR = 1e-3  # the penalty's unit is at least this share of the lags' mean square about zero (see ridge_fit_chunks)
FOLDS = 5  # consecutive folds of the blocked cross-validation

# a chunk of rows: lags (n, p), targets (n, out), weights (n,) or None (all 1)
Rows = tuple[Tensor, Tensor, Tensor | None]


def ridge_fit(lags: Tensor, y: Tensor, ridge: float | None = None, weights: Tensor | None = None) -> Tensor | None:
    """Ridge regression of y (N, out) on lags (N, p) with an unpenalised intercept: (p + 1, out), the intercept
    last; None when it is not finite. ridge None: the penalty of `RIDGES` (times the mean squared centred lag) with
    the least leave-one-out squared error, in closed form (the hat matrix's diagonal). weights (N,): weighted least
    squares (each row's squared error times its weight)."""
    return ridge_fit_chunks(lambda: [(lags, y, weights)], ridge)


def ridge_fit_chunks(chunks: Callable[[], Iterable[Rows]], ridge: float | None = None) -> Tensor | None:
    """`ridge_fit` over the rows `chunks()` yields, in time order (called up to three times: the means, the sums,
    the leave-one-out errors where blocked folds do not fit).

    With the weights w normalised to sum to 1 and each centred row c_i = (x_i − m)·√(w_i·N): coef =
    (CᵀC + λ·u·I)⁻¹ Cᵀ(y − m_y)·√(w·N), u = max(trace(CᵀC) / p, FLOOR · (trace(CᵀC) / p + N·|m|² / p)): the
    lags' variance, or where they barely vary about their mean (the windows of a smooth, near-deterministic series)
    a share of their mean square about zero, so that the penalty does not vanish with the variance and leave
    coefficients that a window off that narrow set (a break in the series) turns into a forecast of 1e24. A fold's
    error is that of the same fit, with an intercept, on the rows outside it and its gaps (`Folds`); the
    leave-one-out residual of row i is its residual over (1 − h_i), h_i = c_iᵀ (CᵀC + λ·u·I)⁻¹ c_i + w_i (the
    intercept's share)."""
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
    # with the penalty to choose, the sums are kept per fold (rows that far apart share no value) and the whole
    # sums are theirs added up
    folds = Folds(count, gap=len(mean_lags) + len(mean_y) - 1) if ridge is None else None
    for lags, y, weights in chunks():
        root = (_weights(lags, weights) / total * count).sqrt()[:, None]
        centred, target = (lags - mean_lags) * root, (y - mean_y) * root
        if folds is not None:
            folds.add(centred, target, root)
        else:
            gram = centred.T @ centred if gram is None else gram + centred.T @ centred
            cross = centred.T @ target if cross is None else cross + centred.T @ target
    if folds is not None:
        gram, cross = folds.lag_sums()
    assert gram is not None and cross is not None
    spread = torch.diagonal(gram).mean()  # the lags' mean variance, times N
    unit = torch.maximum(spread, FLOOR * (spread + count * mean_lags.pow(2).mean())).clamp_min(1e-12)
    identity = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
    penalties = [ridge] if ridge is not None else list(RIDGES)
    inverses = [torch.linalg.inv(gram + penalty * unit * identity) for penalty in penalties]
    coefs = [inverse @ cross for inverse in inverses]  # each (p, out)
    best = 0
    blocked = folds.errors([penalty * unit for penalty in penalties]) if folds is not None else None
    if blocked is not None:
        best = min(range(len(penalties)), key=lambda index: blocked[index])
    elif ridge is None:
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
    return torch.ones(len(lags), dtype=lags.dtype, device=lags.device) if weights is None else weights.to(lags)


class Folds:
    """The sums the blocked cross-validation needs, kept per segment of rows: `FOLDS` consecutive folds of the
    `count` rows and the `gap` rows either side of each. Rows are added in order (`add`); a fold's error under a
    penalty is that of the ridge fit (with an unpenalised intercept) on the sums outside the fold and its gaps."""

    def __init__(self, count: int, gap: int) -> None:
        self.bounds = [round(count * k / FOLDS) for k in range(FOLDS + 1)]
        cuts = {0, count}
        for start, end in zip(self.bounds[:-1], self.bounds[1:]):
            cuts |= {start, end, max(0, start - gap), min(count, end + gap)}
        self.cuts = sorted(cuts)
        self.gap, self.count, self.seen = gap, count, 0
        self.sums: list[tuple[Tensor, Tensor, Tensor] | None] = [None] * (len(self.cuts) - 1)

    def add(self, centred: Tensor, target: Tensor, root: Tensor) -> None:
        """The next rows: centred lags (n, p), centred targets (n, out) and each row's root weight (n, 1)."""
        rows = torch.arange(self.seen, self.seen + len(centred), device=centred.device)
        self.seen += len(centred)
        segment = torch.bucketize(rows, torch.tensor(self.cuts[1:-1], device=centred.device), right=True)
        design = torch.cat([centred, root], dim=1)  # with the intercept's column
        for index in torch.unique(segment).tolist():
            pick = segment == index
            z, t = design[pick], target[pick]
            part = (z.T @ z, z.T @ t, (t * t).sum())
            old = self.sums[index]
            self.sums[index] = part if old is None else (old[0] + part[0], old[1] + part[1], old[2] + part[2])

    def _within(self, low: int, high: int) -> tuple[Tensor, Tensor, Tensor] | None:
        """The sums of the rows from `low` to `high` (segment bounds); None when none was added."""
        parts = [
            part
            for part, start, end in zip(self.sums, self.cuts[:-1], self.cuts[1:])
            if part is not None and low <= start and end <= high
        ]
        if not parts:
            return None
        return sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts)  # type: ignore[return-value]

    def lag_sums(self) -> tuple[Tensor, Tensor]:
        """Σ c cᵀ (p, p) and Σ c tᵀ (p, out) of every row added, without the intercept's column."""
        whole = self._within(0, self.count)
        assert whole is not None  # rows were added (the fit returns early without)
        return whole[0][:-1, :-1], whole[1][:-1]

    def errors(self, penalties: list[Tensor]) -> list[float] | None:
        """Each penalty's squared error summed over the folds (the penalties in the lags' units: λ·u); None when
        fewer than two folds have rows to fit on once their gaps are left out."""
        whole = self._within(0, self.count)
        if whole is None:
            return None
        size = len(whole[0])
        shape = torch.ones(size, dtype=whole[0].dtype, device=whole[0].device)
        shape[-1] = 0  # the intercept is not penalised
        totals = [0.0] * len(penalties)
        folds = 0
        for start, end in zip(self.bounds[:-1], self.bounds[1:]):
            held = self._within(start, end)
            near = self._within(max(0, start - self.gap), min(self.count, end + self.gap))
            if held is None or near is None or start - self.gap <= 0 and end + self.gap >= self.count:
                continue  # nothing outside the fold and its gaps to fit on
            gram, cross = whole[0] - near[0], whole[1] - near[1]
            try:
                coefs = [torch.linalg.solve(gram + penalty * torch.diag(shape), cross) for penalty in penalties]
            except RuntimeError:  # singular: the rows outside carry no weight
                continue
            folds += 1
            for index, coef in enumerate(coefs):  # each (p + 1, out)
                error = held[2] - 2 * (coef * held[1]).sum() + (coef * (held[0] @ coef)).sum()
                totals[index] += float(error)
        return totals if folds >= 2 else None
