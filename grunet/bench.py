"""Benchmark grunet.GRU (both variants) against torch.nn.GRU: times and peak memory, as rows and a markdown table.

Method. For each shape (batch, seq, input_size, hidden_size, num_layers), one torch.nn.GRU and two grunet.GRU
(reset_after=False and True), all batch_first, are timed in turn inside one loop (interleaved, so that machine noise
hits all three alike); each number is the median over ``repeats`` rounds after ``warmup`` rounds.

- forward: ``model(x)`` under ``torch.no_grad()``.
- train: ``out, _ = model(x); out[:, -1].sum().backward()`` with ``x`` not requiring grad, gradients cleared
  (set to None) before each call.
- peak memory of one train call, above what was allocated before it (inputs and parameters excluded, parameter
  gradients included): on CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``; on CPU the
  allocation and free events recorded by ``torch.profiler`` (``profile_memory=True``) replayed in time order, the
  peak of their running sum.

Ratios are torch time / grunet time (> 1: grunet is faster) and grunet memory / torch memory (< 1: grunet uses less).

Contention (`busy_core`, `grunet bench --contention`): the same table again while one other single-threaded program
keeps a core busy, as a browser, a notebook kernel or a second training run does on a laptop or a shared server.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from grunet.layer import GRU

# (batch, seq, input_size, hidden_size, num_layers); the first is the tutorial's training run
SHAPES: list[tuple[int, int, int, int, int]] = [
    (800, 50, 1, 20, 2),
    (16, 500, 8, 64, 1),
    (64, 100, 32, 128, 1),
    (64, 100, 128, 256, 1),
    (32, 5, 10, 20, 2),
]
# on CUDA also issue 17's: a long sequence, and the sizes where cuDNN's GEMMs have work to do
CUDA_SHAPES: list[tuple[int, int, int, int, int]] = [
    (16, 1000, 8, 64, 1),
    (256, 200, 32, 256, 2),
    (1024, 100, 64, 512, 1),
]
# on the CPU also issue 19's wide layers, where the compiled loop once stopped (it ran H <= 256 only)
CPU_SHAPES: list[tuple[int, int, int, int, int]] = [
    (64, 100, 128, 512, 1),
    (32, 50, 128, 1024, 1),
]


def shape_list(device: str = "cpu") -> list[tuple[int, int, int, int, int]]:
    """The shapes `grunet bench` times on this device: `SHAPES`, then `CUDA_SHAPES` on CUDA or `CPU_SHAPES` on the
    CPU (the same indices from 5 on name different shapes on the two)."""
    return SHAPES + (CUDA_SHAPES if device.startswith("cuda") else CPU_SHAPES)


def describe_machine(device: str = "cpu", threads: int = 2) -> str:
    """One line: the processor (or GPU), cores, torch, threads, Python, and whether the compiled loop runs."""
    import platform

    from grunet import native

    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        if models and not device.startswith("cuda"):
            name = models[0]
    except OSError:
        pass
    if device.startswith("cuda"):
        from grunet import devices

        recurrence = "fused Triton kernel" if devices.triton_runs(torch.zeros(1, device=device)) else "pure-torch loop"
        loop = (
            f"recurrence: {recurrence}, float32 matmul precision {torch.get_float32_matmul_precision()}; "
            f"torch.nn.GRU: cuDNN {torch.backends.cudnn.version()}, TF32 "
            f"{'allowed' if torch.backends.cudnn.allow_tf32 else 'off'}"
        )
    else:
        loop = f"compiled loop (grunet.native): {'yes' if native.available() else 'no, pure-torch loop'}"
    return (
        f"machine: {name}, {os.cpu_count()} cores; torch {torch.__version__}, {threads} threads; Python "
        f"{platform.python_version()}; {loop}"
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _forward(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        model(x)


def _train(model: nn.Module, x: torch.Tensor) -> None:
    for parameter in model.parameters():
        parameter.grad = None
    output, _ = model(x)
    output[:, -1].sum().backward()


def _seconds(fn, model: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    _synchronize(device)
    start = time.perf_counter()
    fn(model, x)
    _synchronize(device)
    return time.perf_counter() - start


def peak_train_memory(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes: peak memory of one forward+backward call above what was allocated before it (see module docstring)."""
    device = x.device
    for parameter in model.parameters():
        parameter.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _train(model, x)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _train(model, x)
    events = [
        event
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]" and str(event.device_type()).endswith("CPU")
    ]
    running = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 goes to the null device for the block: torch's profiler (kineto) writes a 'USDT: ...
    profiler_start' and a 'profiler_stop' line there at each use, from C++, whatever its log level. An exception
    raised inside still propagates (and is printed) after the descriptor is restored."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def run_benchmark(shapes=None, repeats: int = 20, warmup: int = 3, threads: int = 2, device: str = "cpu") -> list[dict]:
    """Times torch.nn.GRU and grunet.GRU (reset_after False and True) side by side; one row per shape and variant.

    Returns dicts with keys: batch, seq, input_size, hidden_size, num_layers, reset_after, device, threads, dtype,
    repeats, torch_forward_ms, grunet_forward_ms, forward_ratio, torch_train_ms, grunet_train_ms, train_ratio,
    torch_peak_mb, grunet_peak_mb, memory_ratio. Times are medians in milliseconds; forward_ratio and train_ratio
    are torch / grunet (> 1 means grunet is faster); memory_ratio is grunet / torch peak train memory.
    """
    shapes = shape_list(device) if shapes is None else shapes
    torch_device = torch.device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for batch, seq, input_size, hidden_size, num_layers in shapes:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(batch, seq, input_size, generator=generator).to(torch_device)  # (B, T, I)
            torch.manual_seed(0)
            models = {
                "torch": nn.GRU(input_size, hidden_size, num_layers, batch_first=True).to(torch_device),
                False: GRU(input_size, hidden_size, num_layers, batch_first=True, reset_after=False).to(torch_device),
                True: GRU(input_size, hidden_size, num_layers, batch_first=True, reset_after=True).to(torch_device),
            }
            times: dict[tuple, list[float]] = {(name, kind): [] for name in models for kind in ("forward", "train")}
            for round_index in range(warmup + repeats):
                for kind, fn in (("forward", _forward), ("train", _train)):
                    for name, model in models.items():
                        seconds = _seconds(fn, model, x, torch_device)
                        if round_index >= warmup:
                            times[name, kind].append(seconds)
            peaks = {name: peak_train_memory(model, x) for name, model in models.items()}
            median_ms = {key: 1e3 * statistics.median(values) for key, values in times.items()}
            for reset_after in (False, True):
                rows.append(
                    {
                        "batch": batch,
                        "seq": seq,
                        "input_size": input_size,
                        "hidden_size": hidden_size,
                        "num_layers": num_layers,
                        "reset_after": reset_after,
                        "device": str(torch_device),
                        "threads": threads,
                        "dtype": "float32",
                        "repeats": repeats,
                        "torch_forward_ms": median_ms["torch", "forward"],
                        "grunet_forward_ms": median_ms[reset_after, "forward"],
                        "forward_ratio": median_ms["torch", "forward"] / median_ms[reset_after, "forward"],
                        "torch_train_ms": median_ms["torch", "train"],
                        "grunet_train_ms": median_ms[reset_after, "train"],
                        "train_ratio": median_ms["torch", "train"] / median_ms[reset_after, "train"],
                        "torch_peak_mb": peaks["torch"] / 2**20,
                        "grunet_peak_mb": peaks[reset_after] / 2**20,
                        "memory_ratio": peaks[reset_after] / peaks["torch"] if peaks["torch"] else float("nan"),
                    }
                )
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def format_table(rows: list[dict]) -> str:
    """A markdown table of `run_benchmark` rows: times in ms, ratios torch / grunet, peak train memory in MiB."""
    header = (
        "| B | T | I | H | L | reset_after | fwd torch | fwd grunet | fwd ratio | train torch | train grunet "
        "| train ratio | peak MiB torch | peak MiB grunet |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        lines.append(
            f"| {row['batch']} | {row['seq']} | {row['input_size']} | {row['hidden_size']} | {row['num_layers']} "
            f"| {row['reset_after']} | {row['torch_forward_ms']:.3f} | {row['grunet_forward_ms']:.3f} "
            f"| {row['forward_ratio']:.2f} | {row['torch_train_ms']:.3f} | {row['grunet_train_ms']:.3f} "
            f"| {row['train_ratio']:.2f} | {row['torch_peak_mb']:.1f} | {row['grunet_peak_mb']:.1f} |"
        )
    return "\n".join(lines)


