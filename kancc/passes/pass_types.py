"""What a pass is: a named, pure function Graph -> (Graph, param map).

A *param map* carries trained weights through a rewrite that changes the parameterization
(refine: u_f = P u_c; to-relu-basis: w = A^T u). Passes that keep the parameters return
``identity``; a pass whose map is invertible also returns the inverse, so a program's
parameters can be read back at the spec level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kancc.ir import Graph, Op

from .options import NoOptions

Params = dict[str, np.ndarray]
ParamMap = Callable[[Params], Params]


def identity(params: Params) -> Params:
    return dict(params)


@dataclass(frozen=True)
class PassResult:
    """``inverse`` undoes ``param_map``; None (the default) means not invertible, e.g.
    refine's prolongation. A pass that keeps the parameters (``param_map`` is
    ``identity``) needs no inverse."""

    graph: Graph
    param_map: ParamMap = identity
    inverse: ParamMap | None = None


@dataclass(frozen=True)
class Pass:
    """A registered pass: ``run(graph, options)`` with ``options`` an instance of the
    pass's ``options`` class (typed fields, ``kancc.passes.options``)."""

    name: str
    summary: str
    run: Callable[[Graph, Any], PassResult]
    options: type = NoOptions


def rewrite_ops(graph: Graph, rules: Mapping[str, Callable[[Op], list[Op]]]) -> Graph:
    """The graph with every op that has a rule (by op name) replaced by what the rule
    returns; other ops are kept as they are."""
    ops: list[Op] = []
    for op in graph.ops:
        rule = rules.get(op.name)
        ops += [op] if rule is None else rule(op)
    return graph.with_ops(ops)
