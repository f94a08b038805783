"""ONNX export: a GRUNet, or an Ensemble of them, as a graph with the standard ONNX `GRU` operator, verified with
onnxruntime.

The graph is derived from the model's own forward: `torch.export` traces it with each grunet.GRU standing as one
operator (`grunet::gru`, `GRUCall`), and `grunet.export.onnx_graph` writes the traced ATen operators (the window
norm, the mask, the head, the skip, the seasonal term, an ensemble's median) as ONNX operators. Only the GRU itself
is written here: one ONNX `GRU` node per layer, never an unrolled loop.

Conversions from grunet's weights (rows r, z, n; h' = (1 − z)·h + z·h̃) to ONNX's (rows z, r, h;
h' = z·h + (1 − z)·h̃, so ONNX's z is 1 − ours): the z rows of W, R and both biases are negated
(`equations.negate_update_gate`, σ(−a) = 1 − σ(a)), then the row blocks are reordered to z, r, h.
``reset_after=False`` (the tutorial) is ``linear_before_reset=0``, ``reset_after=True`` is ``linear_before_reset=1``.
Batch and sequence length are dynamic; a bidirectional GRU is one node with ``direction="bidirectional"``.
Inputs: `INPUT_NAME` (batch, seq, input_size) and, with future_size K > 0, `FUTURE_NAME` (batch, out, K), float32.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from grunet.equations import negate_update_gate
from grunet.export.bundle import FUTURE_NAME, onnx_session
from grunet.export.onnx_graph import OnnxGraph, Values, translate
from grunet.export.verify import (
    VERIFY_BATCH_SIZES,
    VERIFY_LENGTHS,
    ExportResult,
    Verification,
    compare,
    float32_eval,
    model_members,
    quiet_tracing,
    write_verified,
)
from grunet.layer import GRU, run_layer
from grunet.model import Ensemble, GRUNet

ONNX_OPSET = 17  # GRU-14 (with `layout`), ReduceMean-13 with the axes attribute; onnxruntime >= 1.13
ONNX_IR_VERSION = 8  # the IR version of opset 17
INPUT_NAME, OUTPUT_NAME = "input", "output"
_MAX_SIZE = 1 << 20


@torch.library.custom_op("grunet::gru", mutates_args=())
def gru_op(
    x: Tensor,
    weights: list[Tensor],
    num_layers: int,
    bidirectional: bool,
    reset_after: bool,
    batch_first: bool,
) -> tuple[Tensor, Tensor]:
    """A grunet.GRU from zero state as one operator, for tracing: x (batch, seq, in) when batch_first, else
    (seq, batch, in); weights: each layer's and direction's (weight_ih, weight_hh[, bias_ih, bias_hh]) in turn.
    Returns the output (same layout, D·H features) and h_n (layers·D, batch, H)."""
    directions = 2 if bidirectional else 1
    per_cell = len(weights) // (num_layers * directions)
    hidden_size = weights[1].shape[1]
    layer_input = x.transpose(0, 1) if batch_first else x  # (seq, batch, in)
    final = []
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            cell = weights[(layer * directions + direction) * per_cell :][:per_cell]
            bias_ih, bias_hh = (cell[2], cell[3]) if per_cell == 4 else (None, None)
            h0 = layer_input.new_zeros(layer_input.shape[1], hidden_size)
            output, h_n = run_layer(layer_input, h0, cell[0], cell[1], bias_ih, bias_hh, reset_after, direction == 1)
            outputs.append(output)
            final.append(h_n)
        layer_input = torch.cat(outputs, dim=-1) if directions == 2 else outputs[0]
    output = layer_input.transpose(0, 1) if batch_first else layer_input
    return output.contiguous(), torch.stack(final)


@gru_op.register_fake
def _gru_op_shapes(x, weights, num_layers, bidirectional, reset_after, batch_first):
    directions, hidden_size = (2 if bidirectional else 1), weights[1].shape[1]
    batch, steps = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    output = x.new_empty(
        (batch, steps, directions * hidden_size) if batch_first else (steps, batch, directions * hidden_size)
    )
    return output, x.new_empty((num_layers * directions, batch, hidden_size))


class GRUCall(nn.Module):
    """A grunet.GRU traced as the one operator `gru_op` (zero initial state): what the ONNX export puts in place of
    each GRU before tracing, so that the traced program holds the GRU whole, for an ONNX `GRU` node."""

    def __init__(self, gru: GRU) -> None:
        super().__init__()
        self.inner = gru
        self.bidirectional, self.batch_first = gru.bidirectional, gru.batch_first

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        gru = self.inner
        weights = [weight for cell in gru.all_weights for weight in cell]
        return gru_op(x, weights, gru.num_layers, gru.bidirectional, gru.reset_after, gru.batch_first)


def onnx_rows(tensor: np.ndarray | Tensor, hidden_size: int) -> np.ndarray:
    """grunet rows (r, z, n), tutorial z -> ONNX rows (z, r, h), ONNX z (= 1 − ours): negate z, reorder."""
    r, z, n = negate_update_gate(torch.tensor(np.asarray(tensor), dtype=torch.float32)).split(hidden_size, dim=0)
    return torch.cat([z, r, n]).numpy()


def _array(graph: OnnxGraph, name: str) -> np.ndarray:
    """The value of the initializer `name` (the traced GRU's weights are initializers of the graph)."""
    initializer = next(item for item in graph.initializers if item.name == name)
    return graph.numpy_helper.to_array(initializer)


def _gru_nodes(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> tuple[str, str]:
    """`gru_op` as one ONNX GRU node per layer: the traced x and weights -> output and h_n, in `gru_op`'s layouts."""
    x, weights, num_layers, bidirectional, reset_after, batch_first = args
    directions = 2 if bidirectional else 1
    arrays = [_array(graph, name) for name in values(weights)]
    per_cell, hidden = len(arrays) // (num_layers * directions), arrays[1].shape[1]
    y = graph.one("Transpose", [values(x)], "x_sbf", perm=[1, 0, 2]) if batch_first else values(x)
    states = []
    for layer in range(num_layers):
        if layer > 0:  # Y (seq, D, batch, H) -> (seq, batch, D*H): both directions side by side, as grunet
            y = graph.one("Transpose", [y], "y_sbdh", perm=[0, 2, 1, 3])
            y = graph.one("Reshape", [y, graph.ints("shape_s_b_dh", [0, 0, -1])], "layer_input")
        cells = [arrays[(layer * directions + d) * per_cell :][:per_cell] for d in range(directions)]
        inputs = [
            y,
            graph.const(f"W_l{layer}", np.stack([onnx_rows(cell[0], hidden) for cell in cells])),
            graph.const(f"R_l{layer}", np.stack([onnx_rows(cell[1], hidden) for cell in cells])),
        ]
        if per_cell == 4:
            biases = [np.concatenate([onnx_rows(cell[2], hidden), onnx_rows(cell[3], hidden)]) for cell in cells]
            inputs.append(graph.const(f"B_l{layer}", np.stack(biases)))
        direction = "bidirectional" if directions == 2 else "forward"
        y, y_h = graph.node(
            "GRU",
            inputs,
            f"gru_l{layer}",
            outputs=2,
            hidden_size=hidden,
            direction=direction,
            linear_before_reset=int(reset_after),
            layout=0,
        )
        states.append(y_h)
    y = graph.one("Transpose", [y], "y_sbdh", perm=[0, 2, 1, 3])
    y = graph.one("Reshape", [y, graph.ints("shape_s_b_dh", [0, 0, -1])], "y_sbh")  # (seq, batch, D*H)
    output = graph.one("Transpose", [y], "y_bsh", perm=[1, 0, 2]) if batch_first else y
    return output, graph.one("Concat", states, "h_n", axis=0) if len(states) > 1 else states[0]


def _traced(module: nn.Module, example: tuple, dynamic: dict) -> torch.export.ExportedProgram:
    """`module` (float32, eval) traced by torch.export with every grunet.GRU as `gru_op`."""
    module = copy.deepcopy(module)
    for name, child in list(module.named_modules()):
        if name and isinstance(child, GRU):
            parent, _, attribute = name.rpartition(".")
            setattr(module.get_submodule(parent) if parent else module, attribute, GRUCall(child))
    if isinstance(module, GRU):
        module = GRUCall(module)
    with torch.no_grad(), warnings.catch_warnings():
        quiet_tracing()
        return torch.export.export(module, example, dynamic_shapes=dynamic).run_decompositions({})


def _make_model(graph: OnnxGraph, inputs: list, outputs: list, name: str, doc: str, metadata: dict | None):
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
        message = " ".join(str(error).split())[:300]
        raise ValueError(f"the ONNX graph does not pass onnx.checker: {message}") from None
    return model


def _write_graph(module: nn.Module, example: tuple, dynamic: dict, input_names: list[str], output_names: list[str]):
    """The traced module's graph with its inputs and outputs under the given names (the unused initializers of the
    GRU weights, read by the GRU nodes in ONNX's own row order, dropped)."""
    graph = OnnxGraph()
    outputs = translate(
        _traced(module, example, dynamic), graph, input_names, {torch.ops.grunet.gru.default: _gru_nodes}
    )
    for output, name in zip(outputs, output_names):
        graph.nodes.append(graph.helper.make_node("Identity", [output], [name], name=graph.name("Identity")))
    used = {value for node in graph.nodes for value in node.input}
    graph.initializers = [item for item in graph.initializers if item.name in used]
    return graph


def grunet_to_onnx(model: GRUNet | Ensemble, metadata: dict | None = None):
    """The whole GRUNet or Ensemble as an `onnx.ModelProto`: input (batch, seq, input_size) float32, and with
    future_size K > 0 future (batch, output_size, K) float32 -> output (batch, output_size). `metadata`: string
    key/values stored in the file."""
    import onnx

    members = model_members(model)
    model = float32_eval(model)
    config, gru = members[0].config, members[0].gru
    fewest = max(member.steps_needed for member in members)
    x = torch.randn(2, fewest + 2, config.input_size)
    if config.mask:
        x[..., -1] = 1
    batch = torch.export.Dim("batch", min=1, max=_MAX_SIZE)
    # traced at lengths above the fewest steps the model reads (torch.export would otherwise guard on that one
    # length); the ONNX graph holds no such guard, and the verification runs it at that length too
    steps = torch.export.Dim("seq", min=fewest + 1, max=_MAX_SIZE)
    example: tuple = (x,)
    dynamic: dict = {"x": {0: batch, 1: steps}}
    names = [INPUT_NAME]
    if config.future_size:
        example += (torch.randn(2, config.output_size, config.future_size),)
        dynamic["future"] = {0: batch}
        names.append(FUTURE_NAME)
    graph = _write_graph(model, example, dynamic, names, [OUTPUT_NAME])
    float32 = onnx.TensorProto.FLOAT
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, ["batch", "seq", gru.input_size])]
    if config.future_size:
        shape: list[str | int] = ["batch", config.output_size, config.future_size]
        inputs.append(onnx.helper.make_tensor_value_info(FUTURE_NAME, float32, shape))
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

    gru = float32_eval(gru)
    dims = {0: torch.export.Dim("batch", min=1, max=_MAX_SIZE), 1: torch.export.Dim("seq", min=2, max=_MAX_SIZE)}
    if not gru.batch_first:
        dims = {0: dims[1], 1: dims[0]}
    x = torch.randn(3, 4, gru.input_size)
    graph = _write_graph(gru, (x,), {"x": dims}, [INPUT_NAME], [OUTPUT_NAME, "h_n"])
    float32 = onnx.TensorProto.FLOAT
    width = gru.num_directions * gru.hidden_size
    layout = ["batch", "seq"] if gru.batch_first else ["seq", "batch"]
    states: list[str | int] = [gru.num_layers * gru.num_directions, "batch", gru.hidden_size]
    inputs = [onnx.helper.make_tensor_value_info(INPUT_NAME, float32, layout + [gru.input_size])]
    outputs = [
        onnx.helper.make_tensor_value_info(OUTPUT_NAME, float32, layout + [width]),
        onnx.helper.make_tensor_value_info("h_n", float32, states),
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
    details: opset, and the (first) member's linear_before_reset and direction; num_layers (a list, one per member,
    where members differ); members (1 for a GRUNet)."""
    path = Path(path)
    lengths = [length for length in lengths if length >= model.steps_needed] or [model.steps_needed]
    proto = grunet_to_onnx(model, metadata)
    verification = write_verified(
        path,
        lambda temporary: Path(temporary).write_bytes(proto.SerializeToString()),
        lambda temporary: verify_onnx(model, temporary, batch_sizes, lengths),
    )
    members = model_members(model)
    gru = members[0].gru
    layers = [member.gru.num_layers for member in members]  # a search's members may differ
    return ExportResult(
        path,
        "onnx",
        verification,
        details={
            "opset": ONNX_OPSET,
            "linear_before_reset": int(gru.reset_after),
            "num_layers": layers[0] if len(set(layers)) == 1 else layers,
            "direction": "bidirectional" if gru.bidirectional else "forward",
            "members": len(members),
        },
    )
