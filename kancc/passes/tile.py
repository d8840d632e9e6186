"""tile: fix the contraction strategy of each fused layer's Triton kernels (option
``strategy``), overriding the Triton backend's cost-model choice.

  dot     the dense basis tile contracted with tl.dot on tensor cores (wide layers, small
          grids: backends/triton/dot_kernels.py)
  gather  r coefficient loads per (row, input, output) on CUDA cores (narrow layers, large
          grids: backends/triton/kernels.py)

Without this pass the ops carry no ``tile`` attribute and the Triton emitter asks its cost
model (DESIGN.md 5), per kernel. The NumPy backend ignores the attribute. Run it after fuse;
autodiff copies a layer's attribute to its vjp ops, and running it after autodiff sets them
all alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.ir import Graph

from .options import Choice, option
from .pass_types import Pass, PassResult

TILED_OPS = ("kan.fused_layer", "kan.vjp_input", "kan.vjp_coef")


@dataclass(frozen=True)
class TileOptions:
    strategy: str = option("dot", Choice(("dot", "gather")),
                           "how fused layers contract on the GPU")


def set_tile(graph: Graph, options: TileOptions) -> PassResult:
    ops = []
    for op in graph.ops:
        if op.name in TILED_OPS:
            op = op.with_attrs(tile=options.strategy)
        ops.append(op)
    return PassResult(graph.with_ops(ops))


PASS = Pass("tile", "fix the Triton contraction strategy (dot or gather) of fused layers",
            set_tile, TileOptions)
