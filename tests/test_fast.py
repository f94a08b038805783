"""grunet.fast against the reference equations: values, gradients (gradcheck), layouts, devices."""

import itertools

import pytest
import torch

from grunet import native
from grunet.equations import gru_layer_reference
from grunet.fast import gru_layer
from grunet.layer import GRU
from grunet.native import calls as native_calls
from grunet.native import threads as native_threads

# (T, B, I, H): B >= 2H runs the (T, features, B) layout, B < 2H the (T, B, features) one
SHAPES = [(3, 9, 3, 4), (4, 3, 2, 5), (1, 1, 2, 3), (2, 1, 1, 1)]
VARIANTS = list(itertools.product([False, True], [False, True], [False, True]))  # reset_after, reverse, bias


@pytest.fixture(params=["torch", "native"])
def loop(request, monkeypatch):
    """Runs a test with the pure-torch loop, then with the compiled one (skipped where it cannot be built)."""
    if request.param == "torch":
        monkeypatch.setattr(native, "supports", lambda x, hidden_size: False)
    elif not native.available():
        pytest.skip("grunet.native could not be compiled here")
    return request.param


def _inputs(T, B, I, H, bias, dtype=torch.float64, device="cpu", seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1).to(device).requires_grad_()

    biases = [rand(3 * H), rand(3 * H)] if bias else [None, None]
    return [rand(T, B, I), rand(B, H), rand(3 * H, I), rand(3 * H, H), *biases]


def _values_and_grads(fn, args, reset_after, reverse, seed=1):
    output, h_n = fn(*args, reset_after, reverse)
    generator = torch.Generator().manual_seed(seed)
    weight_out = torch.randn(output.shape, generator=generator, dtype=output.dtype).to(output.device)
    weight_h = torch.randn(h_n.shape, generator=generator, dtype=output.dtype).to(output.device)
    leaves = [a for a in args if a is not None]
    grads = torch.autograd.grad((output * weight_out).sum() + (h_n * weight_h).sum(), leaves)
    return [output, h_n, *grads]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset_after,reverse,bias", VARIANTS)
def test_matches_reference_float64(loop, shape, reset_after, reverse, bias):
    args = _inputs(*shape, bias)
    fast = _values_and_grads(gru_layer, args, reset_after, reverse)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, reverse)
    for got, want in zip(fast, reference):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("shape", [(6, 40, 3, 8), (6, 5, 3, 8)])
def test_matches_reference_float32(loop, shape, reset_after):
    args = _inputs(*shape, bias=True, dtype=torch.float32)
    fast = _values_and_grads(gru_layer, args, reset_after, False)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, False)
    for got, want in zip(fast, reference):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 5, 2, 2), (3, 2, 2, 3)])
@pytest.mark.parametrize("reset_after,reverse,bias", VARIANTS)
def test_gradcheck_layer(loop, shape, reset_after, reverse, bias):
    args = _inputs(*shape, bias)
    assert torch.autograd.gradcheck(lambda *a: gru_layer(*a, reset_after, reverse), args)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gradient_of_one_output_only(loop, reset_after):
    """Only h_n, or only the output, reaches the loss: the other gradient arrives as None."""
    args = _inputs(4, 6, 2, 3, bias=True)
    for pick in (0, 1):
        fast = torch.autograd.grad(gru_layer(*args, reset_after, False)[pick].sum(), args)
        reference = torch.autograd.grad(gru_layer_reference(*args, reset_after, False)[pick].sum(), args)
        for got, want in zip(fast, reference):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("reset_after,reverse,bias", VARIANTS)
def test_no_grad_forward_matches(loop, reset_after, reverse, bias):
    args = _inputs(5, 7, 3, 4, bias)
    with torch.no_grad():
        output, h_n = gru_layer(*args, reset_after, reverse)
        want_output, want_h_n = gru_layer_reference(*args, reset_after, reverse)
    torch.testing.assert_close(output, want_output, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, want_h_n, rtol=0, atol=1e-12)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("reset_after", [False, True])
def test_gradcheck_module(loop, num_layers, bidirectional, reset_after):
    torch.manual_seed(0)
    gru = GRU(
        2, 3, num_layers, batch_first=True, bidirectional=bidirectional, reset_after=reset_after, dtype=torch.float64
    )
    x = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)  # (N, L, H_in)
    h_0 = torch.randn(num_layers * (2 if bidirectional else 1), 2, 3, dtype=torch.float64, requires_grad=True)
    params = list(gru.parameters())
    names = [name for name, _ in gru.named_parameters()]

    def run(x, h_0, *weights):
        output, h_n = torch.func.functional_call(gru, dict(zip(names, weights)), (x, h_0))
        return output, h_n

    def run_without_h0(x, *weights):
        return torch.func.functional_call(gru, dict(zip(names, weights)), (x,))

    # fast_mode: checks random projections of the Jacobian, a few forwards instead of one per input element
    assert torch.autograd.gradcheck(run, (x, h_0, *params), fast_mode=True)
    assert torch.autograd.gradcheck(run_without_h0, (x, *params), fast_mode=True)


