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
