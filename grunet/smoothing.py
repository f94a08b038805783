"""Holt-Winters exponential smoothing, the statistical forecast a GRU's is combined with (`SearchConfig.smoothing`
is the weight; `grunet.search` lowers the default where held-out validation origins favour the GRU alone; 0
leaves the GRU alone).

Per series, of its values or their log: an additive level, a damped trend and, for seasonal data, an additive
season of m steps (ETS(A,Ad,A) in error-correction form). With e_t the one-step error of y_t,

    e_t       = y_t - (level + phi trend + season[t - m])
    level'    = level + phi trend + alpha e_t
    trend'    = phi trend + beta e_t
    season[t] = season[t - m] + gamma e_t
    forecast k steps after the last point n:  level + (phi + ... + phi^k) trend + season[n + k - m ceil(k/m)]

The state carries over the whole series, not a window: what a GRU reading a window cannot see. alpha, beta, gamma
and phi are chosen per series on a grid by the sum of squared one-step errors, the state started from the first
two seasons (the first two points without a season); then, for the parameters chosen, the starting state (level,
trend and season) that minimises those errors is solved for (the errors are linear in it: least squares, as
exponential smoothing's implementations optimise it), and values or log are chosen by the Gaussian likelihood of
the values (the log's counts its Jacobian) with that start. numpy only: `grunet predict --model` uses it without
torch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np

ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
BETAS = (0.0, 0.01, *ALPHAS)  # at most alpha: the whole admissible range, as alpha's (a trend as quick as the level)
GAMMAS = (0.0, 0.05, 0.1, 0.2, 0.4)  # at most 1 - alpha
PHIS = (0.8, 0.9, 0.95, 0.98, 1.0)
COARSE_ALPHAS = (0.1, 0.3, 0.6)
COARSE = (COARSE_ALPHAS, (0.0, 0.05, *COARSE_ALPHAS), (0.0, 0.1), (0.9, 1.0))  # for large panels: see FULL_GRID
FULL_GRID = 3e8  # series x points x grid cells up to which the full grid is searched (about 10 s here)
MIN_POINTS = 4  # the fewest points a series is fitted on (two start the state, two are scored)
WORK = 1_000_000  # series x grid cells at once while fitting (memory: ~10 arrays of this many float64)


@dataclass
class Smoothing:
    """Each series' fitted model (rows in the run's series order). season 1: no seasonal term; alpha NaN: the
    series was too short (or not finite) to fit, and gets no forecast."""

    season: np.ndarray  # (S,) int
    log: np.ndarray  # (S,) bool
    alpha: np.ndarray  # (S,) float
    beta: np.ndarray
    gamma: np.ndarray
    phi: np.ndarray
    start: np.ndarray | None = None  # (S, 2 + the longest season) the state before the first point: level, trend
    #   and the season's first m slots (in the values' or the log's units), solved for; a NaN row (or None, as runs
    #   of 0.2 saved): started from the first two seasons
    start_from: np.ndarray | None = None  # (S, K) the first two seasons' state of the history `start` was solved
    #   on: a history that begins otherwise (not the series' first points) is started from its own first seasons

    def rows(self, index: np.ndarray) -> Smoothing:
        start, start_from = self.starts()
        rows = {name: getattr(self, name)[index] for name in FIELDS}
        return Smoothing(**rows, start=start[index], start_from=start_from[index])

    def starts(self) -> tuple[np.ndarray, np.ndarray]:
        """`start` and `start_from`, (S, K) each; NaN rows where the first two seasons start the state."""
        if self.start is None or self.start_from is None:
            empty = np.full((len(self.season), 2), np.nan)
            return empty, empty
        return self.start, self.start_from

    def to_dict(self) -> dict:
        start, start_from = self.starts()
        return {
            **{name: getattr(self, name).tolist() for name in FIELDS},
            "start": start.tolist(),
            "start_from": start_from.tolist(),
        }

    @classmethod
    def from_saved(cls, saved: dict, count: int, source: str) -> tuple[float, Smoothing]:
        """The weight and the models of `count` series, as a run saves them ({"weight": w, **to_dict()});
        ValueError naming `source` for anything else."""
        weight = saved.get("weight") if isinstance(saved, dict) else None
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight <= 1:
            raise ValueError(f"{source}: the smoothing weight must be a number from 0 to 1, got {weight!r}")
        models = {name: value for name, value in saved.items() if name != "weight"}
        return float(weight), cls.from_dict(models, count, source)

    @classmethod
    def from_dict(cls, data: dict, count: int, source: str) -> Smoothing:
        """The model of `count` series; ValueError naming `source` for anything else."""
        if not isinstance(data, dict) or set(data) not in (set(FIELDS), {*FIELDS, *STARTS}):
            raise ValueError(f"{source}: smoothing must hold exactly {', '.join(FIELDS)} (and {' and '.join(STARTS)})")
        try:
            arrays = {name: np.asarray(data[name], dtype=np.float64) for name in FIELDS}
        except (TypeError, ValueError):
            raise ValueError(f"{source}: smoothing values must be lists of numbers") from None
        if any(values.shape != (count,) for values in arrays.values()):
            raise ValueError(f"{source}: smoothing lists must have one value per series ({count})")
        fitted = np.isfinite(arrays["alpha"])
        season = arrays["season"]
        if not (np.isfinite(season).all() and (season >= 1).all() and (season == np.round(season)).all()):
            raise ValueError(f"{source}: smoothing season must be whole numbers >= 1")
        for name in ("alpha", "beta", "gamma", "phi"):
            values = arrays[name][fitted]
            if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
                raise ValueError(f"{source}: smoothing {name} must lie in [0, 1] (NaN alpha: a series not fitted)")
        starts = [_start_table(data[name], name, fitted, season, source) for name in STARTS if name in data]
        if starts and not np.array_equal(np.isfinite(starts[0][:, 0]), np.isfinite(starts[1][:, 0])):
            raise ValueError(f"{source}: smoothing start and start_from must be solved for the same series")
        return cls(
            season.astype(np.int64),
            arrays["log"].astype(bool),
            *(arrays[name] for name in ("alpha", "beta", "gamma", "phi")),
            *starts,
        )


FIELDS = ("season", "log", "alpha", "beta", "gamma", "phi")
STARTS = ("start", "start_from")  # saved by grunet 0.3 on; runs of 0.2 start every series from its first seasons


def _start_table(values, name: str, fitted: np.ndarray, season: np.ndarray, source: str) -> np.ndarray:
    """A saved start table (S, K) checked: one row per series, each solved row whole over its model's state (level,
    trend and m season slots), NaN rows for the rest; ValueError naming `source` for anything else."""
    try:
        table = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: smoothing {name} must be a table of numbers, one row per series") from None
    needed = np.where(fitted, 2 + season * (season > 1), 2).astype(np.int64)
    if table.ndim != 2 or len(table) != len(fitted) or table.shape[1] < needed.max(initial=2):
        raise ValueError(f"{source}: smoothing {name} must have one row per series ({len(fitted)}), wide enough")
    solved = np.isfinite(table[:, 0])
    if np.isinf(table).any() or any(
        not np.isfinite(row[:width]).all() for row, width in zip(table[solved], needed[solved])
    ):
        raise ValueError(f"{source}: smoothing {name} rows must be whole numbers of the state (or NaN)")
    return table


def grid(seasonal: bool, coarse: bool = False) -> np.ndarray:
    """(4, C) the candidate (alpha, beta, gamma, phi): beta <= alpha, gamma <= 1 - alpha, gamma 0 without a season."""
    alphas, betas, gammas, phis = COARSE if coarse else (ALPHAS, BETAS, GAMMAS, PHIS)
    rows = [
        (alpha, beta, gamma, phi)
        for alpha, beta, gamma, phi in itertools.product(alphas, betas, gammas if seasonal else (0.0,), phis)
        if beta <= alpha and gamma <= 1 - alpha + 1e-12
    ]
    return np.array(rows, dtype=np.float64).T


def fit(histories: list[np.ndarray], season: int) -> Smoothing:
    """The model of each series `histories` (1-D arrays): seasonal where it has two seasons and two points more,
    of the log where every value is positive and the log's likelihood is higher."""
    count = len(histories)
    lengths = np.array([len(values) for values in histories], dtype=np.int64)
    finite = np.array([bool(np.isfinite(values).all()) for values in histories], dtype=bool)
    periods = np.where((season > 1) & (lengths >= 2 * season + 2), season, 1)
    width = 2 + (int(periods.max()) if count and periods.max() > 1 else 0)  # level, trend and the longest season
    unfitted = {name: np.full(count, np.nan) for name in ("alpha", "beta", "gamma", "phi")}
    out = Smoothing(
        periods.astype(np.int64),
        np.zeros(count, dtype=bool),
        **unfitted,
        start=np.full((count, width), np.nan),
        start_from=np.full((count, width), np.nan),
    )
    coarse = float(lengths.sum()) * grid(season > 1).shape[1] > FULL_GRID
    best = np.full(count, np.inf)
    for period in sorted(set(periods.tolist())):
        cells = grid(period > 1, coarse)
        step = max(1, WORK // cells.shape[1])
        for log in (False, True):
            chosen = np.flatnonzero((periods == period) & finite & (lengths >= MIN_POINTS))
            if log:
                chosen = chosen[[bool((histories[index] > 0).all()) for index in chosen]]
            for start in range(0, len(chosen), step):
                rows = chosen[start : start + step]
                values = _padded([histories[index] for index in rows])
                if log:
                    values = np.log(values)
                sse, counted, _ = _smooth(values, lengths[rows], period, cells[:, None, :])
                pick = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
                error = sse[np.arange(len(rows)), pick]
                first = _first_seasons(values, period)  # the state the grid started from, and `start_from`
                start_state, solved = _solved_start(values, lengths[rows], period, cells[:, pick][:, :, None], first)
                improved = np.isfinite(solved) & (solved < error)  # else the first two seasons' start stays
                error = np.where(improved, solved, error)
                # the Gaussian negative log-likelihood of the values: of the log's, plus its Jacobian
                score = 0.5 * counted * np.log(np.maximum(error / counted, 1e-300))
                if log:
                    score += _counted_sum(values, lengths[rows], period)
                better = np.isfinite(score) & (score < best[rows])
                rows, pick, start_state, improved = rows[better], pick[better], start_state[better], improved[better]
                best[rows] = score[better]
                out.log[rows] = log
                out.alpha[rows], out.beta[rows], out.gamma[rows], out.phi[rows] = cells[:, pick]
                first = first[better]
                for table, state in ((out.start, start_state), (out.start_from, first)):
                    cast(np.ndarray, table)[rows] = np.nan
                    cast(np.ndarray, table)[rows, : state.shape[1]] = np.where(improved[:, None], state, np.nan)
    return out


def forecast(model: Smoothing, histories: list[np.ndarray], horizon: int) -> np.ndarray:
    """(S, horizon) the forecast after the end of each series (original units); NaN for a series not fitted."""
    ends = [np.array([len(values)]) for values in histories]
    return np.concatenate(forecasts_at(model, histories, ends, horizon)) if histories else np.zeros((0, horizon))


def forecasts_at(
    model: Smoothing, histories: list[np.ndarray], origins: list[np.ndarray], horizon: int
) -> list[np.ndarray]:
    """Per series, (len(origins[i]), horizon): the forecasts made after its first o points for each o of
    origins[i] (1 <= o <= len), with the series' fitted model; NaN for a series not fitted, or one whose history
    here is shorter than its model needs (`needed`)."""
    out = [np.full((len(points), horizon), np.nan) for points in origins]
    lengths = np.array([len(values) for values in histories], dtype=np.int64)
    for period in sorted(set(model.season.tolist())):
        for log in (False, True):
            rows = np.flatnonzero((model.season == period) & (model.log == log) & np.isfinite(model.alpha))
            rows = rows[[len(origins[index]) > 0 and lengths[index] >= needed(period) for index in rows]]
            if not len(rows):
                continue
            values = _padded([histories[index] for index in rows])
            if log:
                values = np.log(values)
            points = [np.unique(origins[index]) for index in rows]  # ascending, each once
            counts = np.array([len(item) for item in points])
            wanted = np.zeros((len(rows), values.shape[1] + 1), dtype=bool)
            wanted[np.repeat(np.arange(len(rows)), counts), np.concatenate(points)] = True
            params = np.stack([getattr(model, name)[rows] for name in ("alpha", "beta", "gamma", "phi")])[:, :, None]
            width = 2 + period * (period > 1)
            start, start_from = (table[rows, :width] for table in model.starts())
            made = _smooth(values, lengths[rows], period, params, horizon, wanted, start, start_from).forecasts
            made = cast(np.ndarray, made)[:, 0, :]
            made = np.exp(np.minimum(made, 700.0)) if log else made
            for index, unique, block in zip(rows, points, np.split(made, np.cumsum(counts)[:-1])):
                out[index] = block[np.searchsorted(unique, origins[index])]  # in the order asked, repeats too
    return out


def combine(model: np.ndarray, smoothed: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) model + weight smoothed, the model's alone where the smoothing has no forecast."""
    if weight == 0:
        return model
    return np.where(np.isfinite(smoothed), (1 - weight) * model + weight * np.nan_to_num(smoothed), model)


def _padded(histories: list[np.ndarray]) -> np.ndarray:
    """(S, T) the series, each padded after its end by repeating its last value (never read as data)."""
    values = np.empty((len(histories), max(len(values) for values in histories)))
    for row, history in enumerate(histories):
        values[row, : len(history)] = history
        values[row, len(history) :] = history[-1]
    return values


def needed(period: int) -> int:
    """The fewest points a model of this season is fitted on, and forecasts from (its state starts from the first
    two seasons): a shorter history gets no forecast."""
    return 2 * period + 2 if period > 1 else MIN_POINTS


def _first_scored(period: int) -> int:
    return period if period > 1 else 2


def _first_seasons(values: np.ndarray, period: int) -> np.ndarray:
    """(S, 2 + m, or 2 without a season) the state before the first point, from the series (S, T): the first
    season centred on its mean, the trend from the first two seasons' means (the first two points without a
    season)."""
    if period > 1:
        first = values[:, :period].mean(axis=1)
        trend = (values[:, period : 2 * period].mean(axis=1) - first) / period
        level = first - trend * (period + 1) / 2
        return np.concatenate([level[:, None], trend[:, None], values[:, :period] - first[:, None]], axis=1)
    trend = values[:, 1] - values[:, 0]
    return np.stack([values[:, 0] - trend, trend], axis=1)


def _solved_start(
    values: np.ndarray, lengths: np.ndarray, period: int, params: np.ndarray, first: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For parameters (4, S, 1), the starting state (S, K) with the least sum of squared one-step errors, and that
    sum (S,) (NaN where the solve failed). Each error is an affine function of the start: the recursion run on the
    values from a zero state, plus one run per state entry from that unit state on zero values; their errors give
    the normal equations, solved with a vanishing ridge toward `first` (S, K), the series' `_first_seasons` (level
    and season slots can trade a constant: that direction stays where the data started it)."""
    count, width = first.shape
    out, sums = np.full((count, width), np.nan), np.full(count, np.nan)
    step = max(1, WORK // (width + 1) ** 2)
    for begin in range(0, count, step):
        rows = slice(begin, begin + step)
        gram, moment, total = _normal_equations(values[rows], lengths[rows], period, params[:, rows])
        ridge = 1e-9 * np.trace(gram, axis1=1, axis2=2)[:, None, None] / width + 1e-300
        try:
            solved = np.linalg.solve(gram + ridge * np.eye(width), (ridge[:, :, 0] * first[rows] - moment)[:, :, None])
        except np.linalg.LinAlgError:
            continue
        solved = solved[:, :, 0]
        error = total + 2 * (solved * moment).sum(axis=1) + np.einsum("si,sij,sj->s", solved, gram, solved)
        fine = np.isfinite(solved).all(axis=1) & np.isfinite(error)
        out[rows] = np.where(fine[:, None], solved, np.nan)
        sums[rows] = np.where(fine, np.maximum(error, 0.0), np.nan)
    return out, sums


def _normal_equations(
    values: np.ndarray, lengths: np.ndarray, period: int, params: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scored one-step errors as e = a + B x for a start x (S, K): B'B (S, K, K), B'a (S, K) and a'a (S,), from
    one recursion over K + 1 cells (cell 0 the values from a zero state, cell j the unit state j on zero values)."""
    alpha, beta, gamma, phi = params  # (S, 1) each
    count, steps = values.shape
    width = 2 + (period if period > 1 else 0)
    units = np.concatenate([np.zeros((1, width)), np.eye(width)])  # (K + 1, K): each cell's start
    level = np.broadcast_to(units[None, :, 0], (count, width + 1)).copy()
    trend = np.broadcast_to(units[None, :, 1], (count, width + 1)).copy()
    season = np.broadcast_to(units[:, 2:].T[:, None, :], (period, count, width + 1)).copy() if period > 1 else None
    data = np.zeros(width + 1)
    data[0] = 1.0  # only cell 0 reads the values
    gram, moment, total = np.zeros((count, width, width)), np.zeros((count, width)), np.zeros(count)
    first_scored = _first_scored(period)
    for t in range(steps):
        slot = season[t % period] if season is not None else 0.0
        ahead = level + phi * trend
        error = values[:, t : t + 1] * data - ahead - slot
        live = (t < lengths)[:, None]
        error = np.where(live, error, 0.0)  # a series that has ended: its state stays, nothing is scored
        if t >= first_scored:
            gram += error[:, 1:, None] * error[:, None, 1:]
            moment += error[:, 1:] * error[:, :1]
            total += error[:, 0] ** 2
        level = np.where(live, ahead + alpha * error, level)
        trend = np.where(live, phi * trend + beta * error, trend)
        if season is not None:
            season[t % period] = slot + gamma * error
    return gram, moment, total


def _counted_sum(values: np.ndarray, lengths: np.ndarray, period: int) -> np.ndarray:
    """Per series, the sum of its values at the points whose errors are scored."""
    steps = np.arange(values.shape[1])
    scored = (steps[None, :] >= _first_scored(period)) & (steps[None, :] < lengths[:, None])
    return (values * scored).sum(axis=1)


class Smoothed(NamedTuple):
    """What `_smooth` returns."""

    sse: np.ndarray  # (S, C) the sum of squared one-step errors per series and grid cell
    counted: np.ndarray  # (S,) how many errors were scored
    forecasts: np.ndarray | None  # (count of wanted, C, horizon), row-major; None: none wanted


def _smooth(
    values: np.ndarray,
    lengths: np.ndarray,
    period: int,
    params: np.ndarray,
    horizon: int = 0,
    wanted: np.ndarray | None = None,
    start: np.ndarray | None = None,
    start_from: np.ndarray | None = None,
) -> Smoothed:
    """The recursion over series (S, T) (each valid up to its length) for parameters (4, S or 1, C): the one-step
    errors, and with `wanted` (S, T + 1) the forecasts made after t points where wanted[s, t]. start, start_from:
    (S, K) as `Smoothing`'s: a series starts from its `start` where its first seasons' state is `start_from`, else
    from its first seasons (`_first_seasons`)."""
    alpha, beta, gamma, phi = params
    count, steps = values.shape
    cells = np.broadcast_shapes(alpha.shape, (count, 1))
    state = _first_seasons(values, period)
    if start is not None and start_from is not None and start.shape[1] >= state.shape[1]:  # narrower: none solved
        width = state.shape[1]
        same = np.isclose(start_from[:, :width], state, rtol=1e-9, atol=1e-12).all(axis=1, keepdims=True)
        state = np.where(same, start[:, :width], state)
    level = np.broadcast_to(state[:, :1], cells).copy()
    trend = np.broadcast_to(state[:, 1:2], cells).copy()
    season = np.broadcast_to(state[:, 2:].T[:, :, None], (period, *cells)).copy() if period > 1 else None
    sse = np.zeros(cells)
    first_scored = _first_scored(period)
    made = []
    damping = np.cumsum(phi[..., None] ** np.arange(1, horizon + 1), axis=-1)  # (S|1, C, horizon)
    shortest = int(lengths.min())
    for t in range(steps + 1):
        if wanted is not None and wanted[:, t].any():
            rows = np.flatnonzero(wanted[:, t])
            ahead = level[rows, :, None] + damping[rows if damping.shape[0] > 1 else 0] * trend[rows, :, None]
            if season is not None:
                slots = (t + np.arange(horizon)) % period
                ahead = ahead + season[slots][:, rows].transpose(1, 2, 0)
            made.append((rows, t, ahead))
        if t == steps:
            break
        slot = season[t % period] if season is not None else 0.0
        ahead = level + phi * trend
        error = values[:, t : t + 1] - ahead - slot
        ended = (t >= lengths)[:, None] if t >= shortest else None
        if ended is not None:  # some series have ended: their state stays
            error = np.where(ended, 0.0, error)
        if t >= first_scored:
            sse += error * error
        if ended is None:
            level, trend = ahead + alpha * error, phi * trend + beta * error
        else:
            level = np.where(ended, level, ahead + alpha * error)
            trend = np.where(ended, trend, phi * trend + beta * error)
        if season is not None:
            season[t % period] = slot + gamma * error
    counted = np.maximum(lengths - first_scored, 1).astype(np.float64)
    if wanted is None:
        return Smoothed(sse, counted, None)
    owners = np.concatenate([rows for rows, _, _ in made])
    times = np.concatenate([np.full(len(rows), t) for rows, t, _ in made])
    return Smoothed(sse, counted, np.concatenate([ahead for _, _, ahead in made])[np.lexsort((times, owners))])
