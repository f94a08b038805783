"""ONNX export: a GRUNet, or an Ensemble of them, as a graph with the standard ONNX `GRU` operator, verified with
onnxruntime.

The graph is written by hand with `onnx.helper` (torch.onnx's GRU export has had wrong
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
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor

from grunet.equations import negate_update_gate
from grunet.export.bundle import FUTURE_NAME, onnx_session
from grunet.export.verify import (
    VERIFY_BATCH_SIZES,
    VERIFY_LENGTHS,
    ExportResult,
    Verification,
    compare,
    float32_eval,
    model_members,
    write_verified,
)
from grunet.layer import GRU
from grunet.model import Ensemble, GRUNet

ONNX_OPSET = 17  # GRU-14 (with `layout`), ReduceMean-13 with the axes attribute; onnxruntime >= 1.13
ONNX_IR_VERSION = 8  # the IR version of opset 17
INPUT_NAME, OUTPUT_NAME = "input", "output"
_INT64_MAX = np.iinfo(np.int64).max


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
            weight_ih, weight_hh, bias_ih, bias_hh = gru.layer_weights(layer, direction)
            W.append(_onnx_rows(weight_ih, hidden))
            R.append(_onnx_rows(weight_hh, hidden))
            if bias_ih is not None:
                B.append(np.concatenate([_onnx_rows(bias_ih, hidden), _onnx_rows(cast(Tensor, bias_hh), hidden)]))
        inputs = [y, graph.const(f"W_l{layer}", np.stack(W)), graph.const(f"R_l{layer}", np.stack(R))]
        if B:
            inputs.append(graph.const(f"B_l{layer}", np.stack(B)))
        y, y_h = graph.node(
            "GRU",
            inputs,
            f"gru_l{layer}",
            outputs=2,
            hidden_size=hidden,
            direction="bidirectional" if directions == 2 else "forward",
            linear_before_reset=int(gru.reset_after),
            layout=0,
        )
        states.append(y_h)
    return y, states


def _make_model(graph: _Graph, inputs: list, outputs: list, name: str, doc: str, metadata: dict | None):
    import onnx

    helper = onnx.helper
    onnx_graph = helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers)
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        ir_version=ONNX_IR_VERSION,
        producer_name="grunet",
        doc_string=doc,
    )
    if metadata:
        helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ValueError(f"the ONNX graph does not pass onnx.checker: {' '.join(str(error).split())[:300]}") from None
    return model


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


def _window_norm_nodes(
    graph: _Graph, source: str, window_norm: str, mask: bool, input_size: int
) -> tuple[str, str | None, str | None]:
    """The input `source` (batch, seq, F) with feature 0 normalised, and the level to add back (window_norm mean /
    last) or the scale to multiply back (meanabs), (batch, 1, 1), the other None. With `mask`, the last column marks
    the observed steps: the levels use those only and the padded steps of feature 0 are zeroed."""
    if window_norm == "none":
        return source, None, None
    end = graph.ints("end", [_INT64_MAX])
    target = graph.one(
        "Slice", [source, graph.ints("zero", [0]), graph.ints("one", [1]), graph.ints("axis2", [2])], "target"
    )  # (batch, seq, 1)
    observed = (
        graph.one("Slice", [source, graph.ints("minus_one", [-1]), end, graph.ints("axis2", [2])], "observed")
        if mask
        else None
    )  # (batch, seq, 1): 1 observed, 0 padding
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
        x = graph.one("Div", [target, cast(str, scale)], "target_scaled")  # meanabs: a scale
    if observed is not None:
        x = graph.one("Mul", [x, observed], "target_masked")
    if input_size > 1:
        rest = graph.one("Slice", [source, graph.ints("one", [1]), end, graph.ints("axis2", [2])], "features")
        x = graph.one("Concat", [x, rest], "normalised", axis=2)
    return x, level, scale


def _member_nodes(graph: _Graph, model: GRUNet, x: str, future: str | None) -> str:
    """One GRUNet's GRU and head on the (normalised) input x (batch, seq, F): its prediction (batch, out), before
    the window norm's level or scale is put back. future: the known-future values flattened, (batch, out·K)."""
    gru, fc = model.gru, model.fc
    normalised = x
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
    prediction = graph.one("Gemm", gemm_inputs, "prediction", transB=1)
    lags = model.config.ar
    if lags:  # the autoregressive skip: the last `ar` values of the normalised target through a Linear layer
        recent = graph.one(
            "Slice",
            [
                normalised,
                graph.ints("ar_start", [-lags, 0]),
                graph.ints("ar_end", [_INT64_MAX, 1]),
                graph.ints("axes12", [1, 2]),
            ],
            "recent",
        )  # (batch, ar, 1)
        recent = graph.one("Reshape", [recent, graph.ints("shape_b_ar", [0, lags])], "recent_b_ar")
        weight = model.ar.weight.detach().cpu().float().numpy().T  # (ar, out)
        skip = graph.one("MatMul", [recent, graph.const("ar_weight", weight)], "ar_skip")
        prediction = graph.one("Add", [prediction, skip], "prediction_ar")
    if model.config.seasonal:  # plus the window's values one season before each forecast step
        steps = model.season_steps.cpu().numpy().astype(np.int64)  # (out,) negative window steps
        back = graph.one("Gather", [normalised, graph.const("season_steps", steps)], "season_back", axis=1)
        back = graph.one(
            "Slice",
            [back, graph.ints("zero", [0]), graph.ints("one", [1]), graph.ints("axis2", [2])],
            "season_back_target",
        )  # (batch, out, 1)
        back = graph.one("Reshape", [back, graph.ints("shape_b_out", [0, len(steps)])], "season_back_b_out")
        prediction = graph.one("Add", [prediction, back], "prediction_seasonal")
    return prediction


