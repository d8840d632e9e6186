"""Dataflow analyses on a networkx view of a Graph (built on demand; the op tuple stays the
canonical storage).

Nodes: ``("input", name)`` for graph inputs, the op index (int) for each op, and ``"return"``.
An edge u -> v carries the name of a value that v reads and u defines.
"""

from __future__ import annotations

import networkx as nx

from .graph import Graph, Value

RETURN = "return"


def dataflow(graph: Graph) -> nx.MultiDiGraph:
    """A multigraph: an op that reads a value twice has two edges from its producer."""
    g = nx.MultiDiGraph()
    producer: dict[str, object] = {}
    for v in graph.inputs:
        producer[v.name] = ("input", v.name)
        g.add_node(producer[v.name])
    for index, op in enumerate(graph.ops):
        g.add_node(index)
        for operand in op.operands:
            if isinstance(operand, Value):
                g.add_edge(producer[operand.name], index, value=operand.name)
        for r in op.results:
            producer[r.name] = index
    g.add_node(RETURN)
    for v in graph.outputs:
        g.add_edge(producer[v.name], RETURN, value=v.name)
    return g


def live_ops(graph: Graph) -> set[int]:
    """Indices of the ops whose results reach an output."""
    return {n for n in nx.ancestors(dataflow(graph), RETURN) if isinstance(n, int)}


def users(graph: Graph) -> dict[str, list[object]]:
    """For each value name: the op indices (and ``"return"``) that read it, in order."""
    g = dataflow(graph)
    result: dict[str, list[object]] = {v.name: [] for v in graph.values()}
    for _, target, data in sorted(g.edges(data=True), key=lambda edge: _order(edge[1])):
        result[data["value"]].append(target)
    return result


def _order(node: object) -> float:
    return float("inf") if node == RETURN else float(node)  # type: ignore[arg-type]
