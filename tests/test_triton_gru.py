"""grunet.triton_gru against the reference equations: values and gradients, both variants and directions, both forms
of the kernels (on chip, tiled over H), ragged batch tiles, H not a power of two, through grunet.GRU.

Without a GPU the kernels run in Triton's interpreter on the CPU (numpy): TRITON_INTERPRET=1 is set here, before
triton's import, unless CUDA is present and the interpreter was not asked for; then they run on the GPU.
"""

import itertools
import os

import pytest
import torch

from grunet import devices
from grunet.equations import gru_layer_reference, negate_update_gate
from grunet.fast import gru_layer
from grunet.layer import GRU

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


@pytest.fixture
def kernel(monkeypatch):
    """grunet.fast runs the Triton kernels for CPU tensors too (in the interpreter), any float dtype; returns a
    function that sets the tiles."""
    monkeypatch.setattr(devices, "triton_runs", lambda x: True)

    def use(tiles=None):
        monkeypatch.setattr(triton_gru, "tiles_for", triton_gru.tiles_for if tiles is None else lambda b, h: tiles)

    return use


def _inputs(T, B, I, H, bias=True, dtype=torch.float64, seed=0, h0_zero=False):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype).to(DEVICE)

    h0 = torch.zeros(B, H, dtype=dtype, device=DEVICE) if h0_zero else rand(B, H)
    biases = [rand(3 * H), rand(3 * H)] if bias else [None, None]
    return [rand(T, B, I), h0, rand(3 * H, I), rand(3 * H, H), *biases]


def _values_and_grads(fn, args, reset_after, reverse, seed=1):
    """output, h_n and the gradients of every input of a random weighting of both (through output and h_n)."""
    leaves = [a.detach().clone().requires_grad_() if a is not None else None for a in args]
    output, h_n = fn(*leaves, reset_after, reverse)
    generator = torch.Generator().manual_seed(seed)
    weight_out = torch.randn(output.shape, generator=generator, dtype=torch.float64).to(output)
    weight_h = torch.randn(h_n.shape, generator=generator, dtype=torch.float64).to(output)
    present = [a for a in leaves if a is not None]
    grads = torch.autograd.grad((output * weight_out).sum() + (h_n * weight_h).sum(), present)
    return [output, h_n, *grads]


def _reference(args, reset_after, reverse):
    """The reference in float64 on the CPU, from the same (possibly float32) inputs."""
    as_double = [a.double().cpu() if a is not None else None for a in args]
    return _values_and_grads(gru_layer_reference, as_double, reset_after, reverse)


def _assert_all_close(got, want, tolerance):
    """Each result within tolerance × its largest reference entry (gradients of long sums are large)."""
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, index
        torch.testing.assert_close(
            g.double().cpu(), w, rtol=0, atol=tolerance * w.abs().max().item(), msg=lambda m: f"result {index}: {m}"
        )


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("reset_after,reverse", VARIANTS)
@pytest.mark.parametrize("steps,batch,bias", [(5, 6, True), (5, 6, False), (1, 1, True)])
def test_triton_matches_reference_float64(kernel, form, reset_after, reverse, steps, batch, bias):
    """float64 through the same kernels: any wrong term of the backward shows far above 1e-10. One step of one
    row too (a compiler may take sizes of 1 as constants)."""
    tiles, hidden_size = SMALL_TILES[form]
    kernel(tiles)
    args = _inputs(steps, batch, 3, hidden_size, bias)
    got = _values_and_grads(gru_layer, args, reset_after, reverse)
    _assert_all_close(got, _reference(args, reset_after, reverse), 1e-10)


