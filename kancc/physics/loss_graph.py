"""The physics loss graph: the model applied to every point set, and its loss terms.

    kan.graph @poisson(%interior: f64[N_interior,2], %dirichlet: f64[N_dirichlet,2],
                       %residual.target: f64[N_interior,1], %dirichlet.target: ...) {
      %interior.x_jet = kan.jet_seed %interior {jet=2}      (the model's jet graph, its
      %interior.0 = kan.jet_layer %interior.x_jet, @layers.0.coef {...}   values prefixed
      ...                                                    by the point set)
      %dirichlet.0 = kan.layer %dirichlet, @layers.0.coef   (values only: the plain model)
      %residual.m0.f0 = kan.jet_channel %interior.1 {output=0, channel=3}   u_xx
      ...
      %residual.loss = kan.loss %residual.sum, %residual.target {kind=mse, weight=1}
      %total = kan.add %residual.loss, %dirichlet.loss
      return %total
    }

Each point set is evaluated once, with the jet order its terms need (the jet pass on the
model's graph); terms are built from ``kan.jet_channel``, ``kan.mul``, ``kan.scale`` and
``kan.add`` and compared with their targets by ``kan.loss`` (mse): ordinary IR that
autodiff differentiates and every backend renders. Batch sizes are one symbol per point set
(``N_<set>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from kancc.errors import KanccError
from kancc.frontend import build_graph
from kancc.ir import Graph, Op, TensorType, Value
from kancc.passes.jet import JetOptions, jet
from kancc.spec import Spec

from .terms import LossTerm, Monomial


def physics_loss_graph(spec: Spec, terms: Sequence[LossTerm]) -> Graph:
    """The loss graph of ``terms`` for the model of ``spec`` (one output, u)."""
    if not terms:
        raise KanccError("a physics loss needs at least one term")
    model = build_graph(spec)
    builder = _Builder(model, seeded=spec.pde is None or spec.pde.level_set is None)
    orders: dict[str, int] = {}
    for term in terms:
        for points, order in term.orders().items():
            orders[points] = max(order, orders.get(points, 0))
            builder.symbols.setdefault(points, f"N_{term.points}")  # rows of the term's set
    for points, order in orders.items():
        builder.instance(points, order)
    losses = [builder.term(term) for term in terms]
    total = losses[0]
    for index, loss in enumerate(losses[1:]):
        result = Value(f"total.{index}", total.type)
        builder.ops.append(Op.make("kan.add", (total, loss), {}, (result,)))
        total = result
    return Graph(model.name, tuple(builder.inputs), model.params, tuple(builder.ops), (total,))


class _Builder:
    def __init__(self, model: Graph, seeded: bool) -> None:
        self.model = model
        self.seeded = seeded  # jets start from kan.jet_seed, else from input jets (level sets)
        self.dtype = model.dtype
        self.inputs: list[Value] = []
        self.ops: list[Op] = []
        self.outputs: dict[str, Value] = {}  # point set -> the model's output (jet) on it
        self.channels: dict[tuple[str, int], Value] = {}
        self.symbols: dict[str, str] = {}  # point set -> its batch symbol

    def rows(self, points: str) -> str:
        return self.symbols[points]

    def instance(self, points: str, order: int) -> None:
        """The model (its jet graph for order 1 or 2) on the point set, values prefixed."""
        x = self.model.inputs[0]
        source = self.model if order == 0 else jet(self.model, JetOptions(order)).graph
        ops = source.ops
        if order and not self.seeded:  # the input's jet is data: it replaces kan.jet_seed
            seed, ops = ops[0], ops[1:]
            assert seed.name == "kan.jet_seed"
            given = Value(points, TensorType(self.dtype, (self.rows(points),
                                                          *seed.result.type.shape[1:])))
            values = {seed.result.name: given}
        else:
            given = Value(points, TensorType(self.dtype, (self.rows(points), *x.type.shape[1:])))
            values = {x.name: given}
        self.inputs.append(given)
        for op in ops:
            results = tuple(Value(f"{points}.{r.name}",
                                  TensorType(r.type.dtype, (self.rows(points), *r.type.shape[1:])))
                            for r in op.results)
            operands = tuple(values[o.name] if isinstance(o, Value) else o for o in op.operands)
            self.ops.append(Op(op.name, operands, op.attrs, results))
            values.update(zip((r.name for r in op.results), results))
        self.outputs[points] = values[source.outputs[0].name]

    def channel(self, points: str, channel: int) -> Value:
        """u's channel on the point set (the output itself when no jet was needed)."""
        output = self.outputs[points]
        if output.type.rank == 2:
            return output
        if (points, channel) not in self.channels:
            value = Value(f"{points}.u{channel}", TensorType(self.dtype, (self.rows(points), 1)))
            self.ops.append(Op.make("kan.jet_channel", (output,),
                                    {"output": 0, "channel": channel}, (value,)))
            self.channels[(points, channel)] = value
        return self.channels[(points, channel)]

    def column(self, term: LossTerm, name: str) -> Value:
        value = Value(f"{term.name}.{name}", TensorType(self.dtype, (self.rows(term.points), 1)))
        if value not in self.inputs:
            self.inputs.append(value)
        return value

    def monomial(self, term: LossTerm, index: int, monomial: Monomial) -> Value:
        """prod of u-channels, times its constant and its varying coefficient."""
        points = monomial.points or term.points
        value = self.channel(points, monomial.factors[0])
        steps: list[tuple[str, tuple[Value, ...], dict[str, object]]] = [
            ("kan.mul", (self.channel(points, c),), {}) for c in monomial.factors[1:]]
        if monomial.column is not None:
            steps.append(("kan.mul", (self.column(term, monomial.column),), {}))
        if monomial.scale != 1:
            steps.append(("kan.scale", (), {"factor": Fraction(monomial.scale)}))
        for step, (name, others, attrs) in enumerate(steps):
            result = Value(f"{term.name}.m{index}.{step}", value.type)
            self.ops.append(Op.make(name, (value, *others), attrs, (result,)))
            value = result
        return value

    def term(self, term: LossTerm) -> Value:
        """weight * mse(sum of the monomials, target): the term's scalar loss."""
        values = [self.monomial(term, i, m) for i, m in enumerate(term.monomials)]
        total = values[0]
        for index, value in enumerate(values[1:]):
            result = Value(f"{term.name}.sum{index}", total.type)
            self.ops.append(Op.make("kan.add", (total, value), {}, (result,)))
            total = result
        if term.pointwise:
            weighted = Value(f"{term.name}.weighted", total.type)
            self.ops.append(Op.make("kan.mul", (total, self.column(term, "weights")), {},
                                    (weighted,)))
            total = weighted
        target = self.column(term, "target")
        loss = Value(f"{term.name}.loss", TensorType(self.dtype, ()))
        self.ops.append(Op.make("kan.loss", (total, target),
                                {"kind": "mse", "weight": Fraction(term.weight)}, (loss,)))
        return loss
