"""Every export is checked before it is written: run on random inputs of several batch sizes and lengths (with random
known-future values, and random 0/1 masks whose last step is observed) and compared with the PyTorch model; more
than `TOLERANCE` max abs difference (float32) is an error and nothing is written.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import numpy as np
import torch
from torch import nn

from grunet.files import make_folder, named, sync, umask
from grunet.layer import GRU
from grunet.model import Ensemble, GRUNet, ModelConfig

ModuleT = TypeVar("ModuleT", bound=nn.Module)

TOLERANCE = 1e-5  # max difference allowed between an export and the PyTorch model (float32; relative to
#                          outputs above 1)
VERIFY_BATCH_SIZES = (1, 3, 16)
VERIFY_LENGTHS = (1, 7, 50)


@dataclass
class Verification:
    """How an export was checked: max abs difference to the PyTorch model over the (batch, seq) cases tried."""

    max_abs_diff: float
    batch_sizes: list[int]
    lengths: list[int]
    tolerance: float = TOLERANCE
    runtime: str = ""

    def to_dict(self) -> dict:
        return {
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "batch_sizes": self.batch_sizes,
            "lengths": self.lengths,
            "runtime": self.runtime,
        }


@dataclass
class ExportResult:
    path: Path
    format: str
    verification: Verification
    bundle: Path | None = None
    details: dict = field(default_factory=dict)


def model_members(model: nn.Module) -> list[GRUNet]:
    """The GRUNets behind a model: an Ensemble's members, or the GRUNet itself."""
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    for member in members:
        gru, fc = getattr(member, "gru", None), getattr(member, "fc", None)
        if not isinstance(gru, GRU) or not isinstance(fc, nn.Linear):
            raise TypeError(
                f"the export expects a GRUNet or an Ensemble of them (a grunet.GRU and a Linear head), "
                f"got {type(gru).__name__} and {type(fc).__name__}"
            )
    return cast(list[GRUNet], members)  # checked above


def random_inputs(config: ModelConfig, batch_sizes, lengths, seed: int):
    """(x (batch, seq, input_size), future (batch, output_size, K) or None) for every batch size and length. With
    the mask, x's last column is random 0/1, the last step always observed (1), as in every real window."""
    generator = torch.Generator().manual_seed(seed)
    for batch in batch_sizes:
        for length in lengths:
            x = torch.randn(batch, length, config.input_size, generator=generator) * 2 + 0.5
            if config.mask:
                x[:, :, -1] = torch.randint(0, 2, (batch, length), generator=generator).float()
                x[:, -1, -1] = 1
            future = (
                torch.randn(batch, config.output_size, config.future_size, generator=generator)
                if config.future_size
                else None
            )
            yield x, future


def compare(
    reference: nn.Module, run, config: ModelConfig, batch_sizes, lengths, seed: int, runtime: str
) -> Verification:
    """Max abs difference of `run(x, future) -> ndarray` against `reference(x, future)` over random (batch, seq)
    inputs (`random_inputs`), each case's relative to its largest output where that is above 1: float32 carries
    about 7 digits, and a model in original units (a skip fitted to the data) may answer random inputs in millions."""
    worst = 0.0
    with torch.no_grad():
        for x, future in random_inputs(config, batch_sizes, lengths, seed):
            expected = reference(x, future)  # a GRUNet or an Ensemble: (batch, output_size)
            got = np.asarray(run(x, future))
            if got.shape != tuple(expected.shape):
                raise ValueError(
                    f"the {runtime} export returns shape {got.shape} for input {tuple(x.shape)}, "
                    f"the PyTorch model {tuple(expected.shape)}"
                )
            reference_values = expected.double().numpy()
            diff = float(
                np.abs(got.astype(np.float64) - reference_values).max()
                / max(1.0, float(np.abs(reference_values).max()))
            )
            if np.isnan(diff) or diff > worst:
                worst = diff
            if np.isnan(worst):
                break  # NaN: no later case can make it pass
    return Verification(worst, list(batch_sizes), list(lengths), TOLERANCE, runtime)


def quiet_tracing() -> None:
    """Inside `warnings.catch_warnings()`: hides the FutureWarning torch.export's own code raises while tracing (torch
    2.13 checks `isinstance(treespec, LeafSpec)` internally, a deprecation aimed at torch, not at grunet's user)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)


def float32_eval(model: ModuleT) -> ModuleT:
    model = copy.deepcopy(model).cpu().eval()
    return model.float()


def write_verified(path: Path, write, verify) -> Verification:
    """Writes to a temporary file beside `path`, verifies it, then renames it over `path` as every file of grunet's
    is written (`grunet.files.atomic_write_bytes`): the file a link names, the umask's mode, fsynced; on failure
    nothing is left behind."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    make_folder(path.parent, str(path))
    # named NAME.<random>.SUFFIX: torch.export.load wants its own suffix (.pt2)
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as error:
        raise named(error, path) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(handle, 0o666 & ~umask())  # mkstemp makes 0600
    finally:
        os.close(handle)
    try:
        write(temporary)
        verification = verify(temporary)
        if not verification.max_abs_diff <= verification.tolerance:
            raise ValueError(
                f"the export does not match the PyTorch model: max abs diff "
                f"{verification.max_abs_diff:.3g} > {verification.tolerance:g} "
                f"({verification.runtime}); nothing written"
            )
        sync(temporary)
        os.replace(temporary, path)
        sync(path.parent)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:  # a full disk, a file-size limit: name the file
            raise named(error, path) from None
        raise
    return verification
