"""Exact prolongation P between nested spline spaces (the multilevel paper, section 4.2).

If every interior grid point of the coarse knot vector is also one of the fine one (same
domain [a, b]), the coarse spline space restricted to [a, b] lies in the fine one, so there
is an exact rational P (n_b_fine x n_b_coarse) with

    sum_i u_i B_i^coarse(x) == sum_k (P u)_k B_k^fine(x)   for every x in [a, b].

General nested knots (any refinement ratio, non-uniform): fine coefficient k is the blossom
of the coarse spline's polynomial piece on a fine cell inside the support of B_k^fine,
evaluated at the fine knots tau_{k+1} .. tau_{k+r-1} (de Boor-Fix; de Boor's algorithm
with a different argument per level computes it). The cell is taken inside [a, b], so the
exterior knots of the two vectors need not be nested: they only reparameterize the
polynomial pieces of the end cells. Uniform dyadic refinement has the closed form

    B_i^coarse = sum_{k=0}^{r} 2^(1-r) C(r, k) B_{2i-r+1+k}^fine     (0-based indices),

dropping fine indices outside 0 .. n_b_fine - 1 (those functions vanish on [a, b]).
Both are exact rationals, computed with ``fractions.Fraction`` (fast enough for 1024 cells).
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from functools import lru_cache
from math import comb

import sympy

from .knots import Knots, KnotValues, as_fraction, as_knots, check_order

Entries = tuple[tuple[int, int, Fraction], ...]  # (fine row, coarse column, value), nonzeros


class NotNestedError(ValueError):
    """The fine knot vector does not refine the coarse one."""


def interior_points(knots: KnotValues, order: int) -> tuple[Fraction, ...]:
    """The grid points t_0 = a < ... < t_n = b of a full extended knot vector."""
    return tuple(as_fraction(v) for v in knots[order - 1:len(knots) - order + 1])


def _check_nested(order: int, coarse: Knots, fine: Knots) -> None:
    outer, inner = interior_points(coarse, order), interior_points(fine, order)
    if (outer[0], outer[-1]) != (inner[0], inner[-1]):
        raise NotNestedError(f"the knot vectors span different domains: coarse "
                             f"[{outer[0]}, {outer[-1]}], fine [{inner[0]}, {inner[-1]}]")
    present = set(inner)
    missing = [p for p in outer if p not in present]
    if missing:
        raise NotNestedError(f"not nested: coarse grid point {missing[0]} is not a fine grid "
                             f"point ({len(missing)} of {len(outer)} coarse points missing)")


def _uniform_dyadic(order: int, coarse: tuple[Fraction, ...], fine: tuple[Fraction, ...]
                    ) -> bool:
    """Whether both vectors are uniform and the fine spacing is half the coarse one."""
    def spacing(t: tuple[Fraction, ...]) -> Fraction | None:
        steps = {b - a for a, b in zip(t, t[1:])}
        return steps.pop() if len(steps) == 1 else None

    h_coarse, h_fine = spacing(coarse), spacing(fine)
    return h_coarse is not None and h_fine is not None and h_coarse == 2 * h_fine and \
        coarse[order - 1] == fine[order - 1]


def _dyadic_entries(order: int, n_coarse: int, n_fine: int) -> Entries:
    r = order
    scale = Fraction(1, 2 ** (r - 1))
    entries = []
    for i in range(n_coarse):
        for k in range(r + 1):
            row = 2 * i - r + 1 + k
            if 0 <= row < n_fine:
                entries.append((row, i, scale * comb(r, k)))
    return tuple(sorted(entries))


def _blossom_entries(order: int, t: tuple[Fraction, ...], tau: tuple[Fraction, ...]
                     ) -> Entries:
    r = order
    n_fine_cells = len(tau) - 2 * r + 1
    n_coarse_basis, n_fine_basis = len(t) - r, len(tau) - r
    first_cell, last_cell = r - 1, r - 1 + (len(t) - 2 * r + 1) - 1
    entries = []
    for k in range(n_fine_basis):
        cell = min(max(k, r - 1), r - 1 + n_fine_cells - 1)  # a fine cell in [a, b]
        mu = bisect.bisect_right(t, tau[cell]) - 1  # the coarse cell holding it
        mu = min(max(mu, first_cell), last_cell)
        # d[m]: coefficients (over u_{mu-r+1} .. u_mu) of de Boor's point m, level by level
        d = [[Fraction(int(m == c)) for c in range(r)] for m in range(r)]
        for level in range(1, r):
            x = tau[k + level]
            for m in range(r - 1, level - 1, -1):
                j = mu - r + 1 + m
                alpha = (x - t[j]) / (t[j + r - level] - t[j])
                d[m] = [alpha * a + (1 - alpha) * b for a, b in zip(d[m], d[m - 1])]
        for c, value in enumerate(d[r - 1]):
            column = mu - r + 1 + c
            if value != 0 and 0 <= column < n_coarse_basis:
                entries.append((k, column, value))
    return tuple(entries)


@lru_cache(maxsize=128)
def _entries(order: int, coarse: Knots, fine: Knots) -> Entries:
    _check_nested(order, coarse, fine)
    t = tuple(as_fraction(v) for v in coarse)
    tau = tuple(as_fraction(v) for v in fine)
    if _uniform_dyadic(order, t, tau):
        return _dyadic_entries(order, len(t) - order, len(tau) - order)
    return _blossom_entries(order, t, tau)


def prolongation_entries(order: int, coarse_knots: KnotValues, fine_knots: KnotValues) -> Entries:
    """The nonzero entries (fine row, coarse column, exact value) of P, cached."""
    r = check_order(order)
    return _entries(r, as_knots(coarse_knots, r), as_knots(fine_knots, r))


def prolongation(order: int, coarse_knots: KnotValues, fine_knots: KnotValues
                 ) -> sympy.ImmutableSparseMatrix:
    """P (n_b_fine x n_b_coarse, exact rationals) with u_fine = P u_coarse reproducing the
    coarse spline on [a, b]. Knots are full extended vectors; raises ``NotNestedError``
    (a ValueError) when the fine grid points do not contain the coarse ones."""
    r = check_order(order)
    coarse, fine = as_knots(coarse_knots, r), as_knots(fine_knots, r)
    entries = _entries(r, coarse, fine)
    values = {(row, column): sympy.Rational(v.numerator, v.denominator)
              for row, column, v in entries}
    return sympy.ImmutableSparseMatrix(len(fine) - r, len(coarse) - r, values)
