"""The command line: `grunet train | predict | export | bench | datasets`. It parses arguments, calls the library
(`grunet.Forecaster` above all) and prints; the process-level settings of the `grunet` command are in
`grunet.startup`.

A user mistake ends with one line on stderr naming what was wrong and exit code 2 (``--debug`` shows the traceback);
an error of the machine (a full disk, an I/O error) with one line and exit code 1.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from pathlib import Path

from grunet import startup
from grunet.arguments import EXIT_USAGE, build_parser

EXIT_FAILURE = 1
# OSErrors that are the user's choice of path, not the machine's failure
_USER_ERRNOS = {
    errno.ENOENT,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENAMETOOLONG,
    errno.ELOOP,
    errno.EINVAL,
}


_PENDING: list[str] = []  # warnings of the running command, printed once it has succeeded (`_print_warnings`)


def _warning_lines(function, *args, printed: bool = True, **kwargs):
    """function(*args, **kwargs), each of its UserWarnings kept to be printed as one 'warning: ...' line on stderr
    when the command succeeds (not when `printed` is False: under torchrun, ranks other than 0)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = function(*args, **kwargs)
    if printed:
        _PENDING.extend(str(warning.message) for warning in caught)
    return result


def _print_warnings(caught: list) -> None:
    """The command succeeded: its warnings, each once, one line each. A command that fails prints its one line
    of error alone: warnings raised on the way there (torch's, numpy's) are dropped with it."""
    messages = _PENDING + [str(warning.message) for warning in caught]
    _PENDING.clear()
    if not startup.is_rank_0():
        return
    for message in dict.fromkeys(" ".join(message.split()) for message in messages):
        print(f"warning: {message}", file=sys.stderr)


def _refuse_settings_with_resume(args: argparse.Namespace) -> None:
    """--resume continues a run with its own settings in its own folder: no other setting may be given."""
    given = [
        name
        for name in vars(args)
        if name not in ("command", "debug", "resume", "quiet", "no_plots", "out", "config", "overwrite")
    ]
    given += [name for name in ("config", "out", "overwrite") if getattr(args, name)]
    if given:
        raise ValueError(
            f"--resume continues a run in its own folder with its own settings (its config.json); "
            f"drop --{given[0].replace('_', '-')}"
        )


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """A path flag given as '' (an unset shell variable) names no file: refused, not read as 'not given'."""
    for name in ("out", "config", "resume", "run", "model", "data", "future"):
        if getattr(args, name, None) == "":
            raise ValueError(f"--{name} is empty: give a path")


def cmd_train(args: argparse.Namespace, plot_worker=None) -> int:
    """`plot_worker`: a started `grunet.plot_worker.PlotWorker` to draw the plots in (see `main`)."""
    from grunet.checkpoints import repeated_data, run_configs
    from grunet.forecaster import Forecaster
    from grunet.training.train import TrainingDiverged

    startup.keep_freed_memory()
    main_rank = startup.is_rank_0()
    plots = False if args.no_plots else (plot_worker or True)
    forecaster = None
    try:
        if args.resume:
            _refuse_settings_with_resume(args)
            forecaster = _warning_lines(Forecaster.resume, args.resume, not args.quiet, plots, printed=main_rank)
        else:
            try:
                (data, model, train, search), members, intervals = run_configs(args.config, vars(args))
                forecaster = Forecaster.from_configs(data, model, train, search, members, verbose=not args.quiet)
            except ValueError as error:  # the flags' and config's checks: the same on every rank, said once
                error.reported_by_rank_0 = not main_rank  # type: ignore[attr-defined]
                raise
            forecaster.chosen_intervals = intervals
            _warning_lines(
                forecaster.fit,
                repeated_data(args.config, data),
                data.target,
                data.time_col,
                data.id_col,
                data.features,
                data.future_features,
                data.date_format,
                run_dir=Path(args.out) if args.out else True,
                overwrite=args.overwrite,
                plots=plots,
                printed=main_rank,
            )
    except TrainingDiverged as error:
        run = forecaster.run_dir if forecaster is not None else Path(args.resume)
        usable = ""
        if run and (run / "metrics.json").exists():  # the complete run that --overwrite was to replace, put back
            usable = f"; the earlier run in {run} is kept"
        elif run and (run / "model.pt").exists():
            usable = f"; the best model so far is in {run / 'model.pt'}"
        if main_rank:
            sys.stderr.write(f"grunet train: error: {error}{usable}\n")
        return EXIT_USAGE
    if main_rank:
        print(_summary(forecaster))
    return 0


