"""Seeded random specs for differential testing (our test suite uses them; so can yours).

Specs cover orders 1-6, uniform and non-uniform exact knots, widths 1..max_width and 1..3
layers. Degree 0 (piecewise constant) appears only in the first layer: deeper, a one-ulp
difference between two correct backends in the previous layer's output may flip a
discontinuous basis to its neighbouring cell, which is not a bug worth reporting.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

from kancc.spec import load_spec


def _exact(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def random_basis(rng: random.Random, first: bool, max_grid: int) -> dict[str, Any]:
    degree = rng.randint(0 if first else 1, 5)
    grid = rng.randint(1, max_grid)
    if first:
        a = Fraction(rng.randint(-12, 4), 4)
        b = a + Fraction(rng.randint(1, 24), 4)
    else:  # later layers see the previous layer's outputs, which are O(1)
        a, b = Fraction(-rng.randint(1, 3)), Fraction(rng.randint(1, 3))
    if rng.random() < 0.5:
        return {"degree": degree, "grid": grid, "domain": [_exact(a), _exact(b)],
                "knots": "uniform"}
    steps = [rng.randint(1, 6) for _ in range(grid)]
    total = sum(steps)
    points, acc = [], 0
    for step in [0] + steps:
        acc += step
        points.append(a + (b - a) * Fraction(acc, total))
    return {"degree": degree, "knots": [_exact(p) for p in points]}


def random_spec(seed: int, *, dtype: str = "float32", max_layers: int = 3, max_width: int = 17,
                max_grid: int = 24) -> dict[str, Any]:
    """A valid spec dict, the same for the same arguments."""
    rng = random.Random(seed)
    n_layers = rng.randint(1, max_layers)
    widths = [rng.randint(1, max_width) for _ in range(n_layers + 1)]
    layers = [random_basis(rng, index == 0, max_grid) for index in range(n_layers)]
    return {"model": {"name": f"random_{seed}", "layers": widths, "dtype": dtype},
            "layers": layers}


def random_tucker_spec(seed: int, *, dtype: str = "float64") -> dict[str, Any]:
    """A random spec (widths up to 9, grids up to 9) with random Tucker ranks, each between
    1 and its mode's size, on a random subset of its layers (at least one)."""
    spec = random_spec(seed, dtype=dtype, max_width=9, max_grid=9)
    rng = random.Random(seed)
    widths = spec["model"]["layers"]
    chosen = [i for i in range(len(spec["layers"])) if rng.random() < 0.6] or [0]
    for index in chosen:
        dims = (widths[index], widths[index + 1], load_spec(spec).layers[index].n_basis)
        spec["layers"][index]["tucker"] = [rng.randint(1, d) for d in dims]
    return spec


def random_global_spec(seed: int, *, dtype: str = "float64") -> dict[str, Any]:
    """A random spec (widths up to 7) whose layers are each of a random global kind
    (chebyshev, legendre, taylor, fourier; degree 0..6) or, sometimes, a cubic B-spline."""
    rng = random.Random(seed)
    n_layers = rng.randint(1, 3)
    widths = [rng.randint(1, 7) for _ in range(n_layers + 1)]
    layers = []
    for _ in range(n_layers):
        kind = rng.choice(["chebyshev", "legendre", "taylor", "fourier", "bspline"])
        if kind == "bspline":
            layers.append({"kind": kind, "degree": 3, "grid": rng.randint(1, 6),
                           "domain": [-2, 2]})
        else:
            layers.append({"kind": kind, "degree": rng.randint(0, 6 if kind != "fourier" else 3)})
    return {"model": {"name": f"global_{seed}", "layers": widths, "dtype": dtype},
            "layers": layers}
