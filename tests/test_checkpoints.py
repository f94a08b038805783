"""Checkpoints (`grunet.checkpoints`): model.pt and checkpoint.pt hold tensors and plain data only; a file holding a
pickled object that would run code is refused, as are truncated files and files of a newer grunet."""

from pathlib import Path

import pytest
import torch

from grunet.checkpoints import load_checkpoint
from grunet.cli import main


class _RunsCode:
    """Unpickling this writes a file: what a malicious model.pt would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def _malicious_checkpoint(path: Path, marker: Path, sine_run: Path) -> None:
    payload = torch.load(sine_run / "model.pt", weights_only=True)
    payload["extra"] = _RunsCode(marker)
    torch.save(payload, path)


def test_the_malicious_checkpoint_is_real(tmp_path, sine_run):
    """Control: loading it the unsafe way does run its code."""
    marker = tmp_path / "control_marker"
    _malicious_checkpoint(tmp_path / "model.pt", marker, sine_run)
    torch.load(tmp_path / "model.pt", weights_only=False)
    assert marker.read_text() == "code ran"


def test_pickled_objects_in_a_checkpoint_are_refused(tmp_path, sine_run, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text((sine_run / "config.json").read_text())
    marker = tmp_path / "marker"
    _malicious_checkpoint(run / "model.pt", marker, sine_run)
    with pytest.raises(ValueError, match="refused to load .*could run code"):
        load_checkpoint(run / "model.pt")
    assert not marker.exists()
    for command in (["predict", "--run", str(run)], ["export", "--run", str(run)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refused to load" in err, err
        assert not marker.exists()
    assert not (run / "model.onnx").exists()


def test_per_series_tables_are_tensors_on_disk_and_lists_when_read(tmp_path, macro_run):
    """model.pt keeps the scaler's rows and each series' Holt-Winters model as tensors of their own dtype (a list is
    read item by item by torch's safe unpickler: slow for a panel); `load_checkpoint` gives back the lists the run's
    JSON files hold, the same as from a file that stored them as lists (one written before this change)."""
    raw = torch.load(macro_run / "model.pt", weights_only=True)
    assert raw["scaler"]["shift"].dtype == torch.float64 and raw["scaler"]["shift"].shape[0] == 12
    assert raw["smoothing"]["season"].dtype == torch.int64 and raw["smoothing"]["log"].dtype == torch.bool
    assert raw["smoothing"]["alpha"].dtype == torch.float64
    for name in ("start", "start_from"):  # each series' solved starting state: level, trend, 4 quarters
        assert raw["smoothing"][name].dtype == torch.float64 and raw["smoothing"][name].shape == (12, 6)
    read = load_checkpoint(macro_run / "model.pt")
    assert len(read["smoothing"]["start"]) == 12 and all(len(row) == 6 for row in read["smoothing"]["start"])
    assert isinstance(read["scaler"]["shift"], list) and read["scaler"]["shift"] == raw["scaler"]["shift"].tolist()
    assert all(type(value) is bool for value in read["smoothing"]["log"])
    assert all(type(value) is int for value in read["smoothing"]["season"])
    as_lists = {
        **raw,
        "scaler": {key: value.tolist() if torch.is_tensor(value) else value for key, value in raw["scaler"].items()},
        "smoothing": {
            key: value.tolist() if torch.is_tensor(value) else value for key, value in raw["smoothing"].items()
        },
    }
    torch.save(as_lists, tmp_path / "model.pt")
    old = load_checkpoint(tmp_path / "model.pt")
    assert old["scaler"] == read["scaler"] and old["smoothing"] == read["smoothing"]
    assert old["series_names"] == read["series_names"]


def _searched_config(path: Path) -> Path:
    """A config.json as a search writes it: three members, best first, and the intervals' validation errors."""
    import json

    from grunet.checkpoints import config_dict
    from grunet.data.config import DataConfig
    from grunet.model import ModelConfig
    from grunet.search import SearchConfig
    from grunet.training.config import TrainConfig

    members = [{"hidden_size": 32, "epochs": epochs} for epochs in (40, 55, 70)]
    config = config_dict(
        DataConfig(data="airline", horizon=4, val_size=0),
        ModelConfig(hidden_size=32),
        TrainConfig(),
        SearchConfig(search="none"),
        members,
    )
    config["intervals"] = {"levels": [80], "half_widths": [[0.1] * 4], "window_norm": "none", "errors": [[0.1] * 4]}
    path.write_text(json.dumps(config))
    return path


def test_a_repeat_applies_the_flags_given_to_its_members_and_drops_a_calibration_they_change(tmp_path):
    """--hidden-size and --top-k were dropped silently (the members' settings won), and a repeat at another
    horizon applied the 4-step calibration to 6 steps: a numpy error after training (found by a user review)."""
    from grunet.checkpoints import run_configs

    config = _searched_config(tmp_path / "config.json")
    with pytest.warns(UserWarning, match="changes hidden_size, top_k"):
        (_, model, _, search), members, intervals = run_configs(config, {"hidden_size": 16, "top_k": 1})
    assert model.hidden_size == 16 and search.top_k == 1 and members == [{"hidden_size": 16, "epochs": 40}]
    assert intervals is None  # calibrated on 32-unit members
    with pytest.raises(ValueError, match="--top-k 5: this repeat has the 3 members its search chose"):
        run_configs(config, {"top_k": 5})
    with pytest.warns(UserWarning, match="changes horizon: the prediction intervals its search calibrated"):
        (data, *_), members, intervals = run_configs(config, {"horizon": 6})
    assert data.horizon == 6 and intervals is None and len(members) == 3
    _, members, intervals = run_configs(config, {"device": "cpu", "level": [90]})  # the same models
    assert intervals is not None and intervals["errors"] == [[0.1] * 4]
