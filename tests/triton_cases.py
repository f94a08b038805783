"""What the Triton tests share: the switch to Triton's interpreter, small tiles, inputs, and the comparison with the
reference equations.

Without a GPU the kernels run in Triton's interpreter on the CPU (numpy): TRITON_INTERPRET=1 is set here, before
triton's import, unless CUDA is present and the interpreter was not asked for; then they run on the GPU. A test
module imports this before `grunet.triton_gru`; without triton installed, the module is skipped.
"""

import itertools
import os

import pytest
import torch

from grunet import devices
from grunet.equations import gru_layer_reference

ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
DEVICE = "cuda" if ON_GPU else "cpu"
if not ON_GPU:
    # read when the kernels are defined (grunet.triton_gru's import) and at each launch: it stays set for the
    # session, harmless to the other tests (nothing else runs triton on the CPU)
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton", reason="triton is not installed (pip install 'grunet[gpu]')")
from grunet import triton_gru  # noqa: E402  (after the interpreter's switch)

# small tiles, so that small shapes cut into several programs and column blocks: B = 6 rows in tiles of 4 (the
# second ragged), H = 7 padded to 8 on chip, H = 12 in column blocks of 8 (the second ragged)
SMALL_TILES = {
    "on_chip": (triton_gru.Tiles(4, 8, on_chip=True, warps=4), 7),
    "tiled": (triton_gru.Tiles(4, 8, on_chip=False, warps=4), 12),
}
VARIANTS = list(itertools.product([False, True], [False, True]))  # reset_after, reverse


def run_kernels(monkeypatch, tiles=None):
    """grunet.fast runs the Triton kernels for CPU tensors too (in the interpreter), any float dtype, cut into these
    tiles (default: the ones grunet chooses)."""
    monkeypatch.setattr(devices, "triton_runs", lambda x: True)
    monkeypatch.setattr(triton_gru, "tiles_for", triton_gru.tiles_for if tiles is None else lambda b, h: tiles)


def inputs(T, B, I, H, bias=True, dtype=torch.float64, seed=0, h0_zero=False):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype).to(DEVICE)

    h0 = torch.zeros(B, H, dtype=dtype, device=DEVICE) if h0_zero else rand(B, H)
    biases = [rand(3 * H), rand(3 * H)] if bias else [None, None]
    return [rand(T, B, I), h0, rand(3 * H, I), rand(3 * H, H), *biases]


def values_and_grads(fn, args, reset_after, reverse, seed=1):
    """output, h_n and the gradients of every input of a random weighting of both (through output and h_n)."""
    leaves = [a.detach().clone().requires_grad_() if a is not None else None for a in args]
    output, h_n = fn(*leaves, reset_after, reverse)
    generator = torch.Generator().manual_seed(seed)
    weight_out = torch.randn(output.shape, generator=generator, dtype=torch.float64).to(output)
    weight_h = torch.randn(h_n.shape, generator=generator, dtype=torch.float64).to(output)
    present = [a for a in leaves if a is not None]
    grads = torch.autograd.grad((output * weight_out).sum() + (h_n * weight_h).sum(), present)
    return [output, h_n, *grads]


def reference(args, reset_after, reverse):
    """The reference in float64 on the CPU, from the same (possibly float32) inputs."""
    as_double = [a.double().cpu() if a is not None else None for a in args]
    return values_and_grads(gru_layer_reference, as_double, reset_after, reverse)


def assert_all_close(got, want, tolerance):
    """Each result within tolerance × its largest reference entry (gradients of long sums are large)."""
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, index
        torch.testing.assert_close(
            g.double().cpu(), w, rtol=0, atol=tolerance * w.abs().max().item(), msg=lambda m: f"result {index}: {m}"
        )
