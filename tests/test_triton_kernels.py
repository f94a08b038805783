"""grunet.triton_kernels against the reference equations: values and gradients, both variants and directions, both
forms of the kernels (on chip, tiled over H), ragged batch tiles, H not a power of two, the matmul precisions.

The kernels run through `grunet.fast.gru_layer` (and so `grunet.triton_gru`'s launches); without a GPU, in Triton's
interpreter (`triton_cases`).
"""

import pytest
import torch
from triton_cases import (
    SMALL_TILES,
    VARIANTS,
    assert_all_close,
    inputs,
    reference,
    run_kernels,
    values_and_grads,
)

from grunet import triton_gru
from grunet.equations import gru_layer_reference, negate_update_gate
from grunet.fast import gru_layer


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("reset_after,reverse", VARIANTS)
@pytest.mark.parametrize("steps,batch,bias", [(5, 6, True), (5, 6, False), (1, 1, True)])
def test_triton_matches_reference_float64(monkeypatch, form, reset_after, reverse, steps, batch, bias):
    """float64 through the same kernels: any wrong term of the backward shows far above 1e-10. One step of one
    row too (a compiler may take sizes of 1 as constants)."""
    tiles, hidden_size = SMALL_TILES[form]
    run_kernels(monkeypatch, tiles)
    args = inputs(steps, batch, 3, hidden_size, bias)
    got = values_and_grads(gru_layer, args, reset_after, reverse)
    assert_all_close(got, reference(args, reset_after, reverse), 1e-10)


@pytest.mark.parametrize("reset_after,reverse", VARIANTS)
@pytest.mark.parametrize("hidden_size", [20, 70])
def test_triton_matches_reference_float32(monkeypatch, hidden_size, reset_after, reverse):
    """float32 with the tiles grunet uses: H 20 on chip (the tutorial's), H 70 tiled in blocks of 32 (the third
    ragged); B 20 is a full tile of 16 rows and a ragged one."""
    run_kernels(monkeypatch)
    assert triton_gru.tiles_for(20, hidden_size).on_chip == (hidden_size == 20)
    args = inputs(4, 20, 3, hidden_size, dtype=torch.float32)
    got = values_and_grads(gru_layer, args, reset_after, reverse)
    assert_all_close(got, reference(args, reset_after, reverse), 2e-5)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
def test_triton_tolerance_catches_a_wrong_gate(monkeypatch, form):
    """The comparisons above fail for the other variant, or for the complement of z (torch's convention)."""
    tiles, hidden_size = SMALL_TILES[form]
    run_kernels(monkeypatch, tiles)
    args = inputs(5, 6, 3, hidden_size, dtype=torch.float32)
    got = values_and_grads(gru_layer, args, False, False)
    assert_all_close(got, reference(args, False, False), 2e-5)
    with pytest.raises(AssertionError):
        assert_all_close(got, reference(args, True, False), 2e-5)
    complement = [args[0], args[1], *[negate_update_gate(a) for a in args[2:]]]  # z -> 1 - z
    want = reference(complement, False, False)
    with pytest.raises(AssertionError):  # gradients in the same convention: negate the z rows back
        assert_all_close(got, [*want[:4], *[negate_update_gate(g) for g in want[4:]]], 2e-5)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("used", ["output", "h_n"])
def test_triton_gradients_of_one_result_alone(monkeypatch, form, used):
    """A loss of the output alone, or of h_n alone (autograd then passes None for the other's gradient)."""
    tiles, hidden_size = SMALL_TILES[form]
    run_kernels(monkeypatch, tiles)
    args = inputs(5, 6, 3, hidden_size)

    def grads(fn):
        leaves = [a.detach().clone().requires_grad_() for a in args]
        output, h_n = fn(*leaves, True, False)
        result = output if used == "output" else h_n
        weight = torch.linspace(-1, 1, result.numel(), dtype=torch.float64).view(result.shape).to(result)
        return torch.autograd.grad((result * weight).sum(), leaves)

    assert_all_close(grads(gru_layer), [g.cpu() for g in grads(gru_layer_reference)], 1e-10)


@pytest.mark.parametrize("form", ["on_chip", "tiled"])
@pytest.mark.parametrize("reset_after", [False, True])
def test_triton_inference_matches_the_training_forward(monkeypatch, form, reset_after):
    """Without gradients the kernels save nothing (the tiled one reuses one slot): the same output and h_n."""
    tiles, hidden_size = SMALL_TILES[form]
    run_kernels(monkeypatch, tiles)
    args = inputs(5, 6, 3, hidden_size)
    with torch.no_grad():
        output, h_n = gru_layer(*args, reset_after, True)
    trained = values_and_grads(gru_layer, args, reset_after, True)
    assert torch.equal(output, trained[0].detach()) and torch.equal(h_n, trained[1].detach())


def test_triton_lower_precision_matmuls(monkeypatch):
    """torch.set_float32_matmul_precision('high') / ('medium'): TF32 / bfloat16 operands in the recurrent products
    (10 and 7 mantissa bits: errors about 8x apart), far above the IEEE run's error, and bounded."""
    run_kernels(monkeypatch)
    args = inputs(6, 20, 3, 20, dtype=torch.float32)
    want = reference(args, False, False)
    errors = {}
    previous = torch.get_float32_matmul_precision()
    try:
        for precision in ("highest", "high", "medium"):
            torch.set_float32_matmul_precision(precision)
            got = values_and_grads(gru_layer, args, False, False)
            errors[precision] = max(
                ((g.double().cpu() - w).abs().max() / w.abs().max()).item() for g, w in zip(got, want)
            )
    finally:
        torch.set_float32_matmul_precision(previous)
    # interpreter: 1e-6, 1.2e-3, 1.2e-2; on a GPU, TF32 may truncate and torch's GEMMs around the kernel use TF32 too
    assert errors["highest"] < 1e-5
    assert 100 * errors["highest"] < errors["high"] < 1e-2, errors
    assert 2 * errors["high"] < errors["medium"] < 5e-2, errors
