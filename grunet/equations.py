"""The tutorial's four GRU equations, written once, readably: the reference every fast path is tested against.

Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder", https://arxiv.org/abs/1406.1078 (v3).

The tutorial this project implements writes one step as

    z_t = σ(W_z · [h_{t-1}, x_t])                 update gate
    r_t = σ(W_r · [h_{t-1}, x_t])                 reset gate
    h̃_t = tanh(W · [r_t ∗ h_{t-1}, x_t])          candidate state
    h_t = (1 − z_t) ∗ h_{t-1} + z_t ∗ h̃_t         new state

grunet stores each `W_· [h, x]` as two blocks, as torch.nn.GRU does: `W_· [h, x] = W_h· h + W_i· x`, with biases
`b_i·` and `b_h·`. The rows of `weight_ih` / `weight_hh` are stacked in torch's gate order (r, z, n), n being h̃.

Two variants:

- ``reset_after=False`` (grunet's default): the tutorial exactly. The reset gate multiplies h *before* the recurrent
  matmul, ``h̃ = tanh(W_in x + b_in + W_hn (r ∗ h) + b_hn)``. Same as Keras ``reset_after=False`` and ONNX GRU
  ``linear_before_reset=0``.
- ``reset_after=True``: torch.nn.GRU's and cuDNN's form, ``h̃ = tanh(W_in x + b_in + r ∗ (W_hn h + b_hn))``.

In both variants grunet keeps the tutorial's update, ``h' = (1 − z) ∗ h + z ∗ h̃``. torch.nn.GRU, Keras and ONNX write
``h' = z ∗ h + (1 − z) ∗ h̃``: their z is the complement of ours. Since σ(−a) = 1 − σ(a), negating the z rows of
both weights and both biases converts one convention into the other (see `negate_update_gate`).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor


def gru_cell_reference(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    reset_after: bool = False,
) -> Tensor:
    """One GRU step, the four equations as written. Plain autograd, no fusion: slow, for reading and testing.

    Args:
        x: (batch, input_size) input at step t.
        h: (batch, hidden_size) state h_{t-1}.
        weight_ih: (3*hidden_size, input_size), rows r, z, n.
        weight_hh: (3*hidden_size, hidden_size), rows r, z, n.
        bias_ih, bias_hh: (3*hidden_size,) or None.
        reset_after: False for the tutorial's form, True for torch's.
    Returns:
        (batch, hidden_size) the new state h_t.
    """
    W_ir, W_iz, W_in = weight_ih.chunk(3, dim=0)
    W_hr, W_hz, W_hn = weight_hh.chunk(3, dim=0)
    zero = x.new_zeros(W_ir.shape[0])
    b_ir, b_iz, b_in = bias_ih.chunk(3) if bias_ih is not None else (zero, zero, zero)
    b_hr, b_hz, b_hn = bias_hh.chunk(3) if bias_hh is not None else (zero, zero, zero)

    z = torch.sigmoid(h @ W_hz.T + b_hz + x @ W_iz.T + b_iz)  # update gate   z = σ(W_z·[h, x])
    r = torch.sigmoid(h @ W_hr.T + b_hr + x @ W_ir.T + b_ir)  # reset gate    r = σ(W_r·[h, x])
    if reset_after:
        h_tilde = torch.tanh(r * (h @ W_hn.T + b_hn) + x @ W_in.T + b_in)  # torch's form: r after the matmul
    else:
        h_tilde = torch.tanh((r * h) @ W_hn.T + b_hn + x @ W_in.T + b_in)  # candidate     h̃ = tanh(W·[r∗h, x])
    return (1 - z) * h + z * h_tilde  # new state     h' = (1−z)∗h + z∗h̃


def gru_layer_reference(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reset_after: bool = False,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """One direction of one layer over a whole sequence, step by step with `gru_cell_reference`.

    Args:
        x: (seq, batch, input_size).
        h0: (batch, hidden_size).
    Returns:
        output (seq, batch, hidden_size), the state after each step in input order, and h_n (batch, hidden_size).
    """
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    h = h0
    outputs: list[Tensor | None] = [None] * x.shape[0]
    for t in steps:
        h = gru_cell_reference(x[t], h, weight_ih, weight_hh, bias_ih, bias_hh, reset_after)
        outputs[t] = h
    return torch.stack(cast(list[Tensor], outputs)), h  # every step filled


def negate_update_gate(tensor: Tensor) -> Tensor:
    """Converts weights or biases between grunet's z and torch's z (= 1 − ours): negates the z block (rows H..2H)."""
    hidden_size = tensor.shape[0] // 3
    out = tensor.clone()
    out[hidden_size : 2 * hidden_size] = -out[hidden_size : 2 * hidden_size]
    return out
