"""dce and canonicalize: housekeeping that keeps dumps small and stable.

dce drops ops whose results reach no output (all kan ops are pure). canonicalize renames
results to %0, %1, ... in op order and puts attributes in the dialect's order, so equal
programs print equal text whatever path produced them.
"""

from __future__ import annotations

from dataclasses import replace

from kancc.ir import Graph, Op, Param, Value
from kancc.ir.analysis import live_ops
from kancc.ir.dialect import canonical_attr_order

from .options import NoOptions
from .pass_types import Pass, PassResult


def dce(graph: Graph, options: NoOptions) -> PassResult:
    live = live_ops(graph)
    return PassResult(graph.with_ops([op for i, op in enumerate(graph.ops) if i in live]))


def canonicalize(graph: Graph, options: NoOptions) -> PassResult:
    renamed: dict[str, Value] = {v.name: v for v in graph.inputs}
    input_names = set(renamed)
    counter = 0
    ops = []
    for op in graph.ops:
        results = []
        for r in op.results:
            while str(counter) in input_names:
                counter += 1
            renamed[r.name] = Value(str(counter), r.type)
            results.append(renamed[r.name])
            counter += 1
        operands = tuple(o if isinstance(o, Param) else renamed[o.name] for o in op.operands)
        ops.append(canonical_attr_order(Op(op.name, operands, op.attrs, tuple(results))))
    outputs = tuple(renamed[v.name] for v in graph.outputs)
    return PassResult(replace(graph, ops=tuple(ops), outputs=outputs))


DCE = Pass("dce", "remove ops whose results reach no output", dce)
CANONICALIZE = Pass("canonicalize", "number values in order, order attributes canonically",
                    canonicalize)
