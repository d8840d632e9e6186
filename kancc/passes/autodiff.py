"""autodiff: a loss graph -> a training graph (reverse mode, on the kernel view).

Input: a graph whose one output is a scalar loss built from ``kan.loss`` and ``kan.penalty``
terms summed by ``kan.add``, over ``kan.fused_layer`` ops (run fuse first). Output: the same
forward ops, then the reverse sweep, returning (loss, d/d param for every trainable param in
declaration order[, d/dx]) -- the training-graph convention the verifier checks
(ir/dialect.py). A frozen parameter gets no gradient: its layer emits only kan.vjp_input.
A kan.add inside the model (LoTRA: frozen layer + adapter) passes its cotangent to both terms;
a kan.affine (standardization) scales it: dx = kan.affine(g) with the same scale, shift 0;
a kan.base_layer (the base branch) gives kan.vjp_base_weight and kan.vjp_base_input.

Each fused layer y = layer(x, coef) with cotangent g contributes

    kan.vjp_coef  %x, @coef, %g   dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p])
    kan.vjp_input %x, @coef, %g   dx[b, p] = sum_q g[b, q] sum_i coef[p, q, i] B'_i(x[b, p])

Both recompute the local basis from x, so nothing of size [batch, in, n_b] is kept between
the forward and the backward sweep. A Tucker layer y = tucker_layer(x, core, U1, U2, U3)
contributes one op with four or five results:

    kan.vjp_tucker %x, @core, @u1, @u2, @u3, %g   -> dcore, dU1, dU2, dU3[, dx]

For eval=horner the pass attaches ``dpieces``: the exact per-cell pieces of B' from the
symbolic layer (difference of lower-order splines). Cotangents reaching one value from
several uses are summed with kan.add.

A physics loss (kancc.physics) reverses its jets the same way: a kan.jet_layer gives
kan.vjp_jet_coef and kan.vjp_jet_input, the latter with the pieces of the next derivative
level (d2pieces, or d3pieces for a jet of order 2); a kan.jet_channel's cotangent is placed
in its jet by kan.vjp_jet_channel; kan.mul and kan.scale are elementwise; kan.jet_seed
stops the sweep (the collocation points are data).

The reverse rules are a table keyed by op name (``VJP_RULES`` for the ops of the model,
``LOSS_RULES`` for the loss terms); an op with no rule cannot be differentiated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kancc.errors import PassError
from kancc.ir import (
    PIECES_OF_LEVEL,
    Attr,
    Graph,
    Op,
    Operand,
    Param,
    Trait,
    Value,
    has_trait,
)
from kancc.ir.schedule_attrs import SCHEDULE_KEYS

from .lower_basis import derivative_pieces
from .options import Choice, option
from .pass_types import Pass, PassResult

VjpRule = Callable[["_Sweep", Op, Value], None]


class _Sweep:
    """Emits the reverse ops; ``cotangent`` maps a value (or @param) name to its gradient."""

    def __init__(self, graph: Graph, want_input: bool) -> None:
        self.graph, self.want_input = graph, want_input
        self.ops: list[Op] = []
        self.cotangent: dict[str, Value] = {}
        self.taken = {v.name for v in graph.inputs} | {r.name for op in graph.ops
                                                       for r in op.results}
        self.producer = {r.name: op for op in graph.ops for r in op.results}
        self.counter = 0

    def fresh(self, like: Operand) -> Value:
        """A new value named d1, d2, ... (canonicalize renumbers them later)."""
        self.counter += 1
        while f"d{self.counter}" in self.taken:
            self.counter += 1
        return Value(f"d{self.counter}", like.type)

    def emit(self, name: str, operands: tuple[Operand, ...], attrs: Mapping[str, Attr],
             like: Operand) -> Value:
        (result,) = self.emit_many(name, operands, attrs, (like,))
        return result

    def emit_many(self, name: str, operands: tuple[Operand, ...], attrs: Mapping[str, Attr],
                  likes: tuple[Operand, ...]) -> tuple[Value, ...]:
        results = tuple(self.fresh(like) for like in likes)
        self.ops.append(Op.make(name, operands, dict(attrs), results))
        return results

    def accumulate(self, key: str, grad: Value) -> None:
        if key in self.cotangent:
            total = self.cotangent[key]
            grad = self.emit("kan.add", (total, grad), {}, total)
        self.cotangent[key] = grad

    def needs_dx(self, x: Operand) -> bool:
        """d/dx of a layer's input: always inside the model; of the model input (or of the
        jet seeded from it) on request."""
        if self.want_input:
            return True
        seed = self.producer.get(x.name)
        return x not in self.graph.inputs and (seed is None or seed.name != "kan.jet_seed")

    def loss_terms(self, value: Operand, producer: dict[str, Op]) -> list[Op]:
        """The loss-term ops (kan.loss, kan.penalty) summed (through kan.add) into ``value``."""
        op = producer.get(value.name)
        if op is None or not (has_trait(op, Trait.LOSS_TERM) or op.name == "kan.add"):
            what = "a graph input" if op is None else op.name
            raise PassError(f"autodiff: the loss %{value.name} must be a sum of kan.loss and "
                            f"kan.penalty terms; it reaches {what}")
        if op.name != "kan.add":
            return [op]
        return [term for operand in op.operands for term in self.loss_terms(operand, producer)]

    def run(self) -> Graph:
        graph = self.graph
        if len(graph.outputs) != 1 or graph.outputs[0].type.rank != 0:
            raise PassError("autodiff needs a loss graph: one scalar output (compile with "
                            "training=True, which adds the loss from the spec's [train] table)")
        loss_ops = self.loss_terms(graph.outputs[0], self.producer)
        for term in loss_ops:
            LOSS_RULES[term.name](self, term)
        for index in range(len(graph.ops) - 1, -1, -1):
            op = graph.ops[index]
            if has_trait(op, Trait.LOSS_TERM) or (op.name == "kan.add" and
                                                  op.result.type.rank == 0):
                continue  # loss terms and their sum: handled above
            rule = VJP_RULES.get(op.name)
            if rule is None:
                raise PassError(f"autodiff cannot differentiate op {index} ({op.name} "
                                f"%{op.results[0].name}); run fuse first (the training "
                                "pipeline does)")
            g = self.cotangent.get(op.result.name)
            if g is not None:
                rule(self, op, g)
        return self.finish([graph.outputs[0]])

    def finish(self, outputs: list[Value]) -> Graph:
        graph = self.graph
        for param in graph.trainable_params:
            if "@" + param.name not in self.cotangent:
                raise PassError(f"autodiff: parameter @{param.name} does not affect the loss")
            outputs.append(self.cotangent["@" + param.name])
        if self.want_input:
            x = graph.inputs[0]
            if x.name not in self.cotangent:
                raise PassError(f"autodiff: the loss does not depend on %{x.name}")
            outputs.append(self.cotangent[x.name])
        return Graph(graph.name, graph.inputs, graph.params, graph.ops + tuple(self.ops),
                     tuple(outputs))


def _loss_vjp(sweep: _Sweep, term: Op) -> None:
    """kan.loss: its gradient with respect to the prediction."""
    pred = term.operands[0]
    sweep.accumulate(pred.name, sweep.emit("kan.loss_grad", term.operands, term.attr_dict,
                                           pred))


def _penalty_vjp(sweep: _Sweep, term: Op) -> None:
    """kan.penalty: its gradient with respect to the penalized parameter."""
    (param,) = term.operands
    sweep.accumulate("@" + param.name, sweep.emit("kan.penalty_grad", term.operands,
                                                  term.attr_dict, param))


def _layer_vjp(coef_op: str, input_op: str) -> VjpRule:
    """The reverse of a fused layer (kan.vjp_coef, kan.vjp_input) or of a jet layer
    (kan.vjp_jet_coef, kan.vjp_jet_input): the coefficient gradient for trainable
    coefficients, the input's cotangent where it is needed, which reads the next derivative
    of the basis (horner: dpieces; for a jet of order j the pieces of level j + 1). The
    layer's basis attributes, not its schedule (each kernel is scheduled on its own)."""
    def rule(sweep: _Sweep, op: Op, g: Value) -> None:
        x, coef = op.operands
        assert isinstance(coef, Param)
        basis = {k: v for k, v in op.attr_dict.items() if k not in SCHEDULE_KEYS}
        if not coef.frozen:
            sweep.accumulate("@" + coef.name, sweep.emit(coef_op, (x, coef, g), basis, coef))
        if sweep.needs_dx(x):
            attrs = dict(basis)
            if attrs["eval"] == "horner":
                level = op.attr("jet", 0) + 1
                attrs[PIECES_OF_LEVEL[level]] = derivative_pieces(op, level)
            sweep.accumulate(x.name, sweep.emit(input_op, (x, coef, g), attrs, x))
    return rule