@pytest.mark.parametrize("reset_after,reverse", VARIANTS)
@pytest.mark.parametrize("hidden_size", [20, 70])
def test_triton_matches_reference_float32(kernel, hidden_size, reset_after, reverse):
    """float32 with the tiles grunet uses: H 20 on chip (the tutorial's), H 70 tiled in blocks of 32 (the third
    ragged); B 20 is a full tile of 16 rows and a ragged one."""
    kernel()
    assert triton_gru.tiles_for(20, hidden_size).on_chip == (hidden_size == 20)
    args = _inputs(4, 20, 3, hidden_size, dtype=torch.float32)
    got = _values_and_grads(gru_layer, args, reset_after, reverse)
    _assert_all_close(got, _reference(args, reset_after, reverse), 2e-5)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
def test_triton_tolerance_catches_a_wrong_gate(kernel, form):
    """The comparisons above fail for the other variant, or for the complement of z (torch's convention)."""
    tiles, hidden_size = SMALL_TILES[form]
    kernel(tiles)
    args = _inputs(5, 6, 3, hidden_size, dtype=torch.float32)
    got = _values_and_grads(gru_layer, args, False, False)
    _assert_all_close(got, _reference(args, False, False), 2e-5)
    with pytest.raises(AssertionError):
        _assert_all_close(got, _reference(args, True, False), 2e-5)
    complement = [args[0], args[1], *[negate_update_gate(a) for a in args[2:]]]  # z -> 1 - z
    want = _reference(complement, False, False)
    with pytest.raises(AssertionError):  # gradients in the same convention: negate the z rows back
        _assert_all_close(got, [*want[:4], *[negate_update_gate(g) for g in want[4:]]], 2e-5)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("used", ["output", "h_n"])
def test_triton_gradients_of_one_result_alone(kernel, form, used):
    """A loss of the output alone, or of h_n alone (autograd then passes None for the other's gradient)."""
    tiles, hidden_size = SMALL_TILES[form]
    kernel(tiles)
    args = _inputs(5, 6, 3, hidden_size)

    def grads(fn):
        leaves = [a.detach().clone().requires_grad_() for a in args]
        output, h_n = fn(*leaves, True, False)
        result = output if used == "output" else h_n
        weight = torch.linspace(-1, 1, result.numel(), dtype=torch.float64).view(result.shape).to(result)
        return torch.autograd.grad((result * weight).sum(), leaves)

    _assert_all_close(grads(gru_layer), [g.cpu() for g in grads(gru_layer_reference)], 1e-10)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("reset_after", [False, True])
def test_triton_inference_matches_the_training_forward(kernel, form, reset_after):
    """Without gradients the kernels save nothing (the tiled one reuses one slot): the same output and h_n."""
    tiles, hidden_size = SMALL_TILES[form]
    kernel(tiles)
    args = _inputs(5, 6, 3, hidden_size)
    with torch.no_grad():
        output, h_n = gru_layer(*args, reset_after, True)
    trained = _values_and_grads(gru_layer, args, reset_after, True)
    assert torch.equal(output, trained[0].detach()) and torch.equal(h_n, trained[1].detach())


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("h0_given", [True, False])
def test_triton_multilayer_bidirectional_gru(kernel, monkeypatch, reset_after, h0_given):
    """grunet.GRU, 2 layers, both directions, batch_first, on the kernels: what it computes on the loops that
    tests/test_fast.py holds to the reference (values and every parameter's gradient), with h_0 given or zeros."""
    kernel(SMALL_TILES["on_chip"][0])
    torch.manual_seed(0)
    gru = GRU(
        3, 7, num_layers=2, batch_first=True, bidirectional=True, reset_after=reset_after, dtype=torch.float64
    ).to(DEVICE)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, 3, generator=generator, dtype=torch.float64).to(DEVICE).requires_grad_()
    h_0 = (
        torch.randn(4, 6, 7, generator=generator, dtype=torch.float64).to(DEVICE).requires_grad_() if h0_given else None
    )

    def run():
        gru.zero_grad(set_to_none=True)
        output, h_n = gru(x, h_0)
        (
            (output * torch.linspace(-1, 1, output.numel(), dtype=output.dtype, device=DEVICE).view(output.shape)).sum()
            + (h_n**2).sum()
        ).backward()
        inputs = [x] + ([h_0] if h0_given else [])
        grads = [t.grad.clone() for t in inputs] + [p.grad.clone() for p in gru.parameters()]
        for t in inputs:
            t.grad = None
        return [output.detach(), h_n.detach(), *grads]

    got = run()
    monkeypatch.setattr(devices, "triton_runs", lambda x: False)
    _assert_all_close(got, [t.cpu() for t in run()], 1e-10)


