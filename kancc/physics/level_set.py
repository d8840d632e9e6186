"""The level-set augmentation of an interface problem (``pde.level_set``): the model's inputs
and their jets at points, and points on the interface.

The model of a spec with a level set phi takes (z, |phi(z)|). Its input jet is therefore
not the identity seed of kan.jet_seed but data, computed here from phi's exact derivatives:
d|phi|/dz_k = s phi_k and d2|phi|/dz_k2 = s phi_kk, with s the side's sign (+1 where
phi >= 0: a point on the interface belongs to the positive side unless asked otherwise;
the interface condition evaluates both). The jet has one direction per model input; the
last, d/d|phi| itself, is never a derivative the residual asks for, and stays zero.
"""

from __future__ import annotations

import numpy as np
import sympy

from kancc.errors import SpecError
from kancc.spec.pde_equations import Equations
from kancc.spec.pde_table import PdeSpec

from .collocation import in_disk, interior
from .evaluate import evaluate

PROJECTION_STEPS = 30  # Newton steps onto phi = 0 (one suffices for a linear phi)
MAX_DRAWS = 8


def model_inputs(equations: Equations, points: np.ndarray) -> np.ndarray:
    """Points (N, variables) as the model's inputs: |phi| appended with a level set."""
    if equations.level_set is None:
        return points
    phi = _at(equations, equations.level_set, points)
    return np.concatenate([points, np.abs(phi)[:, None]], axis=1)


def input_jet(equations: Equations, points: np.ndarray, order: int,
              side: float | None = None) -> np.ndarray:
    """The jet [N, D, 1 + order D] of the model's inputs at ``points`` (D = the model's
    input width): the identity seed of the variables and, for |phi|, s phi_k and s phi_kk
    with s = ``side`` (default: the side each point lies on, +1 where phi >= 0)."""
    n, d = points.shape
    width = equations.directions
    jet = np.zeros((n, width, 1 + order * width))
    jet[:, :d, 0] = points
    jet[:, np.arange(d), 1 + np.arange(d)] = 1.0
    level = equations.level_set
    if level is None:
        return jet
    phi = _at(equations, level, points)
    sign = np.where(phi >= 0, 1.0, -1.0) if side is None else np.full(n, side)
    jet[:, d, 0] = np.abs(phi)
    for k, variable in enumerate(equations.variables):
        jet[:, d, 1 + k] = sign * _at(equations, sympy.diff(level, variable), points)
        if order == 2:
            jet[:, d, 1 + width + k] = sign * _at(equations, sympy.diff(level, variable, 2),
                                                  points)
    return jet


def interface(pde: PdeSpec, equations: Equations, count: int, sampler: str,
              seed: int) -> np.ndarray:
    """``count`` points of the domain where phi = 0: domain points moved there by Newton
    steps along grad phi. A "grid" projects a finer grid and keeps its distinct points (on
    a straight interface, a grid of it)."""
    d = len(equations.variables)
    found: list[np.ndarray] = []
    for draw in range(MAX_DRAWS):
        many = count ** (d / (d - 1)) if sampler == "grid" and d > 1 else count
        start = interior(pde, equations, int(np.ceil(many)), sampler, seed + draw)
        moved = _project(equations, start)
        if sampler == "grid":
            moved = np.unique(np.round(moved, 12), axis=0)
        found.append(moved[_inside(pde, equations, moved)])
        if sum(len(f) for f in found) >= count or sampler == "grid":
            break
    points = np.concatenate(found)[:count]
    if len(points) < min(count, 2):
        raise SpecError("pde.level_set", f"its zero set crosses the domain at {len(points)} "
                                         f"of the {count} interface points asked for")
    return points


def _at(equations: Equations, expr: sympy.Expr, points: np.ndarray) -> np.ndarray:
    """``expr`` of the variables at the points."""
    return evaluate(expr, dict(zip(equations.variables, points.T)), len(points))


def _project(equations: Equations, points: np.ndarray) -> np.ndarray:
    """Newton steps z <- z - phi grad phi / |grad phi|^2; points that do not reach phi = 0
    (to 1e-12 of their size) are dropped."""
    assert equations.level_set is not None
    level = equations.level_set
    gradient = [sympy.diff(level, v) for v in equations.variables]
    z = points.copy()
    for _ in range(PROJECTION_STEPS):
        grad = np.stack([_at(equations, g, z) for g in gradient], axis=1)
        norm = np.sum(grad * grad, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = z - (_at(equations, level, z) / norm)[:, None] * grad
    phi = _at(equations, level, z)
    ok = np.all(np.isfinite(z), axis=1) & (np.abs(phi) <= 1e-12 * (1 + np.abs(z).max(axis=1)))
    return np.asarray(z[ok])


def _inside(pde: PdeSpec, equations: Equations, points: np.ndarray) -> np.ndarray:
    if pde.box is not None:
        low = np.array([float(a) for a, _ in pde.box])
        high = np.array([float(b) for _, b in pde.box])
        return np.asarray(np.all((points >= low) & (points <= high), axis=1))
    inside = in_disk(pde, equations, points)
    if equations.time is not None:
        a, b = (float(v) for v in pde.interval or (0, 1))
        t = points[:, equations.time]
        inside &= (t >= a) & (t <= b)
    return np.asarray(inside)
