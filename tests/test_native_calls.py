"""grunet.native.calls: results that do not depend on the thread count, whichever sums the weight gradients."""

import pytest
import torch

from grunet.fast import gru_layer
from grunet.native import calls as native_calls
from grunet.native import library as native_library
from grunet.native import threads as native_threads

needs_native = pytest.mark.skipif(not native_library.available(), reason="grunet.native could not be compiled here")


def _layer_results(dtype, reset_after, reverse, threads, monkeypatch, batch=301, hidden_size=20, steps=7):
    """Output, h_n and every gradient of one compiled layer call with the compiled loop on `threads` threads."""
    monkeypatch.setattr(native_threads, "threads_for", lambda *shape: threads)
    monkeypatch.setattr(native_threads.CHOOSER, "fixed", True)  # no probing of one thread in between
    generator = torch.Generator().manual_seed(0)
    input_size = 3
    tensors = [
        torch.randn(steps, batch, input_size, generator=generator, dtype=dtype),
        torch.randn(batch, hidden_size, generator=generator, dtype=dtype),
        torch.randn(3 * hidden_size, input_size, generator=generator, dtype=dtype) * 0.3,
        torch.randn(3 * hidden_size, hidden_size, generator=generator, dtype=dtype) * 0.3,
        torch.randn(3 * hidden_size, generator=generator, dtype=dtype) * 0.1,
        torch.randn(3 * hidden_size, generator=generator, dtype=dtype) * 0.1,
    ]
    for tensor in tensors:
        tensor.requires_grad_(True)
    output, h_n = gru_layer(*tensors, reset_after=reset_after, reverse=reverse)
    ((output * torch.linspace(-1, 1, hidden_size, dtype=dtype)).sum() + h_n.square().sum()).backward()
    return [output.detach(), h_n.detach()] + [tensor.grad for tensor in tensors]


@needs_native
@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("reset_after,reverse", [(False, False), (True, True)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_results_are_bitwise_the_same_for_any_thread_count(dtype, reset_after, reverse, accumulate, monkeypatch):
    """The tiles depend on the shape alone and the backward adds the tiles' weight gradients in tile order, so 1, 2
    and 3 threads (and whichever thread takes which tile) give the same bits: values, dx, dh0 and the weight
    gradients, summed inside the compiled backward or (forced here) by torch's GEMMs over the gate gradients."""
    if not accumulate:
        monkeypatch.setattr(native_calls, "ACCUMULATE_MAX_WEIGHTS", 0)
    assert native_calls.accumulates(20, 3) == accumulate
    one = _layer_results(dtype, reset_after, reverse, 1, monkeypatch)
    for threads in (2, 3, 2):
        for got, want in zip(_layer_results(dtype, reset_after, reverse, threads, monkeypatch), one):
            assert torch.equal(got, want)


@needs_native
@pytest.mark.parametrize("reset_after", [False, True])
def test_a_wide_layers_small_batch_is_two_tiles_with_the_same_bits_on_any_thread_count(reset_after, monkeypatch):
    """From `WIDE_HIDDEN` on, 32 float32 columns are two tiles of 16 (two threads can share a mini-batch); results
    are bitwise those of one thread."""
    one = _layer_results(torch.float32, reset_after, False, 1, monkeypatch, batch=32, hidden_size=512, steps=3)
    two = _layer_results(torch.float32, reset_after, False, 2, monkeypatch, batch=32, hidden_size=512, steps=3)
    for got, want in zip(two, one):
        assert torch.equal(got, want)
