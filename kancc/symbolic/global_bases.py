"""The global basis families of the LoTRA paper (Chebyshev, Legendre, Taylor, Fourier), in
sympy.

Every function of a layer is nonzero on the whole line, so a layer of these kinds is, to the
backends, a one-cell "local" basis whose n_b values are all live: the cell index is 0 and
the values come from a recurrence instead of per-cell pieces. The input is normalized by
t = tanh(x) (as ChebyKAN does and the LoTRA paper cites), so a layer accepts any real input and
its functions stay bounded however the previous layer drifts; d/dx = (1 - t^2) d/dt.

    chebyshev  T_0..T_d        T_{k+1} = 2 t T_k - T_{k-1}
    legendre   P_0..P_d        P_{k+1} = (2k+1)/(k+1) t P_k - k/(k+1) P_{k-1}
    taylor     1, t, .., t^d   t^{k+1} = t t^k
    fourier    1, cos(pi t), sin(pi t), .., cos(d pi t), sin(d pi t)

For the polynomial kinds ``recurrence`` derives (a_k, c_k) of phi_{k+1} = a_k t phi_k -
c_k phi_{k-1} from sympy's own polynomials and checks the identity exactly, so the emitted
code evaluates those polynomials by the (stable) three-term recurrence; its derivative is
the differentiated recurrence phi'_{k+1} = a_k phi_k + a_k t phi'_k - c_k phi'_{k-1}. Fourier
terms come from cos(pi t), sin(pi t) by the angle-addition identities.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import sympy

GLOBAL_KINDS = ("chebyshev", "legendre", "taylor", "fourier")
MAX_DEGREE = {"chebyshev": 20, "legendre": 20, "taylor": 12, "fourier": 10}
T = sympy.Symbol("t")


def n_functions(kind: str, degree: int) -> int:
    """How many basis functions a layer of ``kind`` and ``degree`` has."""
    return 2 * degree + 1 if kind == "fourier" else degree + 1


def basis_functions(kind: str, count: int) -> tuple[sympy.Expr, ...]:
    """The ``count`` basis functions of ``kind`` as sympy expressions in t."""
    if kind == "fourier":
        terms: list[sympy.Expr] = [sympy.Integer(1)]
        k = 1
        while len(terms) < count:
            terms += [sympy.cos(k * sympy.pi * T), sympy.sin(k * sympy.pi * T)]
            k += 1
        return tuple(terms[:count])
    polynomial = {"chebyshev": sympy.chebyshevt, "legendre": sympy.legendre,
                  "taylor": lambda k, t: t ** k}[kind]
    return tuple(sympy.expand(polynomial(k, T)) for k in range(count))


@cache
def recurrence(kind: str, count: int) -> tuple[tuple[Fraction, Fraction], ...]:
    """(a_k, c_k) for k = 0..count-2 with phi_{k+1} = a_k t phi_k - c_k phi_{k-1} (c_0 = 0),
    derived from the sympy polynomials and verified exactly."""
    if kind not in GLOBAL_KINDS or kind == "fourier":
        raise ValueError(f"{kind!r} has no three-term polynomial recurrence")
    phis = basis_functions(kind, count)
    steps = []
    for k in range(count - 1):
        top, here = sympy.Poly(phis[k + 1], T), sympy.Poly(phis[k], T)
        a = top.LC() / here.LC()
        rest = sympy.expand(phis[k + 1] - a * T * phis[k])
        c = sympy.Integer(0)
        if k > 0:
            below = sympy.Poly(phis[k - 1], T)
            c = -sympy.Poly(rest, T).coeff_monomial(T ** (k - 1)) / below.LC() if rest != 0 \
                else sympy.Integer(0)
            rest = sympy.expand(rest + c * phis[k - 1])
        if rest != 0:
            raise ArithmeticError(f"{kind}: phi_{k + 1} is not a t phi_{k} - c phi_{k - 1}")
        steps.append((Fraction(int(sympy.numer(a)), int(sympy.denom(a))),
                      Fraction(int(sympy.numer(c)), int(sympy.denom(c)))))
    return tuple(steps)
