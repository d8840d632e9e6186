"""The IR's data: values, parameters, ops and graphs, all frozen.

A Graph is a flat, ordered tuple of ops (jaxpr-style) in def-before-use order, with typed
inputs, declared parameters and outputs. Passes never mutate; they build new graphs.

Attribute values are exact and hashable: bool, int, ``fractions.Fraction`` (a fraction with
denominator 1 is stored as an int, so every number has one spelling), str, and tuples of
these. Floats are refused: the IR carries exact constants, backends round them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from .types import TensorType

Attr = bool | int | Fraction | str | tuple[Any, ...]


@dataclass(frozen=True)
class Value:
    """An SSA value, printed ``%name``."""

    name: str
    type: TensorType


@dataclass(frozen=True)
class Param:
    """A parameter, printed ``@name``; its name is the key in the params dict. A frozen
    parameter (LoTRA's pretrained tensor) is an input of the model that training
    never changes: a training graph returns no gradient for it."""

    name: str
    type: TensorType
    frozen: bool = False


Operand = Value | Param


def freeze_attr(value: object) -> Attr:
    """Normalize an attribute value to its one canonical, hashable form."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, (tuple, list)):
        return tuple(freeze_attr(v) for v in value)
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not exact "
                    "(allowed: bool, int, Fraction, str, tuple)")


@dataclass(frozen=True)
class Op:
    """One equation: ``results = name operands {attrs}``."""

    name: str
    operands: tuple[Operand, ...]
    attrs: tuple[tuple[str, Attr], ...]
    results: tuple[Value, ...]

    @staticmethod
    def make(name: str, operands: tuple[Operand, ...] | list[Operand],
             attrs: Mapping[str, object], results: tuple[Value, ...] | list[Value]) -> Op:
        frozen = tuple((key, freeze_attr(value)) for key, value in attrs.items())
        return Op(name, tuple(operands), frozen, tuple(results))

    def attr(self, key: str, default: object = KeyError) -> Any:
        """The value of attribute ``key`` (its type is the dialect schema's business)."""
        for k, v in self.attrs:
            if k == key:
                return v
        if default is KeyError:
            raise KeyError(f"{self.name} has no attribute {key!r}")
        return default

    def has_attr(self, key: str) -> bool:
        return any(k == key for k, _ in self.attrs)

    @property
    def attr_dict(self) -> dict[str, Attr]:
        return dict(self.attrs)

    def with_attrs(self, **updates: object) -> Op:
        """Same op with attributes replaced or appended (existing order kept)."""
        merged: dict[str, object] = dict(self.attrs)
        merged.update(updates)
        return Op.make(self.name, self.operands, merged, self.results)

    def without_attrs(self, *keys: str) -> Op:
        return replace(self, attrs=tuple((k, v) for k, v in self.attrs if k not in keys))

    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[Value, ...]
    params: tuple[Param, ...]
    ops: tuple[Op, ...]
    outputs: tuple[Value, ...]

    @property
    def trainable_params(self) -> tuple[Param, ...]:
        """The parameters a training graph returns gradients for, in declaration order."""
        return tuple(p for p in self.params if not p.frozen)

    def with_ops(self, ops: tuple[Op, ...] | list[Op]) -> Graph:
        return replace(self, ops=tuple(ops))

    def values(self) -> Iterator[Value]:
        """Every value defined in the graph: inputs, then op results in order."""
        yield from self.inputs
        for op in self.ops:
            yield from op.results

    @property
    def dtype(self) -> str:
        """The floating dtype of the model (that of its first input)."""
        return self.inputs[0].type.dtype
