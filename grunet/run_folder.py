"""Run folders that belong to one run: made new or checked empty, locked for the whole run, and never written over
by another command. No torch here: `grunet predict --model` uses it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from grunet.data.config import DATAFRAME
from grunet.data.frame_file import DATA_FILE
from grunet.data.series import BUILTIN
from grunet.files import make_folder

# the files a run folder holds: what grunet's commands write there (and `--overwrite` may delete), and what no other
# command may write over: `grunet train`'s, then the default outputs of `grunet predict` (forecast.csv) and `grunet
# export` (model.onnx or model.pt2, and model.json), which those commands may replace
WRITTEN_AGAIN = ("forecast.csv", "model.onnx", "model.pt2", "model.json")
RUN_FILES = (
    "config.json",
    "model.pt",
    "checkpoint.pt",
    "metrics.json",
    "history.csv",
    "search.csv",
    "forecast.png",
    "loss.png",
    *WRITTEN_AGAIN,
)
LOCK_FILE = ".grunet.lock"
PREVIOUS = ".grunet-previous"  # the run --overwrite replaces, kept here until the new run is complete


def new_run_dir(root: str | Path = "runs") -> Path:
    """A new, empty folder under `root` named by the current time; `mkdir` is atomic, so concurrent starts in the
    same second get different folders."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in range(10000):
        path = root / (stamp if suffix == 0 else f"{stamp}-{suffix}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ValueError(f"could not create a new run folder under {root}: 10000 folders named {stamp}-N exist")


def _holds_own_data(path: Path) -> bool:
    """Whether the data.csv in the run folder `path` is the run's copy of the DataFrame it was fitted on (its
    config.json says so), which --overwrite may delete; a data.csv grunet did not write is the user's."""
    from grunet.files import read_json

    try:
        config = read_json(path / "config.json", "the run's config")
    except ValueError:
        return False
    data = config.get("data") if isinstance(config, dict) else None
    return isinstance(data, dict) and data.get("data") == DATAFRAME


def _same_file(path: Path, given) -> bool:
    try:
        return given is not None and Path(given).resolve() == path.resolve()
    except (OSError, RuntimeError, ValueError):  # a path that cannot be resolved is not this file
        return False


class RunFolder:
    """A run folder that belongs to one run: created or checked, then locked (``fcntl.flock`` on `LOCK_FILE`) until
    `close`, so that a second process refuses it at once instead of mixing its files with this run's.

    `open(None)` makes a new folder under runs/. An existing folder must be empty, unless `resume` (it continues the
    run in it) or `overwrite` (the previous run's files are moved aside into `PREVIOUS`, deleted by `finish` once the
    new run is complete and put back by `restore` when it fails; a folder holding other files is refused).
    Temporary files left by a killed write are removed. As a context manager: `finish` after the block, `restore`
    after an exception, then `close`.
    """

    def __init__(self, path: Path, handle: int | None, created: bool = False) -> None:
        self.path, self._handle, self.created = path, handle, created
        self.previous: Path | None = None  # the replaced run's files, while the new run is not complete
        self._moved: list[str] = []  # their names, when this open moved them there

    @classmethod
    def open(
        cls, path: str | Path | None, overwrite: bool = False, resume: bool = False, inputs: tuple = ()
    ) -> RunFolder:
        created = path is None or not Path(path).exists()
        path = new_run_dir() if path is None else Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"run folder {path} is a file, not a folder; choose another --out")
        make_folder(path, f"run folder {path}")
        folder = cls(path, _lock(path), created)
        try:
            for stale in path.glob(".*.tmp"):  # from an atomic write that was killed midway
                stale.unlink(missing_ok=True)
            present = sorted(entry.name for entry in path.iterdir() if entry.name != LOCK_FILE)
            if PREVIOUS in present:  # an --overwrite that never finished (its process was killed)
                if not resume:
                    resumable = (path / "checkpoint.pt").is_file() and (path / "config.json").is_file()
                    raise ValueError(
                        f"run folder {path} holds the files of a run that an unfinished --overwrite replaced, in "
                        f"{path / PREVIOUS}: "
                        + (f"continue the new run with --resume {path}, or " if resumable else "")
                        + "move those files back (or delete that folder) first"
                    )
                folder.previous = path / PREVIOUS  # deleted once the resumed run is complete
            if present and not resume:
                if not overwrite:
                    raise ValueError(
                        f"run folder {path} is not empty (it holds {', '.join(present[:4])}"
                        f"{' ...' if len(present) > 4 else ''}): continue that run with --resume {path}, "
                        f"replace it with --overwrite, or choose another --out"
                    )
                own = RUN_FILES + ((DATA_FILE,) if DATA_FILE in present and _holds_own_data(path) else ())
                foreign = [name for name in present if name not in own]
                if foreign:
                    raise ValueError(
                        f"--overwrite replaces a grunet run folder, but {path} also holds "
                        f"{', '.join(foreign[:4])}, which grunet did not write; choose another --out"
                    )
                used = [name for name in present if any(_same_file(path / name, given) for given in inputs)]
                if used:
                    raise ValueError(
                        f"{path / used[0]} is an input of this run; --overwrite would delete it before it is "
                        f"read: choose another --out"
                    )
                aside = path / PREVIOUS
                aside.mkdir()
                folder.previous = aside
                for name in present:
                    (path / name).rename(aside / name)
                    folder._moved.append(name)
        except BaseException:
            folder.restore()
            folder.close()
            raise
        return folder

    def finish(self) -> None:
        """The new run is complete: the files of the run it replaced go."""
        if self.previous is not None:
            shutil.rmtree(self.previous, ignore_errors=True)
            self.previous, self._moved = None, []

    def restore(self) -> None:
        """The new run failed (or was interrupted): its files go, and those of the run it replaced come back."""
        if self.previous is None or not self._moved:
            return
        for entry in self.path.iterdir():
            if entry.name in RUN_FILES + (DATA_FILE,):  # the new run's (the lock and PREVIOUS are not)
                entry.unlink(missing_ok=True)
        for name in self._moved:
            (self.previous / name).replace(self.path / name)
        self.previous.rmdir()
        self.previous, self._moved = None, []

    def close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)  # releases the lock
            self._handle = None

    def discard(self) -> None:
        """After a failure before training wrote anything: remove the folder again if this run created it (with
        the config.json and data.csv it wrote first)."""
        first = (LOCK_FILE, "config.json", DATA_FILE)  # (data.csv: a DataFrame run's data, written at its start)
        if self.created and all(entry.name in first for entry in self.path.iterdir()):
            for name in first:
                (self.path / name).unlink(missing_ok=True)
            try:
                self.path.rmdir()
            except OSError:
                pass
        self.close()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind, *exc) -> None:
        try:
            self.restore() if kind is not None else self.finish()
        finally:
            self.close()


