"""Plots as PNG files, headless (matplotlib's Agg canvas): forecast vs actual, and the loss per epoch.

Drawing takes plain data (numpy arrays, lists of dicts) and imports matplotlib on first use: `forecast_panels` turns
a run's test part into that data, `draw_forecast` and `draw_loss` draw it. Neither this module nor the data it
draws needs torch, so `grunet train` can draw in a second process (`grunet.plot_worker`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grunet.files import atomic_write_bytes

if TYPE_CHECKING:
    from grunet.windows import Prepared

MAX_SERIES = 4


@dataclass
class Panel:
    """One series' subplot of the forecast plot. x values are time stamps, or steps for series without them."""

    title: str
    xlabel: str
    actual: tuple[np.ndarray, np.ndarray]  # the training tail and the test part: (x, y)
    forecast: tuple[np.ndarray, np.ndarray]  # the GRU's forecasts of non-overlapping test windows: (x, y)
    baseline: tuple[str, np.ndarray, np.ndarray] | None  # (label, x, y) of a baseline's forecasts on the same windows
    split: object  # x where the forecast starts (a dotted line)
    of: int = 1  # how many series the run has panels for (MAX_SERIES are drawn)
    bands: list = field(default_factory=list)  # prediction intervals: (level, x, lower, upper), widest first


def scored_panels(
    prepared: Prepared, forecast: np.ndarray, baselines: dict, metrics: dict, intervals: dict | None
) -> list[Panel]:
    """`forecast_panels` of a scored run: its test forecasts (N_test, horizon), the baseline with the least test MSE
    (`metrics["baselines"]`) beside them, and the test forecasts' intervals (`intervals`: calibrated without the
    test part; None: no bands)."""
    from grunet.evaluation.intervals import window_bounds

    best = min(baselines, key=lambda name: metrics["baselines"][name]["mse"])
    bands = window_bounds(prepared, forecast, prepared.test, intervals) if intervals and len(prepared.test) else []
    return forecast_panels(prepared, forecast, (best.replace("_", " "), baselines[best]), bands)


def forecast_panels(
    prepared: Prepared, forecast: np.ndarray, baseline: tuple[str, np.ndarray] | None = None, bands: list | None = None
) -> list[Panel]:
    """The test part of up to four series, with the training tail for context, as `Panel`s.

    forecast: (N_test, horizon) in original units. With horizon > 1 the forecasts of non-overlapping windows
    (every horizon-th test window) are drawn, so each test point is shown once. bands: the forecasts' intervals,
    (level, lower, upper) with lower and upper like `forecast` (`grunet.evaluation.intervals.window_bounds`).
    """
    from grunet.evaluation.scoring import origins

    test = prepared.test
    owners = test.series.cpu().numpy()
    firsts = origins(prepared, test)  # (N_test,) flat index of each window's first forecast point
    horizon, window = test.horizon, test.window
    tested = np.unique(owners).tolist()  # the positions of the series with test windows
    shown = tested[:MAX_SERIES]
    panels = []
    for position in shown:
        start, end = prepared.bounds(position)
        rows = np.flatnonzero(owners == position)[::horizon]
        first = firsts[rows[0]]
        context = max(start, first - 3 * window)
        times = prepared.series.times[prepared.kept[position]]
        stamps = np.arange(end - start) if times is None else np.asarray(times)  # the x axis: time stamps or steps
        when = (firsts[rows, None] - start + np.arange(horizon)[None, :]).ravel()  # (rows * H,)
        keep = when < end - start
        x = stamps[when[keep]]

        def shown_values(values: np.ndarray) -> np.ndarray:  # (N_test, horizon) -> this panel's points, as x
            return values[rows].ravel()[keep]

        panels.append(
            Panel(
                title=f"{prepared.series.names[prepared.kept[position]]}: test part (right of the dotted line)",
                xlabel="step" if times is None else "time",
                actual=(stamps[context - start : end - start], prepared.raw[context:end, 0]),
                forecast=(x, shown_values(forecast)),
                baseline=None if baseline is None else (baseline[0], x, shown_values(baseline[1])),
                split=stamps[first - start],
                of=len(tested),
                bands=[
                    (level, x, shown_values(lower), shown_values(upper))
                    for level, lower, upper in sorted(bands or [], key=lambda band: -band[0])
                ],
            )
        )
    return panels


