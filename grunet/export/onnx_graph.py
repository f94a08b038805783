"""From a traced program to ONNX nodes: the model's own forward, as `torch.export` records it (ATen operators), written
op by op as standard ONNX operators, so that the ONNX graph is derived from the model and never re-typed.

`OnnxGraph` collects nodes and initializers under unique names; `translate` walks an ExportedProgram's graph and
writes each ATen call with the rule of `RULES` (the operators a GRUNet's forward uses: slicing, the window norm's
reductions, the head, the ensemble's sort) or of `custom` (grunet's GRU, see `grunet.export.onnx`). An operator
without a rule is an error that names it: a new model feature fails its export loudly, never silently.

Sizes that torch.export keeps symbolic (the batch, the sequence length) become 1-D int64 tensors of one element,
read with `Shape` from the input they come from, so the graph keeps a dynamic batch and length.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

INT64_MAX = np.iinfo(np.int64).max
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64, torch.bool: np.bool_}


class OnnxGraph:
    """Nodes and initializers of an ONNX graph being written, with unique names (`prefix`, then a hint and a
    counter)."""

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


class Values:
    """What each traced node stands for while translating: an ONNX value name (a tensor, or a symbolic size as a
    1-D int64 tensor of one element), a tuple of them, or a Python constant."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph
        self.names: dict[torch.fx.Node, Any] = {}

    def __call__(self, argument):
        if isinstance(argument, torch.fx.Node):
            return self.names[argument]
        if isinstance(argument, (list, tuple)):
            return [self(item) for item in argument]
        return argument

    def tensor(self, argument, like: torch.fx.Node) -> str:
        """A tensor operand: a traced value, or a Python number as a constant of `like`'s dtype."""
        if isinstance(argument, torch.fx.Node):
            return self.names[argument]
        return self.graph.const("scalar", np.array(argument, dtype=_DTYPES[like.meta["val"].dtype]))

    def shape(self, sizes) -> str:
        """A shape argument (Python ints and symbolic sizes) as a 1-D int64 tensor."""
        parts = [self.graph.ints("size", [size]) if isinstance(size, int) else self(size) for size in sizes]
        return parts[0] if len(parts) == 1 else self.graph.one("Concat", parts, "shape", axis=0)


# a rule writes one traced call: (graph, values, the call's arguments, its keyword arguments) -> ONNX name(s)
Rule = Callable[[OnnxGraph, Values, Any, Any], Any]


