"""The ridge autoregression a skip starts from (`grunet.ridge`): the blocked cross-validation and (with too few rows
for it) the leave-one-out choice against refitting, weights as repeated rows, the chunked sums against one SVD over
all rows, and an init over window chunks against one over all windows."""

import pytest
import torch

from grunet import ridge
from grunet.model import GRUNet
from grunet.ridge import FOLDS, RIDGES, ridge_fit, ridge_fit_chunks


def test_with_too_few_rows_for_blocked_folds_the_penalty_has_the_least_leave_one_out_error():
    """9 rows of 8 lags and 2 targets: every fold's gap (9 rows either side) covers all the others, so the penalty
    is chosen by leave-one-out. Its closed-form errors equal refitting without each window, and noise fitted on
    few windows gets a large penalty (small coefficients) where a tiny fixed one chases it."""
    generator = torch.Generator().manual_seed(2)
    lags = torch.randn(9, 8, generator=generator, dtype=torch.float64)
    y = torch.randn(9, 2, generator=generator, dtype=torch.float64)
    unit = (lags - lags.mean(0)).pow(2).sum(0).mean()

    def brute_force(penalty):
        errors = []
        for left_out in range(9):
            keep = [index for index in range(9) if index != left_out]
            coef = ridge_fit(
                lags[keep], y[keep], penalty * unit / (lags[keep] - lags[keep].mean(0)).pow(2).sum(0).mean()
            )
            prediction = lags[left_out] @ coef[:-1] + coef[-1]
            errors.append(float((y[left_out] - prediction).pow(2).mean()))
        return sum(errors) / 9

    chosen = ridge_fit(lags, y)
    best = min(RIDGES, key=brute_force)
    assert torch.allclose(chosen, ridge_fit(lags, y, best), rtol=1e-3, atol=1e-6)
    assert chosen[:-1].abs().max() < 0.5 * ridge_fit(lags, y, 1e-6)[:-1].abs().max()


def blocked_choice(lags, y, weights=None):
    """The penalty of RIDGES that blocked cross-validation chooses, by refitting: FOLDS consecutive folds of rows,
    each predicted by the weighted ridge fit (intercept unpenalised, the penalty times the whole data's mean squared
    centred lag) on the rows more than lags + targets - 1 rows away from it, solved as least squares on rows
    augmented with the penalty's; errors weighted as the fit (weights of mean 1)."""
    count, p = lags.shape
    gap = p + y.shape[1] - 1
    weights = torch.ones(count, dtype=lags.dtype) if weights is None else weights / weights.mean()
    mean = (weights[:, None] * lags).sum(0) / weights.sum()
    unit = (weights[:, None] * (lags - mean) ** 2).sum(0).mean()
    bounds = [round(count * k / FOLDS) for k in range(FOLDS + 1)]
    totals = {}
    for penalty in RIDGES:
        total, used = 0.0, 0
        for start, end in zip(bounds[:-1], bounds[1:]):
            keep = [row for row in range(count) if row < start - gap or row >= end + gap]
            if not keep or start == end:
                continue
            used += 1
            root = weights[keep].sqrt()[:, None]
            design = torch.cat([lags[keep], torch.ones(len(keep), 1, dtype=lags.dtype)], dim=1) * root
            shrink = torch.cat([torch.eye(p), torch.zeros(p, 1)], dim=1).to(lags.dtype) * float(penalty * unit) ** 0.5
            coef = torch.linalg.lstsq(
                torch.cat([design, shrink]), torch.cat([y[keep] * root, torch.zeros(p, y.shape[1], dtype=y.dtype)])
            ).solution
            held = slice(start, end)
            residual = y[held] - lags[held] @ coef[:-1] - coef[-1]
            total += float((weights[held, None] * residual**2).sum())
        assert used >= 2
        totals[penalty] = total
    return min(RIDGES, key=lambda penalty: totals[penalty])


