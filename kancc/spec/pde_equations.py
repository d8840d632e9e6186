"""What a [pde] table means, in sympy: the residual as monomials in u's derivatives, the
conditions, the forcing derived from a manufactured solution.

u and its derivatives are symbols: ``u``, ``u_<v>`` (du/dv) and ``u_<v><v>`` (d2u/dv2) for
each variable v, and ``lap(u)`` is the sum of ``u_<v><v>`` over the space variables. Each
symbol is a channel of the model's jet (DESIGN.md 2): u is channel 0, du/dv_k is 1 + k,
d2u/dv_k2 is 1 + d + k. Mixed and third derivatives are not supported. The residual must be
a polynomial in these symbols (u u_x, u**3 - u, a(x) u_xx): ``sympy.Poly`` over them gives
the monomials and, as the constant term, the part that depends on the variables only.

``f`` is the forcing that makes ``solution`` exact: the residual is linear in f, so
f = -R0 / R1 with R(solution) = R1 f + R0.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import sympy

from kancc.errors import SpecError

from .expressions import CONSTANTS, FUNCTIONS, Special, parse_expression, usable_name
from .pde_interface import interface_sides, parse_level_set
from .pde_table import ConditionSpec, PdeSpec

MAX_DEGREE = 4  # of a residual monomial in u and its derivatives
RESERVED = {"u", "f", "lap", *FUNCTIONS, *CONSTANTS}


@dataclass(frozen=True)
class Monomials:
    """sum over ``terms`` of coefficient * prod u-channels, plus ``known`` (no u)."""

    terms: tuple[tuple[tuple[int, ...], sympy.Expr], ...]  # (channels, coefficient)
    known: sympy.Expr


@dataclass(frozen=True)
class Condition:
    spec: ConditionSpec
    field: str
    channel: int  # the jet channel the condition prescribes: u (0) or u_t
    value: sympy.Expr  # of the variables
    variable: int | None = None  # periodic: the variable whose two ends are identified
    sides: tuple[Monomials, Monomials] | None = None  # interface: left and right


@dataclass(frozen=True)
class Equations:
    variables: tuple[sympy.Symbol, ...]
    time: int | None  # index of the time variable
    residual: Monomials
    solution: sympy.Expr | None
    conditions: tuple[Condition, ...]
    level_set: sympy.Expr | None = None  # an interface: the model also takes |level_set|

    @property
    def space(self) -> tuple[int, ...]:
        return tuple(k for k in range(len(self.variables)) if k != self.time)

    @property
    def directions(self) -> int:
        """The model's inputs, the directions of its jet: the variables (and |level_set|)."""
        return len(self.variables) + (self.level_set is not None)


@lru_cache(maxsize=64)
def pde_equations(pde: PdeSpec) -> Equations:
    """The meaning of ``pde``; SpecError naming the field of the first mistake."""
    variables = _variables(pde)
    time = pde.variables.index(pde.time) if pde.time is not None else None
    _check_domain(pde, time)
    known = {name: sympy.Rational(value) for name, value in pde.parameters}
    for name in known:
        if name in RESERVED or name in pde.variables or name.startswith("u_") or \
                not usable_name(name):
            raise SpecError(f"pde.parameters.{name}", "is a variable or a reserved name (u, "
                                                      "u_..., f, lap, a function, a constant)")
    base = {**{str(v): v for v in variables}, **known}
    solution = None
    if pde.solution is not None:
        solution = parse_expression(pde.solution, "pde.solution", base)
    level_set = parse_level_set(pde, base, variables)
    channels = _u_symbols(pde, variables, len(variables) + (level_set is not None))
    space = [k for k in range(len(variables)) if k != time]
    lap = {"lap": _laplacian(channels, [f"u_{v}{v}" for v in
                                        (pde.variables[k] for k in space)])}
    f = sympy.Symbol("f")
    u_names = {name: symbol for name, (symbol, _) in channels.items()}
    names = {**base, **u_names, "f": f}
    residual = parse_expression(pde.residual, "pde.residual", names, lap)
    if f in residual.free_symbols:
        residual = residual.subs(f, _forcing(residual, f, solution, channels, variables))
    split = _monomials(residual, channels)
    conditions = []
    for index, spec in enumerate(pde.condition):
        if spec.kind == "interface":
            field = f"pde.condition[{index}]"
            left, right, value = interface_sides(field, spec, base, u_names, lap, level_set)
            sides = (_monomials(left, channels, f"{field}.left"),
                     _monomials(right, channels, f"{field}.right"))
            conditions.append(Condition(spec, field, 0, value, sides=sides))
        else:
            conditions.append(_condition(pde, index, spec, base, solution, variables, time))
    return Equations(variables, time, split, solution, tuple(conditions), level_set)


