"""expand-layers: kan.layer -> kan.basis + kan.contract (spec view -> math view).

    %0 = kan.layer %x, @layers.0.coef {basis}        %0_basis = kan.basis %x {basis}
                                              ==>    %0 = kan.contract %0_basis, @layers.0.coef
"""

from __future__ import annotations

from typing import Mapping

from kancc.ir import Graph, Op, TensorType, Value, n_basis

from .pass_types import Pass, PassResult


def expand_layers(graph: Graph, options: Mapping[str, str]) -> PassResult:
    ops: list[Op] = []
    for op in graph.ops:
        if op.name != "kan.layer":
            ops.append(op)
            continue
        x, coef = op.operands
        nb = n_basis(op.attr("order"), op.attr("grid"))
        basis = Value(f"{op.result.name}_basis",
                      TensorType(x.type.dtype, (*x.type.shape, nb)))
        ops.append(Op("kan.basis", (x,), op.attrs, (basis,)))
        ops.append(Op("kan.contract", (basis, coef), (), op.results))
    return PassResult(graph.with_ops(ops))


PASS = Pass("expand-layers", "split each kan.layer into kan.basis + kan.contract", expand_layers)
