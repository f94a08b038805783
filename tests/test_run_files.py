"""What a run folder holds (`grunet.run_files`): read back as written, and unreadable files named."""

import json

import pytest

from grunet.checkpoints import write_history
from grunet.run_files import read_json_file, read_resumable, read_run_files


def test_read_run_files_gives_back_what_is_there(tmp_path):
    assert read_run_files(tmp_path) == (None, None, [], None)  # nothing there: nothing read
    (tmp_path / "config.json").write_text(json.dumps({"data": {"horizon": 3}}))
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"rmse": 1.5}}))
    history = [{"member": 0, "epoch": 1, "train_loss": 0.25, "val_loss": 0.5, "lr": 0.01, "seconds": 1.5}]
    write_history(tmp_path / "history.csv", history)
    (tmp_path / "data.csv").write_text("t,y\n1,2\n")
    config, metrics, read_history, data_file = read_run_files(tmp_path)
    assert (config, metrics) == (tmp_path / "config.json", tmp_path / "metrics.json")  # read when needed
    assert read_json_file(config) == {"data": {"horizon": 3}} and read_json_file(metrics) == {"test": {"rmse": 1.5}}
    assert read_history == history and isinstance(read_history[0]["epoch"], int)
    assert data_file == tmp_path / "data.csv"


def test_unreadable_metrics_and_unresumable_folders_are_named(tmp_path):
    (tmp_path / "metrics.json").write_text("{")
    with pytest.raises(ValueError, match=r"metrics.json is not readable JSON"):
        read_json_file(tmp_path / "metrics.json")
    (tmp_path / "config.json").write_text("[1,")
    with pytest.raises(ValueError, match=r"config.json is not readable JSON"):
        read_json_file(tmp_path / "config.json")
    with pytest.raises(ValueError, match="is not a run folder that can be resumed"):
        read_resumable(tmp_path)