def _variables(pde: PdeSpec) -> tuple[sympy.Symbol, ...]:
    for index, name in enumerate(pde.variables):
        if not usable_name(name) or name in RESERVED or name.startswith("u_"):
            raise SpecError(f"pde.variables[{index}]", f"{name!r} is not a usable variable "
                                                      "name (an identifier, not u, f, lap, a "
                                                      "function or a constant)")
    if len(set(pde.variables)) != len(pde.variables):
        raise SpecError("pde.variables", "names repeat")
    if pde.time is not None and pde.time not in pde.variables:
        raise SpecError("pde.time", f"{pde.time!r} is not one of pde.variables")
    return tuple(sympy.Symbol(name, real=True) for name in pde.variables)


MAX_EXTENT = Fraction(10) ** 15  # domain bounds: points and their spans stay finite


def _check_domain(pde: PdeSpec, time: int | None) -> None:
    space = len(pde.variables) - (time is not None)
    bounds = [v for pair in (pde.box or ()) for v in pair] + list(pde.interval or ()) + \
        ([pde.disk] if pde.disk is not None else [])
    if any(abs(v) > MAX_EXTENT for v in bounds):
        raise SpecError("pde.box" if pde.box is not None else "pde.disk",
                        "domain bounds beyond 1e15 are not supported")
    if pde.box is not None:
        if len(pde.box) != len(pde.variables):
            raise SpecError("pde.box", f"give {len(pde.variables)} intervals (one per "
                                       f"variable), got {len(pde.box)}")
        for index, (a, b) in enumerate(pde.box):
            if not a < b:
                raise SpecError(f"pde.box[{index}]", f"needs a < b, got [{a}, {b}]")
        if pde.interval is not None:
            raise SpecError("pde.interval", "goes with disk; a box has the time interval")
        return
    if space != 2:
        raise SpecError("pde.disk", f"a disk needs two space variables, got {space}")
    if (time is None) != (pde.interval is None):
        raise SpecError("pde.interval", "give the time interval with disk exactly when "
                                        "pde.time is set")
    if pde.interval is not None and not pde.interval[0] < pde.interval[1]:
        raise SpecError("pde.interval", "needs a < b")


def _u_symbols(pde: PdeSpec, variables: tuple[sympy.Symbol, ...], directions: int
               ) -> dict[str, tuple[sympy.Symbol, int]]:
    """name -> (symbol, jet channel) for u, u_v and u_vv, in a jet of ``directions``."""
    d = directions
    found = {"u": (sympy.Symbol("u"), 0)}
    for k, name in enumerate(pde.variables):
        for order, text in ((1, f"u_{name}"), (2, f"u_{name}{name}")):
            if text in found:
                raise SpecError("pde.variables", f"{text} would name two derivatives: rename "
                                                 "the variables")
            found[text] = (sympy.Symbol(text), 1 + k if order == 1 else 1 + d + k)
    return found


def _laplacian(channels: dict[str, tuple[sympy.Symbol, int]], names: list[str]) -> Special:
    """lap(u): the sum of the second derivatives in the space variables ``names``."""
    def lap(name: str, args: list[sympy.Expr], column: int) -> sympy.Expr:
        if len(args) != 1 or args[0] != channels["u"][0]:
            raise SpecError("pde.residual", f"column {column}: lap takes u itself: lap(u)")
        return sympy.Add(*(channels[n][0] for n in names))
    return lap


def _forcing(residual: sympy.Expr, f: sympy.Symbol, solution: sympy.Expr | None,
             channels: dict[str, tuple[sympy.Symbol, int]],
             variables: tuple[sympy.Symbol, ...]) -> sympy.Expr:
    """f such that the residual vanishes at the solution (the residual is linear in f)."""
    if solution is None:
        raise SpecError("pde.residual", "f is the forcing derived from pde.solution: give a "
                                        "solution, or write the forcing out")
    at_solution = residual.subs(_derivatives(solution, channels, variables))
    slope = sympy.diff(at_solution, f)
    if f in slope.free_symbols or slope == 0:
        raise SpecError("pde.residual", "must be linear in f (the forcing)")
    return -at_solution.subs(f, 0) / slope


