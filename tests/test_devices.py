"""grunet.devices: when the Triton kernel takes a layer, and what --device auto picks (a GPU is simulated)."""

import warnings

import pytest
import torch

from grunet import devices
from grunet.training.config import resolve_device


@pytest.fixture
def gpu(monkeypatch):
    """A CUDA device of compute capability 9.0 with triton installed, as far as grunet.devices can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(devices, "_triton_installed", lambda: True)
    monkeypatch.delenv("GRUNET_TRITON", raising=False)
    return monkeypatch


def test_auto_picks_cuda_with_the_triton_kernel(gpu):
    assert devices.cuda_is_faster() == (True, "CUDA with the fused Triton kernel")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda gpu: gpu.setenv("GRUNET_TRITON", "0"), "GRUNET_TRITON=0"),
        (lambda gpu: gpu.setattr(devices, "_triton_installed", lambda: False), "pip install 'grunet[gpu]'"),
        (lambda gpu: gpu.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5)), "capability 7.5"),
    ],
)
def test_auto_picks_the_cpu_without_the_triton_kernel_and_says_why(gpu, change, words):
    change(gpu)
    use_cuda, reason = devices.cuda_is_faster()
    assert not use_cuda and words in reason and "slower than the CPU" in reason
    with pytest.warns(UserWarning, match="device auto chose the CPU: .*" + words.split()[0]):
        assert resolve_device("auto") == torch.device("cpu")


def test_auto_without_cuda_is_the_cpu_silently(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.cuda_is_faster() == (False, "no CUDA device")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("auto") == torch.device("cpu")


def test_triton_runs_only_for_float32_cuda_tensors(gpu):
    assert not devices.triton_runs(torch.zeros(2, 3, 4))  # CPU tensors: the compiled or pure-torch loop
    if torch.cuda.device_count():
        x = torch.zeros(2, 3, 4, device="cuda")
        assert devices.triton_runs(x) and not devices.triton_runs(x.double())
        gpu.setenv("GRUNET_TRITON", "0")
        assert not devices.triton_runs(x)
