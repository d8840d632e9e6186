"""The piecewise-polynomial model Newton-Kaczmarz trains, and how it changes between
epochs: each layer's uniform grid, least-squares refits onto another grid, renormalizing
hidden ranges, growing cells, and the piecewise-linear -> cubic switch.

Refits are least-squares fits of the old function sampled at SAMPLES_PER_BASIS points per
basis function of the new grid: exact when the new space contains the old function (cubic
pieces cannot reproduce a kink, so PL -> cubic and non-nested regridding are approximate;
the tests state the tolerance). The pseudo-inverse of each sampled grid is memoized (a pure
function of the grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kancc.spec import Spec

from .kaczmarz_kernel import basis_matrix, forward_kernel

SAMPLES_PER_BASIS = 8  # least-squares refits sample the old function this densely
RANGE_MARGIN = 0.01    # renormalized ranges are widened by this fraction on each side
SHRINK_FLOOR = 0.1     # a domain shrinks only onto a seen range at least this fraction of it


@dataclass
class Grid:
    """One layer's uniform grid: ``n`` cells of width ``h`` from ``lo``, B-splines of order."""

    order: int
    lo: float
    h: float
    n: int

    @property
    def hi(self) -> float:
        return self.lo + self.n * self.h

    def basis(self, points: np.ndarray) -> np.ndarray:
        return basis_matrix(self.order, self.lo, 1.0 / self.h, self.n, points)


@lru_cache(maxsize=256)
def least_squares(order: int, lo: float, h: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample points on a grid and the pseudo-inverse that fits its B-splines to them."""
    grid = Grid(order, lo, h, n)
    points = np.linspace(grid.lo, grid.hi, SAMPLES_PER_BASIS * (n + order - 1) + 1)
    return points, np.linalg.pinv(grid.basis(points))


def refit(coef: np.ndarray, old: Grid, new: Grid, scale: float = 1.0,
          shift: float = 0.0) -> np.ndarray:
    """Coefficients on ``new`` of the functions t -> f(shift + scale * t), f given by
    ``coef`` (..., n_b_old) on ``old``: the least-squares fit at sample points of ``new``."""
    points, pseudo_inverse = least_squares(new.order, new.lo, new.h, new.n)
    values = coef @ old.basis(shift + scale * points).T
    return np.ascontiguousarray(values @ pseudo_inverse.T)


def grids_of(spec: Spec) -> list[Grid]:
    return [Grid(b.order, float(b.domain[0]), float(b.domain[1] - b.domain[0]) / b.grid,
                  b.grid) for b in spec.layers]


def renormalize(coefs: list[np.ndarray], grids: list[Grid], seen: np.ndarray,
                 expand_only: bool = False) -> None:
    """Map the range each hidden unit took (plus margins) onto its layer's domain, in place:
    new argument = lo + (old - a) / scale. Units that saw nothing keep their map. A range
    narrower than SHRINK_FLOOR of the domain (a nearly constant unit) and every range with
    ``expand_only`` (an epoch that skipped records saw only part of the ranges) only widen
    the domain to cover what was seen: zooming onto a degenerate range would amplify the
    previous layer without bound."""
    for layer in range(1, len(coefs)):
        grid, n_units = grids[layer], coefs[layer].shape[0]
        a, b = seen[layer, :n_units, 0].copy(), seen[layer, :n_units, 1].copy()
        idle = ~(np.isfinite(a) & np.isfinite(b))
        a[idle], b[idle] = grid.lo, grid.hi
        margin = RANGE_MARGIN * (b - a)
        a, b = a - margin, b + margin
        widen = expand_only | (b - a < SHRINK_FLOOR * (grid.hi - grid.lo))
        a = np.where(widen, np.minimum(a, grid.lo), a)
        b = np.where(widen, np.maximum(b, grid.hi), b)
        scale = (b - a) / (grid.hi - grid.lo)
        n_before = coefs[layer - 1].shape[0]
        before = coefs[layer - 1]
        coefs[layer - 1] = grid.lo / n_before + (before - a[None, :, None] / n_before) \
            / scale[None, :, None]
        points, pseudo_inverse = least_squares(grid.order, grid.lo, grid.h, grid.n)
        moved = (a - scale * grid.lo)[:, None] + scale[:, None] * points[None, :]
        old_basis = grid.basis(moved.ravel()).reshape(n_units, len(points), -1)
        values = np.einsum("pqi,pmi->pqm", coefs[layer], old_basis)
        coefs[layer] = np.ascontiguousarray(values @ pseudo_inverse.T)


def grow(coefs: list[np.ndarray], grids: list[Grid], cells: tuple[int, ...]) -> None:
    """One more cell for every layer below its target (in place)."""
    for layer, target in enumerate(cells):
        old = grids[layer]
        if old.n < target:
            new = Grid(old.order, old.lo, (old.hi - old.lo) / (old.n + 1), old.n + 1)
            coefs[layer] = refit(coefs[layer], old, new)
            grids[layer] = new


def to_cubic(coefs: list[np.ndarray], grids: list[Grid]) -> None:
    for layer, old in enumerate(grids):
        new = Grid(4, old.lo, old.h, old.n)
        coefs[layer] = refit(coefs[layer], old, new)
        grids[layer] = new


def grid_arrays(grids: list[Grid]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.array([g.lo for g in grids])
    inv_h = np.array([1.0 / g.h for g in grids])
    n = np.array([g.n for g in grids], dtype=np.int64)
    return lo, inv_h, n


def predict(coefs: list[np.ndarray], grids: list[Grid], x: np.ndarray) -> np.ndarray:
    """The model's output (N,) for inputs x (N, width_0)."""
    lo, inv_h, n = grid_arrays(grids)
    z = forward_kernel(grids[0].order)(tuple(coefs), lo, inv_h, n, np.ascontiguousarray(x))
    return z[-1, :, 0]