def _tucker_layer_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    """One kan.vjp_tucker with the four factor gradients and, where needed, d/dx."""
    x, *factors = op.operands
    want_dx = sweep.needs_dx(x)
    attrs = dict(op.attr_dict)
    if want_dx and attrs["eval"] == "horner":
        attrs["dpieces"] = derivative_pieces(op)
    likes = tuple(factors) + ((x,) if want_dx else ())
    grads = sweep.emit_many("kan.vjp_tucker", (*op.operands, g), attrs, likes)
    for factor, grad in zip(factors, grads):
        sweep.accumulate("@" + factor.name, grad)
    if want_dx:
        sweep.accumulate(x.name, grads[-1])


def _add_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    """A sum inside the model (LoTRA's frozen layer + adapter): g reaches both terms."""
    for term in op.operands:
        sweep.accumulate(term.name, g)


def _affine_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    """y = x * scale + shift: dx = g * scale, the same op without its shift."""
    (x,) = op.operands
    if sweep.needs_dx(x):
        attrs = {"scale": op.attr("scale"), "shift": (0,) * len(op.attr("shift"))}
        sweep.accumulate(x.name, sweep.emit("kan.affine", (g,), attrs, x))


def _base_vjp(weight_op: str, input_op: str) -> VjpRule:
    """The reverse of the base branch y = fn(x) @ w (or of its jet): dw for a trainable w,
    the input's cotangent where it is needed."""
    def rule(sweep: _Sweep, op: Op, g: Value) -> None:
        x, w = op.operands
        assert isinstance(w, Param)
        if not w.frozen:
            sweep.accumulate("@" + w.name, sweep.emit(weight_op, (x, w, g), op.attr_dict, w))
        if sweep.needs_dx(x):
            sweep.accumulate(x.name, sweep.emit(input_op, (x, w, g), op.attr_dict, x))
    return rule


