"""Baselines every model is compared with, on exactly the same test windows. Pure functions of numpy arrays.

Each takes the windows' inputs (N, window) of the target (and, where needed, the series' history) and returns
forecasts (N, horizon).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def persistence(inputs: np.ndarray, horizon: int) -> np.ndarray:
    """Naive forecast: the last observed value, repeated, ŷ_{t+k} = y_t."""
    return np.repeat(np.asarray(inputs)[:, -1:], horizon, axis=1)


def seasonal_naive(history: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal naive: ŷ_{t+k} = y_{t+k-season·ceil(k/season)}, the value one season earlier.

    history: (n,) one series.  origins: (N,) index of the first forecast point of each window (= start + window).
    Points that would reach before the start of the history are NaN.
    """
    steps = np.arange(1, horizon + 1)
    lags = season * np.ceil(steps / season).astype(int)  # (H,)
    index = origins[:, None] + steps[None, :] - 1 - lags[None, :]  # (N, H)
    forecast = np.full(index.shape, np.nan)
    valid = index >= 0
    forecast[valid] = np.asarray(history, dtype=np.float64)[index[valid]]
    return forecast


class LinearAR:
    """Least-squares linear autoregression on the window: ŷ_{t+1..t+H} = A · [y_{t-W+1..t}, 1] (one row of A per step).

    Exact on a pure sine, which obeys sin(t + d) = 2cos(d)·sin(t) − sin(t − d).
    """

    def __init__(self) -> None:
        self.coef: np.ndarray | None = None  # (window + 1, horizon)

    def fit(self, inputs: np.ndarray, targets: np.ndarray) -> LinearAR:
        """inputs (N, window), targets (N, horizon)."""
        return self.fit_chunks([(inputs, targets)])

    def fit_chunks(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> LinearAR:
        """The same fit from (inputs, targets) chunks of windows, through the normal equations accumulated chunk by
        chunk in float64: memory of one chunk and a (window + 1)² matrix, not of every window at once. The solve is
        least squares on that matrix (the minimum-norm solution where windows are collinear, as a sine's are)."""
        gram: np.ndarray | None = None
        moment: np.ndarray | None = None
        count = 0
        for inputs, targets in chunks:
            design = np.hstack([np.asarray(inputs, dtype=np.float64), np.ones((len(inputs), 1))])
            gram = design.T @ design if gram is None else gram + design.T @ design
            product = design.T @ np.asarray(targets, dtype=np.float64)
            moment = product if moment is None else moment + product
            count += len(inputs)
        if count == 0 or gram is None or moment is None:
            raise ValueError("the linear AR baseline needs at least one training window")
        self.coef, *_ = np.linalg.lstsq(gram, moment, rcond=None)
        return self

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """inputs (N, window) -> (N, horizon)."""
        if self.coef is None:
            raise RuntimeError("LinearAR.predict called before fit")
        return np.hstack([inputs, np.ones((len(inputs), 1))]) @ self.coef
