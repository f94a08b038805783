"""Shipping a trained model: a GRUNet, or an Ensemble of them, as ONNX (the standard ONNX `GRU` operator) or
TorchScript, verified.

ONNX. The graph is written by hand with `onnx.helper` (torch.onnx's GRU export has had wrong
``linear_before_reset`` settings), one `GRU` node per layer, never an unrolled loop:

    input (batch, seq, F) ─ [window_norm: feature 0 minus its level (mean / last value), or divided by its mean
      absolute value (meanabs); with the mask (the last column, 1 observed / 0 padding) the means are over the
      observed steps, ReduceSum(x·mask) / Max(ReduceSum(mask), 1), and feature 0 is multiplied by the mask]
      ─ Transpose → (seq, batch, F) ─ GRU layer 0 → Y (seq, D, batch, H) ─ Transpose, Reshape
      → (seq, batch, D·H) ─ GRU layer 1 ─ ... ─ last step Y[-1] → (batch, D·H) ─ [future_size K > 0: Concat with
      future (batch, out, K) Reshaped to (batch, out·K), horizon step major] ─ Gemm (the Linear head)
      ─ [window_norm: + level, or · scale] → output (batch, out)

An Ensemble's N members share the normalised input and the reshaped future; each has its own GRU nodes and head
(node and initializer names prefixed m0_, m1_, ...). Their forecasts are Unsqueezed to (1, batch, out), Concatenated
to (N, batch, out) and sorted by TopK (k = N, axis 0); the output is the mean of the two middle ones (Gather,
ReduceMean), the median as `grunet.model.median` (numpy's) computes it.

Conversions from grunet's weights (rows r, z, n; h' = (1 − z)·h + z·h̃) to ONNX's (rows z, r, h;
h' = z·h + (1 − z)·h̃, so ONNX's z is 1 − ours): the z rows of W, R and both biases are negated
(`equations.negate_update_gate`, σ(−a) = 1 − σ(a)), then the row blocks are reordered to z, r, h.
``reset_after=False`` (the tutorial) is ``linear_before_reset=0``, ``reset_after=True`` is ``linear_before_reset=1``.
Batch and sequence length are dynamic; a bidirectional GRU is one node with ``direction="bidirectional"``.
Inputs: `INPUT_NAME` (batch, seq, input_size) and, with future_size K > 0, `FUTURE_NAME` (batch, out, K), float32.

TorchScript. grunet.GRU runs through a hand-written autograd.Function with Python loops, which tracing would
unroll to one sequence length; `ScriptableGRUNet` instead re-implements the forward (window norms, mask, future
input) with plain torch ops, the equations of `grunet.equations.gru_cell_reference` line by line, and is compiled
with `torch.jit.script`; `ScriptableEnsemble` takes the median of its members'. forward(x, future=None).

Every export is run (onnxruntime / torch.jit.load) on random inputs of several batch sizes and lengths (with
random known-future values, and random 0/1 masks whose last step is observed) and compared with the PyTorch model;
more than `TOLERANCE` max abs difference (float32) is an error and nothing is written.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from grunet.equations import negate_update_gate
from grunet.layer import GRU
from grunet.model import Ensemble, GRUNet, ModelConfig, masked_mean, median
from grunet.onnx_predict import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    FUTURE_NAME,
    METADATA_KEY,
    bundle_path,
    onnx_session,
)

ONNX_OPSET = 17          # GRU-14 (with `layout`), ReduceMean-13 with the axes attribute; onnxruntime >= 1.13
ONNX_IR_VERSION = 8      # the IR version of opset 17
TOLERANCE = 1e-5         # max abs difference allowed between an export and the PyTorch model (float32)
VERIFY_BATCH_SIZES = (1, 3, 16)
VERIFY_LENGTHS = (1, 7, 50)
INPUT_NAME, OUTPUT_NAME = "input", "output"
FORMATS = ("onnx", "torchscript")
_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class Verification:
    """How an export was checked: max abs difference to the PyTorch model over the (batch, seq) cases tried."""
    max_abs_diff: float
    batch_sizes: list[int]
    lengths: list[int]
    tolerance: float = TOLERANCE
    runtime: str = ""

    def to_dict(self) -> dict:
        return {"max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance, "batch_sizes": self.batch_sizes,
                "lengths": self.lengths, "runtime": self.runtime}


@dataclass
class ExportResult:
    path: Path
    format: str
    verification: Verification
    bundle: Path | None = None
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------- ONNX

class _Graph:
    """Nodes and initializers of an ONNX graph being written, with unique names (`prefix`, then a hint and a
    counter: an ensemble member's nodes are m0_..., m1_...)."""

    def __init__(self) -> None:
        import onnx.helper
        import onnx.numpy_helper
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self.prefix = ""
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, hint: str, value) -> str:
        name = self.name(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def ints(self, hint: str, values) -> str:
        return self.const(hint, np.array(values, dtype=np.int64))

    def node(self, op: str, inputs: list[str], hint: str | None = None, outputs: int = 1, **attributes) -> list[str]:
        names = [self.name(hint or op.lower()) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op, inputs, names, name=self.name(op), **attributes))
        return names

    def one(self, op: str, inputs: list[str], hint: str | None = None, **attributes) -> str:
        return self.node(op, inputs, hint, 1, **attributes)[0]


