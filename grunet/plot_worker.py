"""Draws a run's plots in a second Python process, so that matplotlib's import and drawing overlap the main work.

`grunet train` starts the worker before it imports torch: on a machine with two cores or more, matplotlib's import
(about 0.3 s) then runs beside torch's (about 1 s) instead of after it, and the worker has drawn a warm-up figure
(fonts loaded, caches filled) by the time training ends. Each plot is then drawn in a fork of the worker, so the
two plots draw side by side (0.12-0.14 s instead of 0.16-0.20 s for both). The library never starts one: `grunet.plots` draws
in-process.

Protocol: the parent writes pickled jobs (a `grunet.plots` drawing function's name and its arguments) to the
worker's stdin. At end of input the worker draws nothing more and writes one pickled list to its stdout: for each
job, None or the exception it raised. If the worker cannot be started or dies, `finish` draws the jobs in the
parent, so a plot is never lost to the worker.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from grunet import plots

DRAWERS = {"forecast": plots.draw_forecast, "loss": plots.draw_loss}


class PlotWorker:
    """A drawing process. `draw(kind, path, data)` queues a job; `finish()` waits and raises a job's error."""

    def __init__(self, start: bool = True) -> None:
        """start=False: no process; `finish` draws the jobs here."""
        self._jobs: list[tuple[str, tuple]] = []
        self._process: subprocess.Popen | None = None
        if not start or not sys.executable:  # no interpreter to start (an embedded Python): drawn here
            return
        package_parent = str(Path(plots.__file__).resolve().parents[1])  # the child imports this same grunet
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent,
                                                                       os.environ.get("PYTHONPATH")])))
        try:  # a session of its own: Ctrl-C stops the parent, which stops the worker (no second traceback)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "grunet.plot_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=env, start_new_session=True)
        except OSError:  # drawn here at finish
            self._process = None

    def draw(self, kind: str, *args) -> None:
        """Queues DRAWERS[kind](*args); drawn now in the worker, or at `finish` here if the worker is gone."""
        if kind not in DRAWERS:
            raise ValueError(f"no drawing called {kind!r}; known: {', '.join(DRAWERS)}")
        self._jobs.append((kind, args))
        if self._process is not None:
            try:
                pickle.dump((kind, args), self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._process.stdin.flush()
            except OSError:  # the worker died: its jobs are drawn here at finish
                self._stop()

    def finish(self) -> None:
        """Waits for every queued plot to be written; raises the first error a drawing raised."""
        errors = self._results()
        if errors is None:  # no worker, or it died before answering: draw here
            errors = [_run(kind, args) for kind, args in self._jobs]
        self._jobs = []
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Stops the worker without waiting for its plots (after an error in the run)."""
        self._stop()

    def _results(self) -> list[BaseException | None] | None:
        if self._process is None:
            return None
        try:
            self._process.stdin.close()
            errors = pickle.load(self._process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            errors = None
        self._process.wait()
        self._process.stdout.close()
        self._process = None
        return errors if isinstance(errors, list) and len(errors) == len(self._jobs) else None

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self._process = None


def _run(kind: str, args: tuple) -> BaseException | None:
    try:
        DRAWERS[kind](*args)
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        return error
    return None


def _warm_up() -> None:
    """Draws and discards a figure like the real ones: fonts, the PNG writer, and the log axis' tick labels of nine
    decades (1e-7 to 1e1), parsed at the plots' dpi (matplotlib caches them by text and dpi)."""
    import io

    from matplotlib.figure import Figure
    figure = Figure(figsize=(1, 6))  # tall: a label at every decade
    axis = figure.subplots()
    axis.plot([1, 2, 3], [1e-7, 1e-3, 1e1], label="warm-up")
    axis.set_yscale("log")
    axis.minorticks_off()
    axis.set_title("warm-up")
    axis.legend(loc="upper left")
    figure.savefig(io.BytesIO(), format="png", dpi=100)


def _serve() -> None:
    _warm_up()
    drawings = []
    while True:
        try:
            kind, args = pickle.load(sys.stdin.buffer)
        except EOFError:
            break
        drawings.append(_start(kind, args))
    errors = [_result(drawing) for drawing in drawings]
    try:
        pickle.dump(errors, sys.stdout.buffer)
        sys.stdout.flush()
    except OSError:  # the parent is gone
        pass


def _start(kind: str, args: tuple):
    """Draws in a forked copy of this process where there is fork (the plots then draw side by side: the forecast
    and the loss plot together take as long as the slower one); else here, now. Returns what `_result` reads."""
    if not hasattr(os, "fork"):
        return _portable(kind, _run(kind, args))
    read, write = os.pipe()
    pid = os.fork()  # this process has one thread and matplotlib's Agg canvas only: safe to fork
    if pid == 0:
        os.close(read)
        with os.fdopen(write, "wb") as out:
            out.write(pickle.dumps(_portable(kind, _run(kind, args))))
        os._exit(0)
    os.close(write)
    return pid, read, kind


def _result(drawing) -> BaseException | None:
    if not isinstance(drawing, tuple):
        return drawing
    pid, read, kind = drawing
    with os.fdopen(read, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    try:
        return pickle.loads(data)
    except Exception:  # noqa: BLE001 - the drawing process died before it answered
        return RuntimeError(f"drawing {kind} failed: its process ended without an answer")


def _portable(kind: str, error: BaseException | None) -> BaseException | None:
    """The error itself if it pickles, else a RuntimeError with its text."""
    try:
        pickle.dumps(error)
    except Exception:  # noqa: BLE001
        return RuntimeError(f"drawing {kind} failed: {type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    _serve()
    os._exit(0)  # the plots are written: skip the interpreter's teardown (about 0.15 s), which the parent waits for
