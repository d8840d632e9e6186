"""fuse: kan.basis + kan.contract -> kan.fused_layer (math view -> kernel view).

A basis tensor read only by one contraction need never exist: the fused op evaluates the r
nonzero basis functions of each input locally and contracts them with the coefficients
(DESIGN.md 4). A basis read elsewhere stays unfused.
"""

from __future__ import annotations

from kancc.errors import PassError
from kancc.ir import Graph, Op
from kancc.ir.analysis import users

from .options import NoOptions
from .pass_types import Pass, PassResult


def fuse(graph: Graph, options: NoOptions) -> PassResult:
    readers = users(graph)
    producer = {r.name: op for op in graph.ops for r in op.results}
    fused_away: set[str] = set()
    replacement: dict[int, Op] = {}
    for index, op in enumerate(graph.ops):
        if op.name != "kan.contract":
            continue
        basis_value, coef = op.operands
        basis_op = producer.get(basis_value.name)
        if basis_op is None or basis_op.name != "kan.basis":
            continue
        if readers[basis_value.name] != [index]:
            continue
        if not basis_op.has_attr("eval"):
            raise PassError(f"kan.basis %{basis_value.name} has no eval attribute; "
                            "run lower-basis before fuse")
        replacement[index] = Op("kan.fused_layer", (basis_op.operands[0], coef), basis_op.attrs,
                                op.results)
        fused_away.add(basis_value.name)
    ops = [replacement.get(i, op) for i, op in enumerate(graph.ops)
           if not (op.name == "kan.basis" and op.result.name in fused_away)]
    return PassResult(graph.with_ops(ops))


PASS = Pass("fuse", "fuse kan.basis + kan.contract into kan.fused_layer", fuse)