def _onnx_rows(tensor: Tensor, hidden_size: int) -> np.ndarray:
    """grunet rows (r, z, n), tutorial z -> ONNX rows (z, r, h), ONNX z (= 1 − ours): negate z, reorder."""
    r, z, n = negate_update_gate(tensor.detach().cpu().float()).split(hidden_size, dim=0)
    return torch.cat([z, r, n]).numpy()


def _gru_nodes(graph: _Graph, gru: GRU, x: str) -> tuple[str, list[str]]:
    """One ONNX GRU node per layer. x: (seq, batch, input_size). Returns the last layer's Y (seq, D, batch, H) and
    every layer's Y_h (D, batch, H)."""
    hidden, directions = gru.hidden_size, gru.num_directions
    y, states = x, []
    for layer in range(gru.num_layers):
        if layer > 0:  # Y (seq, D, batch, H) -> (seq, batch, D*H): both directions side by side, as grunet
            if directions == 1:
                y = graph.one("Squeeze", [y, graph.ints("axis1", [1])], "layer_input")
            else:
                y = graph.one("Transpose", [y], "y_sbdh", perm=[0, 2, 1, 3])
                y = graph.one("Reshape", [y, graph.ints("shape_s_b_dh", [0, 0, -1])], "layer_input")
        W, R, B = [], [], []
        for direction in range(directions):
            weight_ih, weight_hh, bias_ih, bias_hh = gru._layer_weights(layer, direction)
            W.append(_onnx_rows(weight_ih, hidden))
            R.append(_onnx_rows(weight_hh, hidden))
            if bias_ih is not None:
                B.append(np.concatenate([_onnx_rows(bias_ih, hidden), _onnx_rows(bias_hh, hidden)]))
        inputs = [y, graph.const(f"W_l{layer}", np.stack(W)), graph.const(f"R_l{layer}", np.stack(R))]
        if B:
            inputs.append(graph.const(f"B_l{layer}", np.stack(B)))
        y, y_h = graph.node("GRU", inputs, f"gru_l{layer}", outputs=2, hidden_size=hidden,
                            direction="bidirectional" if directions == 2 else "forward",
                            linear_before_reset=int(gru.reset_after), layout=0)
        states.append(y_h)
    return y, states


def _make_model(graph: _Graph, inputs: list, outputs: list, name: str, doc: str, metadata: dict | None):
    import onnx
    helper = onnx.helper
    onnx_graph = helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              ir_version=ONNX_IR_VERSION, producer_name="grunet", doc_string=doc)
    if metadata:
        helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ValueError(f"the ONNX graph does not pass onnx.checker: {' '.join(str(error).split())[:300]}") \
            from None
    return model


def _members(model: nn.Module) -> list[GRUNet]:
    """The GRUNets behind a model: an Ensemble's members, or the GRUNet itself."""
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    for member in members:
        gru, fc = getattr(member, "gru", None), getattr(member, "fc", None)
        if not isinstance(gru, GRU) or not isinstance(fc, nn.Linear):
            raise TypeError(f"the export expects a GRUNet or an Ensemble of them (a grunet.GRU and a Linear head), "
                            f"got {type(gru).__name__} and {type(fc).__name__}")
    return members