def _lock(path: Path) -> int | None:
    """An exclusive, non-blocking lock on the folder's lock file, held as long as the returned descriptor is open
    (also across a crash: the kernel drops it with the process). None where flock does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    handle = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(handle)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValueError(
                f"run folder {path} is in use by another grunet process (it holds the lock "
                f"{path / LOCK_FILE}); wait for it to end or choose another --out"
            ) from None
        raise
    return handle


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """The run folder's lock held for the block, so that no `grunet train` works in it meanwhile (ValueError while
    one does); none where the folder cannot be written (no train can hold it either)."""
    try:
        handle = _lock(path)
    except (PermissionError, OSError) as error:
        if isinstance(error, PermissionError) or error.errno == errno.EROFS:
            handle = None
        else:
            raise
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)


def check_finished(run: Path, then: str) -> None:
    """ValueError for a run whose training did not finish: model.pt is the best model so far of an interrupted (or
    running) train, without its refit, intervals or combination; `then`: what the user can do once it has."""
    if not (run / "metrics.json").is_file() and (run / "checkpoint.pt").is_file():
        raise ValueError(
            f"the run in {run} did not finish (it has no metrics.json): its model.pt is an interim one; finish it "
            f"with grunet train --resume {run}, then {then}"
        )


def own_data(data: str | None, run: Path | None) -> list[Path]:
    """The files a run forecasts from when it is given no data: its data file (`data`, a run config's data setting,
    unless a built-in data set or a DataFrame) and its folder's data.csv (a run fitted on a DataFrame)."""
    files = [] if data is None or data in BUILTIN or data == DATAFRAME else [Path(data)]
    return files + ([run / DATA_FILE] if run is not None else [])


def refuse_own_file(
    out: str | Path, *inputs: str | Path | None, replaces: tuple[str, ...] = (), run: str | Path | None = None
) -> Path:
    """`out`, unless writing it would destroy something: a run's file (config.json, model.pt, an export ... in a
    folder holding a run; of its own run `run`, the command may replace the files named in `replaces`, its own
    outputs) or one of the command's `inputs` (its data, its model). ValueError naming it."""
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out} is a folder; give a file name to write")
    target = out.resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == target:
            raise ValueError(
                f"{out} is also an input of this command; writing it would destroy it: choose another file to write"
            )
    folder = target.parent
    mine = target.name in replaces and run is not None and Path(run).resolve() == folder
    if target.name in RUN_FILES and not mine and ((folder / "config.json").is_file() or (folder / LOCK_FILE).exists()):
        raise ValueError(
            f"{out} is a file of the run in {folder}; writing it would destroy that run: choose another file to write"
        )
    return out
