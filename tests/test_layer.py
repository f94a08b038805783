"""grunet.GRU: the tutorial's equations, torch.nn.GRU's API, interchange with torch.nn.GRU, and input checks."""

import warnings

import numpy as np
import pytest
import torch
from independent_gru import tutorial_gru
from torch import nn

import grunet

CONFIGS = [  # num_layers, bidirectional, batch_first, with_h0, bias
    (1, False, False, False, True),
    (1, False, True, True, True),
    (2, True, False, True, True),
    (3, False, True, False, True),
    (2, True, True, False, False),
    (3, True, False, True, True),
]


def _inputs(gru, T=6, B=3, dtype=torch.float64, with_h0=True, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape = (B, T, gru.input_size) if gru.batch_first else (T, B, gru.input_size)
    x = torch.randn(shape, generator=generator, dtype=dtype, requires_grad=True)
    D = 2 if gru.bidirectional else 1
    h0 = (
        torch.randn(gru.num_layers * D, B, gru.hidden_size, generator=generator, dtype=dtype, requires_grad=True)
        if with_h0
        else None
    )
    return x, h0


def _grads(output, h_n, tensors):
    weight_out = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).reshape(output.shape)
    loss = (output * weight_out).sum() + (h_n**2).sum()
    return torch.autograd.grad(loss, tensors, allow_unused=True)


@pytest.mark.parametrize("num_layers,bidirectional,batch_first,with_h0,bias", CONFIGS)
def test_default_variant_matches_the_tutorial_equations_values_and_gradients(
    num_layers, bidirectional, batch_first, with_h0, bias
):
    torch.manual_seed(num_layers)
    gru = grunet.GRU(4, 5, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional).double()
    x, h0 = _inputs(gru, with_h0=with_h0)
    output, h_n = gru(x, h0)
    expected_output, expected_h_n = tutorial_gru(gru, x, h0)
    assert output.shape == expected_output.shape and h_n.shape == expected_h_n.shape
    assert torch.allclose(output, expected_output, rtol=0, atol=1e-10)
    assert torch.allclose(h_n, expected_h_n, rtol=0, atol=1e-10)
    tensors = [x] + ([h0] if with_h0 else []) + list(gru.parameters())
    for got, expected in zip(_grads(output, h_n, tensors), _grads(expected_output, expected_h_n, tensors)):
        assert torch.allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_reset_after_matches_torch_gru_both_ways(seed, dtype, tolerance):
    generator = torch.Generator().manual_seed(seed)
    input_size, hidden_size, num_layers = (int(v) for v in torch.randint(1, 9, (3,), generator=generator))
    num_layers = 1 + num_layers % 3
    bidirectional, batch_first, bias = (bool(v) for v in torch.randint(0, 2, (3,), generator=generator))
    torch.manual_seed(seed)
    reference = nn.GRU(
        input_size, hidden_size, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional
    ).to(dtype)
    gru = grunet.GRU.from_torch(reference)
    assert gru.reset_after and gru.batch_first == batch_first and gru.bidirectional == bidirectional
    x, h0 = _inputs(gru, T=7, B=4, dtype=dtype, seed=seed)
    expected = reference(x, h0)
    got = gru(x, h0)
    back = gru.to_torch()(x, h0)
    for a, b, c in zip(expected, got, back):
        assert (a - b).abs().max() <= tolerance
        assert (a - c).abs().max() <= tolerance
    if dtype == torch.float64:
        names = [name for name, _ in reference.named_parameters()]
        tensors = [x, h0] + [getattr(gru, name) for name in names]
        reference_tensors = [x, h0] + [getattr(reference, name) for name in names]
        got_grads = _grads(*got, tensors)
        expected_grads = _grads(*expected, reference_tensors)
        hidden = hidden_size
        for name, g, e in zip(["x", "h0"] + names, got_grads, expected_grads):
            if name not in ("x", "h0"):  # the z rows were negated, so their gradients flip sign
                e = e.clone()
                e[hidden : 2 * hidden] = -e[hidden : 2 * hidden]
            assert torch.allclose(g, e, atol=1e-10), name


def test_parameter_names_shapes_and_order_match_torch():
    kwargs = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    ours, theirs = grunet.GRU(**kwargs), nn.GRU(**kwargs)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in theirs.named_parameters()]
    assert list(ours.state_dict()) == [*theirs.state_dict(), "_extra_state"]  # grunet's mark last


