"""Process-level settings of the `grunet` command (never of the library): each stays only while it saves at least
5 % of the whole-process time of the command it serves (`grunet train` on the tutorial's exercise, or `grunet
predict` on a large panel; measured in benchmarks/NOTES.md).

- `start_plot_worker`: the plots are drawn by a second process started before torch's import, so matplotlib's
  import and the drawing overlap the main work (`grunet.plot_worker`).
- `keep_freed_memory`: glibc keeps freed buffers in the process (mallopt), so a training step does not take
  thousands of page faults to get back the buffers the previous step freed.
- gc.freeze once the command is done: the interpreter's exit then skips its last collection over everything the
  command made (about 0.35 s after torch's import alone); it saves 12 % of `grunet predict` on a 10,000-series
  panel, the command it is for, and 4 % of `grunet train`.
Taken out after measuring less than 5 %: gc disabled during the imports and gc.freeze after them (2 %), and the
console script's os._exit instead of the interpreter's exit (1 %).
- `ignore_file_size_signal` (for correctness, not speed): a file-size limit fails a write with an OSError that is
  reported in one line, instead of killing the process.
- `quiet_rank_exit` (for correctness, not speed): under torchrun, a rank other than 0 that ends on an error rank 0
  reports waits a moment, so that rank 0 prints its line before torchrun stops it.
- `leaves_at_once` (for correctness, not speed): under torchrun a rank ends with os._exit once its output is
  flushed, skipping the interpreter's finalization, where gloo could abort it; not under a profiler or tracer.
- numpy's BLAS (OpenBLAS) gets one thread unless the user chose: its idle threads busy-wait after each call and
  took a core from the plot drawing.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import time
from collections.abc import Callable

from grunet.arguments import EXIT_USAGE


def run(main: Callable[[], int]) -> None:
    """The console script: `main()`, then exit with its code. Every file a command writes is complete (flushed,
    fsynced, renamed) before `main` returns. A usage error or --help (SystemExit) and an
    unexpected exception exit the usual way; output cut short by a closed pipe (`grunet ... | head`) ends quietly
    with exit code 1; Ctrl-C, even during torch's import, with one line and exit code 130 (or, when it lands in
    code torch's start-up runs through the C API, the interpreter's exit by SIGINT, which a shell also reports as
    130)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy's import
    set_spin_count(sys.argv[1:])
    ignore_file_size_signal()
    stop_on_terminate()
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the exit's last collection skips what the command made (torch's modules, the data)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    except KeyboardInterrupt as stop:
        code = stopped(stop)
    if leaves_at_once():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)  # the interpreter's own exit: a profiler or tracer (cProfile, coverage, pdb) writes its results


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a scheduler's stop), raised where the command is, as Ctrl-C is."""


def stopped(stop: KeyboardInterrupt) -> int:
    """The line and exit code of a command stopped by Ctrl-C (130) or SIGTERM (`Terminated`, 143)."""
    terminated = isinstance(stop, Terminated)
    sys.stderr.write(f"grunet: {'terminated' if terminated else 'interrupted'}\n")
    return 143 if terminated else 130


def stop_on_terminate() -> None:
    """SIGTERM stops the command as Ctrl-C does, through its cleanup: a run that `--overwrite` started puts the run
    it replaced back, a run folder made for nothing goes (the default action ends the process where it stands).
    Under torchrun a scheduler's stop reaches every rank as SIGTERM (torchrun forwards it, and kills the ranks left
    after its grace period, 30 s): rank 0, which owns the run folder, stops through its cleanup; the other ranks
    ignore it and go on until rank 0 has left (their next collective fails, or torchrun kills them). Had they
    stopped too, rank 0 could wait inside a collective for a rank that is gone until it was killed, its run
    folder left half replaced."""
    if os.environ.get("WORLD_SIZE", "1") not in ("", "1") and os.environ.get("RANK", "0") not in ("", "0"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return

    def stop(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, stop)


def leaves_at_once() -> bool:
    """Under torchrun, once the command is done (its files written and fsynced, its process group left): the rank
    ends at once (os._exit after flushing its output), without the interpreter's finalization. A rank was seen,
    once in CI, to abort there after a finished run ("terminate called without an active exception": a gloo
    thread or buffer outliving the process group, destroyed as the interpreter shuts down), and torchrun then
    reported the run as failed. Never under a profiler or tracer, which write their results at the exit."""
    return (
        bool(os.environ.get("WORLD_SIZE"))
        and "grunet.training.distributed" in sys.modules
        and sys.gettrace() is None
        and sys.getprofile() is None
    )


SPIN_COUNT = "2000"  # GOMP_SPINCOUNT of the CLI's process (see set_spin_count)


def set_spin_count(argv: list[str]) -> None:
    """libgomp (torch's OpenMP, whose threads also run grunet's compiled loop) has a thread that waits for work spin
    for 300,000 pauses before it sleeps: milliseconds, longer than the gap between two training steps, so beside
    another busy program the spinning threads took the cores that the work needed. Unless the user chose a wait
    policy or a spin count: spin about as long as a sleep and a wake-up cost (2,000 pauses, tens of
    microseconds), then sleep. Not for `grunet bench`: it times torch.nn.GRU beside grunet under the settings the
    user's own programs get. Before torch's import (libgomp reads it once)."""
    if "OMP_WAIT_POLICY" not in os.environ and command_named(argv) != "bench":
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def ignore_file_size_signal() -> None:
    """A file-size limit (`ulimit -f`) reached by a write then fails that write with EFBIG, an OSError the command
    reports in one line, instead of SIGXFSZ killing the process with a half-written temporary file. (CPython
    ignores SIGXFSZ already; a parent that set it back to the default, or an embedding interpreter, does not.)"""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def keep_freed_memory(limit: int = 64 << 20) -> bool:
    """Linux with glibc: freed blocks of up to `limit` bytes stay in this process for reuse (mallopt). A training
    step allocates and frees the same buffers every time (about 30 MB at the tutorial's size); by default glibc
    hands them back to the kernel, and the next step takes them again, zero-filled, page fault by page fault.
    Returns whether the setting was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))


def command_named(argv: list[str]) -> str | None:
    """The subcommand, before argparse has run (train's flags import torch for their defaults): the first word that
    is not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def is_rank_0() -> bool:
    """A plain process, or rank 0 of several started by torchrun: the one that prints and writes the run."""
    return os.environ.get("RANK", "0") in ("", "0")


def quiet_rank_exit() -> int:
    """A rank other than 0 ends, under torchrun, on an error rank 0 reports: after a moment, so that torchrun (which
    stops every rank once one has failed) does not stop rank 0 before it has printed the line."""
    time.sleep(RANK_0_GRACE)
    return EXIT_USAGE


RANK_0_GRACE = 2.0  # seconds


def start_plot_worker(command: str | None, argv: list[str]):
    """For `grunet train` with plots: a `grunet.plot_worker.PlotWorker`, started now. None for other commands,
    --no-plots, --help, and under torchrun for every rank but 0."""
    if command != "train" or {"--no-plots", "-h", "--help"} & set(argv) or not is_rank_0():
        return None
    from grunet.plot_worker import PlotWorker

    return PlotWorker()