def _masked_mean_nodes(graph: _Graph, values: str, observed: str | None, hint: str) -> str:
    """(batch, seq, 1) -> (batch, 1, 1): the mean over the observed steps (all when `observed` is None), as
    `grunet.model.masked_mean`: sum(values·observed) / max(sum(observed), 1)."""
    if observed is None:
        return graph.one("ReduceMean", [values], hint, axes=[1], keepdims=1)
    axis1 = graph.ints("axis1", [1])
    masked = graph.one("Mul", [values, observed], "observed_values")
    total = graph.one("ReduceSum", [masked, axis1], "observed_total", keepdims=1)
    count = graph.one("ReduceSum", [observed, axis1], "observed_count", keepdims=1)
    count = graph.one("Max", [count, graph.const("one_float", np.array(1, dtype=np.float32))], "observed_count")
    return graph.one("Div", [total, count], hint)


def _window_norm_nodes(graph: _Graph, window_norm: str, mask: bool, input_size: int
                       ) -> tuple[str, str | None, str | None]:
    """The input with feature 0 normalised, (batch, seq, F), and the level to add back (window_norm mean / last)
    or the scale to multiply back (meanabs), (batch, 1, 1), the other None. With `mask`, the last column marks the
    observed steps: the levels use those only and the padded steps of feature 0 are zeroed."""
    if window_norm == "none":
        return INPUT_NAME, None, None
    end = graph.ints("end", [_INT64_MAX])
    target = graph.one("Slice", [INPUT_NAME, graph.ints("zero", [0]), graph.ints("one", [1]),
                                 graph.ints("axis2", [2])], "target")  # (batch, seq, 1)
    observed = (graph.one("Slice", [INPUT_NAME, graph.ints("minus_one", [-1]), end, graph.ints("axis2", [2])],
                          "observed") if mask else None)  # (batch, seq, 1): 1 observed, 0 padding
    level, scale = None, None
    if window_norm == "last":
        level = graph.one("Slice", [target, graph.ints("minus_one", [-1]), end, graph.ints("axis1", [1])], "level")
    elif window_norm == "mean":
        level = _masked_mean_nodes(graph, target, observed, "level")
    else:  # meanabs
        mean_abs = _masked_mean_nodes(graph, graph.one("Abs", [target], "target_abs"), observed, "mean_abs")
        scale = graph.one("Max", [mean_abs, graph.const("min_scale", np.array(1e-8, dtype=np.float32))], "scale")
    if level is not None:
        x = graph.one("Sub", [target, level], "target_shifted")
    else:
        x = graph.one("Div", [target, scale], "target_scaled")
    if observed is not None:
        x = graph.one("Mul", [x, observed], "target_masked")
    if input_size > 1:
        rest = graph.one("Slice", [INPUT_NAME, graph.ints("one", [1]), end, graph.ints("axis2", [2])], "features")
        x = graph.one("Concat", [x, rest], "normalised", axis=2)
    return x, level, scale


def _member_nodes(graph: _Graph, model: GRUNet, x: str, future: str | None) -> str:
    """One GRUNet's GRU and head on the (normalised) input x (batch, seq, F): its prediction (batch, out), before
    the window norm's level or scale is put back. future: the known-future values flattened, (batch, out·K)."""
    gru, fc = model.gru, model.fc
    if gru.batch_first:
        x = graph.one("Transpose", [x], "x_sbf", perm=[1, 0, 2])  # (seq, batch, F): the GRU's layout 0
    y, _ = _gru_nodes(graph, gru, x)
    last = graph.one("Gather", [y, graph.const("last_step", np.array(-1, dtype=np.int64))], "last", axis=0)
    if gru.num_directions == 1:  # (D, batch, H) -> (batch, D*H)
        last = graph.one("Squeeze", [last, graph.ints("axis0", [0])], "last_bh")
    else:
        last = graph.one("Transpose", [last], "last_bdh", perm=[1, 0, 2])
        last = graph.one("Reshape", [last, graph.ints("shape_b_dh", [0, -1])], "last_bh")
    if future is not None:
        last = graph.one("Concat", [last, future], "head_input", axis=1)  # (batch, D*H + out*K)
    gemm_inputs = [last, graph.const("fc_weight", fc.weight.detach().cpu().float().numpy())]
    if fc.bias is not None:
        gemm_inputs.append(graph.const("fc_bias", fc.bias.detach().cpu().float().numpy()))
    return graph.one("Gemm", gemm_inputs, "prediction", transB=1)