def _median_nodes(graph: _Graph, forecasts: list[str]) -> str:
    """N × (batch, out) -> (batch, out): the median over the members as `grunet.model.median`, the mean of the two
    middle values (the same one twice for odd N) of the N sorted by TopK."""
    count = len(forecasts)
    axis0 = graph.ints("axis0", [0])
    stacked = graph.one(
        "Concat",
        [graph.one("Unsqueeze", [forecast, axis0], "forecast_1bo") for forecast in forecasts],
        "forecasts",
        axis=0,
    )  # (N, batch, out)
    ordered, _ = graph.node(
        "TopK", [stacked, graph.ints("count", [count])], "ordered", outputs=2, axis=0, largest=1, sorted=1
    )
    middle = graph.one("Gather", [ordered, graph.ints("middle", [(count - 1) // 2, count // 2])], "middle", axis=0)
    return graph.one("ReduceMean", [middle], "median", axes=[0], keepdims=0)


def grunet_to_onnx(model: GRUNet | Ensemble, metadata: dict | None = None):
    """The whole GRUNet or Ensemble as an `onnx.ModelProto`: input (batch, seq, input_size) float32, and with
    future_size K > 0 future (batch, output_size, K) float32 -> output (batch, output_size).

    Works for any ``model.gru`` (layers, bidirectional, bias or not) with ``model.fc`` on the last step's
    (D·H) output and the known-future values, and the model's window_norm and mask. `metadata`: string key/values
    stored in the file."""
    import onnx

    members = model_members(model)
    config, gru = members[0].config, members[0].gru
    graph = _Graph()
    future = None
    if config.future_size:  # (batch, out, K) -> (batch, out*K), horizon step major, as torch's reshape
        future = graph.one("Reshape", [FUTURE_NAME, graph.ints("shape_b_flat", [0, -1])], "future_flat")
    forecasts = []
    for index, member in enumerate(members):  # each member: its own window, window norm and back
        graph.prefix = f"m{index}_" if len(members) > 1 else ""
        member_config = member.config
        source = INPUT_NAME
        if member_config.input_steps:  # the last `input_steps` steps of the input
            source = graph.one(
                "Slice",
                [
                    INPUT_NAME,
                    graph.ints("window_start", [-member_config.input_steps]),
                    graph.ints("window_end", [_INT64_MAX]),
                    graph.ints("axis1", [1]),
                ],
                "window",
            )
        # a GRUNet's window_norm is resolved (a str)
        x, level, scale = _window_norm_nodes(
            graph, source, cast(str, member_config.window_norm), member_config.mask, member.gru.input_size
        )
        prediction = _member_nodes(graph, member, x, future)
        if level is not None or scale is not None:  # the level (added back) or scale (multiplied back)
            factor = graph.one(
                "Squeeze", [cast(str, scale if level is None else level), graph.ints("axis1", [1])], "factor_b1"
            )  # (batch, 1, 1) -> (batch, 1)
            prediction = graph.one("Mul" if level is None else "Add", [prediction, factor], "forecast")
        forecasts.append(prediction)
    graph.prefix = ""
    result = forecasts[0] if len(members) == 1 else _median_nodes(graph, forecasts)
    assert list(graph.nodes[-1].output) == [result]  # the last node's only output, used by no other node
    graph.nodes[-1].output[0] = OUTPUT_NAME
    float32 = onnx.TensorProto.FLOAT
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, ["batch", "seq", gru.input_size])]
    if future is not None:
        inputs.append(
            onnx.helper.make_tensor_value_info(FUTURE_NAME, float32, ["batch", config.output_size, config.future_size])
        )
    outputs = [onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, ["batch", members[0].fc.out_features])]
    doc = (
        f"grunet GRUNet: GRU ({gru.num_layers} layer(s), hidden {gru.hidden_size}, "
        f"{'bidirectional' if gru.bidirectional else 'forward'}, "
        f"linear_before_reset={int(gru.reset_after)}), Linear head on the last step"
        f"{f' and {config.future_size} known-future column(s)' if config.future_size else ''}, "
        f"window_norm={config.window_norm}{', masked' if config.mask else ''}"
        f"{f'; the median of an ensemble of {len(members)}' if len(members) > 1 else ''}"
    )
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
    graph.nodes.append(
        graph.helper.make_node("Transpose", [y], [OUTPUT_NAME], perm=[1, 0, 2])
        if gru.batch_first
        else graph.helper.make_node("Identity", [y], [OUTPUT_NAME])
    )
    graph.nodes.append(
        graph.helper.make_node("Concat", states, ["h_n"], axis=0)
        if len(states) > 1
        else graph.helper.make_node("Identity", states, ["h_n"])
    )
    float32 = onnx.TensorProto.FLOAT
    width = gru.num_directions * gru.hidden_size
    layout = ["batch", "seq"] if gru.batch_first else ["seq", "batch"]
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, layout + [gru.input_size])]
    outputs = [
        onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, layout + [width]),
        onnx.helper.make_tensor_value_info(
            "h_n", float32, [gru.num_layers * gru.num_directions, "batch", gru.hidden_size]
        ),
    ]
    return _make_model(graph, inputs, outputs, "grunet_gru", "grunet GRU", None)


