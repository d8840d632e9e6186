"""The B-spline <-> truncated-power change of basis A^[r] (the multilevel paper, Lemma 2 /
Corollary 1).

On [a, b], B_i(x) = sum_j A_ij psi_j(x) with psi_j(x) = ReLU(x - t_j)^(r-1) (r = 1: the step
H(x - t_j), H(0) = 1). Knots are the full extended vector t_{1-r} < ... < t_{n+r-1}, indexed
from 0 here; there are n_b = len(knots) - r basis functions and A is n_b x n_b, upper
triangular with r+1 diagonals.

The recursion runs over the full knot index range and is truncated at the end: columns
j >= n_b multiply psi_j with t_j >= b, which vanish on [a, b]. Entries are exact rationals.
"""

from __future__ import annotations

from functools import lru_cache

import sympy

from .knots import Knots, KnotValues, as_knots, check_order, rational


@lru_cache(maxsize=256)
def _bands(order: int, knots: Knots) -> tuple[tuple[sympy.Rational, ...], ...]:
    """Row i of A as its band A[i, i], ..., A[i, i+r], before truncation (n_b rows)."""
    t, count = knots, len(knots)
    rows: list[dict[int, sympy.Rational]] = [
        {i: sympy.Integer(1), i + 1: sympy.Integer(-1)} for i in range(count - 1)]
    for s in range(2, order + 1):
        new_rows = []
        for i in range(count - s):
            left, right = t[i + s - 1] - t[i], t[i + s] - t[i + 1]
            row: dict[int, sympy.Rational] = {}
            for j, v in rows[i].items():
                row[j] = row.get(j, 0) + v / left
            for j, v in rows[i + 1].items():
                row[j] = row.get(j, 0) - v / right
            new_rows.append(row)
        rows = new_rows
    return tuple(tuple(sympy.Rational(row.get(i + c, 0)) for c in range(order + 1))
                 for i, row in enumerate(rows))


def relu_stencil_bands(order: int, knots: KnotValues) -> tuple[tuple[sympy.Rational, ...], ...]:
    """The banded form of A^[r]: n_b rows of r+1 entries A[i, i..i+r] (Lemma 2, cached).

    This is what the compiler attaches to the IR; entries past column n_b - 1 are kept (they
    are the stencil's true values), although they multiply truncated powers that vanish on
    [a, b].
    """
    return _bands(check_order(order), as_knots(knots, order))


def relu_change_of_basis(order: int, knots: KnotValues) -> sympy.Matrix:
    """A^[r] as an exact n_b x n_b sympy Matrix with B = A psi on [a, b] (Lemma 2)."""
    bands = relu_stencil_bands(order, knots)
    nb = len(bands)
    entries = {(i, i + c): v for i, band in enumerate(bands) for c, v in enumerate(band)
               if i + c < nb and v != 0}
    return sympy.Matrix(sympy.SparseMatrix(nb, nb, entries))


def uniform_relu_change_of_basis(order: int, n_basis: int, h: object) -> sympy.Matrix:
    """Corollary 1: A_ij = (-1)^(j-i) C(r, j-i) / ((r-1)! h^(r-1)) for 0 <= j-i <= r."""
    r, spacing = check_order(order), rational(h)
    if spacing <= 0:
        raise ValueError(f"the knot spacing h must be positive, got {spacing}")
    scale = 1 / (sympy.factorial(r - 1) * spacing ** (r - 1))

    def entry(i: int, j: int) -> sympy.Rational:
        d = j - i
        return (-1) ** d * sympy.binomial(r, d) * scale if 0 <= d <= r else sympy.Integer(0)

    return sympy.Matrix(n_basis, n_basis, entry)
