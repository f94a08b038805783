"""The CLI's error contract, mistake by mistake: exit code 2, one line on stderr saying what was wrong, no traceback;
`--debug` shows the traceback."""

import json
import shutil

import pytest

from grunet.cli import main

GOOD = "date,sales,price\n" + "".join(f"2020-01-{day:02d},{day % 5 + 1},{day}\n" for day in range(1, 29))


@pytest.fixture
def files(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    unreadable = tmp_path / "folder.csv"
    unreadable.mkdir()
    return {
        "good": write("good.csv", GOOD),
        "empty": write("empty.csv", ""),
        "header": write("header.csv", "date,sales\n"),
        "text": write("text.csv", "date,sales\n2020-01-01,1\n2020-01-02,lots\n"),
        "duplicated": write("dup.csv", "date,sales\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n"),
        "gap": write("gap.csv", "date,sales\n2020-01-01,1\n2020-01-02,2\n2020-01-03,2\n2020-01-09,3\n"),
        "unreadable": str(unreadable),
    }


CASES = [  # (name, flags, words the message must hold)
    ("missing file", ["--data", "{tmp}/nope.csv"], "does not exist"),
    ("unreadable file", ["--data", "{unreadable}"], "is not a file"),
    ("empty file", ["--data", "{empty}"], "is empty"),
    ("header only", ["--data", "{header}"], "but no rows"),
    ("unknown column", ["--data", "{good}", "--target", "revenue"], "target column 'revenue' is not in"),
    ("unknown feature", ["--data", "{good}", "--target", "sales", "--features", "cost"], "'cost' is not in"),
    ("non-numeric target", ["--data", "{text}", "--target", "sales"], "is not numeric: line 3 holds 'lots'"),
    ("window >= series length", ["--data", "{good}", "--target", "sales", "--window", "28"], "too short"),
    ("horizon <= 0", ["--data", "{good}", "--target", "sales", "--horizon", "0"], "horizon must be >= 1"),
    (
        "test size too large",
        ["--data", "{good}", "--target", "sales", "--window", "3", "--test-size", "40"],
        "too short",
    ),
    ("duplicated time stamps", ["--data", "{duplicated}", "--time-col", "date"], "duplicated time stamps"),
    ("irregular spacing", ["--data", "{gap}", "--time-col", "date"], "not regularly spaced"),
    ("negative dropout", ["--dropout", "-0.5"], "dropout must be a number in [0, 1]"),
    ("zero hidden size", ["--hidden-size", "0"], "hidden_size must be an integer >= 1"),
    ("negative batch", ["--batch-size", "-4"], "batch_size must be >= 0"),
    ("bad season", ["--season", "0"], "season must be >= 1"),
    ("val smaller than horizon", ["--horizon", "3", "--val-size", "2"], "val_size must be 0, or >= horizon"),
    ("bad fill", ["--fill", "zero"], "invalid choice"),
    ("not a number", ["--lr", "fast"], "invalid float value"),
    ("unknown flag", ["--learning-rate", "0.1"], "unrecognized arguments"),
]


def _run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name,flags,words", CASES, ids=[case[0] for case in CASES])
def test_train_mistakes_exit_2_with_one_line(name, flags, words, files, tmp_path, capsys):
    argv = ["train", "--quiet", "--no-plots", "--epochs", "1", "--out", str(tmp_path / "run")]
    argv += [flag.format(tmp=tmp_path, **files) for flag in flags]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a failed start leaves no half run folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("errors") / "run"
    assert main(["train", "--quiet", "--no-plots", "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, err = _run(["predict", "--run", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "is not a grunet run folder" in err


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_truncated_or_corrupted_model_file(run, tmp_path, damage, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    model = broken / "model.pt"
    data = model.read_bytes()
    model.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint at all", "empty": b""}[damage])
    code, err = _run(["predict", "--run", str(broken)], capsys)
    assert code == 2 and err.count("\n") == 1 and "not a readable grunet checkpoint" in err, err


def test_a_config_written_by_a_newer_version(run, tmp_path, capsys):
    config = json.loads((run / "config.json").read_text())
    config["config_version"] = 99
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, err = _run(["train", "--config", str(path), "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "written by a newer grunet" in err


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        main(["--debug", "train", "--horizon", "0", "--quiet"])