def _jet_affine_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    """Every channel scaled: the cotangent is scaled alike (shift 0)."""
    (jet,) = op.operands
    if sweep.needs_dx(jet):
        attrs = {**op.attr_dict, "shift": (0,) * len(op.attr("shift"))}
        sweep.accumulate(jet.name, sweep.emit("kan.jet_affine", (g,), attrs, jet))


def _jet_seed_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    raise PassError("autodiff{wrt=params+input} cannot differentiate through kan.jet_seed: "
                    "d/dx of a loss of input derivatives is not built")


def _jet_channel_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    (jet,) = op.operands
    sweep.accumulate(jet.name, sweep.emit("kan.vjp_jet_channel", (jet, g), op.attr_dict, jet))


def _mul_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    """d(a b) = g b da + g a db (operands that are data get no cotangent)."""
    a, b = op.operands
    for this, other in ((a, b), (b, a)):
        if sweep.needs_dx(this):
            sweep.accumulate(this.name, sweep.emit("kan.mul", (g, other), {}, this))


def _scale_vjp(sweep: _Sweep, op: Op, g: Value) -> None:
    (a,) = op.operands
    sweep.accumulate(a.name, sweep.emit("kan.scale", (g,), op.attr_dict, a))


LOSS_RULES: dict[str, Callable[[_Sweep, Op], None]] = {
    "kan.loss": _loss_vjp,
    "kan.penalty": _penalty_vjp,
}
VJP_RULES: dict[str, VjpRule] = {
    "kan.fused_layer": _layer_vjp("kan.vjp_coef", "kan.vjp_input"),
    "kan.tucker_layer": _tucker_layer_vjp,
    "kan.add": _add_vjp,
    "kan.affine": _affine_vjp,
    "kan.base_layer": _base_vjp("kan.vjp_base_weight", "kan.vjp_base_input"),
    "kan.jet_seed": _jet_seed_vjp,
    "kan.jet_layer": _layer_vjp("kan.vjp_jet_coef", "kan.vjp_jet_input"),
    "kan.jet_base_layer": _base_vjp("kan.vjp_jet_base_weight", "kan.vjp_jet_base_input"),
    "kan.jet_affine": _jet_affine_vjp,
    "kan.jet_channel": _jet_channel_vjp,
    "kan.mul": _mul_vjp,
    "kan.scale": _scale_vjp,
}


@dataclass(frozen=True)
class AutodiffOptions:
    wrt: str = option("params", Choice(("params", "params+input")),
                      "what to differentiate: the parameters, or also the model input")


def autodiff(graph: Graph, options: AutodiffOptions) -> PassResult:
    return PassResult(_Sweep(graph, options.wrt == "params+input").run())


PASS = Pass("autodiff", "reverse mode: loss graph -> (loss, d/d params[, d/dx]) with vjp ops",
            autodiff, AutodiffOptions)
