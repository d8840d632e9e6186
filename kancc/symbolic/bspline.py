"""B-splines by the Cox-de Boor recursion, as exact piecewise polynomials (sympy).

    B_i^[1](x) = 1 on [t_i, t_{i+1}), else 0
    B_i^[s](x) = (x - t_i) / (t_{i+s-1} - t_i) B_i^[s-1](x)
               + (t_{i+s} - x) / (t_{i+s} - t_{i+1}) B_{i+1}^[s-1](x)

This is the independent definition the stencils and the emitted code are checked against.
Indices are 0-based into the full knot vector: B_i is supported on [knots[i], knots[i+r]].
"""

from __future__ import annotations

from functools import lru_cache

import sympy

from .knots import Knots, KnotValues, as_knots, check_order

X = sympy.Symbol("x", real=True)


@lru_cache(maxsize=64)
def _pieces(order: int, knots: Knots) -> tuple[dict[int, sympy.Poly], ...]:
    t = knots
    domain = sympy.QQ
    basis = [{i: sympy.Poly(1, X, domain=domain)} for i in range(len(t) - 1)]
    for s in range(2, order + 1):
        new_basis = []
        for i in range(len(t) - s):
            rise = sympy.Poly((X - t[i]) / (t[i + s - 1] - t[i]), X, domain=domain)
            fall = sympy.Poly((t[i + s] - X) / (t[i + s] - t[i + 1]), X, domain=domain)
            cells: dict[int, sympy.Poly] = {}
            for cell, poly in basis[i].items():
                cells[cell] = cells.get(cell, 0) + rise * poly
            for cell, poly in basis[i + 1].items():
                cells[cell] = cells.get(cell, 0) + fall * poly
            new_basis.append(cells)
        basis = new_basis
    return tuple(basis)


def bspline_cell_polynomials(order: int, knots: KnotValues) -> tuple[dict[int, sympy.Poly], ...]:
    """For each B_i: {knot interval c: the polynomial (in ``X``) of B_i on [t_c, t_{c+1})}."""
    return _pieces(check_order(order), as_knots(knots, order))


def bspline_basis(order: int, knots: KnotValues, x: sympy.Symbol = X) -> list[sympy.Piecewise]:
    """The n_b B-splines of order r on the full knot vector as sympy Piecewise in ``x``."""
    t = as_knots(knots, check_order(order))
    result = []
    for cells in _pieces(order, t):
        branches = [(poly.as_expr().subs(X, x), (x >= t[c]) & (x < t[c + 1]))
                    for c, poly in sorted(cells.items())]
        result.append(sympy.Piecewise(*branches, (0, True)))
    return result


@lru_cache(maxsize=64)
def _derivative_pieces(order: int, knots: Knots) -> tuple[dict[int, sympy.Poly], ...]:
    t, r = knots, order
    n_b = len(t) - r
    if r == 1:  # steps: derivative zero wherever it exists
        return tuple({} for _ in range(n_b))
    lower = _pieces(r - 1, t)
    result = []
    for i in range(n_b):
        cells: dict[int, sympy.Poly] = {}
        for poly_cells, scale in ((lower[i], (r - 1) / (t[i + r - 1] - t[i])),
                                  (lower[i + 1], -(r - 1) / (t[i + r] - t[i + 1]))):
            for cell, poly in poly_cells.items():
                cells[cell] = cells.get(cell, 0) + poly * scale
        result.append(cells)
    return tuple(result)


def bspline_derivative_cell_polynomials(order: int, knots: KnotValues
                                        ) -> tuple[dict[int, sympy.Poly], ...]:
    """For each B_i: {knot interval c: the polynomial of d/dx B_i on [t_c, t_{c+1})}, from the
    difference of lower-order splines:

        B_i^[r]' = (r-1) (B_i^[r-1] / (t_{i+r-1} - t_i) - B_{i+1}^[r-1] / (t_{i+r} - t_{i+1}))

    Order 1 (steps) has derivative zero on every cell (empty dicts)."""
    return _derivative_pieces(check_order(order), as_knots(knots, order))
