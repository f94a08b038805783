"""The hostile suite (issue 14): bad inputs and faults as a hostile user would try them, class by class, one table
per class. Every case asserts the contract: a nonzero exit code (2 for the user's mistake, 1 for the machine's
failure), exactly one line on stderr holding the expected words and no traceback, and no file of an existing run
changed. The tables' lengths are the count of bad inputs the suite tries (`CASE_COUNT`; `python
tests/test_hostile.py` prints them per class).

Classes: OS errors (paths, read-only and full file systems, file-size limits, the plot worker's files), crafted run
files (config.json, model.pt, checkpoint.pt), sizes without bounds and the memory estimate, files that are not
regular (FIFO, /dev/zero), torchrun with more processes than GPUs, edited bundles and non-finite models, metrics
over missing forecasts, messages in the user's terms, and short series in predict.
"""

import errno
import hashlib
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from grunet import memory
from grunet.cli import main
from grunet.evaluation.metrics import average_metrics, forecast_metrics, smape
from grunet.files import MAX_JSON_BYTES
from grunet.model import GRUNet, ModelConfig

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--epochs", "2", "--search", "none", "--hidden-size", "4", "--num-layers", "1", "--quiet"]


# ------------------------------------------------------------------------------------------------------ helpers


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    """`grunet ARGV` in this process: (exit code, stderr)."""
    capsys.readouterr()
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    return code, capsys.readouterr().err


def _subprocess(argv: list[str], timeout: float = 120, **kwargs) -> tuple[int, str]:
    """`python -m grunet ARGV` in a new process (no bytecode written: a file-size limit would truncate it)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    done = subprocess.run(
        [sys.executable, "-B", "-m", "grunet", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
    return done.returncode, done.stderr


def _assert_one_line(code: int, err: str, words: str, expected_code: int = 2) -> None:
    assert code == expected_code, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err, err
    for word in words.split(" | "):  # every part must be there
        assert word in err, err


def _snapshot(folder: Path) -> dict:
    """Every file under `folder` (but the empty lock file a command holds while it works there): its bytes' hash
    and modification time."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".grunet.lock"
    }


def _copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    (to / ".grunet.lock").unlink(missing_ok=True)
    return to


def _csv(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join(f"{','.join(map(str, row))}\n" for row in rows))
    return path


def _mount(folder: Path, size: str, read_only: bool = False) -> None:
    """A tmpfs of `size` at `folder` (skips the test where mounting is not permitted)."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished sine run with a tiny model (no plots): the existing run no command may change."""
    out = tmp_path_factory.mktemp("hostile") / "run"
    assert main(["train", *TINY, "--no-plots", "--out", str(out)]) == 0
    return out


@pytest.fixture
def untouched(run):
    """Asserts, after the test, that no file of the existing run changed."""
    before = _snapshot(run)
    yield run
    assert _snapshot(run) == before, "a file of the existing run changed"


def _yearly(path: Path) -> Path:
    """181 synthetic yearly series of 9 to 52 points, long format (issue 14's short-series file)."""
    rng = np.random.default_rng(0)
    rows = []
    for index in range(181):
        length = 9 + index * 43 // 180
        level, trend = rng.uniform(50, 500), rng.normal(0, 3)
        rows += [
            (f"S{index:03d}", 2020 - length + t, round(level + trend * t + rng.normal(0, 5), 3)) for t in range(length)
        ]
    return _csv(path, "series,year,value", rows)


@pytest.fixture(scope="module")
def yearly(tmp_path_factory):
    """The short-series file, a run on it (--search none, window 6, horizon 6, the default test size) and its
    ONNX export: (data file, run folder, model.onnx)."""
    folder = tmp_path_factory.mktemp("yearly")
    data = _yearly(folder / "yearly.csv")
    out = folder / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--id-col",
                "series",
                "--time-col",
                "year",
                "--target",
                "value",
                "--window",
                "6",
                "--horizon",
                "6",
                *TINY,
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["export", "--run", str(out)]) == 0
    return data, out, out / "model.onnx"


# ============================================================================== 1. every OSError one line

OS_ERRORS = [  # (name, argv: {run} the existing run, {tmp} a folder, {file} a plain file; exit code, words)
    ("train --out an existing file", ["train", *TINY, "--out", "{file}"], 2, "{file} | is a file"),
    ("train --out below /dev/null", ["train", *TINY, "--out", "/dev/null/x"], 2, "/dev/null is a file, not a folder"),
    ("train --out below a file", ["train", *TINY, "--out", "{file}/sub/run"], 2, "{file} is a file, not a folder"),
    ("train --out a run's model.pt", ["train", *TINY, "--out", "{run}/model.pt"], 2, "is a file"),
    ("train --out ''", ["train", *TINY, "--out", ""], 2, "--out is empty"),
    ("train --out the existing run", ["train", *TINY, "--out", "{run}"], 2, "is not empty | --resume"),
    ("train --config a folder", ["train", "--config", "{tmp}"], 2, "is not a regular file"),
    ("train --config a missing file", ["train", "--config", "{tmp}/none.json"], 2, "does not exist"),
    ("train --resume a file", ["train", "--resume", "{file}"], 2, "{file}"),
    ("predict --out a folder", ["predict", "--run", "{run}", "--out", "{tmp}"], 2, "is a folder"),
    (
        "predict --out below /dev/null",
        ["predict", "--run", "{run}", "--out", "/dev/null/f.csv"],
        2,
        "/dev/null is a file, not a folder",
    ),
    ("predict --out below a file", ["predict", "--run", "{run}", "--out", "{file}/f.csv"], 2, "is a file, not a"),
    ("predict --out a missing folder", ["predict", "--run", "{run}", "--out", "{tmp}/no/f.csv"], 2, "does not exist"),
    (
        "predict --out a run's config.json",
        ["predict", "--run", "{run}", "--out", "{run}/config.json"],
        2,
        "would destroy that run",
    ),
    ("predict --out ''", ["predict", "--run", "{run}", "--out", ""], 2, "--out is empty"),
    ("predict --run ''", ["predict", "--run", ""], 2, "--run is empty"),
    ("predict --run a file", ["predict", "--run", "{file}"], 2, "is not a folder"),
    ("predict --run a folder that is no run", ["predict", "--run", "{tmp}"], 2, "is not a grunet run folder"),
    (
        "export --out below /dev/null",
        ["export", "--run", "{run}", "--out", "/dev/null/m.onnx"],
        2,
        "/dev/null is a file, not a folder",
    ),
    ("export --out below a file", ["export", "--run", "{run}", "--out", "{file}/m.onnx"], 2, "is a file, not a"),
    ("export --out a folder named .onnx", ["export", "--run", "{run}", "--out", "{tmp}/folder.onnx"], 2, "is a folder"),
    (
        "export --out beside a run's config.json",
        ["export", "--run", "{run}", "--out", "{run}/config.onnx"],
        2,
        "would destroy that run",
    ),
    ("export --run a file", ["export", "--run", "{file}"], 2, "is not a folder"),
]


