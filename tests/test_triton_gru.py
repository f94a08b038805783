"""grunet.triton_gru, the host side of the Triton kernels: the tiles it cuts a layer into, the GEMMs around the
launches (deterministic), and the kernels in grunet.GRU (several layers, both directions; on CUDA by default).

Without a GPU the kernels run in Triton's interpreter (`triton_cases`); tests/test_triton_kernels.py holds them to
the reference equations.
"""

import pytest
import torch
from triton_cases import DEVICE, SMALL_TILES, assert_all_close, inputs, run_kernels, values_and_grads

from grunet import devices, triton_gru
from grunet.fast import gru_layer
from grunet.layer import GRU


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("h0_given", [True, False])
def test_triton_multilayer_bidirectional_gru(monkeypatch, reset_after, h0_given):
    """grunet.GRU, 2 layers, both directions, batch_first, on the kernels: what it computes on the loops that
    tests/test_fast.py holds to the reference (values and every parameter's gradient), with h_0 given or zeros."""
    run_kernels(monkeypatch, SMALL_TILES["on_chip"][0])
    torch.manual_seed(0)
    gru = GRU(
        3, 7, num_layers=2, batch_first=True, bidirectional=True, reset_after=reset_after, dtype=torch.float64
    ).to(DEVICE)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, 3, generator=generator, dtype=torch.float64).to(DEVICE).requires_grad_()
    h_0 = (
        torch.randn(4, 6, 7, generator=generator, dtype=torch.float64).to(DEVICE).requires_grad_() if h0_given else None
    )

    def run():
        gru.zero_grad(set_to_none=True)
        output, h_n = gru(x, h_0)
        (
            (output * torch.linspace(-1, 1, output.numel(), dtype=output.dtype, device=DEVICE).view(output.shape)).sum()
            + (h_n**2).sum()
        ).backward()
        tensors = [x] + ([h_0] if h0_given else [])
        grads = [t.grad.clone() for t in tensors] + [p.grad.clone() for p in gru.parameters()]
        for t in tensors:
            t.grad = None
        return [output.detach(), h_n.detach(), *grads]

    got = run()
    monkeypatch.setattr(devices, "triton_runs", lambda x: False)
    assert_all_close(got, [t.cpu() for t in run()], 1e-10)


def test_triton_is_deterministic(monkeypatch):
    """Weight gradients are GEMMs and reductions outside the kernel, not sums in whatever order programs finish:
    two runs give the same bits."""
    run_kernels(monkeypatch, SMALL_TILES["tiled"][0])
    args = inputs(4, 6, 3, 12, dtype=torch.float32)
    first, second = (values_and_grads(gru_layer, args, True, False) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("value", [1, 12])
def test_triton_tiles(value):
    """Tiles are powers of two of at least 16; hidden sizes above MAX_ON_CHIP_HIDDEN go to the tiled kernels."""
    assert triton_gru.tiles_for(value * 3, value) == triton_gru.Tiles(triton_gru.BLOCK_BATCH, 16, True, warps=4)
    assert triton_gru.tiles_for(800, 20) == triton_gru.Tiles(triton_gru.BLOCK_BATCH, 32, True, warps=8)
    wide = triton_gru.tiles_for(8, triton_gru.MAX_ON_CHIP_HIDDEN + value)
    assert not wide.on_chip and wide.hidden == triton_gru.TILE_HIDDEN


@pytest.mark.cuda
@pytest.mark.parametrize("reset_after", [False, True])
def test_triton_runs_grunet_gru_on_cuda_by_default(monkeypatch, reset_after):
    """On CUDA, a float32 grunet.GRU at the tutorial's size runs the kernel with no switch set; GRUNET_TRITON=0 runs
    the pure-torch loop instead, which computes the same up to float32 rounding."""
    calls = []
    kernel_forward = triton_gru.forward
    monkeypatch.setattr(
        triton_gru, "forward", lambda *args, **kwargs: calls.append(1) or kernel_forward(*args, **kwargs)
    )
    torch.manual_seed(0)
    gru = GRU(1, 20, num_layers=2, batch_first=True, reset_after=reset_after).cuda()
    x = torch.randn(800, 50, 1, device="cuda")

    def run():
        gru.zero_grad(set_to_none=True)
        output, h_n = gru(x)
        output[:, -1].sum().backward()
        return [
            output.detach().double().cpu(),
            h_n.detach().double().cpu(),
            *[p.grad.double().cpu() for p in gru.parameters()],
        ]

    got = run()
    assert len(calls) == 2  # one launch per layer
    monkeypatch.setenv("GRUNET_TRITON", "0")
    assert_all_close(got, run(), 1e-4)
    assert len(calls) == 2