def future_panels(series, table, config) -> list[Panel]:
    """The last 3 windows of up to four series and their forecast past the end (a `Forecaster.predict` table), as
    `Panel`s. series: the `SeriesSet` forecast from; config: the run's resolved `DataConfig`."""
    from grunet.prediction import table_columns

    id_name, _ = table_columns(config)
    panels = []
    for index, name in enumerate(series.names):
        rows = table if id_name is None else table[table[id_name] == name]
        if not len(rows):
            continue
        values, times = series.values[index][:, 0], series.times[index]
        stamps = np.arange(len(values)) if times is None else np.asarray(times)
        tail = slice(max(0, len(values) - 3 * config.window), len(values))
        ahead = np.asarray(series.future_times(index, len(rows)))  # as stamps: the table holds the input's labels
        levels = sorted((int(column[3:]) for column in rows.columns if column.startswith("lo-")), reverse=True)
        panels.append(
            Panel(
                title=f"{name}: forecast past the end of the data",
                xlabel="step" if times is None else "time",
                actual=(stamps[tail], values[tail]),
                forecast=(ahead, np.asarray(rows["value"], dtype=np.float64)),
                baseline=None,
                split=stamps[-1],
                bands=[
                    (
                        level,
                        ahead,
                        np.asarray(rows[f"lo-{level}"], dtype=np.float64),
                        np.asarray(rows[f"hi-{level}"], dtype=np.float64),
                    )
                    for level in levels
                ],
            )
        )
    for panel in panels:
        panel.of = len(panels)
    return panels[:MAX_SERIES]


def forecast_figure(panels: list[Panel]):
    """A matplotlib Figure, one subplot per panel: actual (black), GRU forecast (red), baseline (blue, dashed)."""
    rows = max(len(panels), 1)
    figure = _figure(figsize=(10, 3.2 * rows))
    axes = figure.subplots(rows, 1, squeeze=False)
    _margins(figure, left=0.75, right=0.15, top=0.36, bottom=0.58, gap=0.8)
    for axis, panel in zip(axes[:, 0], panels):
        for shade, (level, x, lower, upper) in zip((0.15, 0.3), panel.bands):
            axis.fill_between(x, lower, upper, color="tab:red", alpha=shade, lw=0, label=f"{level} % interval")
        axis.plot(*panel.actual, color="black", lw=1.2, label="actual")
        axis.plot(*panel.forecast, color="tab:red", lw=1.5, label="GRU forecast")
        if panel.baseline is not None:
            label, x, y = panel.baseline
            axis.plot(x, y, color="tab:blue", lw=1, ls="--", label=label)
        axis.axvline(panel.split, color="grey", ls=":", lw=1)
        axis.set_title(panel.title)
        axis.set_xlabel(panel.xlabel)
        axis.legend(loc="upper left")
    if panels and panels[0].of > len(panels):
        figure.text(
            0.99,
            0.995,
            f"the first {len(panels)} of {panels[0].of} series",
            ha="right",
            va="top",
            fontsize="small",
            color="grey",
        )
    return figure


def draw_forecast(path: str | Path, panels: list[Panel]) -> None:
    """`forecast_figure` as a PNG file."""
    _save(forecast_figure(panels), path)


def draw_loss(path: str | Path, history: list[dict]) -> None:
    """Training (and validation) loss per epoch, log scale; one pair of lines per member of an ensemble.

    history: `FitResult.history` rows (epoch, train_loss, val_loss, and member for an ensemble).
    """
    figure = _figure(figsize=(8, 4))
    axis = figure.subplots()
    _margins(figure, left=0.85, right=0.15, top=0.2, bottom=0.58)
    members = sorted({row.get("member", 0) for row in history})
    for member in members:
        rows = [row for row in history if row.get("member", 0) == member]
        epochs = [row["epoch"] for row in rows]
        suffix = f" (model {member})" if len(members) > 1 else ""
        lines = axis.plot(epochs, [row["train_loss"] for row in rows], label="train" + suffix)
        val = [row["val_loss"] for row in rows]
        if np.isfinite(val).any():
            axis.plot(epochs, val, label="validation" + suffix, color=lines[0].get_color(), ls="--")
    if history:
        axis.set_yscale("log")
        axis.minorticks_off()
        axis.legend(fontsize="small")
    else:  # every member kept its start (the skip's least-squares fit): nothing was trained
        axis.text(0.5, 0.5, "no epochs trained", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel("epoch")
    axis.set_ylabel("MSE (scaled units)")
    _save(figure, path)


def plot_forecast(
    path: str | Path, prepared: Prepared, forecast: np.ndarray, baseline: tuple[str, np.ndarray] | None = None
) -> None:
    """Forecast vs actual over the test part of up to four series (see `forecast_panels`), drawn here."""
    draw_forecast(path, forecast_panels(prepared, forecast, baseline))


plot_loss = draw_loss


def _figure(figsize: tuple[float, float]):
    # a Figure of its own, not pyplot's: no global backend or figure list is touched, nothing needs closing
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _margins(figure, left: float, right: float, top: float, bottom: float, gap: float = 0.0) -> None:
    """Fixed margins, in inches, sized for the labels these plots have (what tight_layout finds for them), and
    `gap` inches between stacked axes. tight_layout would measure every label first: a second layout pass that
    took about as long as the drawing itself."""
    width, height = figure.get_size_inches()
    rows = len(figure.axes)
    axes_height = (height - top - bottom - gap * (rows - 1)) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        hspace=gap / axes_height,
    )


def _save(figure, path: str | Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())