def _median_nodes(graph: _Graph, forecasts: list[str]) -> str:
    """N × (batch, out) -> (batch, out): the median over the members as `grunet.model.median`, the mean of the two
    middle values (the same one twice for odd N) of the N sorted by TopK."""
    count = len(forecasts)
    axis0 = graph.ints("axis0", [0])
    stacked = graph.one("Concat", [graph.one("Unsqueeze", [forecast, axis0], "forecast_1bo")
                                   for forecast in forecasts], "forecasts", axis=0)  # (N, batch, out)
    ordered, _ = graph.node("TopK", [stacked, graph.ints("count", [count])], "ordered", outputs=2, axis=0,
                            largest=1, sorted=1)
    middle = graph.one("Gather", [ordered, graph.ints("middle", [(count - 1) // 2, count // 2])], "middle", axis=0)
    return graph.one("ReduceMean", [middle], "median", axes=[0], keepdims=0)


def grunet_to_onnx(model: GRUNet | Ensemble, metadata: dict | None = None):
    """The whole GRUNet or Ensemble as an `onnx.ModelProto`: input (batch, seq, input_size) float32, and with
    future_size K > 0 future (batch, output_size, K) float32 -> output (batch, output_size).

    Works for any ``model.gru`` (layers, bidirectional, bias or not) with ``model.fc`` on the last step's
    (D·H) output and the known-future values, and the model's window_norm and mask. `metadata`: string key/values
    stored in the file."""
    import onnx
    members = _members(model)
    config, gru = members[0].config, members[0].gru
    graph = _Graph()
    x, level, scale = _window_norm_nodes(graph, config.window_norm, config.mask, gru.input_size)
    future = None
    if config.future_size:  # (batch, out, K) -> (batch, out*K), horizon step major, as torch's reshape
        future = graph.one("Reshape", [FUTURE_NAME, graph.ints("shape_b_flat", [0, -1])], "future_flat")
    factor = None  # the level (added back) or scale (multiplied back), (batch, 1, 1) -> (batch, 1)
    if level is not None or scale is not None:
        factor = graph.one("Squeeze", [scale if level is None else level, graph.ints("axis1", [1])], "factor_b1")
    forecasts = []
    for index, member in enumerate(members):
        graph.prefix = f"m{index}_" if len(members) > 1 else ""
        prediction = _member_nodes(graph, member, x, future)
        if factor is not None:
            prediction = graph.one("Mul" if level is None else "Add", [prediction, factor], "forecast")
        forecasts.append(prediction)
    graph.prefix = ""
    result = forecasts[0] if len(members) == 1 else _median_nodes(graph, forecasts)
    assert list(graph.nodes[-1].output) == [result]  # the last node's only output, used by no other node
    graph.nodes[-1].output[0] = OUTPUT_NAME
    float32 = onnx.TensorProto.FLOAT
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, ["batch", "seq", gru.input_size])]
    if future is not None:
        inputs.append(onnx.helper.make_tensor_value_info(FUTURE_NAME, float32,
                                                         ["batch", config.output_size, config.future_size]))
    outputs = [onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, ["batch", members[0].fc.out_features])]
    doc = (f"grunet GRUNet: GRU ({gru.num_layers} layer(s), hidden {gru.hidden_size}, "
           f"{'bidirectional' if gru.bidirectional else 'forward'}, "
           f"linear_before_reset={int(gru.reset_after)}), Linear head on the last step"
           f"{f' and {config.future_size} known-future column(s)' if config.future_size else ''}, "
           f"window_norm={config.window_norm}{', masked' if config.mask else ''}"
           f"{f'; the median of an ensemble of {len(members)}' if len(members) > 1 else ''}")
    return _make_model(graph, inputs, outputs, "grunet", doc, metadata)


def gru_to_onnx(gru: GRU):
    """A bare grunet.GRU as an `onnx.ModelProto` with zero initial state: input (seq, batch, in), or
    (batch, seq, in) when batch_first -> output (same layout, D·H features) and h_n (layers·D, batch, H)."""
    import onnx
    graph = _Graph()
    x = graph.one("Transpose", [INPUT_NAME], "x_sbf", perm=[1, 0, 2]) if gru.batch_first else INPUT_NAME
    y, states = _gru_nodes(graph, gru, x)
    if gru.num_directions == 1:
        y = graph.one("Squeeze", [y, graph.ints("axis1", [1])], "y_sbh")
    else:
        y = graph.one("Transpose", [y], "y_sbdh", perm=[0, 2, 1, 3])
        y = graph.one("Reshape", [y, graph.ints("shape_s_b_dh", [0, 0, -1])], "y_sbh")
    graph.nodes.append(graph.helper.make_node("Transpose", [y], [OUTPUT_NAME], perm=[1, 0, 2]) if gru.batch_first
                       else graph.helper.make_node("Identity", [y], [OUTPUT_NAME]))
    graph.nodes.append(graph.helper.make_node("Concat", states, ["h_n"], axis=0) if len(states) > 1
                       else graph.helper.make_node("Identity", states, ["h_n"]))
    float32 = onnx.TensorProto.FLOAT
    width = gru.num_directions * gru.hidden_size
    layout = ["batch", "seq"] if gru.batch_first else ["seq", "batch"]
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, layout + [gru.input_size])]
    outputs = [onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, layout + [width]),
               onnx.helper.make_tensor_value_info("h_n", float32, [gru.num_layers * gru.num_directions, "batch",
                                                                   gru.hidden_size])]
    return _make_model(graph, inputs, outputs, "grunet_gru", "grunet GRU", None)


