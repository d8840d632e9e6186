"""What a pass is: a named, pure function Graph -> (Graph, param map).

A *param map* carries trained weights through a rewrite that changes the parameterization
(refine: u_f = P u_c; to-relu-basis: w = A^T u). Passes that keep the parameters return
``identity``; a pass whose map is invertible also returns the inverse, so a program's
parameters can be read back at the spec level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from kancc.ir import Graph

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


FREE = "..."  # in a pass option's allowed values: any other value, checked by the pass


@dataclass(frozen=True)
class Pass:
    """A registered pass. ``options`` lists (name, allowed values); the first is the default.
    Allowed values ending with ``FREE`` admit any value, which the pass itself checks."""

    name: str
    summary: str
    run: Callable[[Graph, Mapping[str, str]], PassResult]
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def default_options(self) -> dict[str, str]:
        return {name: values[0] for name, values in self.options}
