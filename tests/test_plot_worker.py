"""The plot worker (`grunet.plot_worker`): it writes exactly what in-process drawing writes, falls back to drawing in
the parent when its process is gone, hands a drawing's error back, and stops with its drawing forks."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from plot_cases import HISTORY, prepared_series

from grunet.plot_worker import PlotWorker
from grunet.plots import draw_forecast, draw_loss, forecast_panels


def test_the_worker_writes_the_same_files_as_drawing_here(tmp_path, monkeypatch):
    prepared = prepared_series()
    count = len(prepared.test)
    panels = forecast_panels(prepared, np.ones((count, 2)), ("persistence", np.zeros((count, 2))))
    draw_forecast(tmp_path / "here.png", panels)
    draw_loss(tmp_path / "here_loss.png", HISTORY)
    # run from a folder whose own `grunet` would shadow the real one on a `python -m` path: the worker must still
    # import the parent's grunet (and draw; the parent's fallback is switched off here)
    shadow = tmp_path / "cwd" / "grunet"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the shadowing grunet was imported')\n")
    monkeypatch.chdir(shadow.parent)
    from grunet import plot_worker

    monkeypatch.setattr(plot_worker, "_run", lambda kind, args: pytest.fail("drawn in the parent, not the worker"))
    worker = PlotWorker()
    assert worker._process is not None
    worker.draw("forecast", tmp_path / "there.png", panels)
    worker.draw("loss", tmp_path / "there_loss.png", HISTORY)
    worker.finish()
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()
    assert (tmp_path / "there_loss.png").read_bytes() == (tmp_path / "here_loss.png").read_bytes()


def test_a_dead_worker_or_none_still_draws_every_plot(tmp_path):
    gone = PlotWorker()
    gone._process.kill()
    gone._process.wait()
    gone.draw("loss", tmp_path / "a.png", HISTORY)  # the pipe is broken: queued for drawing here
    gone.finish()
    died = PlotWorker()
    died.draw("loss", tmp_path / "b.png", HISTORY)  # taken by the worker, which then dies without answering
    died._process.kill()
    died._process.wait()
    died.finish()
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


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drawing forks and /proc: Linux")
def test_close_stops_the_worker_and_its_drawing_forks(tmp_path):
    worker = PlotWorker()
    group = worker._process.pid  # the worker leads its own process group
    assert os.getpgid(group) == group != os.getpgid(0)  # the terminal's Ctrl-C does not reach it
    long_history = [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": float("nan")} for i in range(300_000)]
    worker.draw("loss", tmp_path / "queued.png", long_history)  # a drawing of about 0.3 s
    deadline = time.monotonic() + 60
    while not _children(group):  # wait until the worker has forked it
        assert time.monotonic() < deadline
        time.sleep(0.005)
    worker.close()
    while True:  # the whole group goes, the drawing fork included
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(1.0)
    assert not (tmp_path / "queued.png").exists()  # an orphaned fork would have finished it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drawings are forked on Linux only")
def test_a_drawing_process_that_dies_or_cannot_report_is_redrawn_by_the_parent():
    """In a fresh process (no torch threads to fork): a fork that dies answers REDRAW, an exception that does not
    unpickle answers REDRAW, an ordinary one comes back as itself."""
    code = """
import os, pickle
from grunet import plot_worker as w
class Odd(Exception):
    def __init__(self, a, b):
        super().__init__(a)
w.DRAWERS["crash"] = lambda: os._exit(3)
w.DRAWERS["odd"] = lambda: (_ for _ in ()).throw(Odd(1, 2))
w.DRAWERS["bad"] = lambda: (_ for _ in ()).throw(ValueError("no such column"))
answers = [w._result(w._start(kind, ())) for kind in ("crash", "odd", "bad")]
print(answers[0] == w.REDRAW, answers[1] == w.REDRAW, type(answers[2]).__name__, answers[2])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "ValueError", "no", "such", "column"]


def test_finish_draws_each_job_once(tmp_path):
    local = PlotWorker(start=False)
    local.draw("loss", tmp_path / "loss.png", HISTORY)
    local.finish()
    (tmp_path / "loss.png").unlink()
    local.finish()  # nothing queued any more
    assert not (tmp_path / "loss.png").exists()
    worker = PlotWorker()
    worker.finish()  # a worker given no job answers an empty list
    assert worker._process is None
