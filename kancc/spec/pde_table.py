"""The optional ``[pde]`` table: a physics-informed problem the model u(x) is trained on.

    [pde]
    variables = ["x", "y"]          # the model's inputs, in order; a time variable is one too
    time = "t"                      # optional: which variable is time (not in lap, has
                                    # initial conditions)
    box = [[-1, 1], [-1, 1]]        # the domain: one interval per variable, or
    # disk = 1                      #   a disk of this radius about 0 (two space variables)
    # interval = [0, 1]             #   with disk: the time interval
    parameters = { k = 1 }          # named exact numbers the expressions may use
    solution = "sin(pi*x)*sin(pi*y)" # optional exact solution: the forcing f and "solution"
                                    # values derive from it, and the relative L2 error is
                                    # reported against it
    # reference = "ref.npz"         # or, without a closed form, a reference solution: an .npz
                                    # (next to the spec) of points (N, variables) and u (N,)
    residual = "lap(u) + k**2*u - f" # = 0 inside; u, u_x, u_xx, u_t, ..., lap(u); f is the
                                    # forcing that makes the solution exact
    points = 1024                   # interior collocation points
    sampler = "sobol"               # "grid" | "random" | "sobol" (scipy.stats.qmc)
    weight = 1                      # of the residual's mean square in the loss
    rba = 0                         # residual-based attention rate (0: off; Adam only)
    resample_every = 100            # draw new points every this many steps (Adam only;
                                    # default: never)
    test_points = 4096              # where the relative L2 error is measured (a grid)
    [[pde.condition]]
    kind = "dirichlet"              # u = value on the space boundary; "initial": u = value
                                    # at the first time; "initial_rate": u_t = value there;
                                    # "periodic" (with variable = "x"): u and u_x equal at
                                    # the two ends of x
    value = "solution"              # or an expression of the variables and parameters
    points = 256
    sampler = "random"
    weight = 1

An interface (the multilevel paper's Poisson problem): ``level_set = "x"`` names a function
whose zero set splits the domain; the model takes |level_set| as one more input (the
level-set augmentation: model.layers[0] = variables + 1), so its derivatives may jump
there, and a condition of kind "interface" asks right - left = value on the zero set, with
``left`` and ``right`` expressions of u's derivatives on the negative and the positive
side (a flux: left = "u_x", right = "2*u_x"; value defaults to 0 there).

Expressions are parsed safely (``expressions.py``) when the spec is loaded; their meaning
(``pde_equations.py``) is checked then too, so every mistake is a SpecError naming its
field.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .checker import Checker
from .keys import ArrayOf, Choice, Integer, Number, Subtable, Text, key, read_table, table_to_dict

SAMPLERS = ("grid", "random", "sobol")
CONDITION_KINDS = ("dirichlet", "initial", "initial_rate", "periodic", "interface")
MAX_POINTS = 10**7
POINTS = Integer(1, MAX_POINTS)
WEIGHT = Number(Fraction(0), low_open=True)
INTERVAL = ArrayOf(Number(), "ends", length=2)


@dataclass(frozen=True)
class ConditionSpec:
    kind: str = key("dirichlet", Choice(CONDITION_KINDS),
                    "dirichlet (u on the space boundary), initial (u at the first time), "
                    "initial_rate (u_t at the first time), periodic (u and u_v equal at "
                    "the two ends of a box's variable v) or interface (right - left = value "
                    "on pde.level_set's zero set)", required="missing: the kind")
    value: str = key("solution", Text(), "an expression of the variables and parameters, or "
                                         "\"solution\" (not for periodic)")
    variable: str | None = key(None, Text(), "periodic: the variable v whose ends meet")
    left: str | None = key(None, Text(), "interface: an expression of u's derivatives on the "
                                         "level set's negative side")
    right: str | None = key(None, Text(), "interface: the same on its positive side")
    points: int = key(256, POINTS, "collocation points of the condition")
    sampler: str = key("random", Choice(SAMPLERS), "how they are placed")
    weight: Fraction = key(Fraction(1), WEIGHT, "of the condition's mean square in the loss")


@dataclass(frozen=True)
class Parameters:
    """A table of named exact numbers: any identifier keys."""

    def read(self, check: Checker, value: object, path: str) -> tuple[tuple[str, Fraction], ...]:
        if not isinstance(value, dict):
            raise check.fail(path, "must be a table of name = number")
        items = []
        for name, number in value.items():
            if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
                raise check.fail(f"{path}.{name}", "parameter names are identifiers")
            items.append((name, check.number(number, f"{path}.{name}")))
        return tuple(items)

    def write(self, value: tuple[tuple[str, Fraction], ...]) -> dict[str, Any]:
        return {name: Number().write(number) for name, number in value}


@dataclass(frozen=True)
class PdeSpec:
    variables: tuple[str, ...] = key((), ArrayOf(Text(), "variables", max_length=8,
                                                  empty="give the model's input variables"),
                                     "the model's inputs by name, in order",
                                     required="missing: the variables")
    time: str | None = key(None, Text(), "the time variable, one of variables")
    box: tuple[tuple[Fraction, Fraction], ...] | None = key(
        None, ArrayOf(INTERVAL, "intervals"), "the domain: one [a, b] per variable")
    disk: Fraction | None = key(None, Number(Fraction(0), low_open=True),
                                "the domain: a disk of this radius about 0 (two space "
                                "variables)")
    interval: tuple[Fraction, Fraction] | None = key(None, INTERVAL,
                                                     "with disk: the time interval")
    level_set: str | None = key(None, Text(), "an expression of the variables whose zero "
                                              "set is an interface: the model takes its "
                                              "absolute value as one more input")
    parameters: tuple[tuple[str, Fraction], ...] = key((), Parameters(),
                                                       "named numbers for the expressions")
    solution: str | None = key(None, Text(), "the exact solution, if known")
    reference: str | None = key(None, Text(), "without a solution: an .npz file (relative to "
                                              "the spec's folder) holding points (N, one "
                                              "column per variable) and u (N,) of a reference "
                                              "solution, where the relative L2 error is "
                                              "measured")
    residual: str = key("", Text(), "the residual, = 0 in the domain",
                        required="missing: the residual")
    points: int = key(1024, POINTS, "interior collocation points")
    sampler: str = key("sobol", Choice(SAMPLERS), "how they are placed")
    weight: Fraction = key(Fraction(1), WEIGHT, "of the residual's mean square in the loss")
    rba: Fraction = key(Fraction(0), Number(Fraction(0), Fraction(1), high_open=True),
                        "residual-based attention: after each Adam step every interior "
                        "point's weight becomes (1 - rba) w + rba |r| / max |r| (0: off)")
    resample_every: int | None = key(None, Integer(1, 10**9),
                                     "draw new collocation points (every set, from seed + "
                                     "draws) every this many Adam steps (default: never)")
    test_points: int = key(4096, POINTS, "grid points where the relative L2 error is measured")
    condition: tuple[ConditionSpec, ...] = key((), ArrayOf(Subtable(ConditionSpec),
                                                           "conditions", max_length=16),
                                               "boundary and initial conditions")


def parse_pde(check: Checker, raw: object, widths: tuple[int, ...]) -> PdeSpec:
    """[pde] and its rules between keys (load.py then checks what its expressions mean,
    ``pde_equations``)."""
    pde = PdeSpec(**read_table(check, raw, "pde", PdeSpec))
    if widths[-1] != 1:
        raise check.fail("model.layers", f"a [pde] model has one output (u), not {widths[-1]}")
    augmented = pde.level_set is not None
    if len(pde.variables) + augmented != widths[0]:
        raise check.fail("pde.variables", f"give {widths[0] - augmented} (the model's input "
                                          f"width{', less |level_set|' if augmented else ''}),"
                                          f" got {len(pde.variables)}")
    if (pde.box is None) == (pde.disk is None):
        raise check.fail("pde.box", "give the domain as box or as disk (one of them)")
    if pde.reference is not None and pde.solution is not None:
        raise check.fail("pde.reference", "give a solution or a reference, not both")
    if pde.reference is not None and not pde.reference.endswith(".npz"):
        raise check.fail("pde.reference", "must name an .npz file (arrays points and u)")
    return pde


def pde_to_dict(pde: PdeSpec) -> dict[str, Any]:
    return table_to_dict(pde)