def test_the_penalty_is_chosen_by_blocked_cross_validation():
    """On the overlapping windows of a noisy random walk (6 lags, 3 steps ahead), the penalty is the one whose fits
    on the rows away from each fold predict it best, not leave-one-out's (whose left-out row's values stay in its
    neighbours): the two differ on these windows."""
    generator = torch.Generator().manual_seed(7)
    values = (
        torch.randn(160, generator=generator, dtype=torch.float64).cumsum(0)
        + torch.randn(160, generator=generator, dtype=torch.float64) * 2
    )
    windows = values.unfold(0, 9, 1)
    lags, y = windows[:, :6] - windows[:, 5:6], windows[:, 6:] - windows[:, 5:6]  # the window norm 'last'
    best = blocked_choice(lags, y)
    torch.testing.assert_close(ridge_fit(lags, y), ridge_fit(lags, y, best), rtol=1e-9, atol=1e-12)
    assert best != min(RIDGES, key=lambda penalty: loo_error(lags, y, penalty))


def loo_error(lags, y, penalty):
    """Leave-one-out squared error of the ridge fit with `penalty` (times the mean squared centred lag), refitted."""
    unit = (lags - lags.mean(0)).pow(2).sum(0).mean()
    total = 0.0
    for left_out in range(len(lags)):
        keep = [index for index in range(len(lags)) if index != left_out]
        coef = ridge_fit(lags[keep], y[keep], penalty * unit / (lags[keep] - lags[keep].mean(0)).pow(2).sum(0).mean())
        total += float((y[left_out] - lags[left_out] @ coef[:-1] - coef[-1]).pow(2).sum())
    return total


def test_weighted_ridge_fit_is_the_fit_on_repeated_rows():
    """Integer weights give the fit on each row repeated that many times (the same fixed penalty)."""
    generator = torch.Generator().manual_seed(3)
    lags = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(10, 2, generator=generator, dtype=torch.float64)
    counts = torch.tensor([1, 3, 1, 2, 1, 1, 4, 1, 2, 1])
    repeated = ridge_fit(lags.repeat_interleave(counts, dim=0), y.repeat_interleave(counts, dim=0), 0.1)
    torch.testing.assert_close(ridge_fit(lags, y, 0.1, counts.double()), repeated)
    assert not torch.allclose(ridge_fit(lags, y, 0.1), repeated)


def svd_ridge(lags, y, ridge=None, weights=None):
    """The fit written the other way, over all rows at once: one SVD of the centred rows, the hat diagonal from it."""
    weights = torch.ones(len(lags), dtype=lags.dtype) if weights is None else weights
    weights = (weights / weights.sum())[:, None]
    mean_lags, mean_y = (weights * lags).sum(0), (weights * y).sum(0)
    root = (weights * len(lags)).sqrt()
    centred, target = (lags - mean_lags) * root, (y - mean_y) * root
    unit = centred.pow(2).sum(0).mean()
    u, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    best, best_error = None, float("inf")
    for penalty in [ridge] if ridge is not None else RIDGES:
        coef = vh.T @ ((singular / (singular**2 + penalty * unit))[:, None] * (u.T @ target))
        hat = (u**2) @ (singular**2 / (singular**2 + penalty * unit)) + weights[:, 0]
        error = float(((target - centred @ coef) / (1 - hat).clamp_min(1e-6)[:, None]).pow(2).mean())
        if error < best_error:
            best, best_error = coef, error
    return torch.cat([best, (mean_y - mean_lags @ best)[None]])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("size", [1, 7, 500])
