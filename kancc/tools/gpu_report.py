"""``kancc analyze SPEC --gpu NAME --batch B``: per Triton kernel of the training program,
the strategy the schedule pass chose for that GPU and batch, its HBM bytes and FLOPs, the
roofline cost model's predicted time and what binds it, the other strategy's time, and the
dense GEMM of the same contraction (kancc/passes/cost_model.py states the assumptions).
Predictions only: no GPU is needed, and none is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.errors import KanccError
from kancc.ir.schedule_attrs import SCHEDULED, layer_shape, pow2_at_least, schedule_of
from kancc.passes import PIPELINES
from kancc.passes.cost_model import GPUS, Layer, dense_gemm_seconds, estimate
from kancc.passes.schedule import MAX_BATCH
from kancc.program import compile as compile_spec
from kancc.spec import Spec

OTHER = {"gather": "dot", "dot": "gather"}


@dataclass(frozen=True)
class KernelRow:
    kind: str  # layer, vjp_input, vjp_coef
    op: int  # its op's index in the training graph
    shape: str
    strategy: str
    programs: int
    megabytes: float
    gflop: float
    micros: float
    bound: str
    other_micros: float
    gemm_micros: float

    def line(self) -> str:
        kernel = f"{self.kind}_{self.op}"  # the emitted kernel's name
        return (f"{kernel:<14} {self.shape:<16} {self.strategy:<9}{self.programs:>9} "
                f"{self.megabytes:9.3f} {self.gflop:8.4f} {self.micros:10.2f} "
                f"{self.bound:<7} {self.other_micros:10.2f} {self.gemm_micros:10.2f}")


HEADER = (f"{'kernel':<14} {'in x out x n_b':<16} {'strategy':<9}{'programs':>9} {'HBM MB':>9} "
          f"{'GFLOP':>8} "
          f"{'pred us':>10} {'bound':<7} {'other us':>10} {'GEMM us':>10}")


def kernel_rows(spec: Spec, gpu: str, batch: int) -> tuple[list[KernelRow], list[str]]:
    """One row per fused-layer kernel of the training program, and notes on the ops the
    model does not cover (Tucker layers)."""
    if gpu not in GPUS:
        raise KanccError(f"--gpu: unknown GPU {gpu!r}; choose one of {', '.join(GPUS)}")
    if not 1 <= batch <= MAX_BATCH:
        raise KanccError(f"--batch must be an integer in 1..{MAX_BATCH}, got {batch}")
    pipeline = PIPELINES["training"].replace("schedule", f"schedule{{gpu={gpu},batch={batch}}}")
    graph = compile_spec(spec, "numpy", training=True, passes=pipeline).ir
    dtype = graph.dtype
    rows, notes = [], []
    for index, op in enumerate(graph.ops):
        if op.name in ("kan.tucker_layer", "kan.vjp_tucker"):
            notes.append(f"op {index} ({op.name}): Tucker kernels are not in the cost model")
        if op.name not in SCHEDULED:
            continue
        kind = SCHEDULED[op.name]
        n_in, n_out, nb = layer_shape(op)
        layer = Layer(batch, n_in, n_out, nb, op.attr("order"), dtype)
        strategy = schedule_of(op, kind)[0]
        chosen = estimate(GPUS[gpu], layer, kind, strategy)
        other = estimate(GPUS[gpu], layer, kind, OTHER[strategy])
        rows.append(KernelRow(kind, index, f"{n_in}x{n_out}x{nb}", strategy,
                              chosen.programs, chosen.bytes / 1e6, chosen.flops / 1e9,
                              chosen.seconds * 1e6, chosen.bound, other.seconds * 1e6,
                              dense_gemm_seconds(GPUS[gpu], layer, kind) * 1e6))
    return rows, notes


@dataclass(frozen=True)
class Totals:
    """Predicted microseconds of a forward and of a training step, and their dense GEMMs."""

    forward: float
    step: float
    gemm_forward: float
    gemm_step: float


def totals(rows: list[KernelRow]) -> Totals:
    forward = [r for r in rows if r.kind == "layer"]
    return Totals(sum(r.micros for r in forward), sum(r.micros for r in rows),
                  sum(r.gemm_micros for r in forward), sum(r.gemm_micros for r in rows))


def gpu_report(spec: Spec, gpu: str, batch: int) -> str:
    rows, notes = kernel_rows(spec, gpu, batch)
    total = totals(rows)
    lines = [f"{spec.name}: predicted {gpu} times at batch {batch}, {spec.dtype} (roofline "
             "cost model; no launch latency; a prediction until a GPU measures it)",
             f"strategies as the schedule pass chooses them for batches up to "
             f"{pow2_at_least(batch)} (its bucket); 'other us': the other strategy's time",
             HEADER, *(r.line() for r in rows), ""]
    for title, predicted, gemm in (("forward", total.forward, total.gemm_forward),
                                   ("training step", total.step, total.gemm_step)):
        ratio = f"; {predicted / gemm:.2f}x the dense-GEMM roofline" if gemm > 0 else ""
        lines.append(f"{title}: {predicted:.2f} us predicted, dense GEMM {gemm:.2f} us{ratio}")
    return "\n".join(lines + notes) + "\n"
