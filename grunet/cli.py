"""The command line: `grunet train | predict | datasets`. The only module that prints, parses arguments and picks paths.

A user mistake ends with one line on stderr naming what was wrong and exit code 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import functools
import gc
import os
import sys
import warnings
from pathlib import Path

EXIT_USAGE = 2
SPIN_COUNT = "2000"  # GOMP_SPINCOUNT of the CLI's process (see run)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit 2), not the usage block."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def _int_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags default to SUPPRESS so that config-file values are overridden only by flags actually given."""
    from grunet.datasets import DataConfig
    from grunet.model import ModelConfig
    from grunet.train import TrainConfig
    data, model, train = DataConfig(), ModelConfig(), TrainConfig()
    s = argparse.SUPPRESS
    group = parser.add_argument_group("data")
    group.add_argument("--data", default=s, help=f"built-in data set (see `grunet datasets`) or a CSV file "
                                                 f"(default {data.data}: the tutorial's exercise)")
    group.add_argument("--target", default=s, help="CSV column to forecast (default: the only numeric column)")
    group.add_argument("--time-col", dest="time_col", default=s,
                       help="CSV column of time stamps: sorted by, checked for regular spacing")
    group.add_argument("--id-col", dest="id_col", default=s,
                       help="CSV column naming the series (long format: many series, one global model)")
    group.add_argument("--features", type=_int_list, default=s, help="extra numeric input columns, A,B,...")
    group.add_argument("--future-features", dest="future_features", type=_int_list, default=s,
                       help="numeric input columns known in advance (planned prices, holidays, ...), A,B,...: the "
                            "model also sees their values over the horizon; predict then needs them (--future)")
    group.add_argument("--calendar", default=s,
                       help="calendar features from the time column, known for the horizon too, as sin/cos: auto "
                            "(default: the cycles that vary at the data's frequency: month of year for monthly, "
                            "quarter for quarterly, day of week and day of year for daily, ...), none, or a list "
                            "such as month,quarter")
    group.add_argument("--pad", action=argparse.BooleanOptionalAction, default=s,
                       help="let windows reach before a series' start, padded and masked, so a series shorter "
                            "than window + horizon still gets a forecast (default: on when some series needs it)")
    group.add_argument("--fill", choices=["error", "ffill", "interpolate", "drop"], default=s,
                       help="missing values: error (default) names the rows; or fill them")
    group.add_argument("--window", type=int, default=s, help=f"input steps per window (default {data.window})")
    group.add_argument("--horizon", type=int, default=s, help=f"steps forecast at once (default {data.horizon})")
    group.add_argument("--test-size", dest="test_size", type=int, default=s,
                       help="last points of every series held out for testing (default: 150 for sine, "
                            "else max(horizon, 10%% of the shortest series)); 0: a final fit on every point, "
                            "nothing scored (then grunet predict)")
    group.add_argument("--val-size", dest="val_size", type=int, default=s,
                       help="points before the test part used for early stopping (default: 0 for sine, "
                            "else the test size)")
    group.add_argument("--scale", choices=["none", "standard", "minmax"], default=s,
                       help="per-series scaling fitted on the train part (default: none for sine, else standard)")
    group.add_argument("--log", action="store_true", default=s,
                       help="model log(values), for positive series with multiplicative growth")
    group.add_argument("--season", type=int, default=s,
                       help=f"season length for the seasonal naive baseline and MASE (default {data.season})")
    group = parser.add_argument_group("model")
    group.add_argument("--hidden-size", dest="hidden_size", type=int, default=s,
                       help=f"GRU state size (default {model.hidden_size})")
    group.add_argument("--num-layers", dest="num_layers", type=int, default=s,
                       help=f"stacked GRU layers (default {model.num_layers})")
    group.add_argument("--dropout", type=float, default=s, help=f"dropout between GRU layers (default "
                                                                 f"{model.dropout})")
    group.add_argument("--reset-after", dest="reset_after", action="store_true", default=s,
                       help="torch's GRU form (reset gate after the recurrent matmul) instead of the tutorial's")
    group.add_argument("--window-norm", dest="window_norm", choices=["none", "mean", "last", "meanabs"], default=s,
                       help="shift the target in each input window by the window's own mean or last value, and "
                            "the forecast back: the model sees shapes, not levels (default: none for the sine, as "
                            "the tutorial; last for other data); meanabs divides each window by its mean absolute "
                            "value and multiplies the forecast back, for one model over series of any scale "
                            "(--scale then defaults to none)")
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=s, help=f"(default {train.epochs})")
    group.add_argument("--batch-size", dest="batch_size", type=int, default=s,
                       help="windows per step, shuffled each epoch; 0 = full batch (default: full batch for the "
                            "sine, as the tutorial, else 32)")
    group.add_argument("--lr", type=float, default=s, help=f"Adam learning rate (default {train.lr})")
    group.add_argument("--weight-decay", dest="weight_decay", type=float, default=s,
                       help=f"Adam L2 penalty against overfitting (default {train.weight_decay})")
    group.add_argument("--clip", type=float, default=s, help="max gradient norm, 0 = off (default 0)")
    group.add_argument("--patience", type=int, default=s,
                       help="early stopping: epochs without a better validation loss (default: 20 with a "
                            "validation part, 0 = off)")
    group.add_argument("--lr-schedule", dest="lr_schedule", choices=["none", "plateau", "cosine"], default=s,
                       help="learning-rate schedule (default none)")
    group.add_argument("--ensemble", type=int, default=s,
                       help="train N models (seeds seed*N, seed*N+1, ...) and forecast their median; metrics.json "
                            "reports each member and the ensemble (default 1)")
    group.add_argument("--seed", type=int, default=s, help=f"random seed; same seed, same numbers on the CPU "
                                                            f"(default {train.seed})")
    group.add_argument("--device", default=s, help="auto (CUDA when present, the default), cpu, cuda, cuda:N")
    group = parser.add_argument_group("output")
    group.add_argument("--out", default=None, help="run folder to write (default: a new folder under runs/)")
    group.add_argument("--config", default=None, help="a run's config.json: repeat that run (flags given override)")
    group.add_argument("--resume", default=None, metavar="DIR",
                       help="continue an interrupted run from its last checkpoint (same settings, same result)")
    group.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, default=s,
                       help=f"epochs between resumable checkpoints in the run folder, written atomically; also at "
                            f"each best validation loss (default {train.checkpoint_every})")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument("--no-plots", dest="no_plots", action="store_true", help="skip forecast.png and loss.png")


