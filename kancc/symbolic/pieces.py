"""Per-cell polynomial pieces of the basis, derived exactly from the stencil A.

On cell k = [T, T + h] (T = knots[r-1+k]) only B_k .. B_{k+r-1} are nonzero, and only the
truncated powers psi_j with j <= r-1+k are switched on:

    B_{k+m}(x) = sum_{j=k+m}^{r-1+k} A[k+m, j] (x - t_j)^(r-1),   x = T + h s, s in [0, 1]

Expanding (T - t_j + h s)^(r-1) binomially gives B_{k+m} as a polynomial in s. Evaluated in
Horner form this is the accurate local form (DESIGN.md section 5): the in-cell coordinate s
is formed from the exact knot T, and no large truncated powers cancel.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import sympy

from .bspline import X, bspline_cell_polynomials, bspline_derivative_cell_polynomials
from .knots import Knots, KnotValues, as_knots

Table = tuple[tuple[sympy.Rational, ...], ...]  # [m][d]


@lru_cache(maxsize=256)
def _pieces(order: int, knots: Knots, bands: tuple[tuple[sympy.Rational, ...], ...]
            ) -> tuple[Table, ...]:
    r = order
    n = len(knots) - 2 * r + 1
    binom = [sympy.binomial(r - 1, d) for d in range(r)]
    tables = []
    for k in range(n):
        start, h = knots[r - 1 + k], knots[r + k] - knots[r - 1 + k]
        table = []
        for m in range(r):
            i = k + m
            coeffs = [sympy.Integer(0)] * r
            for j in range(i, r + k):
                a, c = bands[i][j - i], start - knots[j]
                for d in range(r):
                    coeffs[d] += a * binom[d] * c ** (r - 1 - d) * h ** d
            table.append(tuple(coeffs))
        tables.append(tuple(table))
    return tuple(tables)


def local_pieces(order: int, knots: KnotValues, bands: Sequence[Sequence[object]]
                 ) -> tuple[Table, ...]:
    """pieces[k][m][d] = coefficient of s^d in B_{k+m} on cell k, for k = 0..n-1 (exact).

    ``bands`` is the stencil in banded form (row i: A[i, i..i+r]), as made by
    ``relu_stencil_bands``.
    """
    t = as_knots(knots, order)
    frozen = tuple(tuple(sympy.Rational(v) for v in row) for row in bands)
    if len(frozen) != len(t) - order or any(len(row) != order + 1 for row in frozen):
        raise ValueError(f"bands must be {len(t) - order} rows of {order + 1} entries")
    return _pieces(order, t, frozen)


@lru_cache(maxsize=256)
def _derivative_tables(order: int, knots: Knots, level: int) -> tuple[Table, ...]:
    r = order
    n = len(knots) - 2 * r + 1
    if level == 1:
        cells_of = bspline_derivative_cell_polynomials(r, knots)
    else:
        cells_of = tuple({c: poly.diff((X, level)) for c, poly in cells.items()}
                         for cells in bspline_cell_polynomials(r, knots))
    s = sympy.Symbol("s")
    tables = []
    for k in range(n):
        cell = r - 1 + k
        start, h = knots[cell], knots[cell + 1] - knots[cell]
        table = []
        for m in range(r):
            poly = cells_of[k + m].get(cell)
            coeffs = [sympy.Integer(0)] * r
            if poly is not None and not poly.is_zero:
                in_s = sympy.Poly(poly.as_expr().subs(X, start + h * s), s)
                for (d,), c in in_s.terms():
                    coeffs[d] = c
            table.append(tuple(coeffs))
        tables.append(tuple(table))
    return tuple(tables)


def local_derivative_pieces(order: int, knots: KnotValues, level: int = 1
                            ) -> tuple[Table, ...]:
    """dpieces[k][m][d] = coefficient of s^d in d^level/dx^level B_{k+m} on cell k
    (s = (x - t_k)/h_k), exact. Level 1 comes from the lower-order difference formula
    (``bspline_derivative_cell_polynomials``), higher levels from differentiating the
    Cox-de Boor pieces. Degree r-1-level (zero tables when level >= r), padded with zeros to
    r columns so the tables have the shape of the pieces."""
    if level < 1:
        raise ValueError(f"level must be at least 1, got {level}")
    return _derivative_tables(order, as_knots(knots, order), level)
