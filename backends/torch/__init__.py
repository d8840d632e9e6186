"""kancc.backends.torch: plain PyTorch modules, differentiated by torch autograd."""

from .emitter import emit_torch

__all__ = ["emit_torch"]
