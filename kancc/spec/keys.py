"""Spec tables declared once: every key's reader, default and documentation in one line.

A table is a frozen dataclass whose fields are declared with ``key(default, reader, doc)``.
``read_table`` checks a raw table against those declarations (unknown keys, missing
required keys, each value through its reader) and returns the typed values;
``table_to_dict`` writes a table back in the form ``read_table`` accepts. So a new key is
one field: the parser, the serializer (checkpoints store specs this way) and the key list
all follow from it. Rules between keys (lr does not apply to L-BFGS, ...) stay with the
table's own module, next to these declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from .checker import Checker, show


class Reader(Protocol):
    """Reads one raw value (checking it) and writes a typed one back."""

    def read(self, check: Checker, value: object, path: str) -> Any: ...

    def write(self, value: Any) -> Any: ...


class Verbatim:
    """A reader whose values are written back as they are (ints, strings, booleans)."""

    def write(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Integer(Verbatim):
    lo: int
    hi: int | None = None

    def read(self, check: Checker, value: object, path: str) -> int:
        return check.integer(value, path, self.lo, self.hi)


MAX_ROWS = 10**9  # of a synthetic data set or a minibatch
SEED = Integer(0, 2**64 - 1)  # what numpy's generators take


@dataclass(frozen=True)
class Number:
    """An exact number, optionally within an interval: ``low``/``high`` with open ends."""

    low: Fraction | None = None
    high: Fraction | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""  # appended to the requirement in messages, e.g. " (a relaxed projection)"

    def read(self, check: Checker, value: object, path: str) -> Fraction:
        number = check.number(value, path)
        too_low = self.low is not None and (number <= self.low if self.low_open
                                            else number < self.low)
        too_high = self.high is not None and (number >= self.high if self.high_open
                                              else number > self.high)
        if too_low or too_high:
            raise check.fail(path, f"must be {self.requirement()}{self.why}, got {show(number)}")
        return number

    def requirement(self) -> str:
        if self.high is None:
            return "positive" if self.low_open and self.low == 0 else f">= {self.low}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low}, {self.high}{right}"

    def write(self, value: Fraction) -> str:
        return str(value)


@dataclass(frozen=True)
class Choice(Verbatim):
    options: tuple[str, ...]

    def read(self, check: Checker, value: object, path: str) -> str:
        return check.choice(value, path, self.options)


@dataclass(frozen=True)
class Boolean(Verbatim):
    def read(self, check: Checker, value: object, path: str) -> bool:
        return check.boolean(value, path)


@dataclass(frozen=True)
class Text(Verbatim):
    """A non-empty string."""

    def read(self, check: Checker, value: object, path: str) -> str:
        return check.text(value, path)


@dataclass(frozen=True)
class HexDigest(Verbatim):
    digits: int

    def read(self, check: Checker, value: object, path: str) -> str:
        if not isinstance(value, str) or len(value) != self.digits or \
                any(c not in "0123456789abcdef" for c in value):
            raise check.fail(path, f"must be {self.digits} lowercase hex digits")
        return value


@dataclass(frozen=True)
class ArrayOf:
    """An array of ``item`` values, read into a tuple. ``length`` fixes its length;
    ``max_length`` bounds it; ``empty`` (a message) refuses an empty array."""

    item: Reader
    what: str = "entries"
    length: int | None = None
    max_length: int | None = None
    empty: str | None = None

    def read(self, check: Checker, value: object, path: str) -> tuple[Any, ...]:
        items = check.array(value, path)
        if self.length is not None and len(items) != self.length:
            raise check.fail(path, f"give {self.length} {self.what}, got {len(items)}")
        if not items and self.empty is not None:
            raise check.fail(path, self.empty)
        if self.max_length is not None and len(items) > self.max_length:
            raise check.fail(path, f"has {len(items)} {self.what}; at most {self.max_length}")
        return tuple(self.item.read(check, v, f"{path}[{i}]") for i, v in enumerate(items))

    def write(self, value: tuple[Any, ...]) -> list[Any]:
        return [self.item.write(v) for v in value]


@dataclass(frozen=True)
class Subtable:
    """A nested table, itself declared with ``key``: e.g. [train.multilevel]."""

    table: type

    def read(self, check: Checker, value: object, path: str) -> Any:
        return self.table(**read_table(check, value, path, self.table))

    def write(self, value: Any) -> dict[str, Any]:
        return table_to_dict(value)


@dataclass(frozen=True)
class Key:
    reader: Reader
    doc: str
    required: str | None = None  # the message when the key is missing; None: optional


def key(default: Any, reader: Reader, doc: str, *, required: str | None = None) -> Any:
    """A dataclass field that is also a spec key (typed as Any for the field's annotation)."""
    return field(default=default, metadata={"key": Key(reader, doc, required)})


def keys_of(table: type) -> tuple[tuple[str, Key], ...]:
    """The declared keys of a table class, in declaration order."""
    return tuple((f.name, f.metadata["key"]) for f in dataclasses.fields(table)
                 if "key" in f.metadata)


def read_table(check: Checker, raw: object, path: str, table: type) -> dict[str, Any]:
    """The typed values of the keys ``raw`` gives (unknown keys and missing required ones
    refused); the caller builds the table from them after its own rules between keys."""
    declared = keys_of(table)
    given: Mapping[str, Any] = check.table(raw, path, tuple(name for name, _ in declared))
    values = {}
    for name, spec in declared:
        where = f"{path}.{name}"
        if name in given:
            values[name] = spec.reader.read(check, given[name], where)
        elif spec.required is not None:
            raise check.fail(where, spec.required)
    return values


def table_to_dict(value: Any, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value``'s keys as ``read_table`` reads them: every key that is set (not None) and
    not in ``omit`` (keys that do not apply in this table's configuration)."""
    result = {}
    for name, spec in keys_of(type(value)):
        item = getattr(value, name)
        if item is not None and name not in omit:
            result[name] = spec.reader.write(item)
    return result
