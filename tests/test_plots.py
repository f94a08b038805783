"""Plots: the forecast panels hold the run's own numbers, and the drawings are real images."""

import matplotlib.image
import numpy as np
from plot_cases import HISTORY, prepared_series

from grunet.plots import draw_loss, forecast_panels, plot_forecast


def _image(path):
    image = matplotlib.image.imread(path)[..., :3]
    assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 0.05  # drawn, not blank
    return image


def test_panels_show_the_runs_own_numbers():
    prepared = prepared_series(horizon=2)
    test = prepared.test
    forecast = np.arange(len(test) * 2, dtype=float).reshape(len(test), 2)
    baseline = ("persistence", -forecast)
    panels = forecast_panels(prepared, forecast, baseline)
    assert [panel.title.split(":")[0] for panel in panels] == ["a", "b"]
    owners = test.series.numpy()
    for position, panel in enumerate(panels):
        start, end = prepared.bounds(position)
        rows = np.flatnonzero(owners == position)[::2]  # horizon 2: every other window, each test point once
        np.testing.assert_array_equal(panel.forecast[1], forecast[rows].ravel())
        np.testing.assert_array_equal(panel.baseline[2], -forecast[rows].ravel())
        assert panel.baseline[0] == "persistence"
        x, y = panel.actual
        np.testing.assert_array_equal(y, prepared.raw[start + x[0] : end, 0])  # x: steps of the series
        assert x[-1] == end - start - 1 and panel.split == end - start - 10  # the test part: the last 10 points
        assert panel.forecast[0][0] == panel.split


def test_drawings_are_images_with_one_panel_per_series(tmp_path):
    prepared = prepared_series(names=("a", "b", "c"))
    forecast = np.zeros((len(prepared.test), 2))
    plot_forecast(tmp_path / "three.png", prepared, forecast)
    single = prepared_series(names=("a",))
    plot_forecast(tmp_path / "one.png", single, np.zeros((len(single.test), 2)))
    three, one = _image(tmp_path / "three.png"), _image(tmp_path / "one.png")
    assert three.shape[0] == 3 * one.shape[0] and three.shape[1] == one.shape[1]
    draw_loss(tmp_path / "loss.png", HISTORY + [{**row, "member": 1} for row in HISTORY])
    _image(tmp_path / "loss.png")


def test_a_run_that_trained_no_epoch_draws_its_loss_without_a_warning(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels found" would fail it
        draw_loss(tmp_path / "loss.png", [])
    assert _image(tmp_path / "loss.png").ndim == 3