# The busy program: pure Python, one thread, pinned to the core it is given; it ends by itself within a fraction of a
# second once its parent is gone (killed with SIGKILL, say), so it never outlives the benchmark.
_BUSY_LOOP = """
import os, sys
parent = int(sys.argv[1])
if len(sys.argv) > 2:
    os.sched_setaffinity(0, {int(sys.argv[2])})
print("busy", flush=True)
count = 0
while True:
    count += 1
    if count % 1_000_000 == 0 and os.getppid() != parent:
        break
"""


@contextlib.contextmanager
def busy_core():
    """A single-threaded busy loop in another process for the duration of the block, pinned to the last core this
    process may run on (where the OS can pin). It is stopped when the block ends, whether by an error or Ctrl-C.
    Yields its `subprocess.Popen`."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = [str(cores[-1])] if len(cores) > 1 else []
    busy = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _BUSY_LOOP, str(os.getpid()), *pin],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        if busy.stdout.readline() != b"busy\n":
            raise RuntimeError("the busy process did not start")
        yield busy
    finally:
        busy.kill()
        busy.wait()
        busy.stdout.close()


def run_contended_benchmark(
    shapes=None, repeats: int = 20, warmup: int = 3, threads: int = 2, device: str = "cpu"
) -> list[dict]:
    """`run_benchmark` while `busy_core` keeps one core busy; the same rows."""
    with busy_core():
        return run_benchmark(shapes, repeats, warmup, threads, device)


# inference: the tutorial's evaluation batch size, and one sequence at a time (latency)
INFERENCE_SHAPES: list[tuple[int, int, int, int, int]] = [(800, 50, 1, 20, 2), (1, 50, 1, 20, 2)]


def run_inference_benchmark(shapes=None, repeats: int = 50, warmup: int = 5, threads: int = 2) -> list[dict]:
    """Forward-only latency on the CPU: torch.nn.GRU, grunet.GRU and onnxruntime running grunet's ONNX export (one
    standard GRU node per layer), interleaved, medians. One row per shape and variant: reset_after=True (all three
    compute the same function) and False (the tutorial's form: grunet and ONNX only, torch has no such GRU).

    Returns dicts with keys: batch, seq, input_size, hidden_size, num_layers, reset_after, threads, torch_ms,
    grunet_ms, onnxruntime_ms (torch_ms NaN for reset_after=False).
    """
    import tempfile
    from pathlib import Path

    import numpy as np

    from grunet.export.bundle import onnx_session
    from grunet.export.onnx import gru_to_onnx

    shapes = INFERENCE_SHAPES if shapes is None else shapes
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        for batch, seq, input_size, hidden_size, num_layers in shapes:
            x = torch.randn(batch, seq, input_size, generator=torch.Generator().manual_seed(0))  # (B, T, I)
            for reset_after in (True, False):
                torch.manual_seed(0)
                gru = GRU(input_size, hidden_size, num_layers, batch_first=True, reset_after=reset_after).eval()
                with tempfile.TemporaryDirectory() as folder:
                    path = Path(folder) / "gru.onnx"
                    path.write_bytes(gru_to_onnx(gru).SerializeToString())
                    session = onnx_session(path, threads)
                feed = {session.get_inputs()[0].name: x.numpy()}
                runners = {"grunet": lambda: _forward(gru, x), "onnxruntime": lambda: session.run(None, feed)}
                if reset_after:
                    reference = gru.to_torch().eval()
                    runners["torch"] = lambda: _forward(reference, x)
                times: dict[str, list[float]] = {name: [] for name in runners}
                for round_index in range(warmup + repeats):
                    for name, run in runners.items():
                        start = time.perf_counter()
                        run()
                        if round_index >= warmup:
                            times[name].append(time.perf_counter() - start)
                median_ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
                rows.append(
                    {
                        "batch": batch,
                        "seq": seq,
                        "input_size": input_size,
                        "hidden_size": hidden_size,
                        "num_layers": num_layers,
                        "reset_after": reset_after,
                        "threads": threads,
                        "torch_ms": median_ms.get("torch", np.nan),
                        "grunet_ms": median_ms["grunet"],
                        "onnxruntime_ms": median_ms["onnxruntime"],
                    }
                )
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def format_inference_table(rows: list[dict]) -> str:
    """A markdown table of `run_inference_benchmark` rows: forward milliseconds (medians)."""
    header = "| B | T | I | H | L | reset_after | torch.nn.GRU ms | grunet.GRU ms | onnxruntime GRU ms |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        torch_ms = "n/a" if row["torch_ms"] != row["torch_ms"] else f"{row['torch_ms']:.3f}"
        lines.append(
            f"| {row['batch']} | {row['seq']} | {row['input_size']} | {row['hidden_size']} "
            f"| {row['num_layers']} | {row['reset_after']} | {torch_ms} | {row['grunet_ms']:.3f} "
            f"| {row['onnxruntime_ms']:.3f} |"
        )
    return "\n".join(lines)
