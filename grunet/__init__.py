"""grunet: GRU sequence models in PyTorch, the tutorial's equations exactly, fast, and ready for real series.

The public names are imported on first use (PEP 562), so that the data and scaling modules, and the ONNX
prediction path, can be used without importing torch.
"""

from importlib import import_module

__version__ = "0.2.0"
__all__ = ["Forecaster", "GRU", "GRUCell", "GRUNet", "Ensemble", "ModelConfig"]

_LOCATIONS = {
    "Forecaster": "grunet.forecaster",
    "GRU": "grunet.layer",
    "GRUCell": "grunet.cell",
    "GRUNet": "grunet.model",
    "Ensemble": "grunet.model",
    "ModelConfig": "grunet.model",
}


def __getattr__(name: str):
    if name in _LOCATIONS:
        value = getattr(import_module(_LOCATIONS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'grunet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