def _derivatives(solution: sympy.Expr, channels: dict[str, tuple[sympy.Symbol, int]],
                 variables: tuple[sympy.Symbol, ...]) -> dict[sympy.Symbol, sympy.Expr]:
    """u, u_v, u_vv of the solution, by symbol (named u, u_<v>, u_<v><v>)."""
    result = {channels["u"][0]: solution}
    for v in variables:
        result[channels[f"u_{v}"][0]] = sympy.diff(solution, v)
        result[channels[f"u_{v}{v}"][0]] = sympy.diff(solution, v, 2)
    return result


def _monomials(residual: sympy.Expr, channels: dict[str, tuple[sympy.Symbol, int]],
               field: str = "pde.residual") -> Monomials:
    symbols = [symbol for symbol, _ in channels.values()]
    used = [s for s in symbols if s in residual.free_symbols]
    if not used:
        raise SpecError(field, "does not involve u")
    known, with_u = residual.as_independent(*used, as_Add=True)  # the u-free part stays
    try:                                                           # unexpanded
        poly = sympy.Poly(with_u, *used)
    except sympy.PolynomialError:
        raise SpecError(field, "must be a polynomial in u and its derivatives (u "
                                        "inside a function or a denominator is not "
                                        "supported)") from None
    channel_of = dict(channels.values())
    terms = []
    for exponents, coefficient in poly.terms():
        if sum(exponents) > MAX_DEGREE:
            raise SpecError(field, f"degree {sum(exponents)} in u and its derivatives; at most "
                                   f"{MAX_DEGREE}")
        factors = tuple(channel_of[s] for s, e in zip(used, exponents) for _ in range(e))
        if factors:
            terms.append((tuple(sorted(factors)), coefficient))
        else:
            known = known + coefficient
    return Monomials(tuple(terms), known)


def _condition(pde: PdeSpec, index: int, spec: ConditionSpec, base: dict[str, sympy.Expr],
               solution: sympy.Expr | None, variables: tuple[sympy.Symbol, ...],
               time: int | None) -> Condition:
    field = f"pde.condition[{index}]"
    for side in ("left", "right"):
        if getattr(spec, side) is not None:
            raise SpecError(f"{field}.{side}", f"applies to interface conditions, not "
                                               f"{spec.kind}")
    if spec.kind in ("initial", "initial_rate") and time is None:
        raise SpecError(f"{field}.kind", f"{spec.kind} needs a time variable (pde.time)")
    if spec.kind == "dirichlet" and len(variables) - (time is not None) == 0:
        raise SpecError(f"{field}.kind", "dirichlet needs a space variable")
    if spec.kind == "periodic":
        return _periodic(pde, field, spec, time)
    if spec.variable is not None:
        raise SpecError(f"{field}.variable", f"applies to periodic conditions, not {spec.kind}")
    channel = 1 + time if spec.kind == "initial_rate" and time is not None else 0
    if spec.value == "solution":
        if solution is None:
            raise SpecError(f"{field}.value", "\"solution\" needs pde.solution")
        value = solution if channel == 0 else sympy.diff(solution, variables[channel - 1])
    else:
        value = parse_expression(spec.value, f"{field}.value", base)
    return Condition(spec, field, channel, value)


def _periodic(pde: PdeSpec, field: str, spec: ConditionSpec, time: int | None) -> Condition:
    """u and its derivative along ``variable`` equal at the variable's two ends (a box)."""
    if spec.variable is None or spec.variable not in pde.variables:
        raise SpecError(f"{field}.variable", f"name the periodic variable, one of "
                                             f"{', '.join(pde.variables)}")
    index = pde.variables.index(spec.variable)
    if index == time or pde.box is None:
        raise SpecError(f"{field}.variable", "periodic conditions join the ends of a space "
                                             "variable of a box")
    if spec.value != "solution":
        raise SpecError(f"{field}.value", "a periodic condition has no value")
    return Condition(spec, field, 0, sympy.Integer(0), index)