@pytest.mark.parametrize("batch_first", [False, True])
def test_module_matches_reference_layers(loop, batch_first):
    """GRU (2 layers, bidirectional) through the fast path equals the same stack built from the reference."""
    torch.manual_seed(0)
    gru = GRU(3, 5, 2, batch_first=batch_first, bidirectional=True, dtype=torch.float64)
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    output, h_n = gru(x)
    layer_input = x.transpose(0, 1) if batch_first else x
    states = []
    for layer in range(2):
        outputs = []
        for direction in range(2):
            out, h = gru_layer_reference(
                layer_input,
                torch.zeros(layer_input.shape[1], 5, dtype=torch.float64),
                *gru.layer_weights(layer, direction),
                False,
                reverse=direction == 1,
            )
            outputs.append(out)
            states.append(h)
        layer_input = torch.cat(outputs, dim=2)
    want = layer_input.transpose(0, 1) if batch_first else layer_input
    torch.testing.assert_close(output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, torch.stack(states), rtol=0, atol=1e-12)


def test_output_is_usable_as_a_normal_tensor():
    args = _inputs(3, 4, 2, 5, bias=True)
    output, h_n = gru_layer(*args, False, False)
    assert output.shape == (3, 4, 5) and h_n.shape == (4, 5)
    torch.testing.assert_close(output[-1], h_n)
    assert output.reshape(-1, 5).shape == (12, 5)


@pytest.mark.cuda
class TestCuda:
    @pytest.mark.parametrize("reset_after,reverse,bias", VARIANTS)
    def test_matches_reference(self, reset_after, reverse, bias):
        args = _inputs(5, 9, 3, 4, bias, device="cuda")
        fast = _values_and_grads(gru_layer, args, reset_after, reverse)
        reference = _values_and_grads(gru_layer_reference, args, reset_after, reverse)
        for got, want in zip(fast, reference):
            assert got.device.type == "cuda"
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)

    @pytest.mark.parametrize("reset_after", [False, True])
    def test_gradcheck_layer(self, reset_after):
        args = _inputs(3, 5, 2, 3, bias=True, device="cuda")
        assert torch.autograd.gradcheck(lambda *a: gru_layer(*a, reset_after, True), args)

    def test_module_float32(self):
        torch.manual_seed(0)
        gru = GRU(3, 8, 2, batch_first=True).cuda()
        x = torch.randn(16, 7, 3, device="cuda")
        output, h_n = gru(x)
        output[:, -1].sum().backward()
        assert output.shape == (16, 7, 8) and h_n.shape == (2, 16, 8)
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gru.parameters())


def test_native_loop_is_used_for_small_hidden_sizes():
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    assert native.supports(torch.zeros(2, 3, 4), hidden_size=20)
    assert not native.supports(torch.zeros(2, 3, 4, dtype=torch.float16), hidden_size=20)
    assert native.supports(torch.zeros(2, 3, 4), hidden_size=1024)  # any hidden size (it once stopped at 256)


def test_native_matches_reference_on_wide_batches():
    """Several tiles per thread, of unequal widths (38 vectors in 5 tiles), the last ending inside its vector."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    for reset_after in (False, True):
        args = _inputs(3, 301, 2, 3, bias=True)
        fast = _values_and_grads(gru_layer, args, reset_after, True)
        reference = _values_and_grads(gru_layer_reference, args, reset_after, True)
        for got, want in zip(fast, reference):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("batch", [64, 67])
@pytest.mark.parametrize("reset_after", [False, True])
def test_native_saved_gates_aligned_and_not(batch, reset_after):
    """The forward writes the saved gates with non-temporal stores where a row's columns start on a 64-byte line
    (every step at batch 64, float64; at 67 the lines shift from step to step, the rest by ordinary stores)."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    args = _inputs(4, batch, 2, 3, bias=True)
    fast = _values_and_grads(gru_layer, args, reset_after, False)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, False)
    for got, want in zip(fast, reference):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_loading_the_native_loop_keeps_subnormal_floats():
    """A library linked with -ffast-math would switch the whole process to flush-to-zero when loaded."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    gru = GRU(1, 8, batch_first=True)
    gru(torch.randn(4, 3, 1))[0].sum().backward()
    tiny = 1e-310  # subnormal in float64
    assert tiny * 0.5 > 0
    assert torch.tensor([1e-40], dtype=torch.float32).mul(0.5).item() > 0  # subnormal in float32


@pytest.mark.parametrize("accumulate", [True, False])
@pytest.mark.parametrize("reset_after", [False, True])
def test_native_weight_gradients_over_threads(reset_after, accumulate, monkeypatch):
    """Several threads, both ways of the compiled backward: weight gradients (and dx) summed per thread inside it,
    or the gate gradients written out for GEMMs (forced here by the size limit)."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    shape = (20, 301, 5, 20)  # T, B, I, H
    if not accumulate:
        monkeypatch.setattr(native_calls, "ACCUMULATE_MAX_WEIGHTS", 0)
    assert native.accumulates(shape[3], shape[2]) == accumulate
    # two threads whatever the work (several tiles: 301 columns)
    monkeypatch.setattr(native_threads, "threads_for", lambda *shape: 2)
    args = _inputs(*shape, bias=True)
    fast = _values_and_grads(gru_layer, args, reset_after, False)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, False)
    for got, want in zip(fast, reference):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def _reference_stack(gru, x, reset_after):
    """output and h_n of a bidirectional GRU built from `gru_layer_reference` with `gru`'s weights (x: (T, B, I))."""
    layer_input, states = x, []
    for layer in range(gru.num_layers):
        outputs = []
        for direction in range(2):
            h0 = torch.zeros(x.shape[1], gru.hidden_size, dtype=x.dtype)
            out, h = gru_layer_reference(
                layer_input, h0, *gru.layer_weights(layer, direction), reset_after, reverse=direction == 1
            )
            outputs.append(out)
            states.append(h)
        layer_input = torch.cat(outputs, dim=2)
    return layer_input, torch.stack(states)