def test_triton_lower_precision_matmuls(kernel):
    """torch.set_float32_matmul_precision('high') / ('medium'): TF32 / bfloat16 operands in the recurrent products
    (10 and 7 mantissa bits: errors about 8x apart), far above the IEEE run's error, and bounded."""
    kernel()
    args = _inputs(6, 20, 3, 20, dtype=torch.float32)
    want = _reference(args, False, False)
    errors = {}
    previous = torch.get_float32_matmul_precision()
    try:
        for precision in ("highest", "high", "medium"):
            torch.set_float32_matmul_precision(precision)
            got = _values_and_grads(gru_layer, args, False, False)
            errors[precision] = max(
                ((g.double().cpu() - w).abs().max() / w.abs().max()).item() for g, w in zip(got, want)
            )
    finally:
        torch.set_float32_matmul_precision(previous)
    # interpreter: 1e-6, 1.2e-3, 1.2e-2; on a GPU, TF32 may truncate and torch's GEMMs around the kernel use TF32 too
    assert errors["highest"] < 1e-5
    assert 100 * errors["highest"] < errors["high"] < 1e-2, errors
    assert 2 * errors["high"] < errors["medium"] < 5e-2, errors


def test_triton_is_deterministic(kernel):
    """Weight gradients are GEMMs and reductions outside the kernel, not sums in whatever order programs finish:
    two runs give the same bits."""
    kernel(SMALL_TILES["tiled"][0])
    args = _inputs(4, 6, 3, 12, dtype=torch.float32)
    first, second = (_values_and_grads(gru_layer, args, True, False) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("value", [1, 12])
def test_triton_tiles(value):
    """Tiles are powers of two of at least 16; hidden sizes above MAX_ON_CHIP_HIDDEN go to the tiled kernels."""
    assert triton_gru.tiles_for(value * 3, value) == triton_gru.Tiles(triton_gru.BLOCK_BATCH, 16, True, warps=4)
    assert triton_gru.tiles_for(800, 20) == triton_gru.Tiles(triton_gru.BLOCK_BATCH, 32, True, warps=8)
    wide = triton_gru.tiles_for(8, triton_gru.MAX_ON_CHIP_HIDDEN + value)
    assert not wide.on_chip and wide.hidden == triton_gru.TILE_HIDDEN


@pytest.mark.cuda
@pytest.mark.parametrize("reset_after", [False, True])
def test_triton_runs_grunet_gru_on_cuda_by_default(monkeypatch, reset_after):
    """On CUDA, a float32 grunet.GRU at the tutorial's size runs the kernel with no switch set; GRUNET_TRITON=0 runs
    the pure-torch loop instead, which computes the same up to float32 rounding."""
    calls = []
    kernel_forward = triton_gru.forward
    monkeypatch.setattr(
        triton_gru, "forward", lambda *args, **kwargs: calls.append(1) or kernel_forward(*args, **kwargs)
    )
    torch.manual_seed(0)
    gru = GRU(1, 20, num_layers=2, batch_first=True, reset_after=reset_after).cuda()
    x = torch.randn(800, 50, 1, device="cuda")

    def run():
        gru.zero_grad(set_to_none=True)
        output, h_n = gru(x)
        output[:, -1].sum().backward()
        return [
            output.detach().double().cpu(),
            h_n.detach().double().cpu(),
            *[p.grad.double().cpu() for p in gru.parameters()],
        ]

    got = run()
    assert len(calls) == 2  # one launch per layer
    monkeypatch.setenv("GRUNET_TRITON", "0")
    _assert_all_close(got, run(), 1e-4)
    assert len(calls) == 2
