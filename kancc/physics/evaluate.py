"""Numbers of a sympy expression of the PDE's variables at points, in float64.

A small tree walk over the node types the spec's expressions can make (numbers, pi, E,
symbols, +, *, powers, the functions of ``kancc.spec.expressions``), so no generated code
runs: sympy's lambdify would ``exec`` text it writes. The derivatives of a heaviside (a
forcing derived from a piecewise solution) are DiracDelta terms: 0 off their zero set and
infinite on it, which the callers' finiteness checks then report.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy

FUNCTIONS = {
    sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan, sympy.exp: np.exp,
    sympy.log: np.log, sympy.tanh: np.tanh, sympy.sinh: np.sinh, sympy.cosh: np.cosh,
    sympy.Abs: np.abs,
}


def evaluate(expr: sympy.Expr, columns: Mapping[sympy.Symbol, np.ndarray],
             rows: int) -> np.ndarray:
    """``expr`` at ``rows`` points whose variables are ``columns`` ([rows] arrays)."""
    with np.errstate(all="ignore"):  # the caller checks the values are finite
        value = _walk(expr, columns)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (rows,)).copy()


def _walk(expr: sympy.Basic, columns: Mapping[sympy.Symbol, np.ndarray]) -> np.ndarray | float:
    if expr.is_Number or expr in (sympy.pi, sympy.E):
        return float(expr)
    if isinstance(expr, sympy.Symbol):
        if expr not in columns:
            raise ValueError(f"{expr} is not a variable of the problem")
        return columns[expr]
    args = [_walk(arg, columns) for arg in expr.args]
    if isinstance(expr, sympy.Add):
        return sum(args[1:], args[0])
    if isinstance(expr, sympy.Mul):
        product = args[0]
        for arg in args[1:]:
            product = product * arg
        return product
    if isinstance(expr, sympy.Pow):
        return np.power(args[0], args[1])
    if isinstance(expr, sympy.Heaviside):
        return np.heaviside(args[0], args[1])
    if isinstance(expr, sympy.DiracDelta):
        return np.where(np.asarray(args[0]) == 0, np.inf, 0.0)
    for kind, function in FUNCTIONS.items():
        if isinstance(expr, kind):
            return function(args[0])
    raise ValueError(f"cannot evaluate {type(expr).__name__} ({expr})")
