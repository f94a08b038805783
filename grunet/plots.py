"""Plots as PNG files, headless (matplotlib's Agg backend): forecast vs actual, and the loss per epoch."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grunet.forecast import Prepared, _origins  # noqa: E402
from grunet.files import atomic_write_bytes  # noqa: E402

MAX_SERIES = 4


def _save(figure, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def plot_forecast(path: str | Path, prepared: Prepared, forecast: np.ndarray,
                  baseline: tuple[str, np.ndarray] | None = None) -> None:
    """Forecast vs actual over the test part of up to four series, with the training tail for context.

    forecast: (N_test, horizon) in original units. With horizon > 1 the forecasts of non-overlapping windows
    (every horizon-th test window) are drawn, so each test point is shown once.
    """
    test = prepared.test
    owners = test.series.cpu().numpy()
    origins = _origins(prepared, test)
    horizon, window = test.horizon, test.window
    shown = [position for position in range(len(prepared.kept)) if (owners == position).any()][:MAX_SERIES]
    figure, axes = plt.subplots(len(shown), 1, figsize=(10, 3.2 * len(shown)), squeeze=False)
    for axis, position in zip(axes[:, 0], shown):
        start, end = prepared.bounds(position)
        rows = np.flatnonzero(owners == position)[::horizon]
        first = origins[rows[0]]
        context = max(start, first - 3 * window)
        times = prepared.series.times[prepared.kept[position]]
        stamps = np.arange(end - start) if times is None else np.asarray(times)  # the x axis: time stamps or steps
        axis.plot(stamps[context - start:end - start], prepared.raw[context:end, 0], color="black", lw=1.2,
                  label="actual")
        when = (origins[rows, None] - start + np.arange(horizon)[None, :]).ravel()  # (rows * H,)
        keep = when < end - start
        axis.plot(stamps[when[keep]], forecast[rows].ravel()[keep], color="tab:red", lw=1.5, label="GRU forecast")
        if baseline is not None:
            axis.plot(stamps[when[keep]], baseline[1][rows].ravel()[keep], color="tab:blue", lw=1, ls="--",
                      label=baseline[0])
        axis.axvline(stamps[first - start], color="grey", ls=":", lw=1)
        axis.set_title(f"{prepared.series.names[prepared.kept[position]]}: test part (right of the dotted line)")
        axis.set_xlabel("step" if times is None else "time")
        axis.legend(loc="upper left")
    figure.tight_layout()
    _save(figure, path)


def plot_loss(path: str | Path, history: list[dict]) -> None:
    """Training (and validation) loss per epoch, log scale; one pair of lines per member of an ensemble."""
    figure, axis = plt.subplots(figsize=(8, 4))
    members = sorted({row.get("member", 0) for row in history})
    for member in members:
        rows = [row for row in history if row.get("member", 0) == member]
        epochs = [row["epoch"] for row in rows]
        suffix = f" (model {member})" if len(members) > 1 else ""
        lines = axis.plot(epochs, [row["train_loss"] for row in rows], label="train" + suffix)
        val = [row["val_loss"] for row in rows]
        if np.isfinite(val).any():
            axis.plot(epochs, val, label="validation" + suffix, color=lines[0].get_color(), ls="--")
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("MSE (scaled units)")
    axis.legend(fontsize="small")
    figure.tight_layout()
    _save(figure, path)