def _binary(op: str) -> Rule:
    def rule(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
        left, right = args[0], args[1]
        reference = left if isinstance(left, torch.fx.Node) else right
        if kwargs.get("alpha", 1) != 1:
            raise ValueError(f"ONNX export: {op} with alpha is not supported")
        return graph.one(op, [values.tensor(left, reference), values.tensor(right, reference)])

    return rule


def _unary(op: str) -> Rule:
    return lambda graph, values, args, kwargs: graph.one(op, [values(args[0])])


def _slice(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    source, dim, start, end = (list(args) + [0, None, None])[:4]
    step = args[4] if len(args) > 4 else 1
    start, end = 0 if start is None else start, INT64_MAX if end is None else min(end, INT64_MAX)
    sizes = [values.shape([start]), values.shape([end]), graph.ints("axis", [dim]), graph.ints("step", [step])]
    return graph.one("Slice", [values(source), *sizes])


def _select(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    source, dim, index = args
    return graph.one("Gather", [values(source), graph.const("index", np.array(index, dtype=np.int64))], axis=dim)


def _reduce(op: str) -> Rule:
    def rule(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
        dims = args[1] if len(args) > 1 else None
        keepdim = int(args[2] if len(args) > 2 else kwargs.get("keepdim", False))
        if dims is None:
            return graph.one(op, [values(args[0])], keepdims=keepdim)
        if op == "ReduceMean":  # opset 17: ReduceMean takes its axes as an attribute, ReduceSum as an input
            return graph.one(op, [values(args[0])], axes=list(dims), keepdims=keepdim)
        return graph.one(op, [values(args[0]), graph.ints("axes", list(dims))], keepdims=keepdim)

    return rule


def _clamp_min(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return graph.one("Max", [values(args[0]), values.tensor(args[1], args[0])])


def _cat(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return graph.one("Concat", values(args[0]), axis=args[1] if len(args) > 1 else 0)


def _stack(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    dim = args[1] if len(args) > 1 else 0
    axis = graph.ints("axis", [dim])
    return graph.one("Concat", [graph.one("Unsqueeze", [item, axis]) for item in values(args[0])], axis=dim)


def _linear(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    x, weight = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    assert isinstance(x, torch.fx.Node)
    inputs = [values(x), values(weight)] + ([values(bias)] if bias is not None else [])
    if x.meta["val"].dim() == 2:
        return graph.one("Gemm", inputs, transB=1)
    product = graph.one("MatMul", [values(x), graph.one("Transpose", [values(weight)], perm=[1, 0])])
    return product if bias is None else graph.one("Add", [product, values(bias)])


def _view(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return graph.one("Reshape", [values(args[0]), values.shape(args[1])])


def _unsqueeze(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return graph.one("Unsqueeze", [values(args[0]), graph.ints("axis", [args[1]])])


def _squeeze(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    dims = args[1] if len(args) > 1 else None
    if dims is None:
        return graph.one("Squeeze", [values(args[0])])
    return graph.one("Squeeze", [values(args[0]), graph.ints("axes", dims if isinstance(dims, list) else [dims])])


def _permute(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return graph.one("Transpose", [values(args[0])], perm=list(args[1]))


def _transpose(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    source, first, second = args
    rank = source.meta["val"].dim()
    perm = list(range(rank))
    perm[first], perm[second] = perm[second], perm[first]
    return graph.one("Transpose", [values(source)], perm=perm)


def _index(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    """x[..., indices, ...] with one index tensor (the others None): a Gather along that dimension."""
    source, indices = args
    given = [(dim, index) for dim, index in enumerate(indices) if index is not None]
    if len(given) != 1:
        raise ValueError("ONNX export: indexing with more than one index tensor is not supported")
    dim, index = given[0]
    return graph.one("Gather", [values(source), values(index)], axis=dim)


def _sort(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> list[str]:
    """Ascending sort along a dimension of fixed size: TopK with k = that size."""
    source = args[0]
    dim = args[1] if len(args) > 1 else -1
    descending = bool(args[2] if len(args) > 2 else kwargs.get("descending", False))
    size = source.meta["val"].shape[dim]
    if not isinstance(size, int):
        raise ValueError("ONNX export: sorting along a dynamic dimension is not supported")
    k = graph.ints("k", [size])
    return graph.node("TopK", [values(source), k], "sorted", 2, axis=dim, largest=int(descending), sorted=1)


def _sym_size(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    dim = args[1]
    return graph.one("Shape", [values(args[0])], "size", start=dim, end=dim + 1 if dim != -1 else INT64_MAX)


def _sym_binary(op: str) -> Rule:
    def rule(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
        return graph.one(op, [values.shape([args[0]]), values.shape([args[1]])], "size")

    return rule


def _identity(graph: OnnxGraph, values: Values, args: Any, kwargs: Any) -> str:
    return values(args[0])


aten = torch.ops.aten
RULES: dict[Any, Rule] = {
    aten.add.Tensor: _binary("Add"),
    aten.sub.Tensor: _binary("Sub"),
    aten.mul.Tensor: _binary("Mul"),
    aten.div.Tensor: _binary("Div"),
    aten.maximum.default: _binary("Max"),
    aten.abs.default: _unary("Abs"),
    aten.neg.default: _unary("Neg"),
    aten.sigmoid.default: _unary("Sigmoid"),
    aten.tanh.default: _unary("Tanh"),
    aten.clamp_min.default: _clamp_min,
    aten.slice.Tensor: _slice,
    aten.select.int: _select,
    aten.index.Tensor: _index,
    aten.sum.dim_IntList: _reduce("ReduceSum"),
    aten.mean.dim: _reduce("ReduceMean"),
    aten.cat.default: _cat,
    aten.stack.default: _stack,
    aten.linear.default: _linear,
    aten.view.default: _view,
    aten.reshape.default: _view,
    aten._unsafe_view.default: _view,
    aten.unsqueeze.default: _unsqueeze,
    aten.squeeze.dim: _squeeze,
    aten.squeeze.dims: _squeeze,
    aten.permute.default: _permute,
    aten.transpose.int: _transpose,
    aten.sort.default: _sort,
    aten.sym_size.int: _sym_size,
    aten.clone.default: _identity,
    aten.alias.default: _identity,
    aten.contiguous.default: _identity,
    operator.mul: _sym_binary("Mul"),
    operator.add: _sym_binary("Add"),
    operator.sub: _sym_binary("Sub"),
    operator.floordiv: _sym_binary("Div"),
}
# torch.export's run-time checks of the traced sizes: ONNX has no counterpart, and the graph does not need them
SKIPPED = {
    aten._assert_scalar.default,
    aten.sym_constrain_range_for_size.default,
    aten._assert_tensor_metadata.default,
}


def _module_path(node: torch.fx.Node) -> str:
    """The model's module that made the call, as a name prefix (an ensemble's "members.0.gru/", ...), or ""."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [path for path, _ in stack.values() if path]
    return f"{paths[-1]}/" if paths else ""


def translate(
    program: torch.export.ExportedProgram,
    graph: OnnxGraph,
    input_names: list[str],
    custom: dict[Any, Rule] | None = None,
) -> list[str]:
    """Writes `program`'s graph into `graph`: its parameters, buffers and constants as initializers, its user inputs
    under `input_names` (in order), each call by `custom` or `RULES`. Returns the ONNX names of its outputs."""
    rules = {**RULES, **(custom or {})}
    values = Values(graph)
    signature = program.graph_signature
    state = {**program.state_dict, **program.constants}
    sources = {
        **signature.inputs_to_parameters,
        **signature.inputs_to_buffers,
        **signature.inputs_to_lifted_tensor_constants,
    }
    user_inputs = iter(input_names)
    outputs: list[str] = []
    for node in program.graph.nodes:
        if node.op == "placeholder":
            if node.name in sources:
                name = sources[node.name]  # the model's own name for it ("fc.weight", "members.0.fc.weight")
                graph.initializers.append(graph.numpy_helper.from_array(state[name].detach().cpu().numpy(), name))
                values.names[node] = name
            else:
                values.names[node] = next(user_inputs)
        elif node.op == "call_function":
            if node.target in SKIPPED:
                continue
            graph.prefix = _module_path(node)
            if node.target is operator.getitem:
                values.names[node] = values(node.args[0])[cast(int, node.args[1])]
                continue
            if node.target not in rules:
                raise ValueError(f"ONNX export: no ONNX translation for {node.target} (in the traced model)")
            values.names[node] = rules[node.target](graph, values, node.args, node.kwargs)
        elif node.op == "output":
            outputs = [values(item) for item in cast(tuple, node.args[0])]
    graph.prefix = ""
    return outputs
