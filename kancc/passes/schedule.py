"""schedule: choose how each fused-layer kernel runs on a GPU (strategy and tile).

For every kan.fused_layer, kan.vjp_input and kan.vjp_coef it sets the schedule attributes
of ir/schedule_attrs.py: ``strategy`` (gather | dot) and ``tile`` [rows, inputs, outputs, basis].
Options:

  strategy  auto (default): the one the cost model predicts faster (cost_model.py), with
            the tile rules the compile check proved spill-free; gather or dot: forced
  gpu       H100 (default), H200, A100: the hardware table the cost model reads
  batch     the batch the prediction assumes (default 256), rounded up to a power of two
            (the bucket), so that nearby batches schedule alike

The attributes describe the work, not a target: the Triton backend reads them, the NumPy
backend ignores them, and they show in dumps. Runs after fuse (and after autodiff in a
training pipeline: autodiff does not copy a layer's schedule to its vjp ops, whose kernels
differ).
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.ir import Graph
from kancc.ir.schedule_attrs import SCHEDULED, default_tile, layer_shape, pow2_at_least

from .cost_model import GPUS, Layer, choose
from .options import Choice, IntegerRange, option
from .pass_types import Pass, PassResult

MAX_BATCH = 1 << 24


@dataclass(frozen=True)
class ScheduleOptions:
    strategy: str = option("auto", Choice(("auto", "gather", "dot")),
                           "how fused layers contract on a GPU (auto: by the cost model)")
    gpu: str = option("H100", Choice(tuple(GPUS)), "the GPU the cost model assumes")
    batch: int = option(256, IntegerRange(1, MAX_BATCH),
                        "the batch the cost model assumes (rounded up to a power of two)")


def schedule(graph: Graph, options: ScheduleOptions) -> PassResult:
    ops = []
    for op in graph.ops:
        if op.name in SCHEDULED:
            strategy = options.strategy
            if strategy == "auto":
                n_in, n_out, nb = layer_shape(op)
                layer = Layer(pow2_at_least(options.batch), n_in, n_out, nb,
                              op.attr("order"), graph.dtype)
                strategy = choose(layer, SCHEDULED[op.name], options.gpu)
            op = op.with_attrs(strategy=strategy,
                               tile=default_tile(op, SCHEDULED[op.name], strategy))
        ops.append(op)
    return PassResult(graph.with_ops(ops))


PASS = Pass("schedule", "choose each fused-layer kernel's GPU strategy and tile (cost model)",
            schedule, ScheduleOptions)
