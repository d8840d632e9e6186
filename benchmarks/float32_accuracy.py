"""float32 error of the emitted NumPy code, per evaluation mode, order and grid size.

For a single-edge model on [-1, 1] with N(0, 1) coefficients (rounded to float32), the error
is max |y32 - y64| / max |y64| over 20000 random float32 inputs plus every knot's float32
value and its two float32 neighbours, where y64 evaluates the same float32 inputs and
coefficients in float64. Uniform and random non-uniform knots.

    python benchmarks/float32_accuracy.py [--grids 8,100,256]

Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction

import numpy as np

import kancc
from kancc.tools.differential_check import relative_error

MODES = ("horner", "relu-local", "cox-de-boor")


def basis(degree: int, grid: int, kind: str) -> dict:
    if kind == "uniform":
        return {"degree": degree, "grid": grid, "domain": [-1, 1]}
    rng = np.random.default_rng(grid)
    steps = np.cumsum(np.concatenate([[0], rng.integers(1, 7, size=grid)]))
    points = [Fraction(-1) + Fraction(2 * int(s), int(steps[-1])) for s in steps]
    return {"degree": degree, "knots": [f"{p.numerator}/{p.denominator}" for p in points]}


def error(degree: int, grid: int, kind: str, mode: str) -> float:
    pipeline = f"expand-layers,derive-stencils,lower-basis{{eval={mode}}},fuse,canonicalize"
    spec = {"model": {"layers": [1, 1]}, "basis": basis(degree, grid, kind)}
    spec64 = {"model": {"layers": [1, 1], "dtype": "float64"}, "basis": basis(degree, grid, kind)}
    rng = np.random.default_rng(degree)
    coef = rng.standard_normal((1, 1, grid + degree)).astype(np.float32)
    knots = np.array([float(t) for t in kancc.load_spec(spec).layers[0].knots], np.float32) \
        if kind != "uniform" else np.linspace(-1, 1, grid + 1).astype(np.float32)
    near = np.concatenate([knots, np.nextafter(knots, np.float32(-2)),
                           np.nextafter(knots, np.float32(2))])
    x = np.concatenate([rng.uniform(-1, 1, 20000), near]).astype(np.float32)[:, None]
    y32 = kancc.compile(spec, passes=pipeline).forward({"layers.0.coef": coef}, x)
    y64 = kancc.compile(spec64, passes=pipeline).forward({"layers.0.coef": coef.astype(np.float64)},
                                                         x.astype(np.float64))
    return relative_error(y32, y64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="8,100,256")
    grids = [int(g) for g in parser.parse_args().grids.split(",")]
    results = []
    print(f"{'knots':<11}{'grid':>5}{'order':>6}  " + "".join(f"{m:>13}" for m in MODES))
    for kind in ("uniform", "nonuniform"):
        for grid in grids:
            for degree in range(6):
                row = {m: error(degree, grid, kind, m) for m in MODES}
                results.append({"knots": kind, "grid": grid, "order": degree + 1, **row})
                print(f"{kind:<11}{grid:>5}{degree + 1:>6}  " +
                      "".join(f"{row[m]:>13.1e}" for m in MODES))
    print(json.dumps({"benchmark": "float32_accuracy", "dtype": "float32", "batch": 20000,
                      "results": results}))


if __name__ == "__main__":
    main()
