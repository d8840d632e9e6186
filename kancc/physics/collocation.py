"""Collocation points of a [pde] problem: the interior, the space boundary, the first time.

Samplers fill the unit cube: "grid" (a tensor grid with ends, about ``count`` points),
"random" (uniform, numpy's seeded generator) or "sobol" (scrambled, scipy.stats.qmc). The
cube's columns are the variables; it is then mapped onto the domain: a box by
a + (b - a) u; a disk by a square grid clipped to the disk ("grid") or by r = R sqrt(u_0),
theta = 2 pi u_1 (uniform in area); the time column onto the time interval.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from kancc.spec.pde_equations import Equations
from kancc.spec.pde_table import PdeSpec


def unit_cube(count: int, dims: int, sampler: str, seed: int) -> np.ndarray:
    """About ``count`` points of [0, 1]^dims (exactly count but for "grid"); one point of
    no coordinates when dims is 0 (the initial point of an ODE)."""
    if dims == 0:
        return np.zeros((1, 0))
    if sampler == "grid":
        side = max(2, math.ceil(count ** (1 / dims) - 1e-9))
        axes = np.meshgrid(*[np.linspace(0.0, 1.0, side)] * dims, indexing="ij")
        return np.stack([a.ravel() for a in axes], axis=1)
    if sampler == "sobol":
        from scipy.stats import qmc

        with warnings.catch_warnings():  # a count that is no power of 2 is still a fine set
            warnings.simplefilter("ignore", UserWarning)
            return np.asarray(qmc.Sobol(dims, scramble=True, seed=seed).random(count))
    return np.random.default_rng(seed).uniform(0.0, 1.0, (count, dims))


def interior(pde: PdeSpec, equations: Equations, count: int, sampler: str,
             seed: int) -> np.ndarray:
    """Points of the domain (space x time)."""
    d = len(equations.variables)
    if pde.box is None and sampler == "grid":  # a square grid clipped to the disk
        count = math.ceil(count * 4 / math.pi)
    return _map(pde, equations, unit_cube(count, d, sampler, seed), sampler)


def initial(pde: PdeSpec, equations: Equations, count: int, sampler: str,
            seed: int) -> np.ndarray:
    """Points of the space domain at the first time."""
    assert equations.time is not None
    space = list(equations.space)
    if pde.box is None and sampler == "grid":
        count = math.ceil(count * 4 / math.pi)
    part = unit_cube(count, len(space), sampler, seed)
    unit = np.zeros((len(part), len(equations.variables)))
    unit[:, space] = part
    return _map(pde, equations, unit, sampler)


def boundary(pde: PdeSpec, equations: Equations, count: int, sampler: str,
             seed: int) -> np.ndarray:
    """Points of the space boundary (times the time interval)."""
    d, space = len(equations.variables), list(equations.space)
    if pde.box is None:  # the circle: angle (and time) sampled, radius R
        unit = unit_cube(count, d - 1, sampler, seed)
        angle = np.linspace(0.0, 1.0, len(unit), endpoint=False) if sampler == "grid" \
            else unit[:, 0]
        points = np.empty((len(unit), d))
        radius = float(pde.disk or 1)
        points[:, space[0]] = radius * np.cos(2.0 * math.pi * angle)
        points[:, space[1]] = radius * np.sin(2.0 * math.pi * angle)
        if equations.time is not None:
            a, b = (float(v) for v in pde.interval or (0, 1))
            points[:, equations.time] = a + (b - a) * unit[:, -1]
        return points
    faces = []
    per_face = max(1, count // (2 * len(space)))
    for face, (k, side) in enumerate((k, side) for k in space for side in (0.0, 1.0)):
        part = unit_cube(per_face, d - 1, sampler, seed + face) if d > 1 else np.zeros((1, 0))
        unit = np.empty((len(part), d))
        unit[:, [j for j in range(d) if j != k]], unit[:, k] = part, side
        faces.append(_map(pde, equations, unit, sampler))
    return np.concatenate(faces)


def _map(pde: PdeSpec, equations: Equations, unit: np.ndarray, sampler: str) -> np.ndarray:
    """Unit-cube points (a column per variable) onto the domain."""
    if pde.box is not None:
        low = np.array([float(a) for a, _ in pde.box])
        high = np.array([float(b) for _, b in pde.box])
        return np.asarray(low + (high - low) * unit)
    space, radius = list(equations.space), float(pde.disk or 1)
    points = np.empty_like(unit)
    if sampler == "grid":
        points[:, space] = radius * (2.0 * unit[:, space] - 1.0)
    else:
        r = radius * np.sqrt(unit[:, space[0]])
        angle = 2.0 * math.pi * unit[:, space[1]]
        points[:, space[0]], points[:, space[1]] = r * np.cos(angle), r * np.sin(angle)
    if equations.time is not None:
        a, b = (float(v) for v in pde.interval or (0, 1))
        points[:, equations.time] = a + (b - a) * unit[:, equations.time]
    return np.asarray(points[in_disk(pde, equations, points)])


def in_disk(pde: PdeSpec, equations: Equations, points: np.ndarray) -> np.ndarray:
    """Which points' space coordinates lie in the disk (to rounding)."""
    space, radius = list(equations.space), float(pde.disk or 1)
    return np.asarray(np.sum((points[:, space] / radius) ** 2, axis=1) <= 1 + 1e-12)


def periodic_ends(pde: PdeSpec, equations: Equations, variable: int, count: int,
                  sampler: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of points of a box that differ only in ``variable``: at its low end, at its
    high end."""
    assert pde.box is not None
    d = len(equations.variables)
    part = unit_cube(count, d - 1, sampler, seed) if d > 1 else np.zeros((1, 0))
    low = np.empty((len(part), d))
    low[:, [j for j in range(d) if j != variable]], low[:, variable] = part, 0.0
    high = low.copy()
    high[:, variable] = 1.0
    return _map(pde, equations, low, sampler), _map(pde, equations, high, sampler)
