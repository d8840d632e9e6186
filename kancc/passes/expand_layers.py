"""expand-layers: kan.layer -> kan.basis + kan.contract (spec view -> math view).

    %0 = kan.layer %x, @layers.0.coef {basis}        %0_basis = kan.basis %x {basis}
                                              ==>    %0 = kan.contract %0_basis, @layers.0.coef
"""

from __future__ import annotations

from kancc.ir import Graph, Op, TensorType, Value, n_basis

from .options import NoOptions
from .pass_types import Pass, PassResult, rewrite_ops


def split_layer(op: Op) -> list[Op]:
    x, coef = op.operands
    nb = n_basis(op.attr("order"), op.attr("grid"))
    basis = Value(f"{op.result.name}_basis", TensorType(x.type.dtype, (*x.type.shape, nb)))
    return [Op("kan.basis", (x,), op.attrs, (basis,)),
            Op("kan.contract", (basis, coef), (), op.results)]


def expand_layers(graph: Graph, options: NoOptions) -> PassResult:
    return PassResult(rewrite_ops(graph, {"kan.layer": split_layer}))


PASS = Pass("expand-layers", "split each kan.layer into kan.basis + kan.contract", expand_layers)
