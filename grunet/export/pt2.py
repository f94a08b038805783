"""The torch format: a GRUNet, or an Ensemble of them, as a `torch.export` ExportedProgram (``.pt2``), verified.

The program is traced from the model's own forward (window norms, padding mask, known-future head, the ensemble's
median): nothing is re-typed for export. Inside the GRU, `grunet.layer` runs the four equations of
`grunet.equations` while torch.export traces (the compiled loop is a C++ call torch cannot see into), so the
program holds plain aten ops and loads anywhere with ``torch.export.load(path).module()``, without grunet.

The batch size is dynamic; the sequence length is the run's window, fixed at export (the tutorial's loop over the
time steps is unrolled): a forecaster's input is always one window.
Inputs: x (batch, window, input_size) and, with future_size K > 0, future (batch, output_size, K), float32.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from grunet.export.verify import (
    VERIFY_BATCH_SIZES,
    ExportResult,
    Verification,
    compare,
    float32_eval,
    model_members,
    quiet_tracing,
)
from grunet.model import Ensemble, GRUNet

MAX_BATCH = 1 << 20


def to_exported_program(model: GRUNet | Ensemble, window: int) -> torch.export.ExportedProgram:
    """The model (in float32 eval mode) traced by torch.export for inputs of `window` steps and any batch size."""
    model = float32_eval(model)
    config = model_members(model)[0].config
    x = torch.zeros(2, window, config.input_size)
    if config.mask:
        x[..., -1] = 1
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    example: tuple = (x,)
    dynamic: dict = {"x": {0: batch}}
    if config.future_size:
        example += (torch.zeros(2, config.output_size, config.future_size),)
        dynamic["future"] = {0: batch}
    with warnings.catch_warnings():
        quiet_tracing()
        return torch.export.export(model, example, dynamic_shapes=dynamic)


def verify_pt2(
    model: GRUNet | Ensemble, path: str | Path, window: int, batch_sizes=VERIFY_BATCH_SIZES, seed: int = 0
) -> Verification:
    """Loads the file with torch.export.load and compares it with `model` on random inputs of `window` steps."""
    program = torch.export.load(str(path)).module()
    reference = float32_eval(model)

    def run(x, future):
        with torch.no_grad():
            return (program(x) if future is None else program(x, future)).numpy()

    return compare(reference, run, reference.config, batch_sizes, [window], seed, f"torch.export {torch.__version__}")


def export_pt2(model: GRUNet | Ensemble, path: str | Path, window: int, batch_sizes=VERIFY_BATCH_SIZES) -> ExportResult:
    """Writes the model as an ExportedProgram to `path` (a .pt2 file) after checking it. details: members."""
    from grunet.export.verify import write_verified

    path = Path(path)
    program = to_exported_program(model, window)
    verification = write_verified(
        path,
        lambda temporary: torch.export.save(program, temporary),
        lambda temporary: verify_pt2(model, temporary, window, batch_sizes),
    )
    return ExportResult(path, "torch", verification, details={"members": len(model_members(model)), "window": window})