@pytest.mark.parametrize("kind", ["GRU", "GRUCell"])
def test_a_state_dict_never_crosses_between_torch_and_grunet_unconverted(kind):
    """The names are torch's, the z rows are not: a state_dict loaded across as it is would compute another
    function without a word (0.17 apart). grunet's mark makes both strict loads fail, and says how to convert."""
    torch.manual_seed(0)
    theirs = getattr(nn, kind)(3, 4)
    ours = getattr(grunet, kind)(3, 4, reset_after=True)
    with pytest.raises(RuntimeError, match=rf"no grunet mark.*grunet.{kind}.from_torch"):
        ours.load_state_dict(theirs.state_dict())
    with pytest.raises(RuntimeError, match="Unexpected key.*_extra_state"):
        theirs.load_state_dict(ours.state_dict())
    converted = getattr(grunet, kind).from_torch(theirs)
    ours.load_state_dict(converted.state_dict())  # grunet to grunet, marked: loads
    x = torch.randn(2, 3)
    torch.testing.assert_close(
        ours(x) if kind == "GRUCell" else ours(x)[0], theirs(x) if kind == "GRUCell" else theirs(x)[0]
    )
    with pytest.raises(ValueError, match="reset_after=True, but this one has reset_after=False"):
        getattr(grunet, kind)(3, 4).load_state_dict(ours.state_dict())
    with pytest.raises(RuntimeError, match="no grunet mark"):  # not even when asked not to be strict
        ours.load_state_dict(theirs.state_dict(), strict=False)
    unmarked = {name: value for name, value in ours.state_dict().items() if name != "_extra_state"}  # grunet 0.2's
    fresh = getattr(grunet, kind)(3, 4, reset_after=True)
    fresh.load_state_dict(grunet.torch_compat.with_marks(fresh, unmarked))
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), ours.parameters()))


