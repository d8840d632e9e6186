"""Exact knot vectors.

The symbolic functions take the full extended knot vector t_{1-r} < ... < t_{n+r-1}
(n + 2r - 1 knots for n intervals and order r) as exact rationals; cell k of the domain is
[knots[r-1+k], knots[r+k]].
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import sympy

Knots = tuple[sympy.Rational, ...]
KnotValues = Sequence[object]  # knots as given: ints, Fractions, sympy numbers, "p/q", floats


def rational(value: object) -> sympy.Rational:
    """An exact sympy Rational from an int, Fraction, sympy number, "p/q" string or float
    (a float is taken at its exact binary value)."""
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        return sympy.Rational(*value.as_integer_ratio())
    result = sympy.Rational(value)
    if not result.is_Rational:
        raise ValueError(f"knot {value!r} is not a rational number")
    return result


def as_fraction(value: sympy.Rational) -> Fraction:
    """A sympy rational as a ``fractions.Fraction`` (what the IR's attributes hold)."""
    num, den = value.as_numer_denom()
    return Fraction(int(num), int(den))


def check_order(order: int) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    return order


def as_knots(knots: KnotValues, order: int) -> Knots:
    """Validate a full extended knot vector for order r: strictly increasing, >= 2r knots."""
    t = tuple(rational(v) for v in knots)
    if len(t) < 2 * order:
        raise ValueError(f"order {order} needs a full knot vector of at least {2 * order} knots "
                         f"(n + 2r - 1 for n >= 1 intervals), got {len(t)}")
    for i in range(1, len(t)):
        if t[i] <= t[i - 1]:
            raise ValueError(f"knots must be strictly increasing: knots[{i}] = {t[i]} "
                             f"<= knots[{i - 1}] = {t[i - 1]}")
    return t


def uniform_knots(order: int, a: object, b: object, n: int) -> Knots:
    """The full extended knot vector of n uniform intervals on [a, b]."""
    left, right = rational(a), rational(b)
    h = (right - left) / n
    return tuple(left + h * i for i in range(1 - order, n + order))


def refine_points(points: Sequence[Fraction], factor: int) -> tuple[Fraction, ...]:
    """Grid points with every cell [p, q] split into ``factor`` equal cells (exact)."""
    fine = [points[0]]
    for left, right in zip(points, points[1:]):
        fine += [left + (right - left) * Fraction(j, factor) for j in range(1, factor + 1)]
    return tuple(fine)


def refine_knot_vector(knots: Sequence[Fraction], order: int, factor: int
                       ) -> tuple[Fraction, ...]:
    """A full knot vector t_{1-r} .. t_{n+r-1} with every grid cell (between t_0 and t_n)
    split into ``factor`` equal cells and the exterior knots kept: the fine vector contains
    the coarse one, so the prolongation onto it is exact."""
    inner = tuple(knots[order - 1:len(knots) - order + 1])
    return tuple(knots[:order - 1]) + refine_points(inner, factor) + \
        tuple(knots[len(knots) - order + 1:])
