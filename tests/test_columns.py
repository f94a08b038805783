"""grunet.columns: the (features, T, B) buffers in both layouts, one GEMM over all T·B columns, the gate order, and
the gradients of x, the weights and the biases from the gate gradients, against sums written out with einsum."""

import pytest
import torch

from grunet.columns import empty, input_and_weight_grads, matmul_into, padded, rzn, zrn


@pytest.mark.parametrize("feature_rows", [False, True])
def test_empty_is_logically_rows_steps_batch_in_either_layout(feature_rows):
    like = torch.zeros(1, dtype=torch.float64)
    buffer = empty(4, 3, 5, feature_rows, like)
    assert buffer.shape == (4, 3, 5) and buffer.dtype == torch.float64
    stored = buffer.permute(1, 0, 2) if feature_rows else buffer.permute(1, 2, 0)  # (T, F, B) or (T, B, F)
    assert stored.is_contiguous()


def test_padded_rows_are_an_odd_number_of_lines_apart():
    like = torch.zeros(1)  # float32: 16 to a 64-byte line
    long = padded(3, 64, 16, like)  # 1024 columns: 64 lines, one more makes the count odd
    assert long.shape == (3, 64, 16) and long.stride() == (1040, 16, 1)
    long.copy_(torch.arange(3 * 64 * 16, dtype=torch.float32).view(3, 64, 16))
    assert torch.equal(long.reshape(3, -1), torch.arange(3 * 1024, dtype=torch.float32).view(3, 1024))
    assert long.reshape(3, -1).data_ptr() == long.data_ptr()  # a view, no copy
    assert padded(3, 2, 3, like).stride() == (16, 3, 1)  # short rows (one line): not padded


@pytest.mark.parametrize("feature_rows", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_matmul_into_is_one_product_over_every_step(feature_rows, bias):
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    source = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)  # (K, T, B)
    offset = torch.randn(6, generator=generator, dtype=torch.float64) if bias else None
    out = empty(6, 3, 5, feature_rows, weight)
    matmul_into(weight, source, out, offset)
    want = torch.einsum("rk,ktb->rtb", weight, source) + (0 if offset is None else offset.view(6, 1, 1))
    torch.testing.assert_close(out, want, rtol=0, atol=1e-12)


def test_zrn_and_rzn_swap_the_first_two_gate_blocks():
    rows = torch.arange(6.0)  # gate blocks of 2: r, z, n
    assert zrn(rows).tolist() == [2.0, 3.0, 0.0, 1.0, 4.0, 5.0]
    assert torch.equal(rzn(*zrn(rows).chunk(3)), rows)


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("feature_rows", [False, True])
def test_input_and_weight_grads_are_the_sums_over_steps_and_batch(reset_after, reverse, feature_rows):
    T, B, I, H = 3, 5, 2, 4
    generator = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    d_rows = empty((4 if reset_after else 3) * H, T, B, feature_rows, rand(1))  # ((∂hn,) ∂a_z, ∂a_r, ∂a_n)
    d_rows.copy_(rand(*d_rows.shape))
    x, hidden, rh, weight_ih = rand(T, B, I), rand(H, T + 1, B), rand(H, T, B), rand(3 * H, I)
    got = input_and_weight_grads(
        d_rows, x, hidden, None if reset_after else rh, weight_ih, True, reset_after, reverse, (True,) * 6, feature_rows
    )

    d_gates = d_rows[H:] if reset_after else d_rows  # rows z, r, n
    d_z, d_r, d_n = d_gates.chunk(3)
    h_prev = hidden[:, 1:] if reverse else hidden[:, :-1]

    def outer(a, b):  # Σ over steps and batch of a (Fa, T, B) ⊗ b (Fb, T, B)
        return torch.einsum("ftb,gtb->fg", a, b)

    x_features = x.permute(2, 0, 1)
    s_z, s_r, s_n = (d.sum((1, 2)) for d in (d_z, d_r, d_n))
    want = [
        torch.einsum("gi,gtb->tbi", zrn(weight_ih), d_gates),
        torch.cat([outer(d_r, x_features), outer(d_z, x_features), outer(d_n, x_features)]),
        torch.cat(
            [outer(d_r, h_prev), outer(d_z, h_prev), outer(d_rows[:H], h_prev) if reset_after else outer(d_n, rh)]
        ),
        torch.cat([s_r, s_z, s_n]),
        torch.cat([s_r, s_z, d_rows[:H].sum((1, 2)) if reset_after else s_n]),
    ]
    for index, (g, w) in enumerate(zip(got, want)):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12, msg=lambda m: f"result {index}: {m}")
