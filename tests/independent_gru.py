"""An independent implementation of the tutorial's GRU, written from the tutorial's text alone, for tests.

It uses the tutorial's own form, one weight matrix per gate acting on the concatenation [h_{t-1}, x_t]:

    z_t = σ(W_z·[h_{t-1}, x_t] + b_z)
    r_t = σ(W_r·[h_{t-1}, x_t] + b_r)
    h̃_t = tanh(W·[r_t ∗ h_{t-1}, x_t] + b)
    h_t = (1 − z_t) ∗ h_{t-1} + z_t ∗ h̃_t

and shares no code with grunet: it only reads grunet's parameters by name and reassembles the concatenated matrices.
"""

from __future__ import annotations

import torch


def tutorial_step(x, h, W_z, b_z, W_r, b_r, W, b):
    """x (B, I), h (B, H); W_· (H, H + I) act on [h, x]."""
    z = torch.sigmoid(torch.cat([h, x], dim=1) @ W_z.T + b_z)
    r = torch.sigmoid(torch.cat([h, x], dim=1) @ W_r.T + b_r)
    h_tilde = torch.tanh(torch.cat([r * h, x], dim=1) @ W.T + b)
    return (1 - z) * h + z * h_tilde


def gate_matrices(weight_ih, weight_hh, bias_ih, bias_hh):
    """grunet's stacked (r, z, n) blocks -> the tutorial's W_z, b_z, W_r, b_r, W, b over [h, x]."""
    H = weight_hh.shape[1]
    blocks = {}
    for name, rows in (("r", slice(0, H)), ("z", slice(H, 2 * H)), ("n", slice(2 * H, 3 * H))):
        matrix = torch.cat([weight_hh[rows], weight_ih[rows]], dim=1)
        bias = torch.zeros(H, dtype=weight_ih.dtype)
        if bias_ih is not None:
            bias = bias_ih[rows] + bias_hh[rows]
        blocks[name] = (matrix, bias)
    return (*blocks["z"], *blocks["r"], *blocks["n"])


def tutorial_gru(module, x, h0=None):
    """Runs the tutorial's equations with `module`'s parameters (a grunet.GRU, reset_after=False).

    x in the module's layout; returns (output, h_n) in the module's layout, batched input only.
    """
    if module.batch_first:
        x = x.transpose(0, 1)
    T, B, _ = x.shape
    D = 2 if module.bidirectional else 1
    H = module.hidden_size
    if h0 is None:
        h0 = torch.zeros(module.num_layers * D, B, H, dtype=x.dtype)
    layer_input, finals = x, []
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(D):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            params = gate_matrices(
                getattr(module, "weight_ih" + suffix),
                getattr(module, "weight_hh" + suffix),
                getattr(module, "bias_ih" + suffix, None),
                getattr(module, "bias_hh" + suffix, None),
            )
            h = h0[layer * D + direction]
            states = [None] * T
            for t in reversed(range(T)) if direction else range(T):
                h = tutorial_step(layer_input[t], h, *params)
                states[t] = h
            outputs.append(torch.stack(states))
            finals.append(h)
        layer_input = torch.cat(outputs, dim=2)
    output = layer_input.transpose(0, 1) if module.batch_first else layer_input
    return output, torch.stack(finals)
