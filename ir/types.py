"""Tensor types of the KAN IR.

A type is an element dtype and a shape whose entries are fixed sizes (int >= 0) or a named
symbolic size (the batch dimension ``B``). Printed as ``f32[B,2,11]``; a scalar is ``f32[]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DTYPES = ("f32", "f64", "i32")
SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}")
        for dim in self.shape:
            is_size = isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0
            is_symbol = isinstance(dim, str) and SYMBOL.match(dim) is not None
            if not (is_size or is_symbol):
                raise ValueError(f"bad dimension {dim!r} in shape {self.shape!r}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def static_shape(self) -> tuple[int, ...]:
        """The shape of a type without symbolic dimensions (a parameter's)."""
        if not all(isinstance(d, int) for d in self.shape):
            raise ValueError(f"{self} has a symbolic dimension")
        return tuple(int(d) for d in self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"


BATCH = "B"


def batched(dtype: str, *dims: int) -> TensorType:
    """The type of a per-example tensor: symbolic batch dimension first."""
    return TensorType(dtype, (BATCH, *dims))