def _summary(forecaster) -> str:
    """What `grunet train` prints: how it trained, the test table, the run folder."""
    metrics, config = forecaster.metrics, forecaster.config
    members = len(metrics.get("members", [])) or 1
    lines = [
        f"trained {metrics['epochs']} epoch{'' if metrics['epochs'] == 1 else 's'}"
        + (f" ({members} models, median forecast)" if members > 1 else "")
        + f" in {metrics['train_seconds']:.1f} s on {config['train']['device']}"
        + (f" x {metrics['processes']} processes" if metrics.get("processes") else "")
        + (f", best epoch {metrics['best_epoch']} (early stop)" if metrics["stopped_early"] else "")
        + (
            f" (resumed after epoch {forecaster.resumed_after_epoch})"
            if forecaster.resumed_after_epoch is not None
            else ""
        )
    ]
    if forecaster.search_summary:
        search = metrics["search"]
        lines.append(
            f"search: {search['tried']} of {search['candidates']} candidates in {search['seconds']:.1f} s, "
            f"scored on the validation origins (mean MASE); the best {len(search['chosen'])} ensembled:"
        )
        lines.append(forecaster.search_summary)
        if search["loses_to"]:
            lines.append(f"note: on validation the chosen model loses to {', '.join(search['loses_to'])}")
    if "refit" in metrics:
        lines.append(
            "predict and export use the model refit on every point; the test scores below are of the "
            "model fitted before the test part"
        )
    windows = metrics["test_windows"]
    if metrics["test"] is not None:
        lines.append(
            f"test: {windows} window{'s' if windows != 1 else ''}, horizon {config['data']['horizon']}, original units"
        )
    lines.append(_format_table(metrics))
    lines.append(f"run folder: {forecaster.run_dir}")
    return "\n".join(lines)


def _format_table(metrics: dict) -> str:
    if metrics["test"] is None:
        return (
            "no test part (--test-size 0, or series too short to hold one out beside the validation part): "
            "trained on every point; forecast with grunet predict --run"
        )
    columns = ["mse", "rmse", "mae"]
    if any(key for key in ("mape", "mase") if metrics["test"].get(key) == metrics["test"].get(key)):
        columns += ["mape", "smape", "mase"]
    weight = metrics.get("smoothing", 0)
    label = f"grunet+hw {weight:.2g}" if weight else "GRU (grunet)"  # the GRU's combined with Holt-Winters
    rows = [(label, "model", metrics["test"])] + [
        (name.replace("_", " "), name, values) for name, values in metrics["baselines"].items()
    ]
    lines = [f"{'':<16}" + "".join(f"{column:>12}" for column in columns)]
    for label, key, values in rows:
        cells = "".join(
            f"{values[column]:>12.4g}" if values[column] == values[column] else f"{'n/a':>12}" for column in columns
        )
        lines.append(f"{label:<16}{cells}" + (f"   <- best ({metrics['best_by']})" if key == metrics["best"] else ""))
    if metrics.get("holt_winters_persistence"):
        from grunet.smoothing import MIN_POINTS

        count = metrics["holt_winters_persistence"]
        lines.append(
            f"holt winters forecasts {count} series by persistence: too short to fit (fewer than "
            f"{MIN_POINTS} points before the test part)"
        )
    if metrics["test"].get("mape_skipped"):
        lines.append(f"MAPE skips {metrics['test']['mape_skipped']} test points where the truth is 0")
    return "\n".join(lines)


