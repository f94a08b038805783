"""The reference equations (`grunet.equations`): one step against an independent implementation of the tutorial's
text and against torch.nn.GRUCell, the tutorial's update-gate convention, a whole sequence in both directions, and
the conversion of the update gate between grunet's convention and torch's."""

import pytest
import torch
from independent_gru import gate_matrices, tutorial_step
from torch import nn

import grunet
from grunet.equations import gru_cell_reference, gru_layer_reference, negate_update_gate


def _weights(input_size=3, hidden_size=4, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1

    return (
        rand(3 * hidden_size, input_size),
        rand(3 * hidden_size, hidden_size),
        rand(3 * hidden_size),
        rand(3 * hidden_size),
    )


def test_one_step_is_the_tutorials_four_equations():
    weight_ih, weight_hh, bias_ih, bias_hh = _weights()
    generator = torch.Generator().manual_seed(1)
    x, h = (
        torch.randn(5, 3, generator=generator, dtype=torch.float64),
        torch.randn(5, 4, generator=generator, dtype=torch.float64),
    )
    got = gru_cell_reference(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    expected = tutorial_step(x, h, *gate_matrices(weight_ih, weight_hh, bias_ih, bias_hh))
    assert got.shape == (5, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # no biases: the same as zero biases
    zeros = torch.zeros(12, dtype=torch.float64)
    torch.testing.assert_close(
        gru_cell_reference(x, h, weight_ih, weight_hh),
        gru_cell_reference(x, h, weight_ih, weight_hh, zeros, zeros),
        rtol=0,
        atol=0,
    )


def test_update_gate_uses_the_tutorials_convention():
    """z → 1 (large z bias) must give h' = h̃, not h: the tutorial's z multiplies the candidate."""
    cell = grunet.GRUCell(2, 3).double()
    with torch.no_grad():
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        cell.bias_ih[3:6] = 50.0  # z ≈ 1
    x, h = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    h_next = cell(x, h)
    h_tilde = torch.tanh(
        x @ cell.weight_ih[6:].T
        + (torch.sigmoid(x @ cell.weight_ih[:3].T + h @ cell.weight_hh[:3].T) * h) @ cell.weight_hh[6:].T
    )
    assert torch.allclose(h_next, h_tilde, atol=1e-12)
    assert not torch.allclose(h_next, h, atol=1e-3)


@pytest.mark.parametrize("reset_after", [False, True])
def test_a_closed_update_gate_keeps_the_old_state(reset_after):
    weight_ih, weight_hh, bias_ih, bias_hh = _weights()
    bias_ih = bias_ih.clone()
    bias_ih[4:8] = -50.0  # z ≈ 0: h' = h
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    torch.testing.assert_close(
        gru_cell_reference(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after), h, rtol=0, atol=1e-12
    )


def test_the_variants_differ_only_where_the_reset_gate_is_applied():
    """From h = 0 the forms give tanh(W_in x + b_in + b_hn) and tanh(W_in x + b_in + r ∗ b_hn): the same step exactly
    when b_hn = 0; from any other state they differ."""
    weight_ih, weight_hh, bias_ih, bias_hh = _weights(seed=3)
    x, h = torch.randn(3, 3, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    before = gru_cell_reference(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=False)
    after = gru_cell_reference(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=True)
    assert (before - after).abs().max() > 1e-3
    zero = torch.zeros(3, 4, dtype=torch.float64)
    from_zero = [
        gru_cell_reference(x, zero, weight_ih, weight_hh, bias_ih, bias_hh, reset_after=variant)
        for variant in (False, True)
    ]
    assert (from_zero[0] - from_zero[1]).abs().max() > 1e-3
    no_b_hn = bias_hh.clone()
    no_b_hn[8:] = 0
    torch.testing.assert_close(
        gru_cell_reference(x, zero, weight_ih, weight_hh, bias_ih, no_b_hn, reset_after=False),
        gru_cell_reference(x, zero, weight_ih, weight_hh, bias_ih, no_b_hn, reset_after=True),
        rtol=0,
        atol=1e-12,
    )


def test_reset_after_is_torchs_gru_cell_with_the_update_gate_negated():
    torch.manual_seed(0)
    reference = nn.GRUCell(3, 4).double()
    x, h = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    got = gru_cell_reference(
        x,
        h,
        *(
            negate_update_gate(p.detach())
            for p in (reference.weight_ih, reference.weight_hh, reference.bias_ih, reference.bias_hh)
        ),
        reset_after=True,
    )
    torch.testing.assert_close(got, reference(x, h), rtol=0, atol=1e-12)
    unconverted = gru_cell_reference(
        x, h, reference.weight_ih, reference.weight_hh, reference.bias_ih, reference.bias_hh, reset_after=True
    )
    assert (unconverted - reference(x, h)).abs().max() > 1e-3  # torch's z is the complement of ours


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_layer_is_the_step_applied_in_order(reset_after, reverse):
    weight_ih, weight_hh, bias_ih, bias_hh = _weights(seed=5)
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(5, 2, 3, generator=generator, dtype=torch.float64)  # (T, B, I)
    h0 = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    output, h_n = gru_layer_reference(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reset_after, reverse)
    assert output.shape == (5, 2, 4) and h_n.shape == (2, 4)
    h, expected = h0, [None] * 5
    for t in reversed(range(5)) if reverse else range(5):
        h = gru_cell_reference(x[t], h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after)
        expected[t] = h
    torch.testing.assert_close(output, torch.stack(expected), rtol=0, atol=0)  # outputs in input order
    torch.testing.assert_close(h_n, output[0] if reverse else output[-1], rtol=0, atol=0)


@pytest.mark.parametrize("bias", [True, False])
def test_a_reset_after_layer_is_torchs_gru(bias):
    torch.manual_seed(2)
    reference = nn.GRU(3, 4, bias=bias).double()
    x, h0 = torch.randn(7, 2, 3, dtype=torch.float64), torch.randn(1, 2, 4, dtype=torch.float64)
    weights = [
        negate_update_gate(getattr(reference, name).detach()) if hasattr(reference, name) else None
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    ]
    output, h_n = gru_layer_reference(x, h0[0], *weights, reset_after=True)
    expected_output, expected_h_n = reference(x, h0)
    torch.testing.assert_close(output, expected_output, rtol=0, atol=1e-12)
    torch.testing.assert_close(h_n, expected_h_n[0], rtol=0, atol=1e-12)


def test_negate_update_gate_flips_the_z_block_only_and_undoes_itself():
    weight = torch.arange(1.0, 19.0).reshape(6, 3)  # hidden size 2: rows r 0-1, z 2-3, n 4-5
    flipped = negate_update_gate(weight)
    torch.testing.assert_close(flipped[2:4], -weight[2:4])
    torch.testing.assert_close(flipped[:2], weight[:2])
    torch.testing.assert_close(flipped[4:], weight[4:])
    assert weight[2, 0] == 7.0  # a copy: the input is unchanged
    torch.testing.assert_close(negate_update_gate(flipped), weight)
    bias = torch.arange(1.0, 7.0)
    assert negate_update_gate(bias).tolist() == [1.0, 2.0, -3.0, -4.0, 5.0, 6.0]