def keep_freed_memory(limit: int = 64 << 20) -> bool:
    """Linux with glibc: freed blocks of up to `limit` bytes stay in this process for reuse (mallopt).

    A training step allocates and frees the same buffers every time (at the tutorial's size about 30 MB: the saved
    gates and states of both layers); by default glibc hands them back to the kernel after each step, and the next
    step takes thousands of page faults to get them again, zero-filled (about a second of system time over the
    sine's 200 epochs). Only the CLI calls this, for its own process: a library must not change its host's malloc.
    Returns whether the setting was applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, limit)) and bool(mallopt(M_TRIM_THRESHOLD, limit))


def _warning_lines(function, *args, printed: bool = True):
    """function(*args), its UserWarnings printed as one 'warning: ...' line each on stderr (not when `printed` is
    False: under torchrun, ranks other than 0)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = function(*args)
    for warning in caught if printed else []:
        print(f"warning: {warning.message}", file=sys.stderr)
    return result


def _build_parser(train_arguments: bool = True) -> argparse.ArgumentParser:
    """`train_arguments` False leaves out train's flags, whose defaults import torch (grunet.model, grunet.train):
    for commands other than train, so that `predict --model` runs without torch."""
    parser = _Parser(prog="grunet", description="GRU sequence models: the tutorial's GRU, trained on a sine wave or "
                                                "on your own series from a CSV file.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    train = commands.add_parser("train", help="train a GRUNet and compare it with baselines (default: the sine "
                                              "exercise)", description="Train a GRUNet, evaluate it against "
                                              "baselines on the held-out test part, and write a run folder.")
    if train_arguments:
        _add_train_arguments(train)
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    predict = commands.add_parser("predict", help="forecast the next horizon steps after the end of each series",
                                  description="Forecast the next horizon values after the end of each series, "
                                              "with a run's model, config and scaling.")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", default=None, help="run folder written by grunet train")
    source.add_argument("--model", default=None, help="FILE.onnx written by grunet export, with FILE.json beside it: "
                                                      "forecast with onnxruntime alone (no torch)")
    predict.add_argument("--data", default=None, help="a CSV file with the run's columns (default: the run's data)")
    predict.add_argument("--future", default=None, metavar="FILE",
                         help="for a model trained with --future-features: a CSV file with their values at the "
                              "next horizon time stamps of every series (columns: id, time, the features)")
    predict.add_argument("--out", default=None, help="CSV to write (default: RUN/forecast.csv, or forecast.csv "
                                                     "beside --model)")
    predict.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    export = commands.add_parser("export", help="export a run's model to ONNX or TorchScript, verified",
                                 description="Export a run's model (ONNX with the standard GRU operator, or "
                                             "TorchScript), check it against the PyTorch model on random inputs, "
                                             "and write a deployment bundle NAME.json beside it.")
    export.add_argument("--run", required=True, help="run folder written by grunet train")
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="(default onnx)")
    export.add_argument("--out", default=None, help="model file to write (default: RUN/model.onnx or "
                                                    "RUN/model.torchscript.pt)")
    export.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    bench = commands.add_parser("bench", help="time grunet.GRU against torch.nn.GRU (and onnxruntime for inference)",
                                description="Times grunet.GRU (both variants) against torch.nn.GRU side by side, "
                                            "interleaved, medians after warm-up: forward under no_grad, "
                                            "forward+backward, peak memory; then inference latency with "
                                            "onnxruntime. Prints markdown tables.")
    bench.add_argument("--repeats", type=int, default=20, help="timed rounds per measurement (default 20)")
    bench.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    bench.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    bench.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    bench.add_argument("--shapes", default=None,
                       help="comma-separated indices into the shape list (default all): 0 (800,50,1,20,2) the "
                            "tutorial's exercise, 1 (16,500,8,64,1), 2 (64,100,32,128,1), 3 (64,100,128,256,1), "
                            "4 (32,5,10,20,2) the tutorial's model example")
    bench.add_argument("--no-inference", dest="inference", action="store_false",
                       help="skip the inference table (onnxruntime vs grunet vs torch)")
    bench.add_argument("--contention", action="store_true",
                       help="also time the table while another process keeps one core busy (started and stopped "
                            "by the benchmark)")
    bench.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    datasets = commands.add_parser("datasets", help="list the built-in data sets")
    datasets.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parser


