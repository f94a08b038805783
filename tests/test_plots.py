"""Plots: the forecast panels hold the run's own numbers, the drawings are real images, and the plot worker writes
exactly what in-process drawing writes, or falls back to it when its process is gone."""
import os

import matplotlib.image
import numpy as np
import pytest

from grunet.datasets import DataConfig, SeriesSet
from grunet.forecast import prepare
from grunet.plot_worker import PlotWorker
from grunet.plots import draw_forecast, draw_loss, forecast_panels, plot_forecast


def _prepared(names=("a", "b"), length=60, horizon=2):
    rng = np.random.default_rng(0)
    series = SeriesSet(names=list(names), values=[np.cumsum(rng.normal(size=(length, 1)), axis=0) + 5 * i
                                                  for i in range(len(names))], columns=["y"])
    config = DataConfig(data="x", window=8, horizon=horizon, test_size=10, val_size=0, scale="none")
    return prepare(series, config)


HISTORY = [{"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch} for epoch in range(1, 31)]


def _image(path):
    image = matplotlib.image.imread(path)[..., :3]
    assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 0.05  # drawn, not blank
    return image


def test_panels_show_the_runs_own_numbers():
    prepared = _prepared(horizon=2)
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
        np.testing.assert_array_equal(y, prepared.raw[start + x[0]:end, 0])  # x: steps of the series
        assert x[-1] == end - start - 1 and panel.split == end - start - 10  # the test part: the last 10 points
        assert panel.forecast[0][0] == panel.split


def test_drawings_are_images_with_one_panel_per_series(tmp_path):
    prepared = _prepared(names=("a", "b", "c"))
    forecast = np.zeros((len(prepared.test), 2))
    plot_forecast(tmp_path / "three.png", prepared, forecast)
    single = _prepared(names=("a",))
    plot_forecast(tmp_path / "one.png", single, np.zeros((len(single.test), 2)))
    three, one = _image(tmp_path / "three.png"), _image(tmp_path / "one.png")
    assert three.shape[0] == 3 * one.shape[0] and three.shape[1] == one.shape[1]
    draw_loss(tmp_path / "loss.png", HISTORY + [{**row, "member": 1} for row in HISTORY])
    _image(tmp_path / "loss.png")


def test_the_worker_writes_the_same_files_as_drawing_here(tmp_path):
    prepared = _prepared()
    count = len(prepared.test)
    panels = forecast_panels(prepared, np.ones((count, 2)), ("persistence", np.zeros((count, 2))))
    draw_forecast(tmp_path / "here.png", panels)
    draw_loss(tmp_path / "here_loss.png", HISTORY)
    worker = PlotWorker()
    assert worker._process is not None
    worker.draw("forecast", tmp_path / "there.png", panels)
    worker.draw("loss", tmp_path / "there_loss.png", HISTORY)
    worker.finish()
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    assert (tmp_path / "there_loss.png").read_bytes() == (tmp_path / "here_loss.png").read_bytes()


def test_a_dead_worker_or_none_still_draws_every_plot(tmp_path):
    worker = PlotWorker()
    worker._process.kill()
    worker._process.wait()
    worker.draw("loss", tmp_path / "a.png", HISTORY)  # the pipe is broken: queued for drawing here
    worker.draw("loss", tmp_path / "b.png", HISTORY)
    worker.finish()
    local = PlotWorker(start=False)
    local.draw("loss", tmp_path / "c.png", HISTORY)
    assert not (tmp_path / "c.png").exists()  # drawn at finish, not before
    local.finish()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes() == (tmp_path / "c.png").read_bytes()


def test_a_drawing_error_in_the_worker_is_raised_by_finish(tmp_path):
    worker = PlotWorker()
    worker.draw("loss", tmp_path / "missing" / "loss.png", HISTORY)
    worker.draw("loss", tmp_path / "fine.png", HISTORY)
    with pytest.raises(ValueError, match="missing"):
        worker.finish()
    assert (tmp_path / "fine.png").is_file()  # the other job was still drawn
    with pytest.raises(ValueError, match="no drawing called 'bars'"):
        PlotWorker(start=False).draw("bars", tmp_path / "x.png")


def test_close_stops_the_worker_without_drawing(tmp_path):
    worker = PlotWorker()
    process = worker._process
    worker.draw("loss", tmp_path / "queued.png", HISTORY)
    worker.close()
    assert process.poll() is not None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="drawings run side by side only where there is fork")
def test_a_drawing_process_that_dies_is_reported(monkeypatch):
    from grunet import plot_worker
    monkeypatch.setitem(plot_worker.DRAWERS, "crash", lambda: os._exit(3))
    error = plot_worker._result(plot_worker._start("crash", ()))
    assert isinstance(error, RuntimeError) and "ended without an answer" in str(error)
    monkeypatch.setitem(plot_worker.DRAWERS, "bad", lambda: (_ for _ in ()).throw(ValueError("no such column")))
    error = plot_worker._result(plot_worker._start("bad", ()))
    assert isinstance(error, ValueError) and str(error) == "no such column"


@pytest.mark.skipif(not hasattr(os, "getpgid"), reason="process groups are POSIX")
def test_ctrl_c_reaches_the_parent_only(tmp_path):
    """The worker runs in a session of its own: the terminal's SIGINT goes to grunet's process group, and the
    parent then closes the worker, instead of both printing a KeyboardInterrupt traceback."""
    worker = PlotWorker()
    try:
        assert os.getpgid(worker._process.pid) != os.getpgid(0)
    finally:
        worker.close()