@pytest.mark.parametrize("hidden_size", [300, 512])
@pytest.mark.parametrize("reset_after,reverse", [(False, False), (False, True), (True, False), (True, True)])
def test_native_matches_reference_beyond_256(hidden_size, reset_after, reverse):
    """Wide layers run the compiled loop (it once stopped at 256): values and every gradient, float64, against the
    equations; a batch of 5 columns, one tile ending inside its SIMD vector."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    args = _inputs(3, 5, 4, hidden_size, bias=True)
    assert native.supports(args[0], hidden_size)
    fast = _values_and_grads(gru_layer, args, reset_after, reverse)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, reverse)
    for got, want in zip(fast, reference):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("reset_after", [False, True])
def test_native_wide_layer_over_tiles_and_threads(reset_after, monkeypatch):
    """H = 300 with 67 columns: six tiles (of 8 or 16 float64 columns at this width) taken by two threads."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    monkeypatch.setattr(native_threads, "threads_for", lambda *shape: 2)
    args = _inputs(4, 67, 3, 300, bias=True)
    fast = _values_and_grads(gru_layer, args, reset_after, False)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, False)
    for got, want in zip(fast, reference):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("reset_after", [False, True])
def test_native_wide_float32_matches_reference(reset_after):
    """float32 at H = 512 with torch's initialisation (weights within 1/sqrt(H)): 33 columns, two tiles. The
    gradients sum hundreds of terms (the bias gradients reach about 40 here): errors are held to each result's scale."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    args = _inputs(5, 33, 8, 512, bias=True, dtype=torch.float32)
    with torch.no_grad():
        for weight in args[2:]:
            weight.mul_(512**-0.5)
    fast = _values_and_grads(gru_layer, args, reset_after, False)
    reference = _values_and_grads(gru_layer_reference, args, reset_after, False)
    for got, want in zip(fast, reference):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("reset_after", [False, True])
def test_native_wide_bidirectional_stack_matches_reference(reset_after):
    """Two bidirectional layers of 300 units (the second reads 600 features): output, h_n and the gradients of the
    input and every weight, against a stack of the reference equations."""
    if not native.available():
        pytest.skip("grunet.native could not be compiled here")
    torch.manual_seed(0)
    gru = GRU(3, 300, 2, bidirectional=True, reset_after=reset_after, dtype=torch.float64)
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)  # (T, B, I)
    output, h_n = gru(x)
    want_output, want_h_n = _reference_stack(gru, x, reset_after)
    torch.testing.assert_close(output, want_output, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, want_h_n, rtol=0, atol=1e-12)
    leaves = [x, *gru.parameters()]
    weight = torch.linspace(-1, 1, output.numel(), dtype=torch.float64).view(output.shape)
    got = torch.autograd.grad((output * weight).sum() + h_n.square().sum(), leaves)
    want = torch.autograd.grad((want_output * weight).sum() + want_h_n.square().sum(), leaves)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reset_after", [False, True])
def test_saturated_gates_stay_finite(loop, dtype, reset_after):
    """Pre-activations in the hundreds and beyond (inputs of a large scale): σ and tanh are 0, 1 or -1, never NaN. The
    compiled loop, built with -ffast-math, once gave NaN beyond about 44 in float32 (exp overflowed to inf, and the
    vectorized division's reciprocal estimate turned 1 / inf into NaN)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 2, generator=generator, dtype=dtype) * 100
    weights = [
        torch.randn(60, 2, generator=generator, dtype=dtype) * 10,
        torch.randn(60, 20, generator=generator, dtype=dtype) * 0.01,
        torch.zeros(60, dtype=dtype),
        torch.zeros(60, dtype=dtype),
    ]
    args = [tensor.requires_grad_() for tensor in (x, torch.zeros(4, 20, dtype=dtype), *weights)]
    output, h_n = gru_layer(*args, reset_after, False)
    want, _ = gru_layer_reference(*args, reset_after, False)
    assert torch.isfinite(output).all() and torch.isfinite(h_n).all()
    torch.testing.assert_close(output, want)
    assert all(torch.isfinite(grad).all() for grad in torch.autograd.grad(output.sum(), args))