def _train_configs(args: argparse.Namespace):
    from grunet.datasets import DataConfig
    from grunet.model import ModelConfig
    from grunet.runs import read_config
    from grunet.train import TrainConfig
    configs = read_config(args.config) if args.config else (DataConfig(), ModelConfig(), TrainConfig())
    given = vars(args)
    updated = []
    for config in configs:
        changes = {f.name: given[f.name] for f in dataclasses.fields(config) if f.name in given}
        updated.append(dataclasses.replace(config, **changes))
    return updated


def _format_table(metrics: dict) -> str:
    if metrics["test"] is None:
        return "no test part (--test-size 0): trained on every point; forecast with grunet predict --run"
    columns = ["mse", "rmse", "mae"]
    if any(key for key in ("mape", "mase") if metrics["test"].get(key) == metrics["test"].get(key)):
        columns += ["mape", "smape", "mase"]
    rows = [("GRU (grunet)", "model", metrics["test"])] + [
        (name.replace("_", " "), name, values) for name, values in metrics["baselines"].items()]
    lines = [f"{'':<16}" + "".join(f"{column:>12}" for column in columns)]
    for label, key, values in rows:
        cells = "".join(f"{values[column]:>12.4g}" if values[column] == values[column] else f"{'n/a':>12}"
                        for column in columns)
        lines.append(f"{label:<16}{cells}" + (f"   <- best ({metrics['best_by']})" if key == metrics["best"] else ""))
    if metrics["test"].get("mape_skipped"):
        lines.append(f"MAPE skips {metrics['test']['mape_skipped']} test points where the truth is 0")
    return "\n".join(lines)


def _resume_configs(args: argparse.Namespace):
    """The run folder to continue, its configs and its training state; no other setting may be given."""
    from grunet.runs import load_training_state, read_config
    given = [name for name in vars(args) if name not in ("command", "debug", "resume", "quiet", "no_plots", "out",
                                                           "config")]
    if given or args.config:
        flag = "--" + (given[0] if given else "config").replace("_", "-")
        raise ValueError(f"--resume continues a run with its own settings (its config.json); drop {flag}")
    run = Path(args.resume)
    if not (run / "config.json").is_file() or not (run / "checkpoint.pt").is_file():
        raise ValueError(f"{run} is not a run folder that can be resumed: it needs config.json and checkpoint.pt")
    return run, read_config(run / "config.json"), load_training_state(run / "checkpoint.pt")


