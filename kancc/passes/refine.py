"""refine: split every grid cell of every layer into ``factor`` equal cells (the multilevel
paper, 4.2).

    %0 = kan.layer %x, @layers.0.coef {grid=4, ...}    ==>    {grid=8, ...}, @layers.0.coef
                                                              resized to n_b = 8 + r - 1

The fine grid contains the coarse one, so the coarse spline space is nested in the fine one
and the param map u_fine = P u_coarse (``symbolic.prolongation``, exact rationals applied in
float64) keeps every layer's function, hence the whole model, unchanged on its domain:
g_coarse(x; u) == g_fine(x; P u) to rounding (Definition 1, a properly nested hierarchy).
Uniform grids stay uniform; listed (non-uniform) grid points get the midpoints (factor 2),
or the (factor - 1) equally spaced points, of each cell; per-input knot vectors are refined
input by input between t_0 and t_n, their exterior knots kept (so the vectors nest). It
works on the spec view (kan.layer, before expand-layers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kancc.errors import PassError
from kancc.ir import (
    Graph,
    Op,
    Operand,
    Param,
    TensorType,
    extended_rows,
    grid_points,
    input_knots,
    is_per_input,
    n_basis,
)
from kancc.numerics.basis_matrices import prolong_coef, prolongation_of_rows
from kancc.symbolic import refine_knot_vector, refine_points

from .options import IntegerRange, option
from .pass_types import Params, Pass, PassResult
from .spec_view import spec_view_layers


@dataclass(frozen=True)
class RefineOptions:
    factor: int = option(2, IntegerRange(2, 16), "every cell becomes this many equal cells")


def _refined_attrs(op: Op, factor: int) -> dict[str, object]:
    if op.attr("knots") == "uniform":
        return {"grid": int(op.attr("grid")) * factor}
    if is_per_input(op.attr_dict):
        rows = tuple(refine_knot_vector(row, op.attr("order"), factor)
                     for row in input_knots(op.attr_dict))
        return {"grid": int(op.attr("grid")) * factor, "knots": rows}
    points = refine_points(grid_points(op.attr_dict), factor)
    return {"grid": len(points) - 1, "knots": points}


def refine(graph: Graph, options: RefineOptions) -> PassResult:
    layers = spec_view_layers(graph, "refine")
    if not layers:
        raise PassError("refine: the graph has no kan.layer with a grid to refine")
    new_params: dict[str, Param] = {}
    refined_layers: dict[int, Op] = {}  # by id of the spec-view op
    matrices: dict[str, np.ndarray] = {}
    for op, coef in layers:
        kind = op.attr("kind")
        if kind != "bspline":
            hint = "; refine before to-relu-basis" if kind == "relu" else ""
            raise PassError(f"refine does not apply to kan.layer %{op.result.name}, kind "
                            f"{kind}, which has no B-spline grid to refine{hint}")
        order = op.attr("order")
        refined = op.with_attrs(**_refined_attrs(op, options.factor))
        shape = (*coef.type.shape[:2], n_basis(order, refined.attr("grid")))
        new_params[coef.name] = Param(coef.name, TensorType(coef.type.dtype, shape))
        refined_layers[id(op)] = refined
        matrices[coef.name] = prolongation_of_rows(order, extended_rows(op.attr_dict),
                                                   extended_rows(refined.attr_dict))

    def swap(operand: Operand) -> Operand:
        return new_params.get(operand.name, operand) if isinstance(operand, Param) else operand

    ops = tuple(Op(op.name, tuple(swap(o) for o in op.operands),
                   refined_layers.get(id(op), op).attrs, op.results) for op in graph.ops)
    params = tuple(new_params.get(p.name, p) for p in graph.params)

    def param_map(values: Params) -> Params:
        return {name: prolong_coef(v, matrices[name]) if name in matrices else v
                for name, v in values.items()}

    return PassResult(Graph(graph.name, graph.inputs, params, ops, graph.outputs), param_map)


PASS = Pass("refine", "split every grid cell into `factor` cells; coef -> P coef (exact)",
            refine, RefineOptions)
