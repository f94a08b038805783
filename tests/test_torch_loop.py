"""grunet.torch_loop on its own, through the loop interface `grunet.fast` calls: hidden (H, T+1, B) with h0 in its
slot, the saved factors, and the gradients of the six inputs, against the reference equations in float64, in both
buffer layouts (B >= 2H: (T, features, B); B < 2H: (T, B, features)). tests/test_fast.py holds gru_layer on this
loop (and the compiled one) to the reference too."""

import itertools

import pytest
import torch

from grunet import torch_loop
from grunet.equations import gru_layer_reference

SHAPES = [(3, 9, 3, 4), (4, 3, 2, 5), (1, 1, 2, 3)]  # (T, B, I, H)
VARIANTS = list(itertools.product([False, True], [False, True], [False, True]))  # reset_after, reverse, bias


def _inputs(T, B, I, H, bias, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    return [
        rand(T, B, I),
        rand(B, H),
        rand(3 * H, I),
        rand(3 * H, H),
        *([rand(3 * H), rand(3 * H)] if bias else [None, None]),
    ]


def _results(hidden, steps, reverse):
    """output (T, B, H) and h_n (B, H) out of hidden (H, T+1, B), as `grunet.fast` reads them."""
    output = (hidden[:, :steps] if reverse else hidden[:, 1:]).permute(1, 2, 0)
    return output, hidden[:, 0 if reverse else steps].t()


def _reference(args, reset_after, reverse, grad_output, grad_h_n):
    leaves = [a.clone().requires_grad_() if a is not None else None for a in args]
    output, h_n = gru_layer_reference(*leaves, reset_after, reverse)
    pairs = [(r, g) for r, g in ((output, grad_output), (h_n, grad_h_n)) if g is not None]
    present = [a for a in leaves if a is not None]
    grads = iter(torch.autograd.grad([r for r, _ in pairs], present, [g for _, g in pairs]))
    return output.detach(), h_n.detach(), [next(grads) if a is not None else None for a in leaves]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset_after,reverse,bias", VARIANTS)
def test_forward_and_backward_match_the_reference(shape, reset_after, reverse, bias):
    args = _inputs(*shape, bias)
    steps = shape[0]
    hidden, factors, rh = torch_loop.forward(*args, reset_after, reverse, training=True)
    assert factors.shape == (5 * shape[3], steps, shape[1]) and (rh is None) == reset_after
    output, h_n = _results(hidden, steps, reverse)
    generator = torch.Generator().manual_seed(1)
    grad_output = torch.randn(output.shape, generator=generator, dtype=torch.float64)
    grad_h_n = torch.randn(h_n.shape, generator=generator, dtype=torch.float64)
    grads = torch_loop.backward(
        grad_output, grad_h_n, hidden, factors, rh, args[0], args[2], args[3], bias, reset_after, reverse, (True,) * 6
    )
    want_output, want_h_n, want_grads = _reference(args, reset_after, reverse, grad_output, grad_h_n)
    torch.testing.assert_close(output, want_output, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, want_h_n, rtol=0, atol=1e-12)
    for index, (got, want) in enumerate(zip(grads, want_grads)):
        if want is None:
            assert got is None, index
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10, msg=lambda m: f"gradient {index}: {m}")


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("given", ["output", "h_n"])
def test_backward_from_one_result_and_only_the_gradients_needed(reset_after, given):
    """The other result's gradient is None (autograd's, when the loss does not use it); a gradient not needed is
    None."""
    args = _inputs(4, 6, 2, 3, bias=True)
    hidden, factors, rh = torch_loop.forward(*args, reset_after, False, training=True)
    output, h_n = _results(hidden, 4, False)
    grad_output = torch.ones_like(output) if given == "output" else None
    grad_h_n = torch.ones_like(h_n) if given == "h_n" else None
    needs = (False, True, True, False, True, True)
    grads = torch_loop.backward(
        grad_output, grad_h_n, hidden, factors, rh, args[0], args[2], args[3], True, reset_after, False, needs
    )
    _, _, want = _reference(args, reset_after, False, grad_output, grad_h_n)
    for index, (got, wanted, need) in enumerate(zip(grads, want, needs)):
        if need:
            torch.testing.assert_close(got, wanted, rtol=0, atol=1e-10, msg=lambda m: f"gradient {index}: {m}")
        else:
            assert got is None, index


@pytest.mark.parametrize("reset_after,reverse", [(False, False), (True, True)])
def test_inference_saves_nothing_and_computes_the_same(reset_after, reverse):
    args = _inputs(5, 7, 3, 4, bias=True)
    hidden, factors, rh = torch_loop.forward(*args, reset_after, reverse, training=False)
    assert factors is None and rh is None
    trained, _, _ = torch_loop.forward(*args, reset_after, reverse, training=True)
    assert all(torch.equal(a, b) for a, b in zip(_results(hidden, 5, reverse), _results(trained, 5, reverse)))