def _random_inputs(config: ModelConfig, batch_sizes, lengths, seed: int):
    """(x (batch, seq, input_size), future (batch, output_size, K) or None) for every batch size and length. With
    the mask, x's last column is random 0/1, the last step always observed (1), as in every real window."""
    generator = torch.Generator().manual_seed(seed)
    for batch in batch_sizes:
        for length in lengths:
            x = torch.randn(batch, length, config.input_size, generator=generator) * 2 + 0.5
            if config.mask:
                x[:, :, -1] = torch.randint(0, 2, (batch, length), generator=generator).float()
                x[:, -1, -1] = 1
            future = (torch.randn(batch, config.output_size, config.future_size, generator=generator)
                      if config.future_size else None)
            yield x, future


def _compare(reference: nn.Module, run, config: ModelConfig, batch_sizes, lengths, seed: int, runtime: str
             ) -> Verification:
    """Max abs difference of `run(x, future) -> ndarray` against `reference(x, future)` over random (batch, seq)
    inputs (`_random_inputs`)."""
    worst = 0.0
    with torch.no_grad():
        for x, future in _random_inputs(config, batch_sizes, lengths, seed):
            expected = reference(x, future)  # a GRUNet or an Ensemble: (batch, output_size)
            got = np.asarray(run(x, future))
            if got.shape != tuple(expected.shape):
                raise ValueError(f"the {runtime} export returns shape {got.shape} for input {tuple(x.shape)}, "
                                 f"the PyTorch model {tuple(expected.shape)}")
            diff = float(np.abs(got.astype(np.float64) - expected.double().numpy()).max())
            if np.isnan(diff) or diff > worst:
                worst = diff
            if np.isnan(worst):
                break  # NaN: no later case can make it pass
    return Verification(worst, list(batch_sizes), list(lengths), TOLERANCE, runtime)


def verify_onnx(model: nn.Module, path: str | Path, batch_sizes=VERIFY_BATCH_SIZES, lengths=VERIFY_LENGTHS,
                seed: int = 0, threads: int = 1) -> Verification:
    """Runs the ONNX file with onnxruntime on random inputs (and known-future values) and compares with `model`
    (its first output)."""
    import onnxruntime
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    reference = _float32_eval(model)

    def run(x: Tensor, future: Tensor | None):
        feeds = {name: x.numpy()} if future is None else {name: x.numpy(), FUTURE_NAME: future.numpy()}
        return session.run(None, feeds)[0]
    return _compare(reference, run, reference.config, batch_sizes, lengths, seed,
                    f"onnxruntime {onnxruntime.__version__}")


# --------------------------------------------------------------------------------------------------- TorchScript

