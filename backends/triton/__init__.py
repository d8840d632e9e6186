"""kancc.backends.triton: fused Triton kernels with torch wrappers (emitting needs no torch)."""

from .emitter import emit_triton

__all__ = ["emit_triton"]
