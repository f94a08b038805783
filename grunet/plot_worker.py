"""Draws a run's plots in a second Python process, so that matplotlib's import and drawing overlap the main work.

`grunet train` starts the worker before it imports torch: on a machine with two cores or more, matplotlib's import
(about 0.3 s) then runs beside torch's (about 1 s) instead of after it, and the worker has drawn a warm-up figure
(fonts loaded, caches filled) by the time training ends. On Linux each plot is then drawn in a fork of the worker,
so the two plots draw side by side (0.06-0.10 s for both at the end of the sine job, instead of 0.16-0.20 s one
after the other). The library never starts one: `grunet.plots` draws in-process.

Protocol: the parent writes pickled jobs (a `grunet.plots` drawing function's name and its arguments) to the
worker's stdin. At end of input the worker draws nothing more and writes one pickled list to its stdout: for each
job, None, the exception its drawing raised, or REDRAW where the worker could not draw or report it. `finish` draws
those jobs in the parent, and all of them if the worker cannot be started or dies: a plot is never lost to the
worker. The worker imports what the parent imports (it gets the parent's sys.path), writes nothing to the terminal
(its stderr goes to the null device), and runs in a process group of its own, which `close` stops whole: Ctrl-C
reaches grunet only, and grunet stops the worker and its forks.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import IO, cast

from grunet import plots

DRAWERS: dict[str, Callable[..., object]] = {"forecast": plots.draw_forecast, "loss": plots.draw_loss}
REDRAW = "redraw"  # a job the worker could not draw or report: the parent draws it
_BOOT = "import sys, json; sys.path[:] = json.loads(sys.argv[1]); from grunet.plot_worker import serve; serve()"


class PlotWorker:
    """A drawing process. `draw(kind, path, data)` queues a job; `finish()` waits and raises a job's error."""

    def __init__(self, start: bool = True) -> None:
        """start=False: no process; `finish` draws the jobs here."""
        self._jobs: list[tuple[str, tuple]] = []
        self._process: subprocess.Popen | None = None
        if not start or not sys.executable:  # no interpreter to start (an embedded Python): drawn here
            return
        # typeshed declares CREATE_NEW_PROCESS_GROUP for Windows only; it is read only there
        group = (
            {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
            if os.name == "nt"
            else {"start_new_session": True}
        )
        # one BLAS thread: the worker forks, and numpy does nothing there that threads would speed up
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        try:  # -I: neither the current folder nor PYTHON* variables; the parent's sys.path instead
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, json.dumps(sys.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                **group,
            )
        except OSError:  # drawn here at finish
            self._process = None

    def draw(self, kind: str, *args) -> None:
        """Queues DRAWERS[kind](*args); drawn now in the worker, or at `finish` here if the worker is gone."""
        if kind not in DRAWERS:
            raise ValueError(f"no drawing called {kind!r}; known: {', '.join(DRAWERS)}")
        self._jobs.append((kind, args))
        if self._process is not None:
            try:
                stdin = cast(IO[bytes], self._process.stdin)  # a pipe (Popen with stdin=PIPE)
                pickle.dump((kind, args), stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
            except OSError:  # the worker died: its jobs are drawn here at finish
                self._stop()

    def finish(self) -> None:
        """Waits for every queued plot to be written; raises the first error a drawing raised."""
        errors = self._results()
        if errors is None:  # no worker, or it died before answering: all drawn here
            errors = [REDRAW] * len(self._jobs)
        errors = [
            _run(kind, args) if isinstance(error, str) else error  # REDRAW
            for (kind, args), error in zip(self._jobs, errors)
        ]
        self._jobs = []
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Stops the worker and its drawing forks without waiting for their plots (after an error in the run)."""
        self._stop()

    def _results(self) -> list | None:
        if self._process is None:
            return None
        try:
            cast(IO[bytes], self._process.stdin).close()  # pipes (Popen with stdin and stdout PIPE)
            errors = pickle.load(cast(IO[bytes], self._process.stdout))
        except Exception:  # noqa: BLE001 - a broken pipe, a truncated or unreadable answer: drawn here
            errors = None
        self._process.wait()
        cast(IO[bytes], self._process.stdout).close()
        self._process = None
        return errors if isinstance(errors, list) and len(errors) == len(self._jobs) else None

    def _stop(self) -> None:
        if self._process is None:
            return
        try:
            if os.name == "nt":
                self._process.kill()
            else:  # the worker leads its own group: its forks go with it
                os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            try:
                cast(IO[bytes], stream).close()  # pipes (Popen with stdin and stdout PIPE)
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


def serve() -> None:
    """The worker's main: warm up, fork a drawing for each job until end of input, answer, exit. Any failure of its
    own ends it without an answer (the parent then draws everything itself)."""
    try:
        _warm_up()
        drawings = []
        while True:
            try:
                kind, args = pickle.load(sys.stdin.buffer)
            except EOFError:
                break
            drawings.append(_start(kind, args))
        errors = [_result(drawing) for drawing in drawings]
        pickle.dump(errors, sys.stdout.buffer)
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - the parent falls back to drawing itself
        os._exit(1)
    os._exit(0)  # the plots are written: skip the interpreter's teardown (about 0.15 s), which the parent waits for


def _start(kind: str, args: tuple):
    """On Linux, draws in a forked copy of this process (the plots then draw side by side: the forecast and the loss
    plot together take as long as the slower one); elsewhere here, now (fork is unsafe on macOS once system libraries
    are loaded, and absent on Windows). Returns what `_result` reads."""
    if not sys.platform.startswith("linux"):
        return _portable(_run(kind, args))
    read, write = os.pipe()
    pid = os.fork()  # this process has one thread and matplotlib's Agg canvas only: safe to fork
    if pid == 0:
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(_portable(_run(kind, args))))
        finally:
            os._exit(0)
    os.close(write)
    return pid, read


def _result(drawing):
    """A job's answer: None, the drawing's exception, or REDRAW when its process died without one."""
    if not isinstance(drawing, tuple):
        return drawing
    pid, read = drawing
    with os.fdopen(read, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    try:
        return pickle.loads(data)
    except Exception:  # noqa: BLE001 - the drawing process died before it answered
        return REDRAW


def _portable(error: BaseException | None):
    """The error itself if it survives pickling both ways, else REDRAW (the parent draws the job and gets the
    original exception)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001
        return REDRAW
    return error


if __name__ == "__main__":
    serve()