def test_chunked_sums_give_the_svd_fit(weighted, size):
    generator = torch.Generator().manual_seed(5)
    lags = torch.randn(500, 6, generator=generator, dtype=torch.float64) * 3 + 1
    y = lags[:, -2:] @ torch.tensor([[0.5, -0.2], [0.9, 0.4]], dtype=torch.float64) + torch.randn(
        500, 2, generator=generator, dtype=torch.float64
    )
    weights = torch.rand(500, generator=generator, dtype=torch.float64) + 0.1 if weighted else None

    def chunks():
        for start in range(0, 500, size):
            end = start + size
            yield lags[start:end], y[start:end], None if weights is None else weights[start:end]

    expected = svd_ridge(lags, y, blocked_choice(lags, y, weights), weights)  # chunks that cut the folds' rows
    torch.testing.assert_close(ridge_fit_chunks(chunks), expected, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(ridge_fit_chunks(chunks, 0.3), svd_ridge(lags, y, 0.3, weights), rtol=1e-8, atol=1e-10)


def test_init_skip_over_window_chunks_is_the_init_over_all_windows():
    torch.manual_seed(0)
    values = torch.sin(torch.arange(300, dtype=torch.float32) / 5) * 4 + torch.randn(300) * 0.1 + 10
    windows = values.unfold(0, 12, 1)[:-3]  # (N, 12)
    targets = torch.stack([values[12 + step : 12 + step + len(windows)] for step in range(3)], dim=1)
    whole, pieces = GRUNet(1, 4, 3, window_norm="meanabs", ar=5), GRUNet(1, 4, 3, window_norm="meanabs", ar=5)
    whole.init_skip(windows[:, :, None], targets)
    pieces.init_skip_chunks(lambda: ((windows[i : i + 40, :, None], targets[i : i + 40]) for i in range(0, 285, 40)))
    torch.testing.assert_close(pieces.ar.weight, whole.ar.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pieces.fc.bias, whole.fc.bias, rtol=1e-5, atol=1e-6)
    assert whole.ar.weight.abs().sum() > 0


@pytest.mark.cuda
@pytest.mark.parametrize("rows", [9, 300])  # leave-one-out, blocked folds
def test_the_fit_on_cuda_rows_is_the_fit_on_the_cpu(rows):
    """A skip on CUDA starts from rows on that device: the sums, folds and solves stay there, with the CPU's
    result."""
    generator = torch.Generator().manual_seed(11)
    lags = torch.randn(rows, 8, generator=generator, dtype=torch.float64)
    y = lags[:, -2:] * 0.5 + torch.randn(rows, 2, generator=generator, dtype=torch.float64)
    weights = torch.rand(rows, generator=generator, dtype=torch.float64) + 0.1
    for w in (None, weights):
        on_cpu = ridge_fit(lags, y, weights=w)
        on_cuda = ridge_fit(lags.cuda(), y.cuda(), weights=None if w is None else w.cuda())
        assert on_cuda.device.type == "cuda"
        torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-9, atol=1e-12)


def _smooth_series_with_a_break(seed):
    """Windows ("last"-normalised, 12 lags, 6 targets) of the log of a geometric series rounded to 1e-5, with a 10 %
    drop five points from its end, and its last window (the drop inside, the intercept's 1 appended)."""
    p, h, n = 12, 6, 36
    t = torch.arange(n, dtype=torch.float64)
    noise = 1e-5 * torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = 0.043 * t - 0.1 * (t >= 31) + noise
    starts = range(n - p - h + 1)
    rows = torch.stack([z[i : i + p] - z[i + p - 1] for i in starts])
    targets = torch.stack([z[i + p : i + p + h] - z[i + p - 1] for i in starts])
    return rows, targets, torch.cat([z[n - p :] - z[n - 1], torch.ones(1, dtype=torch.float64)])


def test_the_penalty_does_not_vanish_with_the_lags_variance(monkeypatch):
    """The windows of a smooth series barely vary about their mean while the targets of the windows before a break
    jump: a penalty in units of the lags' variance alone vanished with it and left coefficients that turn the
    window holding the break into a forecast of e^20 and more (in the log; the true change is under 0.3). Floored at
    `FLOOR` of the lags' mean square about zero, every seed's largest forecast is at least halved; on lags that do
    vary (noise), the floor changes nothing."""
    for seed in range(6):
        rows, targets, window = _smooth_series_with_a_break(seed)
        floored = ridge_fit(rows, targets)
        monkeypatch.setattr(ridge, "FLOOR", 0.0)
        bare = ridge_fit(rows, targets)
        monkeypatch.undo()
        assert floored is not None and bare is not None
        assert float((window @ floored).abs().max()) < float((window @ bare).abs().max()) / 2
    noisy = torch.randn(60, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = noisy[:, :2] @ torch.ones(2, 3, dtype=torch.float64) + 0.1 * torch.randn(60, 3, dtype=torch.float64)
    monkeypatch.setattr(ridge, "FLOOR", 0.0)
    bare = ridge_fit(noisy, y)
    monkeypatch.undo()
    torch.testing.assert_close(ridge_fit(noisy, y), bare)
