"""autodiff: a loss graph -> a training graph (reverse mode, on the kernel view).

Input: a graph whose one output is a scalar loss built from ``kan.loss`` and ``kan.penalty``
terms summed by ``kan.add``, over ``kan.fused_layer`` ops (run fuse first). Output: the same
forward ops, then the reverse sweep, returning (loss, d/d param for every trainable param in
declaration order[, d/dx]) -- the training-graph convention the verifier checks
(ir/dialect.py). A frozen parameter gets no gradient: its layer emits only kan.vjp_input.
A kan.add inside the model (LoTRA: frozen layer + adapter) passes its cotangent to both terms.

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
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

from kancc import symbolic
from kancc.errors import PassError
from kancc.ir import Graph, Op, Param, Value, extended_knots, grid_points

from .pass_types import Pass, PassResult

Table = tuple[tuple[Fraction, ...], ...]


def derivative_pieces(op: Op) -> Table | tuple[Table, ...]:
    """Exact pieces of d/dx B on each cell; one shared table when the grid is uniform."""
    order = op.attr("order")
    points = grid_points(op.attr_dict)
    if op.attr("knots") == "uniform":
        points = points[:2]  # every cell has the same pieces in s: derive them on one cell
    tables = symbolic.local_derivative_pieces(order, extended_knots(points, order))
    exact = tuple(tuple(tuple(map(symbolic.as_fraction, row)) for row in table)
                  for table in tables)
    return exact[0] if all(t == exact[0] for t in exact) else exact


class _Sweep:
    """Emits the reverse ops; ``cotangent`` maps a value (or @param) name to its gradient."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.ops: list[Op] = []
        self.cotangent: dict[str, Value] = {}
        self.taken = {v.name for v in graph.inputs} | {r.name for op in graph.ops
                                                       for r in op.results}
        self.counter = 0

    def fresh(self, like: Value | Param) -> Value:
        """A new value named d1, d2, ... (canonicalize renumbers them later)."""
        self.counter += 1
        while f"d{self.counter}" in self.taken:
            self.counter += 1
        return Value(f"d{self.counter}", like.type)

    def emit(self, name: str, operands: tuple, attrs: Mapping, like: Value | Param) -> Value:
        (result,) = self.emit_many(name, operands, attrs, (like,))
        return result

    def emit_many(self, name: str, operands: tuple, attrs: Mapping,
                  likes: tuple[Value | Param, ...]) -> tuple[Value, ...]:
        results = tuple(self.fresh(like) for like in likes)
        self.ops.append(Op.make(name, operands, dict(attrs), results))
        return results

    def accumulate(self, key: str, grad: Value) -> None:
        if key in self.cotangent:
            total = self.cotangent[key]
            grad = self.emit("kan.add", (total, grad), {}, total)
        self.cotangent[key] = grad

    def loss_terms(self, value: Value, producer: dict[str, Op]) -> list[Op]:
        """The kan.loss / kan.penalty ops summed (through kan.add) into ``value``."""
        op = producer.get(value.name)
        if op is None or op.name not in ("kan.add", "kan.loss", "kan.penalty"):
            what = "a graph input" if op is None else op.name
            raise PassError(f"autodiff: the loss %{value.name} must be a sum of kan.loss and "
                            f"kan.penalty terms; it reaches {what}")
        if op.name != "kan.add":
            return [op]
        return [term for operand in op.operands for term in self.loss_terms(operand, producer)]

    def run(self, want_input: bool) -> Graph:
        graph = self.graph
        if len(graph.outputs) != 1 or graph.outputs[0].type.rank != 0:
            raise PassError("autodiff needs a loss graph: one scalar output (compile with "
                            "training=True, which adds the loss from the spec's [train] table)")
        producer = {r.name: op for op in graph.ops for r in op.results}
        for term in self.loss_terms(graph.outputs[0], producer):
            grad_name = term.name + "_grad"
            if term.name == "kan.loss":
                pred = term.operands[0]
                self.accumulate(pred.name, self.emit(grad_name, term.operands, term.attr_dict,
                                                     pred))
            else:
                (param,) = term.operands
                self.accumulate("@" + param.name, self.emit(grad_name, term.operands,
                                                            term.attr_dict, param))
        for index in range(len(graph.ops) - 1, -1, -1):
            op = graph.ops[index]
            if op.name in ("kan.loss", "kan.penalty") or \
                    (op.name == "kan.add" and op.result.type.rank == 0):
                continue  # loss terms and their sum: handled above
            if op.name not in ("kan.fused_layer", "kan.tucker_layer", "kan.add"):
                raise PassError(f"autodiff cannot differentiate op {index} ({op.name} "
                                f"%{op.result.name}); run fuse first (the training pipeline "
                                "does)")
            g = self.cotangent.get(op.result.name)
            if g is None:
                continue
            if op.name == "kan.add":
                for term in op.operands:
                    self.accumulate(term.name, g)
                continue
            if op.name == "kan.tucker_layer":
                self.tucker_layer(op, g, want_input or op.operands[0] not in graph.inputs)
                continue
            x, coef = op.operands
            if not coef.frozen:
                self.accumulate("@" + coef.name, self.emit("kan.vjp_coef", (x, coef, g),
                                                           op.attr_dict, coef))
            is_input = x in graph.inputs
            if not is_input or want_input:
                attrs = dict(op.attr_dict)
                if attrs["eval"] == "horner":
                    attrs["dpieces"] = derivative_pieces(op)
                self.accumulate(x.name, self.emit("kan.vjp_input", (x, coef, g), attrs, x))
        return self.finish([graph.outputs[0]], want_input)

    def tucker_layer(self, op: Op, g: Value, want_dx: bool) -> None:
        x, *factors = op.operands
        attrs = dict(op.attr_dict)
        if want_dx and attrs["eval"] == "horner":
            attrs["dpieces"] = derivative_pieces(op)
        likes = tuple(factors) + ((x,) if want_dx else ())
        grads = self.emit_many("kan.vjp_tucker", (*op.operands, g), attrs, likes)
        for factor, grad in zip(factors, grads):
            self.accumulate("@" + factor.name, grad)
        if want_dx:
            self.accumulate(x.name, grads[-1])

    def finish(self, outputs: list[Value], want_input: bool) -> Graph:
        graph = self.graph
        for param in graph.trainable_params:
            if "@" + param.name not in self.cotangent:
                raise PassError(f"autodiff: parameter @{param.name} does not affect the loss")
            outputs.append(self.cotangent["@" + param.name])
        if want_input:
            x = graph.inputs[0]
            if x.name not in self.cotangent:
                raise PassError(f"autodiff: the loss does not depend on %{x.name}")
            outputs.append(self.cotangent[x.name])
        return Graph(graph.name, graph.inputs, graph.params, graph.ops + tuple(self.ops),
                     tuple(outputs))


def autodiff(graph: Graph, options: Mapping[str, str]) -> PassResult:
    want_input = options.get("wrt", "params") == "params+input"
    return PassResult(_Sweep(graph).run(want_input))


PASS = Pass("autodiff", "reverse mode: loss graph -> (loss, d/d params[, d/dx]) with vjp ops",
            autodiff, options=(("wrt", ("params", "params+input")),))