def verify_onnx(
    model: GRUNet | Ensemble,
    path: str | Path,
    batch_sizes=VERIFY_BATCH_SIZES,
    lengths=VERIFY_LENGTHS,
    seed: int = 0,
    threads: int = 1,
) -> Verification:
    """Runs the ONNX file with onnxruntime on random inputs (and known-future values) and compares with `model`
    (its first output)."""
    import onnxruntime

    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    reference = float32_eval(model)

    def run(x: Tensor, future: Tensor | None):
        feeds = {name: x.numpy()} if future is None else {name: x.numpy(), FUTURE_NAME: future.numpy()}
        return session.run(None, feeds)[0]

    return compare(
        reference, run, reference.config, batch_sizes, lengths, seed, f"onnxruntime {onnxruntime.__version__}"
    )


def export_onnx(
    model: GRUNet | Ensemble,
    path: str | Path,
    metadata: dict | None = None,
    batch_sizes=VERIFY_BATCH_SIZES,
    lengths=VERIFY_LENGTHS,
) -> ExportResult:
    """Writes the GRUNet or Ensemble as ONNX to `path` after checking it with onnx.checker and onnxruntime.
    details: opset, and the (first) member's linear_before_reset, num_layers, direction; members (1 for a GRUNet)."""
    path = Path(path)
    lengths = [length for length in lengths if length >= model.steps_needed] or [model.steps_needed]
    proto = grunet_to_onnx(float32_eval(model), metadata)
    verification = write_verified(
        path,
        lambda temporary: Path(temporary).write_bytes(proto.SerializeToString()),
        lambda temporary: verify_onnx(model, temporary, batch_sizes, lengths),
    )
    members = model_members(model)
    gru = members[0].gru
    return ExportResult(
        path,
        "onnx",
        verification,
        details={
            "opset": ONNX_OPSET,
            "linear_before_reset": int(gru.reset_after),
            "num_layers": gru.num_layers,
            "direction": "bidirectional" if gru.bidirectional else "forward",
            "members": len(members),
        },
    )
