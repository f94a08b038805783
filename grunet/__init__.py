"""grunet: GRU sequence models in PyTorch, the tutorial's equations exactly, fast, and ready for real series."""
from grunet.layer import GRU, GRUCell
from grunet.model import GRUNet, ModelConfig

__all__ = ["GRU", "GRUCell", "GRUNet", "ModelConfig"]
__version__ = "0.1.0"