class _ScriptDirection(nn.Module):
    """One layer, one direction, over a sequence: `gru_cell_reference`'s equations in a scriptable loop."""
    __constants__ = ("reset_after", "reverse")

    def __init__(self, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None,
                 reset_after: bool, reverse: bool) -> None:
        super().__init__()
        hidden = weight_hh.shape[1]
        zeros = weight_ih.new_zeros(3 * hidden)
        self.weight_ih = nn.Parameter(weight_ih.detach().clone(), requires_grad=False)
        self.weight_hh = nn.Parameter(weight_hh.detach().clone(), requires_grad=False)
        self.bias_ih = nn.Parameter((zeros if bias_ih is None else bias_ih).detach().clone(), requires_grad=False)
        self.bias_hh = nn.Parameter((zeros if bias_hh is None else bias_hh).detach().clone(), requires_grad=False)
        self.reset_after, self.reverse = reset_after, reverse

    def forward(self, x: Tensor) -> Tensor:
        """x (seq, batch, in) -> the state after every step, in input order (seq, batch, H)."""
        H = self.weight_hh.shape[1]
        W_ir, W_iz, W_in = self.weight_ih[:H], self.weight_ih[H:2 * H], self.weight_ih[2 * H:]
        W_hr, W_hz, W_hn = self.weight_hh[:H], self.weight_hh[H:2 * H], self.weight_hh[2 * H:]
        b_ir, b_iz, b_in = self.bias_ih[:H], self.bias_ih[H:2 * H], self.bias_ih[2 * H:]
        b_hr, b_hz, b_hn = self.bias_hh[:H], self.bias_hh[H:2 * H], self.bias_hh[2 * H:]
        steps = x.shape[0]
        h = x.new_zeros(x.shape[1], H)
        outputs: list[Tensor] = []
        for i in range(steps):
            xt = x[steps - 1 - i] if self.reverse else x[i]
            z = torch.sigmoid(h @ W_hz.t() + b_hz + xt @ W_iz.t() + b_iz)                   # update gate
            r = torch.sigmoid(h @ W_hr.t() + b_hr + xt @ W_ir.t() + b_ir)                   # reset gate
            if self.reset_after:
                h_tilde = torch.tanh(r * (h @ W_hn.t() + b_hn) + xt @ W_in.t() + b_in)      # torch's form
            else:
                h_tilde = torch.tanh((r * h) @ W_hn.t() + b_hn + xt @ W_in.t() + b_in)      # the tutorial's
            h = (1 - z) * h + z * h_tilde                                                   # new state
            outputs.append(h)
        if self.reverse:
            outputs.reverse()
        return torch.stack(outputs)


class ScriptableGRUNet(nn.Module):
    """A GRUNet's forward in plain torch ops, for `torch.jit.script`: x (batch, seq, F), and with future_size K > 0
    future (batch, out, K) -> (batch, out)."""
    __constants__ = ("window_norm", "mask", "input_size", "output_size", "future_size")

    def __init__(self, model: GRUNet) -> None:
        super().__init__()
        gru, config = model.gru, model.config
        self.window_norm, self.mask, self.input_size = config.window_norm, config.mask, gru.input_size
        self.output_size, self.future_size = config.output_size, config.future_size
        self.layers = nn.ModuleList(
            nn.ModuleList(_ScriptDirection(*gru._layer_weights(layer, direction), gru.reset_after, direction == 1)
                          for direction in range(gru.num_directions))
            for layer in range(gru.num_layers))
        self.fc = copy.deepcopy(model.fc).requires_grad_(False)

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"expected input of shape (batch, seq, input_size={self.input_size}), got {x.shape}")
        level = x.new_zeros(x.shape[0], 1, 1)
        scale = x.new_ones(x.shape[0], 1, 1)
        if self.window_norm != "none":
            target = x[:, :, :1]
            observed = x[:, :, -1:] if self.mask else None  # 1 for observed steps, 0 padding
            if self.window_norm == "last":
                level = target[:, -1:]
            elif self.window_norm == "mean":
                level = masked_mean(target, observed)
            else:  # meanabs
                scale = masked_mean(target.abs(), observed).clamp_min(1e-8)
            target = target / scale if self.window_norm == "meanabs" else target - level
            if observed is not None:
                target = target * observed
            x = torch.cat([target, x[:, :, 1:]], dim=-1)
        h = x.transpose(0, 1)  # (seq, batch, F)
        for layer in self.layers:
            outputs: list[Tensor] = []
            for direction in layer:
                outputs.append(direction(h))
            h = torch.cat(outputs, dim=2)  # (seq, batch, D*H)
        last = h[-1]  # (batch, D*H)
        if self.future_size > 0:
            if future is None:
                raise ValueError(f"expected the known-future input (batch, {self.output_size}, {self.future_size})")
            if future.dim() != 3 or future.shape[0] != x.shape[0] or future.shape[1] != self.output_size \
                    or future.shape[2] != self.future_size:
                raise ValueError(f"expected the known-future input of shape (batch, {self.output_size}, "
                                 f"{self.future_size}), got {future.shape}")
            last = torch.cat([last, future.reshape(future.shape[0], -1)], dim=1)  # (batch, D*H + out*K)
        elif future is not None:
            raise ValueError("this model has no known-future columns (future_size 0), but a future input was given")
        prediction = self.fc(last)
        if self.window_norm == "meanabs":
            prediction = prediction * scale[:, 0]
        elif self.window_norm != "none":
            prediction = prediction + level[:, 0]
        return prediction


