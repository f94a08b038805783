import sys
from pathlib import Path

import pytest
import torch

from grunet.cli import main

sys.path.insert(0, str(Path(__file__).parent))  # the test helpers (independent_gru) import as modules

DATA = Path(__file__).parent / "data"


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)


def train_run(out, *flags):
    """A `grunet train` run folder (2 epochs, the given settings: no search; no plots)."""
    assert main(["train", "--epochs", "2", "--search", "none", "--quiet", "--no-plots", "--out", str(out), *flags]) == 0
    return out


@pytest.fixture(scope="session")
def sine_run(tmp_path_factory):
    """The sine, window 20, hidden size 8."""
    return train_run(tmp_path_factory.mktemp("sine") / "run", "--window", "20", "--hidden-size", "8")


@pytest.fixture(scope="session")
def macro_run(tmp_path_factory):
    """Long format, 12 series, quarterly time stamps, standard scaling, 4 steps ahead."""
    return train_run(
        tmp_path_factory.mktemp("macro") / "run",
        "--data",
        str(DATA / "macro_quarterly_long.csv"),
        "--id-col",
        "series",
        "--time-col",
        "time",
        "--target",
        "value",
        "--window",
        "12",
        "--horizon",
        "4",
        "--test-size",
        "8",
        "--hidden-size",
        "8",
        "--reset-after",
    )


@pytest.fixture(scope="session")
def ensemble_run(tmp_path_factory):
    """Two members, padded windows (the mask), meanabs, calendar columns the head sees over the horizon."""
    return train_run(
        tmp_path_factory.mktemp("ensemble") / "run",
        "--data",
        str(DATA / "macro_quarterly_long.csv"),
        "--id-col",
        "series",
        "--time-col",
        "time",
        "--target",
        "value",
        "--window",
        "12",
        "--horizon",
        "4",
        "--test-size",
        "8",
        "--hidden-size",
        "4",
        "--pad",
        "--window-norm",
        "meanabs",
        "--ensemble",
        "2",
    )