def _is_stdout(path: Path) -> bool:
    """Whether `path` (/dev/stdout, /dev/fd/1, the terminal's device) is where standard output goes."""
    try:
        written, output = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no such file; standard output replaced (a test's capture)
        return False
    return (written.st_dev, written.st_ino) == (output.st_dev, output.st_ino)


FORECAST = ("forecast.csv",)  # the file of a run that `grunet predict` writes, and may write again


def cmd_predict(args: argparse.Namespace) -> int:
    from grunet.files import csv_bytes, write_csv
    from grunet.run_folder import own_data, refuse_own_file

    if args.model is not None:  # onnxruntime alone: nothing on this path imports torch
        from grunet.export.bundle import bundle_data, bundle_path, forecast_future_onnx

        out = Path(args.out) if args.out else Path(args.model).with_name("forecast.csv")
        inputs = [args.data] if args.data is not None else own_data(bundle_data(args.model), None)
        own = Path(args.model).parent  # the export's folder (a run's, where it was exported into one)
        refuse_own_file(out, *inputs, args.future, args.model, bundle_path(args.model), replaces=FORECAST, run=own)
        table = _warning_lines(forecast_future_onnx, args.model, args.data, future=args.future)
    else:
        from grunet.checkpoints import find_run
        from grunet.forecaster import Forecaster

        run = find_run(args.run)
        forecaster = Forecaster.load(run, verbose=False)
        fitted = forecaster.fitted_data_config
        inputs = [args.data] if args.data is not None else own_data(fitted.data if fitted else None, run)
        out = Path(args.out) if args.out else run / "forecast.csv"
        out = refuse_own_file(out, *inputs, args.future, replaces=FORECAST, run=run)
        table = _warning_lines(forecaster.predict, args.data, args.future)
    dash = str(out) == "-"  # the CSV on standard output, the words for the reader on standard error
    if dash:
        sys.stdout.buffer.write(csv_bytes(table))
        sys.stdout.flush()
    else:
        write_csv(out, table)
    report = sys.stderr if dash or _is_stdout(out) else sys.stdout  # a pipe's reader gets the CSV alone
    print(table.head(12).to_string(index=False), file=report)
    if len(table) > 12:
        print(f"... {len(table)} rows", file=report)
    print(f"forecast written to {'standard output' if dash else out}", file=report)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from grunet.export import export_run

    result = export_run(args.run, args.format, args.out)
    check, details = result.verification, result.details
    members = details.get("members", 1)
    ensemble = f", {members} ensemble members" if members > 1 else ""
    layers = details.get("num_layers")
    nodes = (
        f"GRU nodes per member: {', '.join(map(str, layers))}"
        if isinstance(layers, list)
        else f"{layers} GRU node(s){' per member' if members > 1 else ''}"
    )
    kind = (
        f"ONNX opset {details['opset']}, {nodes}{ensemble}, "
        f"{details['direction']}, linear_before_reset={details['linear_before_reset']}"
        if result.format == "onnx"
        else f"torch.export ExportedProgram, window {details['window']}{ensemble}"
    )
    print(f"exported {result.path} ({kind})")
    print(
        f"verified with {check.runtime}: max abs diff vs PyTorch {check.max_abs_diff:.3g} (tolerance "
        f"{check.tolerance:g}) over batch sizes {', '.join(map(str, check.batch_sizes))} x lengths "
        f"{', '.join(map(str, check.lengths))}"
    )
    print(
        f"bundle written to {result.bundle}"
        + (f"; forecast with: grunet predict --model {result.path}" if result.format == "onnx" else "")
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from grunet import bench

    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        error = ValueError(
            "grunet bench times one process against torch.nn.GRU: run it without torchrun (under it every rank "
            "runs the benchmark, competing for the same cores)"
        )
        error.reported_by_rank_0 = not startup.is_rank_0()  # type: ignore[attr-defined]  # printed once
        raise error
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        raise ValueError("--repeats and --threads must be >= 1 and --warmup >= 0")
    for flag, value, most in (
        ("--repeats", args.repeats, 10_000),
        ("--warmup", args.warmup, 10_000),
        ("--threads", args.threads, 1024),
    ):
        if value > most:
            raise ValueError(f"{flag} must be at most {most}, got {value}")
    if args.device != "cpu" and not (args.device == "cuda" or args.device.startswith("cuda:")):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    listed = bench.shape_list(args.device)
    try:
        shapes = None if args.shapes is None else [listed[int(i)] for i in args.shapes.split(",")]
    except (ValueError, IndexError):
        raise ValueError(
            f"--shapes takes indices 0-{len(listed) - 1} separated by commas, got {args.shapes!r}"
        ) from None
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device} was asked for but CUDA is not available on this machine")
    print(bench.describe_machine(args.device, args.threads))
    print(
        f"medians of {args.repeats} interleaved rounds after {args.warmup} warm-up; times in milliseconds, "
        f"peak memory in MiB; ratio = torch / grunet\n"
    )
    rows = bench.run_benchmark(shapes, args.repeats, args.warmup, args.threads, args.device)
    print(bench.format_table(rows))
    if args.inference and args.device == "cpu":
        print("\ninference (forward, no_grad), milliseconds:\n")
        print(
            bench.format_inference_table(bench.run_inference_benchmark(None, args.repeats, args.warmup, args.threads))
        )
    if args.contention:
        print("\nwith one core kept busy by another process:\n")
        print(
            bench.format_table(
                bench.run_contended_benchmark(shapes, args.repeats, args.warmup, args.threads, args.device)
            )
        )
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from grunet.data.series import BUILTIN

    for name, (_, description) in BUILTIN.items():
        print(f"{name:<10} {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns its exit code (0, 1 for a failure of the machine, 2 for a user mistake)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    named = startup.command_named(argv)
    plot_worker = startup.start_plot_worker(named, argv)  # before torch's import, which its import then overlaps
    _PENDING.clear()
    try:
        with warnings.catch_warnings(record=True) as imported:  # torch's import may warn
            parser = build_parser(train_arguments=named == "train")  # a subcommand is only ever named in full
            args = parser.parse_args(argv)
    except BaseException:
        if plot_worker is not None:
            plot_worker.close()
        raise
    if plot_worker is not None and (args.command != "train" or args.no_plots):  # e.g. --no-plot, abbreviated
        plot_worker.close()
        plot_worker = None
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    commands = {
        "train": cmd_train,
        "predict": cmd_predict,
        "export": cmd_export,
        "datasets": cmd_datasets,
        "bench": cmd_bench,
    }
    code = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            _refuse_empty_paths(args)
            code = cmd_train(args, plot_worker) if args.command == "train" else commands[args.command](args)
        if code == 0:
            _print_warnings(imported + caught)
        return code
    except ModuleNotFoundError as error:
        if args.debug:
            raise
        return _error(
            args,
            f"this needs the package {error.name!r}, which is not installed (pip install "
            f"'grunet[export]' for onnx and onnxruntime)",
            EXIT_USAGE,
        )
    except (ValueError, TypeError) as error:
        if args.debug:
            raise
        if getattr(error, "reported_by_rank_0", False) and not startup.is_rank_0():
            return startup.quiet_rank_exit()  # under torchrun: printed once, by rank 0
        return _error(args, " ".join(str(error).split()) or type(error).__name__, EXIT_USAGE)
    except BrokenPipeError:
        raise  # output cut short (`grunet ... | head`): the console entry ends quietly
    except OSError as error:
        if args.debug:
            raise
        if getattr(error, "reported_by_rank_0", False) and not startup.is_rank_0():
            return startup.quiet_rank_exit()
        where = f"{error.filename}: " if error.filename else ""
        reason = " ".join((error.strerror or str(error) or type(error).__name__).split())
        user = error.errno in _USER_ERRNOS or (error.errno is None and isinstance(error, FileNotFoundError))
        return _error(args, f"{where}{reason}", EXIT_USAGE if user else EXIT_FAILURE)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (`kill`, `timeout`)
        return startup.stopped(stop)
    finally:
        if plot_worker is not None:  # after an error: the plots are not waited for
            plot_worker.close()
        if "grunet.training.distributed" in sys.modules:  # leave torch.distributed's process group cleanly
            sys.modules["grunet.training.distributed"].teardown(together=code == 0)


def _error(args: argparse.Namespace, message: str, code: int) -> int:
    rank = "" if startup.is_rank_0() else f" [rank {os.environ.get('RANK')}]"
    sys.stderr.write(f"grunet {args.command}{rank}: error: {message}\n")
    return code


def run() -> None:
    """The `grunet` console script and `python -m grunet` (see `grunet.startup.run`)."""
    startup.run(main)


if __name__ == "__main__":
    run()
