"""The one checker every spec table is read through: each error names its field.

A Checker reads raw TOML (or dict) values into typed, exact ones and turns anything else
into a ``SpecError`` naming the field path (``layers[1].grid``) and the spec's origin.
Numbers are bounded before they are built or printed: at most MAX_DIGITS digits and within
float64's range (every number kancc uses becomes a float64 or a float32 somewhere), so
neither reading an absurd value nor formatting the message about it is slow or fails.
"""

from __future__ import annotations

import decimal
import difflib
import math
import numbers
import re
import sys
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from kancc.errors import SpecError

MAX_DIGITS = 400  # decimal digits of a number (of a fraction's numerator and denominator)
FLOAT64_MAX = Fraction(sys.float_info.max)
FLOAT64_TINY = Fraction(2) ** -1074  # the smallest (subnormal) float64; below: it is 0
MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))
MAX_EXPONENT = 330  # a decimal exponent beyond float64's range either way
RATIO = re.compile(r"\s*([+-]?\d+)\s*/\s*([+-]?\d+)\s*\Z")


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
                name = str(key) or '""'  # the empty key, as TOML writes it
                raise self.fail(f"{path}.{name}" if path else name, f"unknown key{extra}")
        return value

    def integer(self, value: object, path: str, lo: int, hi: int | None = None) -> int:
        if is_bool(value) or not isinstance(value, numbers.Integral):
            raise self.fail(path, f"must be an integer, got {describe(value)}")
        value = int(value)
        if value < lo or (hi is not None and value > hi):
            if lo == 1 and value < lo:
                raise self.fail(path, f"must be a positive integer, got {show_int(value)}")
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise self.fail(path, f"must be {bound}, got {show_int(value)}")
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in options:
            quoted = ", ".join(f'"{o}"' for o in options)
            raise self.fail(path, f"must be one of {quoted}, got {describe(value)}")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {describe(value)}")
        return value

    def text(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "must be a non-empty string")
        return value

    def number(self, value: object, path: str) -> Fraction:
        """An exact rational from an int, a decimal, a float (read as the shortest decimal
        that rounds to it: 0.1 is 1/10), or a string such as "1/3", "-2" or "0.25"; zero or
        within float64's range, and of at most MAX_DIGITS digits."""
        if is_bool(value):
            raise self.fail(path, f"must be a number, got {describe(value)}")
        if isinstance(value, str):
            exact = self._from_text(value, path)
        elif isinstance(value, Decimal):
            exact = self._from_decimal(value, path)
        elif isinstance(value, numbers.Rational):
            exact = Fraction(int(value.numerator), int(value.denominator))
            if max(exact.numerator.bit_length(), exact.denominator.bit_length()) > MAX_BITS:
                raise self.fail(path, f"has more than {MAX_DIGITS} digits")
        elif isinstance(value, numbers.Real):
            exact = self._from_decimal(Decimal(repr(float(value))), path)
        else:
            raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                  f"{describe(value)}")
        if exact != 0 and not FLOAT64_TINY <= abs(exact) <= FLOAT64_MAX:
            raise self._beyond_float64(path, f"about 1e{order_of(exact):+d}")
        return exact

    def _beyond_float64(self, path: str, shown: str) -> SpecError:
        return self.fail(path, f"is beyond float64's range (|x| from 4.9e-324 to 1.8e+308, "
                               f"or 0), got {shown}")

    def _from_text(self, text: str, path: str) -> Fraction:
        """"p/q", or a decimal such as "-2", "0.25" or "1e-3"."""
        ratio = RATIO.match(text)
        if ratio is None:
            try:
                return self._from_decimal(Decimal(text.strip()), path)
            except decimal.InvalidOperation:
                raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                      f"{describe(text)}") from None
        numerator, denominator = ratio.groups()
        if max(len(numerator), len(denominator)) > MAX_DIGITS:
            raise self.fail(path, f"has more than {MAX_DIGITS} digits")
        if int(denominator) == 0:
            raise self.fail(path, f"has a zero denominator: {describe(text)}")
        return Fraction(int(numerator), int(denominator))

    def _from_decimal(self, value: Decimal, path: str) -> Fraction:
        """A finite decimal of at most MAX_DIGITS digits, its magnitude checked before the
        exact fraction (which may be huge) is built."""
        if not value.is_finite():
            shown = "NaN" if value.is_nan() else "-Inf" if value < 0 else "Inf"
            raise self.fail(path, f"must be a finite number, got {shown}")
        if len(value.as_tuple().digits) > MAX_DIGITS:
            raise self.fail(path, f"has more than {MAX_DIGITS} digits")
        if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
            raise self._beyond_float64(path, f"{value:.3g}")
        return Fraction(value)

    def array(self, value: object, path: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise self.fail(path, f"must be an array, got {describe(value)}")
        return list(value)


def describe(value: object) -> str:
    """How a raw TOML value is named in messages (briefly, whatever its size)."""
    if isinstance(value, np.generic) and value.ndim == 0:  # a numpy scalar in a dict spec
        value = value.item()
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value[:60]!r}" + ("..." if len(value) > 60 else "")
    if isinstance(value, numbers.Integral):
        return show_int(int(value))
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, Decimal):
        return f"{value:.6g}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, numbers.Rational):
        return show(Fraction(int(value.numerator), int(value.denominator)))
    return f"a value of type {type(value).__name__}"  # its text may be huge, or fail


def is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def show(x: Fraction, digits: int = 6) -> str:
    """A short decimal for messages, for any magnitude (floats overflow and underflow)."""
    if x.denominator == 1 and abs(x.numerator) < 10**12:
        return str(x)
    return f"{Decimal(x.numerator) / Decimal(x.denominator):.{digits}g}"


def show_int(value: int) -> str:
    """An integer for messages: its digits, or its size when it has more than 30."""
    if value.bit_length() <= 99:
        return str(value)
    return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"


def order_of(x: Fraction) -> int:
    """The decimal exponent of |x| (x nonzero), from the bit lengths: no big arithmetic."""
    bits = x.numerator.bit_length() - x.denominator.bit_length()  # bit_length ignores sign
    return math.floor(bits * math.log10(2))