@pytest.mark.parametrize("name,argv,expected,words", OS_ERRORS, ids=[case[0] for case in OS_ERRORS])
def test_os_errors_are_one_line(name, argv, expected, words, untouched, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder\n")
    (tmp_path / "folder.onnx").mkdir()
    names = {"run": untouched, "tmp": tmp_path, "file": tmp_path / "file"}
    code, err = _cli([arg.format(**names) for arg in argv], capsys)
    _assert_one_line(code, err, words.format(**names), expected)
    assert (tmp_path / "file").read_text() == "not a folder\n"


READ_ONLY = [  # (name, argv with {ro}: a read-only file system; words)
    ("train --out", ["train", *TINY, "--no-plots", "--out", "{ro}/run"], "Read-only file system"),
    ("predict --out", ["predict", "--run", "{run}", "--out", "{ro}/forecast.csv"], "Read-only file system"),
    ("export --out", ["export", "--run", "{run}", "--out", "{ro}/model.onnx"], "Read-only file system"),
]


@pytest.mark.parametrize("name,argv,words", READ_ONLY, ids=[case[0] for case in READ_ONLY])
def test_a_read_only_file_system_is_one_line(name, argv, words, untouched, tmp_path, capsys):
    read_only = tmp_path / "ro"
    _mount(read_only, "64k", read_only=True)
    try:
        code, err = _cli([arg.format(ro=read_only, run=untouched) for arg in argv], capsys)
    finally:
        _unmount(read_only)
    _assert_one_line(code, err, words, 2)


def _pages(size: int) -> int:
    return -(-size // 4096)


DISK_FULL = [  # (name, the tmpfs size in pages from the files' sizes, the file named)
    ("checkpoint.pt", lambda s: s["config.json"] + s["checkpoint.pt"] - 1, "checkpoint.pt"),
    ("model.pt", lambda s: s["config.json"] + s["checkpoint.pt"] + s["model.pt"] - 1, "model.pt"),
    (
        "model.pt rewritten at the end",
        lambda s: s["config.json"] + s["checkpoint.pt"] + 2 * s["model.pt"] - 1,
        "model.pt",
    ),
    (
        "the plot worker's plots",
        lambda s: s["config.json"] + s["checkpoint.pt"] + 2 * s["model.pt"] + s["metrics.json"] + s["history.csv"] + 1,
        ".png",
    ),
]


@pytest.mark.parametrize("name,pages,named", DISK_FULL, ids=[case[0] for case in DISK_FULL])
def test_a_full_disk_is_one_line_naming_the_file(name, pages, named, run, tmp_path, capsys):
    """A tmpfs sized from the run's own files so that the write of `named` is the one that fills it: exit 1 (the
    machine's failure), one line naming the file, no temporary file left; the plots are drawn by the plot worker
    (another process), whose error comes back the same way."""
    sizes = {path.name: _pages(path.stat().st_size) for path in run.iterdir()}
    full = tmp_path / "full"
    _mount(full, f"{4 * pages(sizes)}k")
    try:
        code, err = _cli(["train", *TINY, "--out", full / "run"], capsys)
        # a run that failed before its first checkpoint leaves no folder (it made it); a later one leaves its files
        left = sorted(path.name for path in (full / "run").iterdir()) if (full / "run").exists() else []
        assert (full / "run").exists() != (named in ("config.json", "checkpoint.pt")), left
    finally:
        _unmount(full)
    _assert_one_line(code, err, f"{full / 'run'}/ | {named} | No space left on device", 1)
    assert not [name for name in left if name.endswith(".tmp")], left


DISK_FULL_OUTPUTS = [  # (name, argv with {full}: a file system already full, {run})
    ("predict --out", ["predict", "--run", "{run}", "--out", "{full}/forecast.csv"]),
    ("export --out", ["export", "--run", "{run}", "--out", "{full}/model.onnx"]),
]


@pytest.mark.parametrize("name,argv", DISK_FULL_OUTPUTS, ids=[case[0] for case in DISK_FULL_OUTPUTS])
def test_a_full_disk_under_predict_and_export(name, argv, untouched, tmp_path, capsys):
    full = tmp_path / "full"
    _mount(full, "8k")
    try:
        (full / "filler").write_bytes(b"x" * 8192)
        code, err = _cli([arg.format(full=full, run=untouched) for arg in argv], capsys)
        left = sorted(path.name for path in full.iterdir())
    finally:
        _unmount(full)
    _assert_one_line(code, err, "No space left on device", 1)
    assert left == ["filler"], left


INJECTED = ["config.json", "checkpoint.pt", "model.pt", "metrics.json", "history.csv", "forecast.png", "loss.png"]


@pytest.mark.parametrize("target", INJECTED)
def test_a_failed_write_of_each_run_file_is_one_line(target, tmp_path, capsys, monkeypatch):
    """ENOSPC injected into the fsync of one run file (the plots drawn in this process, where the fault is): exit 1,
    one line naming that file, its temporary file removed."""
    from grunet import files, startup

    real_fsync = os.fsync

    def failing_fsync(handle):
        if os.path.basename(os.readlink(f"/proc/self/fd/{handle}")).startswith(f".{target}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(handle)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd")
    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    monkeypatch.setattr(startup, "start_plot_worker", lambda *args: None)
    out = tmp_path / "run"
    code, err = _cli(["train", *TINY, "--out", out], capsys)
    _assert_one_line(code, err, f"{out / target}: No space left on device", 1)
    left = sorted(path.name for path in out.iterdir()) if out.exists() else []  # gone: nothing was written
    assert not [name for name in left if name.endswith(".tmp")], left


FILE_SIZE_LIMITS = [  # (bytes a file may have, the file whose write exceeds it)
    (100, "config.json"),
    (1500, "checkpoint.pt"),
]


@pytest.mark.parametrize(
    "limit,named", [FILE_SIZE_LIMITS[0], pytest.param(*FILE_SIZE_LIMITS[1], marks=pytest.mark.slow)]
)
def test_a_file_size_limit_is_one_line_not_a_signal(limit, named, tmp_path):
    """`ulimit -f`: with SIGXFSZ at its default (death), the console entry ignores it, so the write fails with
    EFBIG, reported in one line (exit 1), instead of the process being killed."""

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = tmp_path / "run"
    code, err = _subprocess(["train", *TINY, "--no-plots", "--out", out], preexec_fn=limited)
    _assert_one_line(code, err, f"{out / named}: File too large", 1)


# ============================================================================== 2. crafted run files


def _on_dict(function):
    """Marks an edit of config.json's parsed dict (the others edit its text)."""
    function.on_dict = True
    return function


def _set(section, key, value):
    """An edit setting config[section][key] (section None: the top level)."""
    return _on_dict(lambda config: (config if section is None else config[section]).__setitem__(key, value))


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


CRAFTED_CONFIGS = [  # (name, edit of config.json's dict or its text, words); tried by --config and by --resume
    ("int calendar", _set("data", "calendar", 5), "section data: setting calendar must be a string, got 5"),
    ("float seed", _set("train", "seed", 1.5), "section train: setting seed must be an integer, got 1.5"),
    ("string seed", _set("train", "seed", "1"), "setting seed must be an integer, got '1'"),
    ("list window", _set("data", "window", [50]), "setting window must be an integer or null, got [50]"),
    ("dict horizon", _set("data", "horizon", {"a": 1}), "setting horizon must be an integer"),
    ("null horizon", _set("data", "horizon", None), "setting horizon must be an integer, got None"),
    ("bool hidden_size", _set("model", "hidden_size", True), "setting hidden_size must be an integer or null"),
    ("string lr", _set("train", "lr", "fast"), "setting lr must be a number or null, got 'fast'"),
    ("string dropout", _set("model", "dropout", "0.1"), "setting dropout must be a number"),
    ("float epochs", _set("train", "epochs", 2.5), "setting epochs must be an integer or null, got 2.5"),
    ("string log", _set("data", "log", "yes"), "setting log must be true or false"),
    ("string features", _set("data", "features", "abc"), "setting features must be a list of strings"),
    ("int features", _set("data", "features", [1, 2]), "setting features must be a list of strings"),
    ("deeply nested setting", _set("data", "window", _nested(200)), "setting window must be an integer or null"),
    ("huge hidden_size", _set("model", "hidden_size", 10**6), "hidden_size must be an integer >= 1 (at most"),
    ("huge num_layers", _set("model", "num_layers", 10**5), "num_layers must be an integer >= 1 (at most"),
    ("negative seed", _set("train", "seed", -1), "seed must be >= 0"),
    (
        "absurd epochs",
        _set("train", "epochs", 10**12),
        "epochs must be >= 0 (0: the model as it starts, untrained; at most",
    ),
    ("device meta", _set("train", "device", "meta"), "device must be auto, cpu, cuda or cuda:N"),
    ("NaN lr", lambda text: text.replace('"lr": 0.001', '"lr": NaN'), "lr must be > 0"),
    ("unknown setting", _set("model", "hiden_size", 8), "unknown model settings: hiden_size"),
    ("no model section", _on_dict(lambda config: config.pop("model")), "expected the sections data, model and train"),
    ("a list, not an object", lambda text: "[1, 2, 3]", "expected the sections data, model and train"),
    ("config_version a string", _set(None, "config_version", "1"), "config_version must be an integer"),
    ("config_version from the future", _set(None, "config_version", 99), "newer grunet"),
    ("grunet_version a number", _set(None, "grunet_version", 1), "grunet_version must be a string"),
    ("deeply nested JSON", lambda text: "[" * 100_000 + "]" * 100_000, "is not readable JSON"),
    ("empty file", lambda text: "", "is not readable JSON"),
    ("not UTF-8", lambda text: "\udcff", "is not readable JSON"),
    (
        "members of the wrong type",
        _set(None, "members", [{"hidden_size": "big"}]),
        "members[0]: setting hidden_size must be an integer",
    ),
    ("members with an unknown setting", _set(None, "members", [{"bogus": 1}]), "unknown member settings: bogus"),
    ("members not a list", _set(None, "members", "all"), "members must be a non-empty list"),
    ("intervals malformed", _set(None, "intervals", {"levels": [80]}), "intervals must hold levels"),
]


def _edit_config(path: Path, edit) -> None:
    if getattr(edit, "on_dict", False):
        config = json.loads(path.read_text())
        edit(config)
        path.write_text(json.dumps(config))
    else:  # the text, written as bytes (a lone surrogate stands for a byte that is not UTF-8)
        path.write_bytes(edit(path.read_text()).encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("name,edit,words", CRAFTED_CONFIGS, ids=[case[0] for case in CRAFTED_CONFIGS])
@pytest.mark.parametrize("command", ["--config", "--resume"])
def test_a_crafted_config_is_one_line(name, edit, words, command, run, tmp_path, capsys):
    crafted = _copy_run(run, tmp_path / "crafted")
    _edit_config(crafted / "config.json", edit)
    if command == "--resume":
        (crafted / "metrics.json").unlink()  # as a run stopped before its end: a finished one is never resumed
    before = _snapshot(crafted)
    argv = (
        ["train", "--config", crafted / "config.json", "--out", tmp_path / "new"]
        if command == "--config"
        else ["train", "--resume", crafted]
    )
    code, err = _cli(argv + ["--quiet", "--no-plots"], capsys)
    _assert_one_line(
        code, err, f"{crafted / 'config.json'} | {words}" if "version" not in name or "future" in name else words, 2
    )
    assert _snapshot(crafted) == before  # nothing of the crafted run written over
    assert not (tmp_path / "new").exists()


CRAFTED_MODELS = [  # (name, edit of model.pt's payload (returns bytes for a raw file), words); predict and export
    ("huge hidden_size", lambda p: p["config"]["model"].update(hidden_size=10**6), "hidden_size must be an integer"),
    (
        "hidden_size 8192 x 32 layers",
        lambda p: p["config"]["model"].update(hidden_size=8192, num_layers=32),
        "needs about | of memory",
    ),
    ("float seed", lambda p: p["config"]["train"].update(seed=1.5), "setting seed must be an integer, got 1.5"),
    ("int calendar", lambda p: p["config"]["data"].update(calendar=3), "setting calendar must be a string"),
    ("hidden_size not the weights'", lambda p: p["config"]["model"].update(hidden_size=8), "do not fit its config"),
    ("no state_dict", lambda p: p.pop("state_dict"), "lacks its 'state_dict' entry"),
    ("no scaler", lambda p: p.pop("scaler"), "lacks its 'scaler' entry"),
    ("no series_names", lambda p: p.pop("series_names"), "lacks its 'series_names' entry"),
    ("no config", lambda p: p.pop("config"), "lacks its 'config' entry"),
    ("state_dict a list", lambda p: p.update(state_dict=[1, 2]), "its 'state_dict' entry must be"),
    ("a weight missing", lambda p: p["state_dict"].pop("fc.bias"), "do not fit its config"),
    ("a weight too many", lambda p: p["state_dict"].update(extra=torch.zeros(2)), "do not fit its config"),
    (
        "a weight of the wrong shape",
        lambda p: p["state_dict"].update({"fc.bias": torch.zeros(7)}),
        "do not fit its config",
    ),
    ("a weight not a tensor", lambda p: p["state_dict"].update({"fc.bias": [0.0]}), "the weights must be tensors"),
    ("NaN weights", lambda p: p["state_dict"]["fc.weight"].fill_(float("nan")), "are not finite | retrain"),
    ("infinite weights", lambda p: p["state_dict"]["fc.bias"].fill_(float("inf")), "are not finite"),
    ("zero scale", lambda p: p["scaler"].update(scale=[[0.0]]), "scale must be finite and > 0 | got 0"),
    ("NaN shift", lambda p: p["scaler"].update(shift=[[float("nan")]]), "shift holds values that are not finite"),
    (
        "scaler of another shape",
        lambda p: p["scaler"].update(shift=[[0.0], [1.0]], scale=[[1.0], [1.0]]),
        "the scaler has 2 rows",
    ),
    ("scaler method unknown", lambda p: p["scaler"].update(method="zscore"), "the scaler's method must be"),
    ("series names not strings", lambda p: p.update(series_names=[1]), "series_names must be a list of strings"),
    ("config_version a string", lambda p: p.update(config_version="1"), "config_version must be an integer"),
    ("another format marker", lambda p: p.update(format="other"), "is not a grunet checkpoint"),
    ("member_configs without members", lambda p: p.update(member_configs=[{}]), "member_configs must be a list"),
    ("garbage bytes", lambda p: b"\x00garbage" * 100, "is not a readable grunet checkpoint"),
    ("truncated", lambda p: "truncate", "is not a readable grunet checkpoint"),
]


def _craft_model(path: Path, edit) -> None:
    payload = torch.load(path, weights_only=True)
    result = edit(payload)
    if isinstance(result, bytes):
        path.write_bytes(result)
    elif result == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    else:
        torch.save(payload, path)


@pytest.mark.parametrize("name,edit,words", CRAFTED_MODELS, ids=[case[0] for case in CRAFTED_MODELS])
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_crafted_model_is_one_line(name, edit, words, command, run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 8 << 30)  # the same on any machine
    crafted = _copy_run(run, tmp_path / "crafted")
    _craft_model(crafted / "model.pt", edit)
    before = _snapshot(crafted)
    code, err = _cli(
        [command, "--run", crafted, "--out", tmp_path / ("f.csv" if command == "predict" else "m.onnx")], capsys
    )
    _assert_one_line(code, err, words, 2)
    assert _snapshot(crafted) == before
    assert not (tmp_path / "f.csv").exists() and not (tmp_path / "m.onnx").exists()


CRAFTED_CHECKPOINTS = [  # (name, edit of checkpoint.pt's payload, words); tried by --resume
    ("no training state", lambda p: p.pop("state"), "lacks its 'state' entry"),
    ("state a list", lambda p: p.update(state=[]), "its 'state' entry must be"),
    ("no optimizer state", lambda p: p["state"].pop("optimizer"), "lacks the training state's optimizer"),
    ("no generator state", lambda p: p["state"].pop("generator"), "lacks the training state's generator"),
    (
        "weights of another model",
        lambda p: p["state"]["model"].update({"fc.bias": torch.zeros(5)}),
        "does not fit this run's model",
    ),
    ("another format marker", lambda p: p.update(format="grunet-checkpoint"), "is not a grunet checkpoint"),
    ("garbage bytes", lambda p: b"PK\x03\x04" + b"\x00" * 64, "is not a readable grunet checkpoint"),
]


@pytest.mark.parametrize("name,edit,words", CRAFTED_CHECKPOINTS, ids=[case[0] for case in CRAFTED_CHECKPOINTS])
def test_a_crafted_checkpoint_is_one_line(name, edit, words, run, tmp_path, capsys):
    crafted = _copy_run(run, tmp_path / "crafted")
    config = json.loads((crafted / "config.json").read_text())
    config["train"]["epochs"] = 4  # something left to resume
    (crafted / "config.json").write_text(json.dumps(config))
    (crafted / "metrics.json").unlink()  # as a run stopped before its end
    _craft_model(crafted / "checkpoint.pt", edit)
    before = _snapshot(crafted)
    code, err = _cli(["train", "--resume", crafted, "--quiet", "--no-plots"], capsys)
    _assert_one_line(code, err, words, 2)
    assert _snapshot(crafted) == before


# ============================================================================== 3. bounds and memory

BOUNDS = [  # (flags, words)
    (["--hidden-size", "100000"], "hidden_size must be an integer >= 1 (at most 8192), got 100000"),
    (["--num-layers", "100000"], "num_layers must be an integer >= 1 (at most 32), got 100000"),
    (["--ensemble", "1000000"], "ensemble must be >= 1 (at most 100), got 1000000"),
    (["--window", "1000000000"], "window must be >= 1 (at most 100000)"),
    (["--horizon", "1000000"], "horizon must be >= 1 (at most 10000)"),
    (["--epochs", "1000000000000"], "untrained; at most 100000), got 1000000000000"),
    (["--seed", "99999999999999999999999"], "seed must be >= 0 (at most 4294967295)"),
    (["--seed", "-1"], "seed must be >= 0"),
    (["--device", "meta"], "device must be auto, cpu, cuda or cuda:N, got 'meta'"),
    (["--device", "nonsense"], "device must be auto, cpu, cuda or cuda:N, got 'nonsense'"),
    (["--device", "cuda:99"], "device 'cuda:99' was asked for"),
    (["--top-k", "0"], "top_k must be an integer from 1 to 20"),
    (["--top-k", "1000000"], "top_k must be an integer from 1 to 20"),
    (["--time-budget", "-1"], "time_budget must be > 0"),
    (["--time-budget", "nan"], "time_budget must be > 0"),
    (["--level", "150"], "level must be percentages between 0 and 100"),
    (["--level", "0"], "level must be percentages between 0 and 100"),
    (["--lr", "inf"], "lr must be > 0 (a finite number), got inf"),
    (["--lr", "nan"], "lr must be > 0"),
    (["--weight-decay", "inf"], "weight_decay must be >= 0"),
    (["--clip", "nan"], "clip must be >= 0"),
    (["--dropout", "2"], "dropout must be a number in [0, 1]"),
    (["--batch-size", "100000000000"], "batch_size must be >= 0 (0 = full batch; at most"),
    (["--checkpoint-every", "-1"], "checkpoint_every must be >= 0"),
    (["--patience", "1000000000000"], "patience must be >= 0 (0 = off; at most"),
    (["--season", "1000000000"], "season must be >= 1 (at most"),
    (["--test-size", "100000000000"], "test_size must be >= horizon"),
    (["--val-size", "100000000000"], "val_size must be 0, or >= horizon"),
    (["--ar", "1000000"], "ar must be an integer >= 0 (at most 100000)"),
    (
        ["--hidden-size", "8192", "--num-layers", "32"],
        "a GRUNet of hidden_size 8192, num_layers 32 | needs about | available",
    ),
    (
        ["--hidden-size", "2048", "--num-layers", "8"],
        "training (hidden_size 2048, num_layers 8 | needs about | --batch-size",
    ),
]


@pytest.mark.parametrize("flags,words", BOUNDS, ids=[" ".join(case[0]) for case in BOUNDS])
def test_every_size_has_a_range(flags, words, tmp_path, capsys, monkeypatch):
    """Out-of-range flags refused before anything is allocated (memory: 4 GiB available, on any machine)."""
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 4 << 30)
    code, err = _cli(
        ["train", "--epochs", "1", "--search", "none", "--quiet", "--no-plots", *flags, "--out", tmp_path / "run"],
        capsys,
    )
    _assert_one_line(code, err, words, 2)
    assert not (tmp_path / "run").exists()


BENCH_BOUNDS = [  # (flags of grunet bench, words)
    (["--device", "meta"], "--device must be cpu, cuda or cuda:N, got 'meta'"),
    (["--threads", "100000000000"], "--threads must be at most 1024"),
    (["--repeats", "100000000000000000000"], "--repeats must be at most 10000"),
    (["--warmup", "99999999999"], "--warmup must be at most 10000"),
    (["--shapes", "99"], "--shapes takes indices"),
]


@pytest.mark.parametrize("flags,words", BENCH_BOUNDS, ids=[" ".join(case[0]) for case in BENCH_BOUNDS])
def test_bench_flags_have_ranges(flags, words, capsys):
    code, err = _cli(["bench", "--no-inference", *flags], capsys)
    _assert_one_line(code, err, words, 2)


API_MISTAKES = [  # (Forecaster keywords, the exception, words): the library raises, never crashes or allocates
    ({"hidden_size": "big"}, TypeError, "setting hidden_size must be an integer or null, got 'big'"),
    ({"epochs": 2.5}, TypeError, "setting epochs must be an integer or null, got 2.5"),
    ({"horizon": "3"}, TypeError, "setting horizon must be an integer, got '3'"),
    ({"ensemble": 10**6}, ValueError, "ensemble must be >= 1 (at most 100)"),
    ({"num_layers": 10**5}, ValueError, "num_layers must be an integer >= 1 (at most 32)"),
    ({"device": "meta"}, ValueError, "device must be auto, cpu, cuda or cuda:N"),
    ({"seed": 2**70}, ValueError, "seed must be >= 0 (at most 4294967295)"),
    ({"lr": float("inf")}, ValueError, "lr must be > 0 (a finite number)"),
]


@pytest.mark.parametrize("keywords,error,words", API_MISTAKES, ids=[str(case[0]) for case in API_MISTAKES])
def test_the_python_api_raises_what_the_command_line_prints(keywords, error, words):
    import grunet

    with pytest.raises(error, match=re_escape(words)):
        grunet.Forecaster(verbose=False, search="none", **keywords).fit("sine")


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_the_memory_estimate():
    """grunet/memory.py: the parameter count is exact, the estimate grows with every size, and check_fits refuses
    what exceeds the memory available, with the estimate and the amount available in its one line."""
    for config in (
        ModelConfig(input_size=3, hidden_size=7, output_size=4, num_layers=2, future_size=2, ar=3, seasonal=0),
        ModelConfig(hidden_size=20, num_layers=2, ar=0, seasonal=0),
        ModelConfig(input_size=2, hidden_size=5, num_layers=3, ar=0, seasonal=0, reset_after=True),
    ):
        model = GRUNet.from_config(config)
        assert memory.parameter_count(config) == sum(parameter.numel() for parameter in model.parameters())
        assert memory.model_bytes(config) == 4 * memory.parameter_count(config)
    base = ModelConfig(hidden_size=32, num_layers=1, ar=0, seasonal=0)
    small = memory.training_bytes(base, 50, 64)
    assert small > memory.model_bytes(base) * memory.STATE_COPIES
    for bigger in (
        memory.training_bytes(base, 100, 64),
        memory.training_bytes(base, 50, 128),
        memory.training_bytes(ModelConfig(hidden_size=64, num_layers=1, ar=0, seasonal=0), 50, 64),
        memory.training_bytes(ModelConfig(hidden_size=32, num_layers=2, ar=0, seasonal=0), 50, 64),
        memory.training_bytes(base, 50, 64, members=3),
    ):
        assert bigger > small
    available = memory.available_bytes()
    assert available is None or available > 0
    assert memory.size(3 << 30) == "3.0 GiB" and memory.size(512) == "512 bytes"


def test_check_fits_refuses_with_the_estimate(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 1 << 30)
    memory.check_fits(1 << 29, "half of it")
    with pytest.raises(ValueError, match=r"twice needs about 2.0 GiB of memory, more than the 1.0 GiB available"):
        memory.check_fits(2 << 30, "twice")
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": None)  # cannot tell: nothing refused
    memory.check_fits(1 << 50, "anything")


@pytest.mark.slow
def test_the_estimate_bounds_what_training_takes(tmp_path):
    """The estimate is an upper bound of the real peak (resident memory beyond what a run with a tiny model takes:
    VmHWM, this process's own peak, not ru_maxrss, which a forked child inherits from its parent), measured on a
    run whose activations dominate: it refuses only what could not fit."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc/self/status")

    def peak(hidden):
        code = (
            "import resource, sys; from grunet.cli import main; "
            f"code = main(['train', '--epochs', '1', '--quiet', '--no-plots', '--hidden-size', '{hidden}', "
            f"'--num-layers', '2', '--out', sys.argv[1]]); "
            "print([line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0]); "
            "sys.exit(code)"
        )
        done = subprocess.run(
            [sys.executable, "-B", "-c", code, str(tmp_path / f"run{hidden}")],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if "needs about" in done.stderr:
            pytest.skip(f"too little memory free on this machine now: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1]) * 1024

    used = peak(256) - peak(4)
    estimate = memory.training_bytes(ModelConfig(hidden_size=256, num_layers=2, ar=0), 50, 800)
    assert used < estimate < 4 * used, (used, estimate)


# ============================================================================== 4. files that are not regular

NOT_REGULAR = [  # (name, how to make the hostile file at {bad}, argv, words)
    ("--config a FIFO", "fifo", ["train", "--config", "{bad}"], "is not a regular file"),
    ("--config /dev/zero", "/dev/zero", ["train", "--config", "{bad}"], "is not a regular file"),
    ("--config a link to /dev/zero", "link", ["train", "--config", "{bad}"], "is not a regular file"),
    ("--config over 256 MB", "sparse", ["train", "--config", "{bad}"], "too large for a grunet file"),
    ("--resume with config.json a FIFO", "fifo:config.json", ["train", "--resume", "{run}"], "needs config.json"),
    ("--run with model.pt a FIFO", "fifo:model.pt", ["predict", "--run", "{run}"], "is not a regular file"),
    ("--model's bundle a FIFO", "fifo:model.json", ["predict", "--model", "{run}/model.onnx"], "is not a regular file"),
    ("--data a FIFO", "fifo", ["train", "--data", "{bad}", "--out", "{tmp}/new"], "{bad}"),
    ("--future a FIFO", "fifo", ["predict", "--run", "{run}", "--future", "{bad}", "--out", "{tmp}/f.csv"], "--future"),
]


QUICK_NOT_REGULAR = {"--config a FIFO"}  # the rest: full suite


@pytest.mark.parametrize(
    "name,kind,argv,words",
    [pytest.param(*case, marks=() if case[0] in QUICK_NOT_REGULAR else pytest.mark.slow) for case in NOT_REGULAR],
    ids=[case[0] for case in NOT_REGULAR],
)
def test_files_that_are_not_regular_are_refused_at_once(name, kind, argv, words, run, tmp_path):
    """Each in a new process with a timeout: a FIFO must be refused, not block; /dev/zero not read forever."""
    crafted = _copy_run(run, tmp_path / "run")
    if kind.endswith("model.json"):
        assert main(["export", "--run", str(crafted)]) == 0
    bad = tmp_path / "bad.json"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "/dev/zero":
        bad = Path("/dev/zero")
    elif kind == "link":
        bad.symlink_to("/dev/zero")
    elif kind == "sparse":
        with open(bad, "wb") as handle:
            handle.truncate(MAX_JSON_BYTES + 1)  # sparse: no disk space
    else:
        target = crafted / kind.split(":")[1]
        target.unlink()
        os.mkfifo(target)
    names = {"bad": bad, "run": crafted, "tmp": tmp_path}
    code, err = _subprocess([arg.format(**names) for arg in argv], timeout=90)
    _assert_one_line(code, err, words.format(**names), 2)


# ============================================================================== 5. torchrun and the GPUs

DISTRIBUTED = [  # (device asked for, CUDA devices, processes on this machine, refused)
    ("cuda", 1, 2, True),
    ("cuda:0", 1, 2, True),
    ("cuda", 0, 2, True),
    ("cuda", 1, 4, True),
    ("auto", 1, 2, True),  # auto picks CUDA here (cuda_is_faster patched): refused too
    ("cuda", 2, 2, False),
    ("cuda", 0, 2, True),  # no GPU at all: said so (it said "start at most 0")
    ("cpu", 1, 2, False),  # gloo: any number of processes
    ("cpu", 0, 8, False),
    (None, 1, 2, False),  # not known yet (resume): device_for checks once it is resolved
]


@pytest.mark.parametrize("device,gpus,processes,refused", DISTRIBUTED)
def test_more_processes_than_gpus_are_refused_before_the_process_group(device, gpus, processes, refused, monkeypatch):
    from grunet import devices
    from grunet.training import distributed

    monkeypatch.setenv("WORLD_SIZE", str(processes))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(processes))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(devices, "cuda_is_faster", lambda: (gpus > 0, "patched"))
    built = []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kwargs: built.append(kwargs))
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: None)
    if refused:
        expected = (
            rf"torchrun started {processes} processes on this machine, but it has {gpus} CUDA device\(s\)"
            if gpus
            else r"this machine has no CUDA device"
        )
        with pytest.raises(ValueError, match=expected + ".*--device cpu"):
            distributed.init(device)
        assert not built  # refused before any process group
    else:
        assert distributed.init(device) and len(built) == 1


@pytest.mark.slow
def test_torchrun_on_a_machine_without_enough_gpus_is_one_line(tmp_path):
    """Two processes asking for CUDA on a machine with none: rank 0 prints one line saying what to do, rank 1
    nothing (torchrun's own report of failed children follows, which is torchrun's, not grunet's)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port",
            str(port),
            "-m",
            "grunet",
            "train",
            "--device",
            "cuda",
            *TINY,
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("grunet train")]
    assert done.returncode != 0 and len(lines) == 1, done.stderr[-3000:]
    assert "--device cpu" in lines[0] and "device" in lines[0]


# ============================================================================== 6. edited bundles

BUNDLE_EDITS = [  # (name, edit of NAME.json, words)
    ("window 6 -> 12", lambda b: b.update(window=12), "window"),
    ("config.data.window 6 -> 12", lambda b: b["config"]["data"].update(window=12), "config.data.window"),
    ("window 0", lambda b: b.update(window=0), "window is 0, but it must be a positive integer"),
    ("window a string", lambda b: b.update(window="6"), "window"),
    ("columns of another model", lambda b: b.update(columns=["value"]), "columns"),
    ("columns not names", lambda b: b.update(columns=[1, 2]), "columns"),
    ("horizon 6 -> 3", lambda b: b.update(horizon=3), "horizon"),
    ("config.data.horizon 6 -> 3", lambda b: b["config"]["data"].update(horizon=3), "config.data.horizon"),
    (
        "scaler one row short",
        lambda b: b["scaler"].update(shift=b["scaler"]["shift"][:-1], scale=b["scaler"]["scale"][:-1]),
        "scaler",
    ),
    (
        "scaler one column more",
        lambda b: b["scaler"].update(
            shift=[row * 2 for row in b["scaler"]["shift"]], scale=[row * 2 for row in b["scaler"]["scale"]]
        ),
        "scaler",
    ),
    ("scale zero", lambda b: b["scaler"]["scale"][0].__setitem__(0, 0.0), "scale must be finite and > 0"),
    ("scale NaN", lambda b: b["scaler"]["scale"][0].__setitem__(0, float("nan")), "scale must be finite and > 0"),
    ("series_names one short", lambda b: b.update(series_names=b["series_names"][:-1]), "series_names"),
    ("series_names repeated", lambda b: b.update(series_names=["S000"] * len(b["series_names"])), "series_names"),
    ("output_name unknown", lambda b: b.update(output_name="out"), "output_name"),
    ("input_name unknown", lambda b: b.update(input_name="x"), "input_name"),
    ("config.model.input_size 2 -> 3", lambda b: b["config"]["model"].update(input_size=3), "config.model.input_size"),
    ("config.model.future_size 0 -> 2", lambda b: b["config"]["model"].update(future_size=2), "future"),
    ("bundle_version a string", lambda b: b.update(bundle_version="1"), "bundle_version must be an integer"),
    ("config a list", lambda b: b.update(config=[]), "config must be the run's config"),
    ("no scaler", lambda b: b.pop("scaler"), "lacks scaler"),
    ("intervals of another horizon", lambda b: b["intervals"].update(half_widths=[[1.0]] * 2), "intervals.half_widths"),
]


def _bare_onnx(source: Path, to: Path) -> Path:
    """The ONNX file without the bundle copy in its metadata: only the graph's own shapes can tell."""
    import onnx

    model = onnx.load(str(source))
    del model.metadata_props[:]
    onnx.save(model, str(to))
    return to


@pytest.mark.parametrize("name,edit,words", BUNDLE_EDITS, ids=[case[0] for case in BUNDLE_EDITS])
@pytest.mark.parametrize("metadata", [True, False], ids=["with-metadata", "bare-onnx"])
def test_an_edited_bundle_is_refused(name, edit, words, metadata, yearly, tmp_path, capsys):
    _, _, onnx_path = yearly
    model = tmp_path / "m.onnx"
    if metadata:
        shutil.copy(onnx_path, model)
    else:
        _bare_onnx(onnx_path, model)
    bundle = json.loads(onnx_path.with_suffix(".json").read_text())
    bundle["model_file"] = model.name
    edit(bundle)
    model.with_suffix(".json").write_text(json.dumps(bundle))
    code, err = _cli(["predict", "--model", model, "--out", tmp_path / "f.csv"], capsys)
    _assert_one_line(code, err, words, 2)
    assert not (tmp_path / "f.csv").exists()


def test_a_bundle_of_another_export_gives_way_to_the_models_own(yearly, tmp_path, capsys):
    """`export --format torch` after `--format onnx` writes the same NAME.json: predict --model NAME.onnx then uses
    the copy inside the ONNX file, the same forecast, instead of a bundle describing NAME.pt2."""
    _, run, onnx_path = yearly
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(onnx_path, folder / "model.onnx")
    shutil.copy(onnx_path.with_suffix(".json"), folder / "model.json")
    assert main(["predict", "--model", str(folder / "model.onnx"), "--out", str(tmp_path / "first.csv")]) == 0
    bundle = json.loads((folder / "model.json").read_text())
    bundle.update(model_file="model.pt2", model_format="torch")
    (folder / "model.json").write_text(json.dumps(bundle))
    assert main(["predict", "--model", str(folder / "model.onnx"), "--out", str(tmp_path / "second.csv")]) == 0
    assert (tmp_path / "first.csv").read_text() == (tmp_path / "second.csv").read_text()
    _bare_onnx(onnx_path, folder / "model.onnx")  # no copy inside: refused by name
    code, err = _cli(["predict", "--model", folder / "model.onnx", "--out", tmp_path / "third.csv"], capsys)
    _assert_one_line(code, err, "describes 'model.pt2', not 'model.onnx'", 2)


NON_FINITE_MODELS = [  # (name, the ONNX initializer broken, its new value, words)
    ("the head's weights NaN", "fc.weight", "nan", "no finite forecast"),
    ("the head's bias infinite", "fc.bias", "inf", "no finite forecast"),
]


@pytest.mark.parametrize("name,initializer,value,words", NON_FINITE_MODELS, ids=[case[0] for case in NON_FINITE_MODELS])
def test_a_non_finite_onnx_model_is_refused(name, initializer, value, words, yearly, tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    _, _, onnx_path = yearly
    model = onnx.load(str(onnx_path))
    head = next(tensor for tensor in model.graph.initializer if tensor.name.startswith(initializer))
    array = numpy_helper.to_array(head).copy()
    array[...] = float(value)
    head.CopyFrom(numpy_helper.from_array(array, head.name))
    onnx.save(model, str(tmp_path / "m.onnx"))
    bundle = json.loads(onnx_path.with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**bundle, "model_file": "m.onnx"}))
    code, err = _cli(["predict", "--model", tmp_path / "m.onnx", "--out", tmp_path / "f.csv"], capsys)
    _assert_one_line(code, err, words, 2)
    assert not (tmp_path / "f.csv").exists()


# ============================================================================== 7. metrics over missing forecasts

TRUTH = np.array([[1.0, 2.0, 3.0]])
METRICS = [  # (name, prediction, what must be NaN)
    ("all missing", np.full((1, 3), np.nan), ["mse", "rmse", "mae", "mape", "smape", "mase"]),
    ("one point missing", np.array([[1.0, np.nan, 3.0]]), ["mse", "rmse", "mae", "mape", "smape", "mase"]),
    ("missing where the truth is 0", np.array([[np.nan, 2.0, 3.0]]), ["smape", "mse"]),
]


@pytest.mark.parametrize("name,prediction,missing", METRICS, ids=[case[0] for case in METRICS])
def test_metrics_over_missing_forecasts_are_missing(name, prediction, missing):
    truth = TRUTH if "truth is 0" not in name else np.array([[0.0, 2.0, 3.0]])
    metrics = forecast_metrics(truth, prediction, scale=1.0)
    assert all(math.isnan(metrics[key]) for key in missing), metrics
    assert math.isnan(smape(truth, prediction))
    exact = forecast_metrics(TRUTH, TRUTH, scale=1.0)  # a perfect forecast still scores 0
    assert exact["smape"] == 0 and exact["mse"] == 0
    averaged = average_metrics([exact, metrics])  # a series without forecasts: the average is missing too
    assert all(math.isnan(averaged[key]) for key in ("mse", "smape", "mase")), averaged


def test_a_baseline_without_a_forecast_scores_n_a(tmp_path, capsys):
    """--season 5000 on 144 months: the seasonal naive baseline has no forecast at all; it scores NaN (null in
    metrics.json, n/a in the table), never sMAPE 0, and is never the best."""
    data = _csv(
        tmp_path / "air.csv",
        "Date,Passengers",
        [(f"{1949 + month // 12}-{month % 12 + 1:02d}", 100 + month + 10 * math.sin(month)) for month in range(144)],
    )
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--data",
            str(data),
            "--target",
            "Passengers",
            "--time-col",
            "Date",
            "--season",
            "5000",
            *TINY,
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    seasonal = metrics["baselines"]["seasonal_naive"]
    assert all(seasonal[key] is None for key in ("mse", "smape", "mae", "mase")), seasonal
    assert metrics["best"] != "seasonal_naive"
    row = next(line for line in printed.splitlines() if line.startswith("seasonal naive"))
    assert row.split()[2:] == ["n/a"] * (len(row.split()) - 2)


# ============================================================================== 8. messages in the user's terms

MESSAGES = [  # (name, the data file's rows (header, rows) or None for the sine, flags, words)
    ("--features naming the target", "air", ["--target", "v", "--features", "v"], "the target | --features"),
    (
        "--future-features naming the target",
        "air",
        ["--target", "v", "--time-col", "t", "--future-features", "v"],
        "the target",
    ),
    ("--id-col equal to the target", "air", ["--target", "v", "--id-col", "v"], "--target and --id-col | 'v'"),
    ("--time-col equal to the target", "air", ["--target", "v", "--time-col", "v"], "'v'"),
    (
        "data beyond float32 squared (1e30, --scale none)",
        "1e30",
        ["--target", "v", "--scale", "none"],
        "beyond what float32 | --scale standard | instead of lowering --lr",
    ),
    (
        "data beyond float32 (1e39, --scale none)",
        "1e39",
        ["--target", "v", "--scale", "none"],
        "not finite in float32 | --scale standard",
    ),
    ("data beyond float64's statistics (1e300)", "1e300", ["--target", "v"], "too large to scale | divide"),
    (
        "--target on a built-in data set",
        None,
        ["--data", "airline", "--target", "Month"],
        "--target 'Month' names no column of the built-in data set 'airline'",
    ),
    (
        "--id-col on a built-in data set",
        None,
        ["--data", "airline", "--id-col", "Passengers"],
        "--id-col 'Passengers' | one series",
    ),
    ("--time-col on the sine", None, ["--time-col", "t"], "--time-col 't' | 'sine'"),
]


@pytest.mark.parametrize("name,data,flags,words", MESSAGES, ids=[case[0] for case in MESSAGES])
def test_messages_in_the_users_terms(name, data, flags, words, tmp_path, capsys):
    if data is not None:
        scale = {"air": 1.0, "1e30": 1e30, "1e39": 1e39, "1e300": 1e300}[data]
        flags = [
            "--data",
            _csv(tmp_path / "data.csv", "t,v", [(t, f"{scale * (2 + math.sin(t / 5)):.6e}") for t in range(200)]),
            *flags,
        ]
    code, err = _cli(["train", *TINY, "--no-plots", *flags, "--out", tmp_path / "run"], capsys)
    _assert_one_line(code, err, words, 2)


WARNED_FAILURES = [  # (name, where a warning is raised before the error, the command)
    ("predict: a warning while loading", "grunet.forecaster.Forecaster.load", ["predict", "--run", "{run}"]),
    ("export: a warning while exporting", "grunet.export.export_run", ["export", "--run", "{run}"]),
    ("train: a warning while fitting", "grunet.forecaster.Forecaster.fit", ["train", *TINY, "--out", "{tmp}/r"]),
]


@pytest.mark.parametrize("name,target,argv", WARNED_FAILURES, ids=[case[0] for case in WARNED_FAILURES])
@pytest.mark.parametrize("kind", [UserWarning, RuntimeWarning])
def test_warnings_before_an_error_are_silenced(name, target, argv, kind, untouched, tmp_path, capsys, monkeypatch):
    """torch's (or numpy's) warnings raised on the way to an error are dropped with it: the error is one line."""

    def warn_then_fail(*args, **kwargs):
        warnings.warn("TypedStorage is deprecated (a torch warning)", kind)
        raise ValueError("the error itself")

    monkeypatch.setattr(target, warn_then_fail)
    code, err = _cli([arg.format(run=untouched, tmp=tmp_path) for arg in argv], capsys)
    _assert_one_line(code, err, "error: the error itself", 2)


def test_warnings_of_a_command_that_succeeds_are_one_line_each(run, tmp_path, capsys, monkeypatch):
    from grunet.forecaster import Forecaster

    load = Forecaster.load

    def warn_twice(*args, **kwargs):
        for _ in range(2):
            warnings.warn("something worth knowing\nover two lines", UserWarning)
        return load(*args, **kwargs)

    monkeypatch.setattr(Forecaster, "load", warn_twice)
    code, err = _cli(["predict", "--run", run, "--out", tmp_path / "f.csv"], capsys)
    assert code == 0 and err == "warning: something worth knowing over two lines\n", err


# ============================================================================== 9. short series in predict

SHORT_SERIES = [  # (name, extra train flags, how the shortest series come out of predict)
    ("padded (the default)", [], "forecast"),
    ("--no-pad", ["--no-pad"], "warned"),
]


@pytest.mark.parametrize("name,flags,outcome", SHORT_SERIES, ids=[case[0] for case in SHORT_SERIES])
def test_every_series_train_scored_gets_a_number_in_predict(name, flags, outcome, yearly, tmp_path, capsys):
    """181 yearly series of 9 to 52 points, window 6, horizon 6, the default test size: every series train scored
    gets six finite numbers from predict (--run and --model), and one it skipped is named in a warning and left
    out, never an empty cell."""
    data, run, onnx_path = yearly
    if flags:
        run = tmp_path / "run"
        assert (
            main(
                [
                    "train",
                    "--data",
                    str(data),
                    "--id-col",
                    "series",
                    "--time-col",
                    "year",
                    "--target",
                    "value",
                    "--window",
                    "6",
                    "--horizon",
                    "6",
                    *TINY,
                    "--no-plots",
                    *flags,
                    "--out",
                    str(run),
                ]
            )
            == 0
        )
    metrics = json.loads((run / "metrics.json").read_text())
    scored = set(metrics["test"]["per_series"])
    capsys.readouterr()
    assert main(["predict", "--run", str(run), "--out", str(tmp_path / "f.csv")]) == 0
    err = capsys.readouterr().err
    import pandas as pd

    table = pd.read_csv(tmp_path / "f.csv")
    assert np.isfinite(table["value"]).all() and not table.isna().any().any()
    counts = table.groupby("series").size()
    assert (counts == 6).all() and scored <= set(counts.index)
    left_out = sorted({f"S{index:03d}" for index in range(181)} - set(counts.index))
    if outcome == "forecast":
        assert len(scored) == 181 and not metrics["skipped_series"] and not left_out and "warning" not in err
        assert main(["predict", "--model", str(onnx_path), "--out", str(tmp_path / "o.csv")]) == 0
        onnx_table = pd.read_csv(tmp_path / "o.csv")
        assert len(onnx_table) == 181 * 6 and np.isfinite(onnx_table["value"]).all()
    else:  # the series too short for the refit model are left out, and named
        assert left_out and metrics["skipped_series"]
        assert err.count("\n") == 1 and err.startswith(f"warning: {len(left_out)} series not in the run's")
        assert all(name in err for name in left_out[:10]), err


# ------------------------------------------------------------------------------------------------- the count

TABLES = {
    "OS errors": OS_ERRORS + READ_ONLY + DISK_FULL + DISK_FULL_OUTPUTS + INJECTED + FILE_SIZE_LIMITS,
    "crafted run files": CRAFTED_CONFIGS * 2 + CRAFTED_MODELS * 2 + CRAFTED_CHECKPOINTS,
    "sizes without bounds": BOUNDS + BENCH_BOUNDS + API_MISTAKES,
    "files that are not regular": NOT_REGULAR,
    "torchrun and the GPUs": DISTRIBUTED + [("torchrun, 2 processes, no GPU",)],
    "edited bundles and non-finite models": BUNDLE_EDITS * 2 + NON_FINITE_MODELS + [("another export's bundle",)],
    "metrics over missing forecasts": METRICS + [("--season 5000",)],
    "messages in the user's terms": MESSAGES + WARNED_FAILURES * 2,
    "short series in predict": SHORT_SERIES,
}
CASE_COUNT = sum(len(table) for table in TABLES.values())  # bad inputs and faults the suite tries, all handled


def test_the_suite_counts_its_cases():
    assert CASE_COUNT >= 200 and all(TABLES.values())


if __name__ == "__main__":
    for name, table in TABLES.items():
        print(f"{len(table):5d}  {name}")
    print(f"{CASE_COUNT:5d}  bad inputs and faults in all")
