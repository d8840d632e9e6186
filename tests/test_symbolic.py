"""Exact identities of the symbolic layer: Lemma 2 == Corollary 1 == Cox-de Boor == pieces."""

import random
from fractions import Fraction

import pytest
import sympy
from sympy.functions.special.bsplines import bspline_basis_set

from kancc import symbolic
from kancc.symbolic import (
    X,
    bspline_cell_polynomials,
    local_pieces,
    relu_change_of_basis,
    relu_stencil_bands,
    uniform_knots,
    uniform_relu_change_of_basis,
)

ORDERS = range(1, 7)


def random_knots(order: int, n: int, seed: int) -> tuple:
    """A strictly increasing full knot vector of n + 2r - 1 exact rationals, uneven gaps."""
    rng = random.Random(seed)
    t, knots = Fraction(rng.randint(-5, 5), 3), []
    for _ in range(n + 2 * order - 1):
        knots.append(t)
        t += Fraction(rng.randint(1, 9), rng.randint(1, 4))
    return tuple(knots)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("n,h", [(1, Fraction(1)), (3, Fraction(1, 4)), (8, Fraction(2, 7))])
def test_lemma2_recursion_equals_corollary1_on_uniform_knots(order, n, h):
    knots = uniform_knots(order, 0, h * n, n)
    a = relu_change_of_basis(order, knots)
    assert a.shape == (n + order - 1, n + order - 1)
    assert a == uniform_relu_change_of_basis(order, n + order - 1, h)


def truncated_power(order: int, x: sympy.Expr, t: sympy.Rational) -> sympy.Expr:
    """psi_j on the part of the line where x >= t_j (the caller picks the cell)."""
    return (x - t) ** (order - 1)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("kind", ["uniform", "nonuniform"])
def test_change_of_basis_reproduces_cox_de_boor_exactly(order, kind):
    n = 5
    knots = uniform_knots(order, -1, 1, n) if kind == "uniform" else \
        random_knots(order, n, seed=order)
    t = [sympy.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else v
         for v in knots]
    a = relu_change_of_basis(order, knots)
    cells = bspline_cell_polynomials(order, knots)
    nb = n + order - 1
    for k in range(n):  # cell k of [a, b] is knot interval c = r - 1 + k
        c = order - 1 + k
        for i in range(nb):
            relu_sum = sum(a[i, j] * truncated_power(order, X, t[j]) for j in range(nb) if j <= c)
            cox = cells[i].get(c, sympy.Poly(0, X)).as_expr()
            assert sympy.expand(relu_sum - cox) == 0, (order, kind, k, i)


@pytest.mark.parametrize("order", [1, 2, 4, 6])
def test_cox_de_boor_matches_sympys_own_bsplines(order):
    knots = random_knots(order, 4, seed=10 + order)
    t = [sympy.Rational(v.numerator, v.denominator) for v in knots]
    ours = symbolic.bspline_basis(order, knots)
    theirs = bspline_basis_set(order - 1, t, X)
    assert len(ours) == len(theirs) == len(knots) - order
    rng = random.Random(order)
    for _ in range(12):
        point = t[0] + (t[-1] - t[0]) * sympy.Rational(rng.randint(1, 999), 1000)
        for mine, ref in zip(ours, theirs):
            assert mine.subs(X, point) == ref.subs(X, point)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("kind", ["uniform", "nonuniform"])
def test_local_pieces_are_the_cell_polynomials(order, kind):
    n = 4
    knots = uniform_knots(order, 0, 1, n) if kind == "uniform" else \
        random_knots(order, n, seed=20 + order)
    pieces = local_pieces(order, knots, relu_stencil_bands(order, knots))
    cells = bspline_cell_polynomials(order, knots)
    s = sympy.Symbol("s")
    assert len(pieces) == n
    for k, table in enumerate(pieces):
        c = order - 1 + k
        start, h = sympy.Rational(knots[c]), sympy.Rational(knots[c + 1]) - sympy.Rational(knots[c])
        for m, coeffs in enumerate(table):
            in_s = sum(coef * s ** d for d, coef in enumerate(coeffs))
            in_x = sympy.expand(in_s.subs(s, (X - start) / h))
            assert sympy.expand(in_x - cells[k + m][c].as_expr()) == 0, (k, m)


def test_uniform_pieces_are_the_textbook_cubic():
    knots = uniform_knots(4, -1, 1, 8)
    pieces = local_pieces(4, knots, relu_stencil_bands(4, knots))
    sixth = sympy.Rational(1, 6)
    expected = ((sixth, -3 * sixth, 3 * sixth, -sixth), (4 * sixth, 0, -1, sympy.Rational(1, 2)),
                (sixth, 3 * sixth, 3 * sixth, -3 * sixth), (0, 0, 0, sixth))
    assert all(table == expected for table in pieces)


@pytest.mark.parametrize("order", ORDERS)
def test_stencil_is_upper_triangular_with_r_plus_1_diagonals(order):
    a = relu_change_of_basis(order, random_knots(order, 6, seed=order))
    for i in range(a.rows):
        for j in range(a.cols):
            if j < i or j > i + order:
                assert a[i, j] == 0
        assert a[i, i] != 0


def test_entries_are_exact_rationals():
    a = relu_change_of_basis(3, uniform_knots(3, 0, 1, 3))
    assert all(isinstance(v, sympy.Rational) for v in a)
    assert a[0, 0] == sympy.Rational(9, 2)  # 1 / ((r-1)! h^(r-1)) with h = 1/3


def test_derivations_are_cached():
    knots = uniform_knots(4, -1, 1, 64)
    assert relu_stencil_bands(4, knots) is relu_stencil_bands(4, list(knots))


def test_bad_knot_vectors_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        relu_change_of_basis(2, [0, 1, 1, 2, 3])
    with pytest.raises(ValueError, match="at least 8 knots"):
        relu_change_of_basis(4, [0, 1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="positive integer"):
        relu_change_of_basis(0, [0, 1, 2])
    with pytest.raises(ValueError, match="rows of"):
        local_pieces(2, [0, 1, 2, 3], [(1, 2, 3)])
    with pytest.raises(ValueError, match="positive integer"):
        symbolic.bspline_basis(0, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="spacing h must be positive"):
        uniform_relu_change_of_basis(3, 4, 0)
