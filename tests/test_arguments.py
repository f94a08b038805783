"""The command line's arguments (`grunet.arguments`): every setting has its flag, train's flags are absent unless
given (so a --config file's values survive), list and level parsing, one-line usage errors, and a parser for the
other commands that does not import torch."""

import argparse
import dataclasses
import subprocess
import sys

import pytest

from grunet.arguments import EXIT_USAGE, _int_list, _levels, build_parser
from grunet.cli import main
from grunet.data.config import DataConfig
from grunet.model import ModelConfig
from grunet.search import SearchConfig
from grunet.training.config import TrainConfig

OUTPUT = {"command", "debug", "out", "overwrite", "config", "resume", "quiet", "no_plots"}  # not settings


def test_help_documents_every_setting(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for config in (DataConfig, ModelConfig, TrainConfig):
        for field in dataclasses.fields(config):
            if field.name in ("input_size", "output_size", "future_size", "mask", "input_steps"):
                continue  # resolved from the data (input_steps: set per ensemble member by the search)
            assert "--" + field.name.replace("_", "-") in text, field.name
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "train" in capsys.readouterr().out


def test_train_flags_are_absent_unless_given():
    """argparse.SUPPRESS: `grunet train --config run/config.json` keeps the file's values for every flag not given."""
    args = build_parser().parse_args(["train"])
    assert set(vars(args)) == OUTPUT
    assert args.command == "train" and args.out is None and args.config is None and not args.quiet


def test_every_train_flag_sets_a_setting_of_the_same_name():
    """The dest of each train flag is a field of DataConfig, ModelConfig, TrainConfig or SearchConfig
    (`grunet.checkpoints.run_configs` copies the flags given into the configs by name: a flag named otherwise would
    be dropped silently)."""
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    fields = {
        field.name
        for config in (DataConfig, ModelConfig, TrainConfig, SearchConfig)
        for field in dataclasses.fields(config)
    }
    dests = {action.dest for action in train._actions if action.dest != "help"}
    assert dests - OUTPUT <= fields, sorted(dests - OUTPUT - fields)
    assert len(dests - OUTPUT) >= 35  # the data, model, training and search groups are all there


def test_flags_given_parse_into_their_types():
    args = build_parser().parse_args(
        [
            "train",
            "--window",
            "24",
            "--lr",
            "0.01",
            "--features",
            "price, promo,",
            "--level",
            "50,90",
            "--no-pad",
            "--log",
            "--reset-after",
            "--no-refit",
            "--time-budget",
            "2.5",
        ]
    )
    assert args.window == 24 and args.lr == 0.01 and args.time_budget == 2.5
    assert args.features == ["price", "promo"] and args.level == [50, 90]
    assert args.pad is False and args.log is True and args.reset_after is True and args.refit is False
    assert build_parser().parse_args(["train", "--pad", "--level", "None"]).level == []
    assert build_parser().parse_args(["train", "--pad"]).pad is True
    assert build_parser().parse_args(["train", "--no-log"]).log is False  # fixed off: not searched
    assert not hasattr(build_parser().parse_args(["train"]), "log")  # not given: the config's None (searched)


def test_lists_and_levels():
    assert _int_list("a, b,,c ,") == ["a", "b", "c"] and _int_list("") == []
    assert _levels("80,95") == [80, 95] and _levels(" none ") == [] and _levels("NONE") == []
    with pytest.raises(argparse.ArgumentTypeError, match="'80%'"):
        _levels("80%")


@pytest.mark.parametrize(
    "argv,words",
    [
        (["train", "--level", "high"], "levels are percentages such as 80,95"),
        (["train", "--window", "ten"], "invalid int value: 'ten'"),
        (["predict"], "one of the arguments --run --model is required"),
        (["predict", "--run", "a", "--model", "b.onnx"], "not allowed with argument"),
        (["export"], "--run"),
        (["export", "--run", "r", "--format", "tflite"], "invalid choice: 'tflite'"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and words in captured.err and "--help)" in captured.err
    assert "usage:" not in captured.err and captured.out == ""


def test_other_commands_parse_without_train_flags_and_without_torch():
    parser = build_parser(train_arguments=False)
    args = parser.parse_args(["predict", "--model", "m.onnx", "--future", "f.csv"])
    assert (args.command, args.model, args.run, args.future, args.data) == ("predict", "m.onnx", None, "f.csv", None)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--window", "5"])  # train's flags are left out
    code = (
        "import sys; from grunet.arguments import build_parser; "
        "args = build_parser(train_arguments=False).parse_args(['predict', '--model', 'm.onnx']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(args.command)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "predict"


def test_bench_and_export_defaults():
    parser = build_parser(train_arguments=False)
    bench = parser.parse_args(["bench"])
    assert (bench.repeats, bench.warmup, bench.threads, bench.device, bench.shapes, bench.inference) == (
        20,
        3,
        2,
        "cpu",
        None,
        True,
    )
    assert parser.parse_args(["bench", "--no-inference"]).inference is False
    export = parser.parse_args(["export", "--run", "r"])
    assert (export.format, export.out) == ("onnx", None)


def test_the_log_flag_has_a_spelling_torchrun_passes_on():
    """torchrun's own parser takes --log for an abbreviation of its --log-dir and stops: --log-values is the same
    flag, and torchrun hands it to grunet."""
    from torch.distributed.run import get_args_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--log-values"]).log is True
    assert parser.parse_args(["train", "--no-log-values"]).log is False
    assert parser.parse_args(["train", "--log"]).log is True
    launched = get_args_parser().parse_args(["--nproc_per_node=2", "-m", "grunet", "train", "--log-values"])
    assert launched.training_script_args == ["train", "--log-values"]
