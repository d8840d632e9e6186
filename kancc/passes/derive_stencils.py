"""derive-stencils: attach the exact change of basis A^[r] to every B-spline basis op.

The stencil comes from the Lemma 2 recursion over the op's full extended knot vector
(kancc.symbolic). When every row has the same band (uniform knots, Corollary 1) the op gets
one integer band and its scale, e.g. ``stencil=[1, -4, 6, -4, 1], stencil_scale=32/3`` for a
cubic on h = 1/4; otherwise one band of r+1 entries per basis function. A layer with one
knot vector per input gets none (lower-basis evaluates it by de Boor).

A polynomial global basis (chebyshev, legendre, taylor) has no change of basis; it gets its
exact three-term recurrence instead (``recurrence=[[a_0, c_0], ...]``, kancc.symbolic).
"""

from __future__ import annotations

from kancc import symbolic
from kancc.ir import (
    GLOBAL_KINDS,
    Graph,
    Op,
    Trait,
    extended_knots,
    grid_points,
    has_trait,
    is_per_input,
)

from .options import NoOptions
from .pass_types import Pass, PassResult


def stencil_attrs(op: Op) -> dict[str, object]:
    order = op.attr("order")
    knots = extended_knots(grid_points(op.attr_dict), order)
    exact = symbolic.relu_stencil_bands(order, knots)
    bands = [tuple(map(symbolic.as_fraction, row)) for row in exact]
    if all(row == bands[0] for row in bands):
        scale = bands[0][0]
        return {"stencil": tuple(v / scale for v in bands[0]), "stencil_scale": scale}
    return {"stencil": tuple(bands), "stencil_scale": 1}


def derived_attrs(op: Op) -> dict[str, object]:
    kind = op.attr("kind")
    if is_per_input(op.attr_dict):
        return {}  # one A per input: such layers are evaluated by de Boor (lower-basis)
    if kind == "bspline":
        return stencil_attrs(op)
    if kind in GLOBAL_KINDS and kind != "fourier":
        return {"recurrence": symbolic.recurrence(kind, op.attr("order"))}
    return {}


def derive_stencils(graph: Graph, options: NoOptions) -> PassResult:
    ops = [op.with_attrs(**derived_attrs(op)) if has_trait(op, Trait.FORWARD_BASIS) else op
           for op in graph.ops]
    return PassResult(graph.with_ops(ops))


PASS = Pass("derive-stencils", "attach the exact B-spline -> ReLU^(r-1) stencil A^[r]",
            derive_stencils)
