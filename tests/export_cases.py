"""Models and inputs shared by the export tests: small GRUNets with random weights, inputs other than the ones an
export was verified on, and how far an exported model is from the PyTorch one."""

import numpy as np
import onnx
import torch

from grunet.export.bundle import onnx_session
from grunet.layer import GRU
from grunet.model import GRUNet

BATCH_SIZES, LENGTHS = (1, 2, 5), (1, 4, 13)


def small_model(
    reset_after=False,
    num_layers=1,
    bidirectional=False,
    window_norm="none",
    input_size=3,
    hidden=6,
    output_size=2,
    seed=0,
    future_size=0,
    mask=False,
):
    """A small GRUNet with random weights; bidirectional swaps in a bidirectional GRU and a 2H-wide head."""
    torch.manual_seed(seed)
    model = GRUNet(
        input_size,
        hidden,
        output_size,
        num_layers,
        reset_after=reset_after,
        window_norm=window_norm,
        future_size=future_size,
        mask=mask,
    )
    if bidirectional:
        model.gru = GRU(input_size, hidden, num_layers, batch_first=True, bidirectional=True, reset_after=reset_after)
        model.fc = torch.nn.Linear(2 * hidden + output_size * future_size, output_size)
    return model.eval()


def gru_nodes(path):
    graph = onnx.load(str(path)).graph
    assert not [node for node in graph.node if node.op_type in ("Loop", "Scan", "If")]  # not unrolled, no loops
    return [node for node in graph.node if node.op_type == "GRU"]


def attributes(node):
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def other_inputs(config, seed=1, length=None):
    """(x, future) other than the export's own: windows padded at the start as the data pipeline pads them (mask
    and values 0), one with no padding, one with a random mask (last step observed); and one-step windows
    (each at least the steps the model reads)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = ((1, 1), (4, 6), (9, 23)) if length is None else ((1, length), (4, length), (9, length))
    fewest = max(1, config.input_steps, config.ar, config.seasonal)  # a model refuses shorter inputs
    shapes = tuple((batch, max(steps, fewest)) for batch, steps in shapes)
    for batch, steps in shapes:
        x = torch.randn(batch, steps, config.input_size, generator=generator) * 3 + 1
        if config.mask:
            padding = torch.randint(0, steps, (batch, 1), generator=generator)
            observed = (torch.arange(steps) >= padding).float()  # (batch, steps), the last step always observed
            observed[0] = 1
            if batch > 1:
                observed[1] = torch.randint(0, 2, (steps,), generator=generator).float()
                observed[1, -1] = 1
            x = x * observed[:, :, None]
            x[:, :, -1] = observed
        future = (
            torch.randn(batch, config.output_size, config.future_size, generator=generator)
            if config.future_size
            else None
        )
        yield x, future


def run_onnx(path):
    session = onnx_session(path, threads=1)
    return lambda x, future: session.run(
        None, {"input": x.numpy(), **({} if future is None else {"future": future.numpy()})}
    )[0]


def worst(model, run, length=None):
    """Max abs difference of `run(x, future)` against the PyTorch model over `other_inputs`."""
    worst = 0.0
    with torch.no_grad():
        for x, future in other_inputs(model.config, length=length):
            expected, got = model(x, future).numpy(), run(x, future)
            assert got.shape == expected.shape == (len(x), model.config.output_size)
            assert np.isfinite(got).all()
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst
