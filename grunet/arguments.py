"""The command line's arguments: every `grunet` subcommand and flag, with its help (`build_parser`). Train's flags
default to "not given" (argparse.SUPPRESS), so that a --config file's values are overridden only by flags given."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit 2), not the usage block."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def _int_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _levels(text: str) -> list[int]:
    """'80,95' -> [80, 95]; 'none' -> []."""
    if text.strip().lower() == "none":
        return []
    try:
        return [int(item) for item in _int_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"levels are percentages such as 80,95 (or none), got {text!r}") from None


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags default to SUPPRESS so that config-file values are overridden only by flags actually given."""
    from grunet.data.config import DataConfig
    from grunet.model import ModelConfig
    from grunet.training.config import TrainConfig

    data, model, train = DataConfig(), ModelConfig(), TrainConfig()
    s = argparse.SUPPRESS
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        default=s,
        help=f"built-in data set (see `grunet datasets`) or a CSV file (default {data.data}: the tutorial's exercise)",
    )
    group.add_argument("--target", default=s, help="CSV column to forecast (default: the only numeric column)")
    group.add_argument(
        "--time-col",
        dest="time_col",
        default=s,
        help="CSV column of time stamps: sorted by, checked for regular spacing",
    )
    group.add_argument(
        "--date-format",
        dest="date_format",
        default=s,
        help="the time column's form in strftime codes, e.g. '%%d/%%m/%%Y', for dates whose order of "
        "day and month the column cannot tell (default: read from the column)",
    )
    group.add_argument(
        "--id-col",
        dest="id_col",
        default=s,
        help="CSV column naming the series (long format: many series, one global model)",
    )
    group.add_argument("--features", type=_int_list, default=s, help="extra numeric input columns, A,B,...")
    group.add_argument(
        "--future-features",
        dest="future_features",
        type=_int_list,
        default=s,
        help="numeric input columns known in advance (planned prices, holidays, ...), A,B,...: the "
        "model also sees their values over the horizon; predict then needs them (--future)",
    )
    group.add_argument(
        "--calendar",
        default=s,
        help="calendar features from the time column, known for the horizon too, as sin/cos: auto "
        "(default: the cycles that vary at the data's frequency: month of year for monthly, "
        "quarter for quarterly, day of week and day of year for daily, ...), none, or a list "
        "such as month,quarter",
    )
    group.add_argument(
        "--pad",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="let windows reach before a series' start, padded and masked, so a series shorter "
        "than window + horizon still gets a forecast (default: on when some series needs it)",
    )
    group.add_argument(
        "--fill",
        choices=["error", "ffill", "interpolate", "drop"],
        default=s,
        help="missing values: error (default) names the rows; or fill them",
    )
    group.add_argument(
        "--window",
        type=int,
        default=s,
        help="input steps per window (default: searched; 50 for the sine, as the tutorial)",
    )
    group.add_argument("--horizon", type=int, default=s, help=f"steps forecast at once (default {data.horizon})")
    group.add_argument(
        "--test-size",
        dest="test_size",
        type=int,
        default=s,
        help="last points of every series held out for testing (default: 150 for sine, "
        "else max(horizon, 10%% of the shortest series)); 0: a final fit on every point, "
        "nothing scored (then grunet predict)",
    )
    group.add_argument(
        "--val-size",
        dest="val_size",
        type=int,
        default=s,
        help="points before the test part that choose the settings and stop training early (default: 0 for "
        "sine, else enough for 24 forecast origins over all series, at least one and at most max(horizon + 1, 12) "
        "per series, a third of the median series at most)",
    )
    group.add_argument(
        "--scale",
        choices=["none", "standard", "minmax"],
        default=s,
        help="per-series scaling fitted on the train part (default: none for sine, else standard)",
    )
    group.add_argument(
        "--log",
        "--log-values",  # the same, for torchrun, whose own parser takes --log for its --log-dir
        dest="log",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="model log(values), for positive series with multiplicative growth (default: searched for "
        "positive series, else off; under torchrun write --log-values)",
    )
    group.add_argument(
        "--season",
        type=int,
        default=s,
        help="season length: the seasonal naive baseline, MASE and the window candidates (default: "
        "from the time stamps: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly, 48 "
        "half-hourly; 1 for yearly data and steps)",
    )
    group = parser.add_argument_group("model")
    group.add_argument(
        "--hidden-size", dest="hidden_size", type=int, default=s, help=f"GRU state size (default {model.hidden_size})"
    )
    group.add_argument(
        "--num-layers", dest="num_layers", type=int, default=s, help=f"stacked GRU layers (default {model.num_layers})"
    )
    group.add_argument("--dropout", type=float, default=s, help=f"dropout between GRU layers (default {model.dropout})")
    group.add_argument(
        "--ar",
        type=int,
        default=s,
        help="the autoregressive skip: a linear term over the window's last AR values added to the "
        "forecast, learned with the GRU (default: searched: the whole window or none; 0 for "
        "the sine)",
    )
    group.add_argument(
        "--seasonal",
        type=int,
        default=s,
        help="M > 0: forecast the change from M steps (one season) back: the model starts at the "
        "seasonal naive forecast (default: searched for seasonal data; 0 for the sine)",
    )
    group.add_argument(
        "--reset-after",
        dest="reset_after",
        action="store_true",
        default=s,
        help="torch's GRU form (reset gate after the recurrent matmul) instead of the tutorial's",
    )
    group.add_argument(
        "--window-norm",
        dest="window_norm",
        choices=["none", "mean", "last", "meanabs"],
        default=s,
        help="shift the target in each input window by the window's own mean or last value, and "
        "the forecast back: the model sees shapes, not levels (default: none for the sine, as "
        "the tutorial; last for other data); meanabs divides each window by its mean absolute "
        "value and multiplies the forecast back, for one model over series of any scale "
        "(--scale then defaults to none)",
    )
    group = parser.add_argument_group("training")
    group.add_argument(
        "--epochs",
        type=int,
        default=s,
        help="most epochs a model trains, early stopping ends it sooner (default: 200 for the sine, "
        "else about 600 optimiser steps)",
    )
    group.add_argument(
        "--batch-size",
        dest="batch_size",
        type=int,
        default=s,
        help="windows per step, shuffled each epoch; 0 = full batch (default: full batch for the "
        "sine, as the tutorial, and up to 512 windows, else 64)",
    )
    group.add_argument(
        "--lr",
        type=float,
        default=s,
        help="Adam learning rate (default: 1e-3 for the sine, as the tutorial; else searched, or "
        "1e-2 full batch and 3e-3 mini-batches)",
    )
    group.add_argument(
        "--weight-decay",
        dest="weight_decay",
        type=float,
        default=s,
        help=f"Adam L2 penalty against overfitting (default {train.weight_decay})",
    )
    group.add_argument("--clip", type=float, default=s, help="max gradient norm, 0 = off (default 0)")
    group.add_argument(
        "--patience",
        type=int,
        default=s,
        help="early stopping: epochs without a better validation loss (default: 20 with a validation part, 0 = off)",
    )
    group.add_argument(
        "--lr-schedule",
        dest="lr_schedule",
        choices=["none", "plateau", "cosine"],
        default=s,
        help="learning-rate schedule (default none)",
    )
    group.add_argument(
        "--ensemble",
        type=int,
        default=s,
        help="train N models (seeds seed*N, seed*N+1, ...) and forecast their median; metrics.json "
        "reports each member and the ensemble (default 1)",
    )
    group.add_argument(
        "--seed", type=int, default=s, help=f"random seed; same seed, same numbers on the CPU (default {train.seed})"
    )
    group.add_argument(
        "--device",
        default=s,
        help="auto (the default: CUDA when grunet's Triton kernel runs there, else the CPU), cpu, cuda, cuda:N",
    )
    group = parser.add_argument_group("choosing the settings, refit, intervals")
    group.add_argument(
        "--search",
        choices=["auto", "none"],
        default=s,
        help="auto (default): for CSV data, settings you do not give (window, normalisation, hidden "
        "size, layers, skip, learning rate) are chosen by rolling-origin validation on the "
        "training part and the best --top-k ensembled; none: the given or default settings",
    )
    group.add_argument(
        "--time-budget",
        dest="time_budget",
        type=float,
        default=s,
        help="seconds the search may take; later candidates are skipped (default 60)",
    )
    group.add_argument(
        "--top-k",
        dest="top_k",
        type=int,
        default=s,
        help="the best candidates ensembled, their median forecast (default 3)",
    )
    group.add_argument(
        "--smoothing",
        dest="smoothing",
        type=float,
        default=s,
        help="the weight (0 to 1) of each series' Holt-Winters forecast combined with the GRU's (default 0.75 "
        "for CSV data, less where the search finds the GRU alone better on at least 8 held-out validation "
        "windows, 0 where 30%% better; 0 for the sine and for data with --features/--future-features)",
    )
    group.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="after scoring on the test part, refit on every point for predict and export (default: on for CSV data)",
    )
    group.add_argument(
        "--level",
        type=_levels,
        default=s,
        help="prediction interval levels in percent, from the validation errors (default 80,95; none for no intervals)",
    )
    group = parser.add_argument_group("output")
    group.add_argument(
        "--out", default=None, help="run folder to write, new or empty (default: a new folder under runs/)"
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="--out may hold an earlier run: it is kept aside until the new run is complete, then deleted (put "
        "back if the new run fails or is interrupted)",
    )
    group.add_argument("--config", default=None, help="a run's config.json: repeat that run (flags given override)")
    group.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue an interrupted run from its last checkpoint (same settings, same result)",
    )
    group.add_argument(
        "--checkpoint-every",
        dest="checkpoint_every",
        type=int,
        default=s,
        help=f"epochs between resumable checkpoints in the run folder, written atomically; also at "
        f"each best validation loss (default {train.checkpoint_every})",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument("--no-plots", dest="no_plots", action="store_true", help="skip forecast.png and loss.png")


def build_parser(train_arguments: bool = True) -> argparse.ArgumentParser:
    """`train_arguments` False leaves out train's flags, whose defaults import torch (grunet.model,
    grunet.training.train): for commands other than train, so that `predict --model` runs without torch."""
    parser = _Parser(
        prog="grunet",
        description="GRU sequence models: the tutorial's GRU, trained on a sine wave or "
        "on your own series from a CSV file.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    train = commands.add_parser(
        "train",
        help="train a GRUNet and compare it with baselines (default: the sine exercise)",
        description="Train a GRUNet, evaluate it against baselines on the held-out test part, and write a run folder.",
    )
    if train_arguments:
        _add_train_arguments(train)
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    predict = commands.add_parser(
        "predict",
        help="forecast the next horizon steps after the end of each series",
        description="Forecast the next horizon values after the end of each series, "
        "with a run's model, config and scaling.",
    )
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", default=None, help="run folder written by grunet train")
    source.add_argument(
        "--model",
        default=None,
        help="FILE.onnx written by grunet export, with FILE.json beside it: forecast with onnxruntime alone (no torch)",
    )
    predict.add_argument("--data", default=None, help="a CSV file with the run's columns (default: the run's data)")
    predict.add_argument(
        "--future",
        default=None,
        metavar="FILE",
        help="for a model trained with --future-features: a CSV file with their values at the "
        "next horizon time stamps of every series (columns: id, time, the features)",
    )
    predict.add_argument(
        "--out",
        default=None,
        help="CSV to write (default: RUN/forecast.csv, or forecast.csv beside --model; - for standard output)",
    )
    predict.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    export = commands.add_parser(
        "export",
        help="export a run's model to ONNX or torch.export's format, verified",
        description="Export a run's model (ONNX with the standard GRU operator, or "
        "torch.export's ExportedProgram, .pt2), check it against the PyTorch "
        "model on random inputs, "
        "and write a deployment bundle NAME.json beside it.",
    )
    export.add_argument("--run", required=True, help="run folder written by grunet train")
    export.add_argument("--format", choices=["onnx", "torch"], default="onnx", help="(default onnx)")
    export.add_argument("--out", default=None, help="model file to write (default: RUN/model.onnx or RUN/model.pt2)")
    export.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    bench = commands.add_parser(
        "bench",
        help="time grunet.GRU against torch.nn.GRU (and onnxruntime for inference)",
        description="Times grunet.GRU (both variants) against torch.nn.GRU side by side, "
        "interleaved, medians after warm-up: forward under no_grad, "
        "forward+backward, peak memory; then inference latency with "
        "onnxruntime. Prints markdown tables.",
    )
    bench.add_argument("--repeats", type=int, default=20, help="timed rounds per measurement (default 20)")
    bench.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    bench.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    bench.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    bench.add_argument(
        "--shapes",
        default=None,
        help="comma-separated indices into the shape list (default all): 0 (800,50,1,20,2) the "
        "tutorial's exercise, 1 (16,500,8,64,1), 2 (64,100,32,128,1), 3 (64,100,128,256,1), "
        "4 (32,5,10,20,2) the tutorial's model example; on cpu also 5 (64,100,128,512,1), "
        "6 (32,50,128,1024,1); on cuda instead 5 (16,1000,8,64,1), 6 (256,200,32,256,2), 7 (1024,100,64,512,1)",
    )
    bench.add_argument(
        "--no-inference",
        dest="inference",
        action="store_false",
        help="skip the inference table (onnxruntime vs grunet vs torch)",
    )
    bench.add_argument(
        "--contention",
        action="store_true",
        help="also time the table while another process keeps one core busy (started and stopped by the benchmark)",
    )
    bench.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    datasets = commands.add_parser("datasets", help="list the built-in data sets")
    datasets.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parser