class ScriptableEnsemble(nn.Module):
    """An Ensemble's forward for `torch.jit.script`: the median of its members' ScriptableGRUNets, as
    `grunet.model.median` (the mean of the two middle forecasts for an even count)."""

    def __init__(self, model: Ensemble) -> None:
        super().__init__()
        self.members = nn.ModuleList(ScriptableGRUNet(member) for member in _members(model))

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        forecasts: list[Tensor] = []
        for member in self.members:
            forecasts.append(member(x, future))
        return median(torch.stack(forecasts))  # (N, batch, out) -> (batch, out)


def grunet_to_torchscript(model: GRUNet | Ensemble) -> torch.jit.ScriptModule:
    model = _float32_eval(model)
    _members(model)
    scriptable = ScriptableEnsemble(model) if isinstance(model, Ensemble) else ScriptableGRUNet(model)
    return torch.jit.script(scriptable.eval())


def verify_torchscript(model: nn.Module, path: str | Path, batch_sizes=VERIFY_BATCH_SIZES, lengths=VERIFY_LENGTHS,
                       seed: int = 0) -> Verification:
    """Loads the file with torch.jit.load and compares it with `model` on random inputs (and known-future
    values)."""
    loaded = torch.jit.load(str(path), map_location="cpu").eval()
    reference = _float32_eval(model)
    return _compare(reference, lambda x, future: loaded(x, future).numpy(), reference.config, batch_sizes, lengths,
                    seed, f"torch.jit {torch.__version__}")


# ------------------------------------------------------------------------------------------------- files, runs

def _float32_eval(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model).cpu().eval()
    return model.float()


def _write_verified(path: Path, write, verify) -> Verification:
    """Writes to a temporary file beside `path`, verifies it, then renames it over `path`; on failure nothing
    is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix + ".tmp")
    os.close(handle)
    try:
        write(temporary)
        verification = verify(temporary)
        if not verification.max_abs_diff <= verification.tolerance:
            raise ValueError(f"the export does not match the PyTorch model: max abs diff "
                             f"{verification.max_abs_diff:.3g} > {verification.tolerance:g} "
                             f"({verification.runtime}); nothing written")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return verification


def export_onnx(model: GRUNet | Ensemble, path: str | Path, metadata: dict | None = None,
                batch_sizes=VERIFY_BATCH_SIZES, lengths=VERIFY_LENGTHS) -> ExportResult:
    """Writes the GRUNet or Ensemble as ONNX to `path` after checking it with onnx.checker and onnxruntime.
    details: opset, and the (first) member's linear_before_reset, num_layers, direction; members (1 for a GRUNet)."""
    path = Path(path)
    proto = grunet_to_onnx(_float32_eval(model), metadata)
    verification = _write_verified(path, lambda temporary: Path(temporary).write_bytes(proto.SerializeToString()),
                                   lambda temporary: verify_onnx(model, temporary, batch_sizes, lengths))
    members = _members(model)
    gru = members[0].gru
    return ExportResult(path, "onnx", verification, details={
        "opset": ONNX_OPSET, "linear_before_reset": int(gru.reset_after), "num_layers": gru.num_layers,
        "direction": "bidirectional" if gru.bidirectional else "forward", "members": len(members)})


