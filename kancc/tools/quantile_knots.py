"""Data-adaptive grids by exact knot insertion: knots at the quantiles of each layer's
inputs, inserted so that the model's function does not change.

pykan's and efficient-kan's ``update_grid`` refit the splines by least squares on a new
grid and lose accuracy; here the new knots are *inserted* (Boehm's knot insertion, which is
the exact prolongation P of ``kancc.symbolic`` for a fine knot vector that contains the
coarse one), so the refined model computes the same function, and training continues from
it. The quantile positions are rounded to 6 significant digits and kept exact.

Where the new knots may go: anywhere inside an interior cell; an end cell can only be
halved (its midpoint), because the exterior knots extend the end cells' widths and must
stay nested for the insertion to be exact beyond the domain too. A position closer than
1/10 of its cell to an existing knot is dropped (a sliver cell would only magnify
rounding). A layer with one knot vector per input gets knots at the quantiles of each
input's own values, anywhere between t_0 and t_n (its exterior knots are given, and
kept), and exactly as many per input (the widest cells are halved to make up any
dropped), since its inputs share a cell count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction

import numpy as np

from kancc.errors import KanccError, SpecError
from kancc.ir import GLOBAL_KINDS
from kancc.spec import Spec, load_spec, spec_to_dict

from .domain_check import layer_inputs

DIGITS = 6


def inserted_points(points: tuple[Fraction, ...], values: np.ndarray, count: int,
                    free_ends: bool = False) -> tuple[Fraction, ...]:
    """``points`` plus up to ``count`` knots at quantiles of ``values`` (see the module
    docstring for where they may go; ``free_ends``: the end cells too, for knot vectors
    whose exterior knots are given rather than extended), sorted."""
    inside = values[(values > float(points[0])) & (values < float(points[-1]))]
    if inside.size == 0 or count <= 0:
        return points
    probabilities = np.arange(1, count + 1) / (count + 1)
    new = set(points)
    edges = np.array([float(p) for p in points])
    for q in np.quantile(inside, probabilities):
        cell = int(np.clip(np.searchsorted(edges, q, side="right") - 1, 0, len(points) - 2))
        left, right = points[cell], points[cell + 1]
        position = Fraction(f"{q:.{DIGITS}g}")
        if cell in (0, len(points) - 2) and not free_ends:
            position = (left + right) / 2  # an end cell is only ever halved
        elif not left < position < right:
            continue  # rounding moved it onto or past a knot
        nearest = min(abs(position - p) for p in new)
        if nearest > (right - left) / 10:
            new.add(position)
    return tuple(sorted(new))


def inserted_row(knots: tuple[Fraction, ...], order: int, values: np.ndarray, count: int
                 ) -> tuple[Fraction, ...]:
    """A per-input knot vector with exactly ``count`` knots inserted between t_0 and t_n:
    at quantiles of ``values`` where they fall, then by halving the widest cells (every
    input of a layer must keep the same number of cells); the exterior knots stay."""
    inner = knots[order - 1:len(knots) - order + 1]
    points = inserted_points(inner, values, count, free_ends=True)
    while len(points) < len(inner) + count:
        widest = max(range(len(points) - 1), key=lambda i: points[i + 1] - points[i])
        points = tuple(sorted(points + ((points[widest] + points[widest + 1]) / 2,)))
    return knots[:order - 1] + points + knots[len(knots) - order + 1:]


def quantile_refinement(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray,
                        per_layer: int | None = None) -> Spec:
    """The spec whose B-spline layers hold extra knots at the quantiles of their inputs on
    ``x``: ``per_layer`` of them (default: as many as the layer has cells, which about
    doubles the cells where the data is)."""
    if len(x) == 0:
        raise KanccError("knots at data quantiles need at least one row of data")
    raw = spec_to_dict(spec)
    inputs = [values for _, values in layer_inputs(spec, params, x)]
    for table, basis, values in zip(raw["layers"], spec.layers, inputs):
        if basis.kind in GLOBAL_KINDS:
            continue
        count = basis.grid if per_layer is None else per_layer
        table.pop("grid", None)
        table.pop("domain", None)
        if basis.per_input:
            table["knots"] = [[str(t) for t in inserted_row(row, basis.order, values[:, p],
                                                            count)]
                              for p, row in enumerate(basis.input_knots)]
            continue
        points = inserted_points(basis.points, values.ravel(), count)
        table["knots"] = [str(p) for p in points]
    try:
        fine = load_spec(raw)
    except SpecError as exc:
        raise KanccError(f"inserting knots into {spec.name}: {exc}") from None
    return replace(spec, layers=fine.layers)
