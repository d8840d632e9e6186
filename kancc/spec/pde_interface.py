"""A [pde] table's interface: the level set whose zero set it is, and the conditions of
kind "interface" (right - left = value there).

The model takes |level_set| as one more input (the level-set augmentation of the multilevel
paper's Poisson problem), so one network's derivatives may jump across the zero set: with
v = |phi(z)|, du/dz_k = u_z_k + sign(phi) u_v phi_k. The jet of the augmented input is made
from the level set's exact derivatives (sympy) at the points, with the side's sign; it has
d + 1 directions, the last one (d/dv itself) unused, so u_vv of variable k is channel
1 + (d + 1) + k.
"""

from __future__ import annotations

import sympy

from kancc.errors import SpecError

from .expressions import Names, Special, parse_expression
from .pde_table import ConditionSpec, PdeSpec


def parse_level_set(pde: PdeSpec, base: Names,
                    variables: tuple[sympy.Symbol, ...]) -> sympy.Expr | None:
    """pde.level_set as an expression of the variables (None without one)."""
    if pde.level_set is None:
        return None
    expr = parse_expression(pde.level_set, "pde.level_set", base)
    if not expr.free_symbols & set(variables):
        raise SpecError("pde.level_set", "must depend on a variable (its zero set is the "
                                         "interface)")
    return expr


def interface_sides(field: str, spec: ConditionSpec, base: Names, u_names: Names,
                    special: dict[str, Special], level_set: sympy.Expr | None
                    ) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """(left, right, value) of an interface condition: left and right over the variables,
    parameters (``base``) and u's channels, the value over ``base``."""
    if level_set is None:
        raise SpecError(f"{field}.kind", "an interface needs pde.level_set (its zero set)")
    sides = []
    for side in ("left", "right"):
        text = getattr(spec, side)
        if text is None:
            raise SpecError(f"{field}.{side}", f"missing: the quantity on the {side} side, "
                                               "e.g. \"u_x\"")
        sides.append(parse_expression(text, f"{field}.{side}", {**base, **u_names}, special))
    if spec.value == "solution":
        value: sympy.Expr = sympy.Integer(0)  # the default: continuity of the quantity
    else:
        value = parse_expression(spec.value, f"{field}.value", base)
    return sides[0], sides[1], value
