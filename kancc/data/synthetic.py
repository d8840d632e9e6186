"""Built-in synthetic regression targets (closed forms from the papers and from pykan)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kancc.errors import DataError

from .dataset import Dataset, make_dataset

ROTATION = 0.175  # radians, counter-clockwise: the multilevel paper's rotated target (Sec. 5.1)


@dataclass(frozen=True)
class SyntheticTarget:
    """A closed-form regression target. Points are drawn uniformly from ``sample``^n_in,
    which lies inside the natural ``domain`` a spec's basis domain should match."""

    n_in: int
    n_out: int
    domain: tuple[float, float]
    sample: tuple[float, float]
    description: str
    function: Callable[[np.ndarray], np.ndarray]  # (n, n_in) -> (n, n_out)


def _rotated(x: np.ndarray) -> np.ndarray:
    """The multilevel paper, Sec. 5.1, eq. (26): "a 0.175 radian counterclockwise
    (~10.03 deg) coordinate rotation of the nonsmooth function f(x,y) = cos(4 pi x)
    + sin(pi y) + sin(2 pi y) + |sin(3 pi y^2)|", points uniform on [0.0001, 0.9999]^2
    (App. D.1). Turning f (or the axes) counter-clockwise gives g(p) = f(R(-theta) p), so
    g(R(theta) q) = f(q); no center is named, so it is the origin. The paper's [0, 1] output
    scaling is not part of the target."""
    c, s = math.cos(ROTATION), math.sin(ROTATION)
    u = c * x[:, 0] + s * x[:, 1]
    v = -s * x[:, 0] + c * x[:, 1]
    f = (np.cos(4 * np.pi * u) + np.sin(np.pi * v) + np.sin(2 * np.pi * v)
         + np.abs(np.sin(3 * np.pi * v ** 2)))
    return f[:, None]


def _polar5(x: np.ndarray) -> np.ndarray:
    """Polar and Poluektov's 5-input benchmark. The Newton-Kaczmarz paper only names it ("5 inputs,
    10 000 records"); the formula is their published code's (Formula::GetTarget), which draws
    inputs on a 1/1000 grid of [0, 1): uniform on [0, 1) here."""
    x1, x2, x3, x4, x5 = x.T
    steep = 20.0 * np.exp(x5)
    plus = (2 + 2 * x3) / (3 * np.pi) * (np.arctan(steep * (x1 - 0.5 + x2 / 6)) + np.pi / 2)
    minus = (2 + 2 * x4) / (3 * np.pi) * (np.arctan(steep * (x1 - 0.5 - x2 / 6)) + np.pi / 2)
    total: np.ndarray = plus + minus
    return total[:, None]


def _triangle(x: np.ndarray) -> np.ndarray:
    """The area of the triangle with corners (x1, y1), (x2, y2), (x3, y3): Polar and
    Poluektov's 6-input benchmark (Newton-Kaczmarz paper, 2021)."""
    x1, y1, x2, y2, x3, y3 = x.T
    area: np.ndarray = 0.5 * np.abs((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1))
    return area[:, None]


def disk_bump(x: np.ndarray) -> np.ndarray:
    """The LoTRA paper's pretraining solution u = sin(pi/2 (1 - |x|)^2.5) on the unit disk (0
    outside it, where the samples of the square reach)."""
    r = np.minimum(np.linalg.norm(x, axis=1), 1.0)
    u: np.ndarray = np.sin(np.pi / 2 * (1 - r) ** 2.5)
    return u[:, None]


def disk_bump_shifted(x: np.ndarray) -> np.ndarray:
    """The LoTRA paper's fine-tuning target u + sin(pi/2 (1 - |x|))."""
    r = np.minimum(np.linalg.norm(x, axis=1), 1.0)
    shifted: np.ndarray = disk_bump(x) + np.sin(np.pi / 2 * (1 - r))[:, None]
    return shifted


SYNTHETIC: dict[str, SyntheticTarget] = {
    "exp_sin": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0), "exp(sin(pi x) + y^2), pykan's",
                               lambda x: np.exp(np.sin(np.pi * x[:, :1]) + x[:, 1:] ** 2)),
    "sin_sin": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0), "sin(pi x) sin(pi y)",
                               lambda x: np.sin(np.pi * x[:, :1]) * np.sin(np.pi * x[:, 1:])),
    "rotated": SyntheticTarget(2, 1, (0.0, 1.0), (0.0001, 0.9999),
                               "the multilevel paper's nonsmooth target, rotated 0.175 rad",
                               _rotated),
    "polar5": SyntheticTarget(5, 1, (0.0, 1.0), (0.0, 1.0),
                              "Polar and Poluektov's 5-input atan benchmark", _polar5),
    "triangle": SyntheticTarget(6, 1, (0.0, 1.0), (0.0, 1.0),
                                "area of a triangle of three points in the unit square",
                                _triangle),
    "disk_bump": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0),
                                 "sin(pi/2 (1 - |x|)^2.5) on the unit disk", disk_bump),
    "disk_bump_shifted": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0),
                                         "disk_bump + sin(pi/2 (1 - |x|))", disk_bump_shifted),
}


def synthetic(name: str, n: int, seed: int = 0) -> Dataset:
    """n points of a built-in target, drawn with np.random.default_rng(seed)."""
    if name not in SYNTHETIC:
        raise DataError(name, f"unknown synthetic target; known: {', '.join(sorted(SYNTHETIC))}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise DataError(name, f"number of rows must be a positive integer, got {n!r}")
    target = SYNTHETIC[name]
    x = np.random.default_rng(seed).uniform(*target.sample, size=(int(n), target.n_in))
    return make_dataset(x, target.function(x), name)