def export_torchscript(model: GRUNet | Ensemble, path: str | Path, batch_sizes=VERIFY_BATCH_SIZES,
                       lengths=VERIFY_LENGTHS) -> ExportResult:
    """Writes the GRUNet or Ensemble as a scripted module (`torch.jit.load`-able) to `path`, after checking it.
    details: members (1 for a GRUNet)."""
    path = Path(path)
    scripted = grunet_to_torchscript(model)
    verification = _write_verified(path, lambda temporary: torch.jit.save(scripted, temporary),
                                   lambda temporary: verify_torchscript(model, temporary, batch_sizes, lengths))
    return ExportResult(path, "torchscript", verification, details={"members": len(_members(model))})


def _columns(data_config) -> list[str] | None:
    """The model's input columns, target first (`grunet.datasets.model_columns`). The data's own columns are the
    config's target, features and future features, in that order, when it names the target; else they are read
    from the data, and None when it can no longer be read."""
    from grunet.data.config import load_series
    from grunet.features import model_columns
    if data_config.target:
        data_columns = [data_config.target, *data_config.features, *data_config.future_features]
    else:
        try:
            data_columns = load_series(data_config).columns
        except (ValueError, OSError):  # the data is gone
            return None
    return model_columns(data_config, data_columns)[0]


def _refuse_overwrite(path: Path, run: Path) -> None:
    from grunet.run_folder import refuse_own_file
    refuse_own_file(path)
    refuse_own_file(bundle_path(path))  # NAME.json beside it: --out RUN/config.pt would write RUN/config.json
    if path.suffix == ".json":
        raise ValueError(f"--out {path} ends in .json, the name of the bundle written beside the model; "
                         f"use .onnx or .pt")
    if path.exists() and path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name")


def export_run(run: str | Path, format: str = "onnx", out: str | Path | None = None) -> ExportResult:
    """Exports a run folder's model to ONNX (default RUN/model.onnx) or TorchScript (RUN/model.torchscript.pt),
    verified, and writes the deployment bundle NAME.json beside it (see `grunet.onnx_predict`)."""
    from grunet import __version__
    from grunet.runs import atomic_write_json, configs_from_dict, find_run, load_model
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    run = find_run(run)
    model, payload = load_model(run / "model.pt")
    data_config, _, _ = configs_from_dict(payload["config"], str(run / "model.pt"))
    default = run / ("model.onnx" if format == "onnx" else "model.torchscript.pt")
    path = Path(out) if out is not None else default
    if format == "onnx" and path.suffix.lower() != ".onnx":
        raise ValueError(f"--out {path}: an ONNX export's file name must end in .onnx")
    if format == "torchscript" and path.suffix.lower() == ".onnx":
        raise ValueError(f"--out {path}: a TorchScript export must not end in .onnx")
    _refuse_overwrite(path, run)
    json_path = bundle_path(path)
    if json_path.exists():
        try:
            existing = json.loads(json_path.read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            existing = None
        if existing != BUNDLE_FORMAT:
            raise ValueError(f"refusing to overwrite {json_path}, which is not a grunet export bundle; "
                             f"choose another --out")
    lengths = sorted({1, 7, data_config.window})
    bundle = {"format": BUNDLE_FORMAT, "bundle_version": BUNDLE_VERSION, "grunet_version": __version__,
              "model_file": path.name, "model_format": format, "input_name": INPUT_NAME,
              "future_name": FUTURE_NAME if model.config.future_size else None, "output_name": OUTPUT_NAME,
              "window": data_config.window, "horizon": data_config.horizon,
              "columns": _columns(data_config), "series_names": list(payload["series_names"]),
              "scaler": payload["scaler"], "config": payload["config"], "source_run": str(run)}
    if format == "onnx":
        result = export_onnx(model, path, {METADATA_KEY: json.dumps(bundle)}, lengths=lengths)
    else:
        result = export_torchscript(model, path, lengths=lengths)
    bundle["verification"] = result.verification.to_dict()
    if format == "onnx":
        bundle["onnx"] = result.details
    atomic_write_json(json_path, bundle)
    result.bundle = json_path
    return result
