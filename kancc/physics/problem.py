"""A spec's [pde] as loss terms and their data: collocation points, targets, coefficients.

The structure (``loss_terms``) depends on the spec alone, so the loss graph compiles once;
the data (``collocation_inputs``) is drawn per seed and handed to the compiled program as
its named inputs. The residual is the term "residual" on the point set "interior"; each
condition is a term named after its kind (``dirichlet``, ``initial``, ``initial_rate``;
numbered when a kind repeats) on its own point set of the same name. A periodic condition is
two terms, ``periodic`` (u) and ``periodic.rate`` (du/dv), each u(low end) - u(high end) on
the point sets ``periodic`` and ``periodic.high`` (the same points but for v). An interface
condition is one term, right - left, on the point sets ``interface.right`` and
``interface``: the same points of the level set's zero set, seen from each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import sympy

from kancc.errors import SpecError
from kancc.spec import Spec
from kancc.spec.pde_equations import Equations, Monomials, pde_equations
from kancc.spec.pde_table import PdeSpec

from . import collocation, level_set
from .evaluate import evaluate
from .terms import LossTerm, Monomial

NP_DTYPES: dict[str, type[np.floating]] = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True)
class TermData:
    """How to fill one term's inputs: its points and what to evaluate there."""

    term: LossTerm
    points: str  # where its points lie: interior, dirichlet (the boundary), initial, periodic
    sampler: str
    count: int
    target: sympy.Expr
    columns: tuple[tuple[str, sympy.Expr], ...]
    field: str  # the spec field its data comes from, for messages
    periodic: int | None = None  # the variable whose ends a periodic term compares


def _pde(spec: Spec) -> tuple[PdeSpec, Equations]:
    if spec.pde is None:
        raise ValueError(f"{spec.name} has no [pde] table")
    return spec.pde, pde_equations(spec.pde)


def term_data(spec: Spec) -> tuple[TermData, ...]:
    """Every term of the spec's physics loss with the data it reads."""
    pde, equations = _pde(spec)
    width = equations.directions
    monomials, columns = _monomials(equations.residual, "c")
    term = LossTerm("residual", "interior", tuple(monomials), width, pde.weight,
                    pointwise=pde.rba > 0)
    residual = TermData(term, "interior", pde.sampler, pde.points, -equations.residual.known,
                        tuple(columns), "pde.residual")
    terms, seen = [residual], dict[str, int]()
    for condition in equations.conditions:
        kind = condition.spec.kind
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}{seen[kind]}"
        spec_of = condition.spec
        if condition.variable is not None:  # periodic: u and u_v at both ends agree
            for suffix, channel in (("", 0), (".rate", 1 + condition.variable)):
                ends = (Monomial((channel,)),
                        Monomial((channel,), Fraction(-1), points=f"{name}.high"))
                term = LossTerm(name + suffix, name, ends, width, spec_of.weight)
                terms.append(TermData(term, "periodic", spec_of.sampler, spec_of.points,
                                      condition.value, (), condition.field,
                                      condition.variable))
            continue
        if condition.sides is not None:  # interface: right (positive side) - left
            left, right = condition.sides
            on_right, right_columns = _monomials(right, "r", points=f"{name}.right")
            on_left, left_columns = _monomials(left, "l", Fraction(-1))
            term = LossTerm(name, name, tuple(on_right + on_left), width, spec_of.weight)
            terms.append(TermData(term, "interface", spec_of.sampler, spec_of.points,
                                  condition.value - right.known + left.known,
                                  tuple(right_columns + left_columns), condition.field))
            continue
        term = LossTerm(name, name, (Monomial((condition.channel,)),), width, spec_of.weight)
        where = "initial" if kind.startswith("initial") else kind
        terms.append(TermData(term, where, spec_of.sampler, spec_of.points, condition.value,
                              (), f"{condition.field}.value"))
    return tuple(terms)


def _monomials(split: Monomials, prefix: str, sign: Fraction = Fraction(1),
               points: str | None = None
               ) -> tuple[list[Monomial], list[tuple[str, sympy.Expr]]]:
    """The compiler's monomials of ``split`` (times ``sign``, on ``points``), and the data
    columns of their coefficients that are not exact constants (named prefix + index)."""
    monomials, columns = [], []
    for index, (channels, coefficient) in enumerate(split.terms):
        if coefficient.is_Rational:
            monomials.append(Monomial(channels, sign * Fraction(str(coefficient)),
                                      points=points))
        else:  # irrational or varying: a data column
            monomials.append(Monomial(channels, sign, f"{prefix}{index}", points))
            columns.append((f"{prefix}{index}", coefficient))
    return monomials, columns


def loss_terms(spec: Spec) -> tuple[LossTerm, ...]:
    return tuple(data.term for data in term_data(spec))


