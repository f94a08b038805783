"""The traced-program-to-ONNX translation (`grunet.export.onnx_graph`): each rule against torch on a small module,
dynamic sizes kept dynamic, and an operator without a rule refused by name."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from grunet.export.onnx_graph import OnnxGraph, translate


def to_onnx(module, example, dynamic):
    program = torch.export.export(module, example, dynamic_shapes=dynamic).run_decompositions({})
    graph = OnnxGraph()
    names = [f"in{index}" for index in range(len(example))]
    (output,) = translate(program, graph, names)
    graph.nodes.append(onnx.helper.make_node("Identity", [output], ["out"]))
    inputs = [
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [f"d{i}_{k}" for k in range(x.dim())])
        for i, (name, x) in enumerate(zip(names, example))
    ]
    outputs = [onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, ["rows", "cols"])]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(graph.nodes, "t", inputs, outputs, graph.initializers),
        opset_imports=[onnx.helper.make_opsetid("", 17)],
        ir_version=8,
    )
    onnx.checker.check_model(model, full_check=True)
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda *xs: session.run(None, {name: x.numpy() for name, x in zip(names, xs)})[0]


class Mixed(nn.Module):
    """Slices, reductions, a clamp, a Linear on 2-D and 3-D inputs, a flatten over a dynamic batch, a stack and a
    sort: what a GRUNet's forward uses around its GRU."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 2)
        self.register_buffer("steps", torch.tensor([-1, -3]), persistent=False)

    def forward(self, x, future):
        level = x[:, -4:, :1].abs().mean(dim=1, keepdim=True)
        total = (x * 2).sum(dim=1, keepdim=True).clamp_min(0.5)
        y = torch.cat([x[..., :1] / level, x[..., 1:] - total[..., 1:]], dim=-1)
        flat = self.head(y)[:, -1] + future.flatten(1)[:, :2] + y[:, self.steps, 0]
        stacked = torch.stack([flat, -flat, flat * 3])
        return stacked.sort(dim=0).values[1]


def test_rules_match_torch_at_other_sizes():
    torch.manual_seed(0)
    module = Mixed().eval()
    batch, steps = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("seq", min=5, max=1024)
    example = (torch.randn(2, 6, 3), torch.randn(2, 2, 2))
    run = to_onnx(module, example, {"x": {0: batch, 1: steps}, "future": {0: batch}})
    for batch_size, length in ((1, 4), (7, 9), (3, 40)):
        x, future = torch.randn(batch_size, length, 3), torch.randn(batch_size, 2, 2)
        with torch.no_grad():
            expected = module(x, future).numpy()
        got = run(x, future)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-5


def test_an_operator_without_a_rule_is_named():
    class Cumulative(nn.Module):
        def forward(self, x):
            return x.cumsum(dim=1)

    with pytest.raises(ValueError, match="no ONNX translation for aten.cumsum"):
        to_onnx(Cumulative(), (torch.randn(2, 3),), None)
