"""The one checker every spec table is read through: each error names its field.

A Checker reads raw TOML (or dict) values into typed, exact ones and turns anything else
into a ``SpecError`` naming the field path (``layers[1].grid``) and the spec's origin.
"""

from __future__ import annotations

import decimal
import difflib
import numbers
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from kancc.errors import SpecError


class Checker:
    """Validates raw values; every error carries the spec's origin (its file)."""

    def __init__(self, origin: str | None) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(path, message, self.origin)

    def table(self, value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a table, got {describe(value)}")
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else \
                    f" (allowed: {', '.join(allowed)})"
                where = f"{path}.{key}" if path else str(key)
                raise self.fail(where, f"unknown key{extra}")
        return value

    def integer(self, value: object, path: str, lo: int, hi: int | None = None) -> int:
        if is_bool(value) or not isinstance(value, numbers.Integral):
            raise self.fail(path, f"must be an integer, got {describe(value)}")
        value = int(value)
        if value < lo or (hi is not None and value > hi):
            if lo == 1 and value < lo:
                raise self.fail(path, f"must be a positive integer, got {value}")
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise self.fail(path, f"must be {bound}, got {value}")
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in options:
            quoted = ", ".join(f'"{o}"' for o in options)
            raise self.fail(path, f"must be one of {quoted}, got {describe(value)}")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {value!r}")
        return value

    def text(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "must be a non-empty string")
        return value

    def number(self, value: object, path: str) -> Fraction:
        """An exact rational from an int, a decimal, a float (read as the shortest decimal
        that rounds to it: 0.1 is 1/10), or a string such as "1/3", "-2" or "0.25"."""
        if is_bool(value):
            raise self.fail(path, f"must be a number, got {describe(value)}")
        if isinstance(value, (str, numbers.Rational, Decimal)):
            source: Any = value
        elif isinstance(value, numbers.Real):
            source = repr(float(value))
        else:
            raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                  f"{describe(value)}")
        try:
            exact = Fraction(source)
        except ZeroDivisionError:
            raise self.fail(path, f"has a zero denominator: {value!r}") from None
        except (ValueError, TypeError, OverflowError, decimal.InvalidOperation):
            if isinstance(value, str):
                raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                      f"{describe(value)}") from None
            raise self.fail(path, f"must be a finite number, got {value}") from None
        return exact

    def array(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise self.fail(path, f"must be an array, got {describe(value)}")
        return list(value)


def describe(value: object) -> str:
    """How a raw TOML value is named in messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return str(value)


def is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def show(x: Fraction, digits: int = 6) -> str:
    """A short decimal for messages, for any magnitude (floats overflow and underflow)."""
    if x.denominator == 1 and abs(x.numerator) < 10**12:
        return str(x)
    return f"{Decimal(x.numerator) / Decimal(x.denominator):.{digits}g}"