def cmd_train(args: argparse.Namespace, plot_worker=None) -> int:
    """`plot_worker`: a started `grunet.plot_worker.PlotWorker` to draw the plots in (see `main`), else they are
    drawn in this process."""
    from tqdm import tqdm

    from grunet.forecast import fit_run, setup_run
    from grunet.plot_worker import PlotWorker
    from grunet.plots import forecast_panels
    from grunet.runs import (atomic_write_json, config_dict, new_run_dir, save_checkpoint, save_training_state,
                             write_history)
    from grunet.train import TrainingDiverged
    from grunet import distributed
    gc.freeze()  # the rest of the package, imported just now: out of the collector's passes (see main)
    keep_freed_memory()
    distributed.init()  # under torchrun with several processes: join the group; rank 0 alone prints and writes
    main_rank = distributed.is_main()
    resume = None
    if args.resume:
        out, configs, resume = distributed.on_main(lambda: _resume_configs(args))
    else:
        out, configs = (Path(args.out) if args.out else None), _train_configs(args)
    setup = _warning_lines(setup_run, *configs, printed=main_rank)
    config = config_dict(setup.data_config, setup.model_config, setup.train_config)
    if main_rank:
        if out is None:
            out = new_run_dir()
        out.mkdir(parents=True, exist_ok=True)
        if resume is None:
            atomic_write_json(out / "config.json", config)
    prepared = setup.prepared
    series_names = [prepared.series.names[index] for index in prepared.kept]
    has_val = len(prepared.val) > 0
    bars = []  # made at the first epoch, so that an error in the data is not preceded by an empty bar

    def on_epoch(row: dict) -> None:
        if not bars:
            epochs, members = setup.train_config.epochs, setup.train_config.ensemble
            bars.append(tqdm(total=epochs * members, initial=row["epoch"] - 1 + row["member"] * epochs,
                             desc="train" if members == 1 else f"train {members} models", unit="epoch",
                             disable=args.quiet, file=sys.stderr))
        bars[0].update(1)
        bars[0].set_postfix(loss=f"{row['train_loss']:.3g}",
                            **({"val": f"{row['val_loss']:.3g}"} if row["val_loss"] == row["val_loss"] else {}))

    def on_checkpoint(state: dict, improved: bool) -> None:
        save_training_state(out / "checkpoint.pt", state, config)
        if improved or not has_val:  # model.pt always holds a usable model: the best so far, or the latest
            save_checkpoint(out / "model.pt", setup.model, config, prepared.scaler, series_names)

    try:
        result = fit_run(setup, *((on_epoch, on_checkpoint) if main_rank else (None, None)), resume)
    except TrainingDiverged as error:
        if not main_rank:
            return EXIT_USAGE
        usable = " the best model so far is in " + str(out / "model.pt") if (out / "model.pt").exists() else ""
        sys.stderr.write(f"grunet train: error: {error};{usable}\n")
        return EXIT_USAGE
    finally:
        for bar in bars:
            bar.close()
    if not main_rank:
        return 0
    if not args.no_plots:  # queued first: the worker draws while the files are written
        drawer = plot_worker if plot_worker is not None else PlotWorker(start=False)
        baselines = result.metrics["baselines"]
        if baselines:  # nothing to draw against the truth after a final fit (--test-size 0)
            best_baseline = min(baselines, key=lambda name: baselines[name]["mse"])
            drawer.draw("forecast", out / "forecast.png", forecast_panels(
                prepared, result.test_forecast,
                (best_baseline.replace("_", " "), result.baseline_forecasts[best_baseline])))
        drawer.draw("loss", out / "loss.png", result.fit.history)
    save_checkpoint(out / "model.pt", result.model, config, prepared.scaler, series_names)
    atomic_write_json(out / "metrics.json", result.metrics)
    write_history(out / "history.csv", result.fit.history)
    if not args.no_plots:
        drawer.finish()
    metrics = result.metrics
    members = len(metrics.get("members", [])) or 1
    print(f"trained {metrics['epochs']} epochs" + (f" ({members} models, median forecast)" if members > 1 else "")
          + f" in {metrics['train_seconds']:.1f} s on {result.train_config.device}"
          + (f" x {metrics['processes']} processes" if metrics.get("processes") else "")
          + (f", best epoch {metrics['best_epoch']} (early stop)" if metrics["stopped_early"] else "")
          + (f" (resumed after epoch {resume['epoch']})" if resume is not None else ""))
    print(f"test: {metrics['test_windows']} windows, horizon {result.data_config.horizon}, original units")
    print(_format_table(metrics))
    print(f"run folder: {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    return _warning_lines(_predict, args)


def _predict(args: argparse.Namespace) -> int:
    from grunet.files import write_csv
    if args.model is not None:  # onnxruntime alone: nothing on this path imports torch
        from grunet.onnx_predict import forecast_future_onnx
        table = forecast_future_onnx(args.model, args.data, future=args.future)
        out = Path(args.out) if args.out else Path(args.model).with_name("forecast.csv")
    else:
        from grunet.predict import forecast_future
        from grunet.runs import find_run, load_model
        run = find_run(args.run)
        model, payload = load_model(run / "model.pt")
        table = forecast_future(model, payload, args.data, args.future)
        out = Path(args.out) if args.out else run / "forecast.csv"
    write_csv(out, table)
    print(table.head(12).to_string(index=False))
    if len(table) > 12:
        print(f"... {len(table)} rows")
    print(f"forecast written to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from grunet.export import export_run
    result = export_run(args.run, args.format, args.out)
    check = result.verification
    details = result.details
    members = details.get("members", 1)
    kind = (f"ONNX opset {details['opset']}, {details['num_layers']} GRU node(s)"
            + (f" in each of {members} ensemble members" if members > 1 else "")
            + f", {details['direction']}, linear_before_reset={details['linear_before_reset']}"
            if result.format == "onnx" else "TorchScript" + (f", {members} ensemble members" if members > 1 else ""))
    print(f"exported {result.path} ({kind})")
    print(f"verified with {check.runtime}: max abs diff vs PyTorch {check.max_abs_diff:.3g} (tolerance "
          f"{check.tolerance:g}) over batch sizes {', '.join(map(str, check.batch_sizes))} x lengths "
          f"{', '.join(map(str, check.lengths))}")
    print(f"bundle written to {result.bundle}" + (f"; forecast with: grunet predict --model {result.path}"
                                                  if result.format == "onnx" else ""))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from grunet import bench
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        raise ValueError("--repeats and --threads must be >= 1 and --warmup >= 0")
    try:
        shapes = None if args.shapes is None else [bench.SHAPES[int(i)] for i in args.shapes.split(",")]
    except (ValueError, IndexError):
        raise ValueError(f"--shapes takes indices 0-{len(bench.SHAPES) - 1} separated by commas, got "
                         f"{args.shapes!r}") from None
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device} was asked for but CUDA is not available on this machine")
    print(bench.describe_machine(args.device, args.threads))
    print(f"medians of {args.repeats} interleaved rounds after {args.warmup} warm-up; ratio = torch / grunet\n")
    rows = bench.run_benchmark(shapes, args.repeats, args.warmup, args.threads, args.device)
    print(bench.format_table(rows))
    if args.inference and args.device == "cpu":
        print("\ninference (forward, no_grad), milliseconds:\n")
        print(bench.format_inference_table(bench.run_inference_benchmark(None, args.repeats, args.warmup, args.threads)))
    if args.contention:
        print("\nwith one core kept busy by another process:\n")
        print(bench.format_table(bench.run_contended_benchmark(shapes, args.repeats, args.warmup, args.threads,
                                                               args.device)))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from grunet.datasets import BUILTIN
    for name, (_, description) in BUILTIN.items():
        print(f"{name:<10} {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = _command_named(argv)
    plot_worker = _start_plot_worker(named, argv)  # before torch's import, which its matplotlib import then overlaps
    # Importing torch creates a few hundred thousand objects that live as long as the process; the garbage
    # collector's passes during the import, and its full passes later, would scan them all for nothing (about 0.3 s
    # of `grunet train` on the sine). So: no collection while importing, then those objects are frozen out of it.
    gc.disable()
    try:
        parser = _build_parser(train_arguments=named == "train")  # a subcommand is only ever named in full
        args = parser.parse_args(argv)
    except BaseException:
        if plot_worker is not None:
            plot_worker.close()
        raise
    finally:
        gc.freeze()
        gc.enable()
    if plot_worker is not None and (args.command != "train" or args.no_plots):  # e.g. --no-plot, abbreviated
        plot_worker.close()
        plot_worker = None
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    command = {"train": functools.partial(cmd_train, plot_worker=plot_worker), "predict": cmd_predict,
               "export": cmd_export, "datasets": cmd_datasets, "bench": cmd_bench}[args.command]
    try:
        return command(args)
    except ModuleNotFoundError as error:
        if args.debug:
            raise
        sys.stderr.write(f"grunet {args.command}: error: this needs the package {error.name!r}, which is not "
                         f"installed (pip install 'grunet[export]' for onnx and onnxruntime)\n")
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        rank = int(os.environ.get("RANK", "0") or 0) if "grunet.distributed" in sys.modules else 0
        if rank == 0 or not getattr(error, "reported_by_rank_0", False):  # under torchrun: once, not per rank
            sys.stderr.write(f"grunet {args.command}{f' [rank {rank}]' if rank else ''}: error: {message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("grunet: interrupted\n")
        return 130
    finally:
        if plot_worker is not None:  # after an error: the plots are not waited for
            plot_worker.close()
        if "grunet.distributed" in sys.modules:  # leave torch.distributed's process group cleanly
            sys.modules["grunet.distributed"].teardown()


def run() -> None:
    """The `grunet` console script and `python -m grunet`: `main`, then exit without the interpreter's teardown.

    Every file a command writes is complete (flushed, fsynced, renamed) before `main` returns, so the teardown has
    nothing left to save: it only frees, one by one, the objects torch and the rest created, which took about 0.15 s
    of each `grunet train` (with the collector's frozen objects; 0.4 s after a bare `import torch`). A usage error or
    --help (SystemExit) and an unexpected exception exit the usual way. Output cut short by a closed pipe
    (`grunet ... | head`) ends quietly with exit code 1, as Python's documentation recommends; Ctrl-C, even during
    torch's import, with one line and exit code 130. Process-wide settings for the CLI's own process are made here,
    not in `main` (which a program may call).
    """
    # numpy's BLAS (OpenBLAS) gets one thread unless the user says otherwise, before numpy is imported. numpy's share
    # of the CLI's work is small (the linear AR baseline's least squares); torch, which does the rest, keeps its own
    # threads. OpenBLAS's threads busy-wait for about 0.1 s after each call: at the end of `grunet train` they took a
    # core from the plot drawing (0.14-0.16 s -> 0.09-0.10 s without them).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # libgomp (torch's OpenMP, whose threads also run grunet's compiled loop) has a thread that waits for work spin
    # for 300,000 pauses before it sleeps: milliseconds, longer than the gap between two training steps, so beside
    # another busy program the spinning threads took the cores that the work needed. Unless the user chose a wait
    # policy: spin about as long as a sleep and a wake-up cost (2,000 pauses, tens of microseconds), then sleep.
    # Not for `grunet bench`: it times torch.nn.GRU beside grunet under the settings the user's own programs get.
    if "OMP_WAIT_POLICY" not in os.environ and _command_named(sys.argv[1:]) != "bench":
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 1
    except KeyboardInterrupt:
        sys.stderr.write("grunet: interrupted\n")
        code = 130
    os._exit(code)


def _command_named(argv: list[str]) -> str | None:
    """The subcommand, before argparse (which imports torch for train's defaults) has run: the first word that is not
    an option (--debug, a flag, is the only option before it)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _start_plot_worker(command: str | None, argv: list[str]):
    """For `grunet train` with plots: a `grunet.plot_worker.PlotWorker`, started now. None for other commands,
    --no-plots, --help, and under torchrun for every rank but 0 (rank 0 alone writes the run folder)."""
    other_rank = os.environ.get("RANK", "0") not in ("", "0")
    if command != "train" or {"--no-plots", "-h", "--help"} & set(argv) or other_rank:
        return None
    from grunet.plot_worker import PlotWorker
    return PlotWorker()


if __name__ == "__main__":
    run()