def test_a_run_saved_before_the_mark_still_loads(tmp_path):
    """model.pt files of grunet 0.2 have no mark: they are grunet's own weights, and load as they are."""
    from grunet.checkpoints import load_model
    from grunet.cli import main

    run = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--hidden-size", "4", "--out", str(run), "--quiet", "--no-plots"]) == 0
    payload = torch.load(run / "model.pt", weights_only=True)
    marked, _ = load_model(run / "model.pt")
    payload["state_dict"] = {key: value for key, value in payload["state_dict"].items() if "_extra_state" not in key}
    torch.save(payload, run / "model.pt")
    unmarked, _ = load_model(run / "model.pt")
    x = torch.randn(2, 50, 1)
    torch.testing.assert_close(unmarked(x), marked(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    "arguments,error",
    [
        (dict(bias="False"), "bias must be a bool"),
        (dict(batch_first="False"), "batch_first must be a bool"),
        (dict(bidirectional="no"), "bidirectional must be a bool"),
        (dict(reset_after="False"), "reset_after must be a bool"),
        (dict(reset_after=1), "reset_after must be a bool"),
    ],
)
def test_a_switch_given_as_text_is_refused(arguments, error):
    """ "False" is true: it was taken as True while the repr printed False (torch refuses it too)."""
    with pytest.raises(TypeError, match=error):
        grunet.GRU(3, 4, **arguments)
    if "batch_first" not in arguments and "bidirectional" not in arguments:
        with pytest.raises(TypeError, match=error):
            grunet.GRUCell(3, 4, **arguments)


def test_numpy_numbers_are_taken_as_torch_takes_them():
    gru = grunet.GRU(np.int64(3), np.int32(4), num_layers=np.int64(2), dropout=np.float32(0.25), bias=np.bool_(True))
    assert (gru.input_size, gru.hidden_size, gru.num_layers, gru.dropout) == (3, 4, 2, 0.25)
    assert type(gru.hidden_size) is int and type(gru.bias) is bool


def test_hx_is_torchs_keyword_for_the_initial_state():
    torch.manual_seed(0)
    gru = grunet.GRU(3, 4, reset_after=True)
    x, h0 = torch.randn(5, 2, 3), torch.randn(1, 2, 4)
    torch.testing.assert_close(gru(x, hx=h0)[0], gru.to_torch()(x, hx=h0)[0])


@pytest.mark.parametrize("training", [True, False])
def test_a_converted_module_keeps_its_mode_and_frozen_weights(training):
    torch.manual_seed(0)
    theirs = nn.GRU(3, 4, num_layers=2, dropout=0.5).train(training)
    theirs.weight_ih_l0.requires_grad_(False)
    ours = grunet.GRU.from_torch(theirs)
    assert ours.training == training and not ours.weight_ih_l0.requires_grad and ours.weight_hh_l0.requires_grad
    back = ours.to_torch()
    assert back.training == training and not back.weight_ih_l0.requires_grad
    if not training:  # no dropout: the same function
        x = torch.randn(5, 2, 3)
        torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_from_torch_names_the_class_it_got_by_module():
    with pytest.raises(TypeError, match="got grunet.layer.GRU"):
        grunet.GRU.from_torch(grunet.GRU(3, 4))


def test_unbatched_input_and_default_h0():
    torch.manual_seed(0)
    gru = grunet.GRU(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    output, h_n = gru(x)
    assert output.shape == (5, 8) and h_n.shape == (4, 4)
    batched_output, batched_h_n = gru(x.unsqueeze(1), torch.zeros(4, 1, 4, dtype=torch.float64))
    assert torch.equal(output, batched_output.squeeze(1)) and torch.equal(h_n, batched_h_n.squeeze(1))
    output_h0, _ = gru(x, torch.zeros(4, 4, dtype=torch.float64))
    assert torch.equal(output, output_h0)


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first,with_h0",
    [(1, False, False, True), (2, True, True, False), (3, False, True, True), (1, True, False, False)],
)
def test_gradcheck_gru(reset_after, num_layers, bidirectional, batch_first, with_h0):
    torch.manual_seed(1)
    gru = grunet.GRU(
        2, 3, num_layers, batch_first=batch_first, bidirectional=bidirectional, reset_after=reset_after
    ).double()
    x, h0 = _inputs(gru, T=4, B=2, with_h0=with_h0)
    params = list(gru.parameters())
    names = [name for name, _ in gru.named_parameters()]

    def run(x, *tensors):
        h = tensors[0] if with_h0 else None
        weights = dict(zip(names, tensors[1 if with_h0 else 0 :]))
        return torch.func.functional_call(gru, weights, (x, h))

    assert torch.autograd.gradcheck(run, (x, *([h0] if with_h0 else []), *params))


def test_dropout_applies_between_layers_only_in_training():
    torch.manual_seed(0)
    gru = grunet.GRU(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    gru.eval()
    assert torch.equal(gru(x)[0], gru(x)[0])
    gru.train()
    assert not torch.equal(gru(x)[0], gru(x)[0])
    single = grunet.GRU(3, 8, num_layers=1, dropout=0.5).train()
    assert torch.equal(single(x)[0], single(x)[0])  # no layer after the last: no dropout


@pytest.mark.parametrize(
    "batch_first,layout", [(True, r"\(batch, seq, input_size\)"), (False, r"\(seq, batch, input_size\)")]
)
def test_wrong_rank_names_the_layout_and_shape(batch_first, layout):
    gru = grunet.GRU(1, 4, batch_first=batch_first)
    with pytest.raises(ValueError, match=layout) as error:
        gru(torch.randn(8, 50))  # the tutorial's mistake: a missing feature dimension, read as unbatched (T, I)=...
    assert "(8, 50)" in str(error.value)
    with pytest.raises(ValueError, match=layout) as error:
        gru(torch.randn(2, 3, 4, 1))
    assert "4-D" in str(error.value) and "(2, 3, 4, 1)" in str(error.value)


def test_bad_inputs_raise_clear_errors():
    gru = grunet.GRU(3, 4, num_layers=2, batch_first=True)
    with pytest.raises(ValueError, match=r"input_size=3.*\(2, 5, 7\)"):
        gru(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 4\).*\(1, 2, 4\)"):
        gru(torch.randn(2, 5, 3), torch.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="float64.*float32"):
        gru(torch.randn(2, 5, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="hx has dtype"):
        gru(torch.randn(2, 5, 3), torch.zeros(2, 2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="empty sequence"):
        gru(torch.randn(2, 0, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        gru([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="device"):
        gru(torch.randn(2, 5, 3, device="meta"))
    for bad in (
        dict(input_size=0, hidden_size=3),
        dict(input_size=2, hidden_size=3, num_layers=0),
        dict(input_size=2, hidden_size=3, dropout=1.5),
    ):
        with pytest.raises(ValueError):
            grunet.GRU(**bad)


def test_batch_first_and_time_major_agree():
    torch.manual_seed(0)
    time_major = grunet.GRU(3, 4, num_layers=2, bidirectional=True).double()
    batch_first = grunet.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    batch_first.load_state_dict(time_major.state_dict())
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out_tm, h_tm = time_major(x)
    out_bf, h_bf = batch_first(x.transpose(0, 1))
    assert torch.allclose(out_tm, out_bf.transpose(0, 1), atol=1e-14) and torch.allclose(h_tm, h_bf, atol=1e-14)


def test_output_reshapes_like_torch_and_single_layer_dropout_warns():
    torch.manual_seed(0)
    for bidirectional in (False, True):
        gru = grunet.GRU(2, 3, num_layers=2, bidirectional=bidirectional, reset_after=True)
        reference = gru.to_torch()
        x = torch.randn(5, 4, 2)
        output, expected = gru(x)[0], reference(x)[0]
        D = 2 if bidirectional else 1
        assert torch.allclose(output.reshape(5, 4, D, 3), expected.view(5, 4, D, 3), atol=1e-6)
        assert torch.allclose(output.reshape(-1, D * 3), expected.view(-1, D * 3), atol=1e-6)
    with pytest.warns(UserWarning, match="num_layers=1"):
        grunet.GRU(2, 3, dropout=0.5)


@pytest.mark.parametrize("reset_after", [False, True])
def test_a_traced_gru_computes_what_the_module_does(reset_after):
    """torch.jit.trace (also under no_grad) and the TorchScript ONNX exporter see plain torch ops: the compiled
    loop's ctypes call is invisible to a trace, which had kept its unfilled buffer (values up to 1e24)."""
    torch.manual_seed(0)
    gru = grunet.GRU(3, 8, num_layers=2, batch_first=True, reset_after=reset_after)
    x, other = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's warnings about Python values
        with torch.no_grad():
            traced = torch.jit.trace(gru, (x,))
        traced_with_grad = torch.jit.trace(gru, (x,))
    expected = gru(other)[0]
    torch.testing.assert_close(traced(other)[0], expected)
    torch.testing.assert_close(traced_with_grad(other)[0], expected)


def test_torch_onnx_export_of_a_model_holding_a_gru_runs_in_onnxruntime(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    gru = grunet.GRU(3, 8, batch_first=True)
    x = torch.randn(2, 5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(gru, (x,), str(tmp_path / "gru.onnx"), dynamo=False, input_names=["x"])
    session = onnxruntime.InferenceSession(str(tmp_path / "gru.onnx"))
    got = session.run(None, {"x": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), gru(x)[0].detach())


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_packed_batch_gives_torchs_outputs_states_and_gradients(bidirectional, enforce_sorted, batch_first):
    """Sequences of different lengths as a PackedSequence: each one's final state is the one after its own last
    step, the reverse direction starts there, hx and h_n are in the batch's order (it was refused)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    torch.manual_seed(0)
    kwargs = dict(num_layers=2, bidirectional=bidirectional, batch_first=batch_first, dtype=torch.float64)
    theirs = nn.GRU(3, 4, **kwargs)
    ours = grunet.GRU.from_torch(theirs)
    lengths = torch.tensor([5, 4, 3, 1] if enforce_sorted else [3, 5, 1, 4])
    x = torch.randn(4, 5, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2 * (1 + bidirectional), 4, 4, dtype=torch.float64, requires_grad=True)
    results = []
    for module in (theirs, ours):
        packed = pack_padded_sequence(x if batch_first else x.transpose(0, 1), lengths, batch_first, enforce_sorted)
        output, h_n = module(packed, h0)
        grads = torch.autograd.grad(output.data.pow(2).sum() + h_n.sum(), (x, h0, *module.parameters()))
        results.append((output, h_n, grads))
    (expected, expected_h, expected_grads), (got, got_h, got_grads) = results
    assert torch.equal(got.batch_sizes, expected.batch_sizes)
    for index in ("sorted_indices", "unsorted_indices"):
        assert (getattr(got, index) is None) == (getattr(expected, index) is None)
    torch.testing.assert_close(got.data, expected.data)
    torch.testing.assert_close(got_h, expected_h)
    for name, a, b in zip(["x", "h0", *dict(ours.named_parameters())], got_grads, expected_grads):
        if "weight" in name or "bias" in name:  # the z rows are negated
            a = grunet.equations.negate_update_gate(a)
        torch.testing.assert_close(a, b, msg=name)


def test_a_packed_batch_in_the_tutorials_form_runs_each_sequence_alone():
    from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

    torch.manual_seed(0)
    gru = grunet.GRU(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    sequences = [torch.randn(length, 3, dtype=torch.float64) for length in (2, 6, 4)]
    output, h_n = gru(pack_sequence(sequences, enforce_sorted=False))
    padded, lengths = pad_packed_sequence(output)
    for index, sequence in enumerate(sequences):
        alone, alone_h = gru(sequence)  # unbatched
        torch.testing.assert_close(padded[: lengths[index], index], alone)
        torch.testing.assert_close(h_n[:, index], alone_h)


def test_scripting_is_refused_in_words_that_say_what_works():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch's: jit.script is deprecated
        with pytest.raises(RuntimeError, match="cannot be scripted.*torch.jit.trace"):
            torch.jit.script(nn.Sequential(grunet.GRU(3, 4)))