def collocation_inputs(spec: Spec, seed: int) -> dict[str, np.ndarray]:
    """The named inputs of the physics loss program: point sets, targets, coefficients.
    With a level set, a point set is the model's inputs (|phi| appended) or, where the loss
    reads derivatives, their jet (``level_set.input_jet``)."""
    pde, equations = _pde(spec)
    dtype = NP_DTYPES[spec.dtype]
    inputs: dict[str, np.ndarray] = {}
    points_of: dict[str, np.ndarray] = {}  # point set -> its points (N, variables)
    for index, data in enumerate(term_data(spec)):
        if data.periodic is not None:
            if data.term.points not in points_of:
                low, high = collocation.periodic_ends(pde, equations, data.periodic, data.count,
                                                      data.sampler, seed + 7919 * index)
                points_of[data.term.points] = low
                points_of[f"{data.term.points}.high"] = high
            points = points_of[data.term.points]
        else:
            sample = {"interior": collocation.interior, "dirichlet": collocation.boundary,
                      "initial": collocation.initial, "interface": level_set.interface
                      }[data.points]
            points = sample(pde, equations, data.count, data.sampler, seed + 7919 * index)
            points_of[data.term.points] = points
            if data.points == "interface":
                points_of[f"{data.term.points}.right"] = points
        columns = dict(zip(equations.variables, points.T))
        inputs[f"{data.term.name}.target"] = _finite(data, evaluate(data.target, columns,
                                                                    len(points)), points, dtype)
        if data.term.pointwise:  # residual-based attention starts from equal weights
            inputs[f"{data.term.name}.weights"] = np.ones((len(points), 1), dtype=dtype)
        for name, expr in data.columns:
            inputs[f"{data.term.name}.{name}"] = _finite(data, evaluate(expr, columns,
                                                                        len(points)), points,
                                                         dtype)
    inputs.update(_model_inputs(spec, equations, points_of))
    return inputs


def _model_inputs(spec: Spec, equations: Equations, points_of: dict[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """Each point set as the loss graph takes it (``physics_loss_graph``)."""
    dtype = NP_DTYPES[spec.dtype]
    if equations.level_set is None:
        return {name: points.astype(dtype) for name, points in points_of.items()}
    orders: dict[str, int] = {}
    for term in loss_terms(spec):
        for name, order in term.orders().items():
            orders[name] = max(order, orders.get(name, 0))
    sides = {data.term.points: -1.0 for data in term_data(spec) if data.points == "interface"}
    sides.update({f"{name}.right": 1.0 for name in sides})
    inputs = {}
    for name, points in points_of.items():
        if orders.get(name, 0) == 0:
            inputs[name] = level_set.model_inputs(equations, points).astype(dtype)
        else:
            inputs[name] = level_set.input_jet(equations, points, orders[name],
                                               sides.get(name)).astype(dtype)
    return inputs


def _finite(data: TermData, values: np.ndarray, points: np.ndarray,
            dtype: type[np.floating]) -> np.ndarray:
    """values as a [rows, 1] column of ``dtype``; a SpecError naming the field when some
    are not finite there (a singularity in the domain, or beyond the dtype's range)."""
    column = values[:, None].astype(dtype)
    bad = ~np.isfinite(column[:, 0])
    if bad.any():
        where = ", ".join(f"{v:.4g}" for v in points[np.argmax(bad)])
        raise SpecError(data.field, f"is not finite at {int(bad.sum())} of its "
                                    f"{len(points)} collocation points in {np.dtype(dtype).name} "
                                    f"(for one, at ({where}))")
    return column


def solution_grid(spec: Spec) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the relative L2 error is measured, as the model's inputs, and the solution
    there: a grid of the domain and the exact solution, or the points and values of
    ``pde.reference``; None without either."""
    pde, equations = _pde(spec)
    if pde.reference is not None:
        points, values = reference_solution(spec, pde.reference)
    elif equations.solution is not None:
        points = collocation.interior(pde, equations, pde.test_points, "grid", 0)
        values = evaluate(equations.solution, dict(zip(equations.variables, points.T)),
                          len(points))
    else:
        return None
    inputs = level_set.model_inputs(equations, points)
    return inputs.astype(NP_DTYPES[spec.dtype]), values[:, None]


def reference_solution(spec: Spec, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The arrays ``points`` (N, variables) and ``u`` (N,) of the .npz ``name`` (relative to
    the spec's folder), finite and of matching shapes; a SpecError naming pde.reference
    otherwise. Nothing is unpickled."""
    path = Path(name) if spec.origin is None else Path(spec.origin).parent / name

    def fail(message: str) -> SpecError:
        return SpecError("pde.reference", f"{path}: {message}", spec.origin)

    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise fail("is not an .npz archive (np.savez writes one)")
        with archive:
            points, values = np.asarray(archive["points"]), np.asarray(archive["u"])
    except FileNotFoundError:
        raise fail("no such file") from None
    except KeyError:
        raise fail("must hold the arrays points and u") from None
    except (OSError, ValueError) as error:
        raise fail(f"cannot be read as an .npz without pickles ({error})") from None
    width = len(spec.pde.variables) if spec.pde is not None else 0
    if points.ndim != 2 or points.shape[1] != width or len(points) == 0:
        raise fail(f"points must have shape (N > 0, {width}), got {points.shape}")
    values = values.reshape(-1) if values.ndim == 2 and values.shape[1] == 1 else values
    if values.shape != (len(points),):
        raise fail(f"u must have shape ({len(points)},), got {values.shape}")
    for what, array in (("points", points), ("u", values)):
        if array.dtype.kind not in "fiu" or not np.all(np.isfinite(array)):
            raise fail(f"{what} must be finite numbers")
    return points.astype(np.float64), values.astype(np.float64)
