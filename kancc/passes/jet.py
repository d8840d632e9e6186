"""jet: the model's graph -> its jet graph, every value carrying its input derivatives.

    %x_jet = kan.jet_seed %x {jet=2}                              : f64[B,2,5]
    %0 = kan.jet_layer %x_jet, @layers.0.coef {basis, jet=2}      : f64[B,5,5]
    %1 = kan.jet_layer %0, @layers.1.coef {basis, jet=2}          : f64[B,1,5]

A jet value of a [B, w] value is [B, w, 1 + jet * d] for a model of d inputs z_1..z_d:
channel 0 the value, channels 1..d the first derivatives d/dz_k, and for jet=2 channels
d+1..2d the diagonal second derivatives d2/dz_k2 (mixed derivatives are not carried). The
seed is x itself, the identity and zeros. For a layer h_q = sum_p phi_qp(x_p):

    dh_q/dz_k    = sum_p phi'_qp(x_p) dx_p/dz_k
    d2h_q/dz_k2  = sum_p phi''_qp(x_p) (dx_p/dz_k)^2 + phi'_qp(x_p) d2x_p/dz_k2

phi' and phi'' are the same coefficients contracted with B' and B'', whose exact per-cell
pieces lower-basis attaches (dpieces, d2pieces). The base branch is the same rule with
silu; kan.affine scales every channel and shifts only the value; kan.add adds channelwise.

Runs on the spec view of an inference graph (before expand-layers): the op table
``JET_OPS`` names every op it can carry derivatives through; any other op is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kancc.errors import PassError
from kancc.ir import Graph, Op, TensorType, Value

from .options import IntegerRange, option
from .pass_types import Pass, PassResult

JET_OPS = {
    "kan.layer": "kan.jet_layer",
    "kan.tucker_layer": "kan.jet_tucker_layer",
    "kan.base_layer": "kan.jet_base_layer",
    "kan.affine": "kan.jet_affine",
    "kan.add": "kan.add",
}


@dataclass(frozen=True)
class JetOptions:
    order: int = option(2, IntegerRange(1, 2),
                        "the derivatives carried: 1 (gradient) or 2 (and the diagonal second "
                        "derivatives)")


def jet_type(value: TensorType, channels: int) -> TensorType:
    return TensorType(value.dtype, (*value.shape, channels))


def jet(graph: Graph, options: JetOptions) -> PassResult:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise PassError("jet runs on a model's inference graph (one input x, one output); "
                        f"@{graph.name} has {len(graph.inputs)} inputs and "
                        f"{len(graph.outputs)} outputs")
    x = graph.inputs[0]
    order = options.order
    width = x.type.shape[1] if x.type.rank == 2 else None
    if not isinstance(width, int):
        raise PassError(f"jet needs a model input of type [B, d], got %{x.name}: {x.type}")
    channels = 1 + order * width
    seed = Value(f"{x.name}_jet", jet_type(x.type, channels))
    ops = [Op("kan.jet_seed", (x,), (("jet", order),), (seed,))]
    jets: dict[str, Value] = {x.name: seed}
    for index, op in enumerate(graph.ops):
        if op.name not in JET_OPS:
            raise PassError(f"jet cannot carry derivatives through op {index} ({op.name} "
                            f"%{op.results[0].name}); it runs on the spec view of an inference "
                            f"graph (ops: {', '.join(JET_OPS)}), before expand-layers")
        operands = tuple(jets[o.name] if isinstance(o, Value) else o for o in op.operands)
        results = tuple(Value(r.name, jet_type(r.type, channels)) for r in op.results)
        attrs = op.attrs if op.name == "kan.add" else op.attrs + (("jet", order),)
        ops.append(Op(JET_OPS[op.name], operands, attrs, results))
        jets.update(zip((r.name for r in op.results), results))
    outputs = tuple(jets[v.name] for v in graph.outputs)
    return PassResult(replace(graph, ops=tuple(ops), outputs=outputs))


PASS = Pass("jet", "carry input derivatives through the model: every value becomes a jet",
            jet, JetOptions)
