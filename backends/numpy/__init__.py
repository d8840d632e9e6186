"""kancc.backends.numpy: the readable NumPy reference backend."""

from .emitter import emit_numpy

__all__ = ["emit_numpy"]
