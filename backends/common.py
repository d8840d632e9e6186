"""Small pieces every emitter uses: naming, op comments, float tables, the module header."""

from __future__ import annotations

import re
import textwrap
from fractions import Fraction

from kancc.ir import GLOBAL_KINDS, Graph, Op, Param, Value
from kancc.ir.dialect import OPS_WITH_BASIS
from kancc.ir.printer import format_op

from kancc.errors import BackendError

from .local_basis import literal

NP_DTYPE_NAMES = {"f32": "np.float32", "f64": "np.float64"}
TORCH_DTYPES = {"f32": "torch.float32", "f64": "torch.float64"}


def var(value: Value) -> str:
    """A Python identifier for an SSA value."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", value.name)
    return name if name.isidentifier() and not name[0].isdigit() else f"v{name}"


def op_comment(op: Op, indent: str = "") -> str:
    """The op's IR text without its (long) attributes, as a comment."""
    brief = format_op(Op(op.name, op.operands, (), op.results))
    return "\n".join(f"{indent}# {line.strip()}" for line in brief.splitlines())


def describe_basis(op: Op) -> str:
    attrs = op.attr_dict
    if attrs["kind"] in GLOBAL_KINDS:
        return f"{attrs['kind']}, {attrs['order']} functions of t = tanh(x), eval={attrs['eval']}"
    a, b = attrs["domain"]
    spacing = "uniform" if attrs["knots"] == "uniform" else "non-uniform"
    return (f"{attrs['kind']} order {attrs['order']}, {attrs['grid']} {spacing} cells on "
            f"[{a}, {b}], eval={attrs['eval']}")


def float_list(values: tuple[Fraction, ...], indent: str) -> str:
    """``[v0, v1, ...]`` wrapped at 100 columns."""
    body = ", ".join(literal(v) for v in values)
    lines = textwrap.wrap(body, width=96 - len(indent), break_long_words=False)
    if len(lines) <= 1:
        return f"[{body}]"
    inner = indent + "    "
    return "[\n" + "\n".join(inner + line for line in lines) + f"\n{indent}]"


def param_shapes(graph: Graph) -> str:
    items = ", ".join(f'"{p.name}": {tuple(p.type.shape)}' for p in graph.params)
    return "{" + items + "}"


def frozen_line(graph: Graph) -> str:
    """The module constant naming the frozen parameters (LoTRA's pretrained tensors)."""
    names = tuple(p.name for p in graph.params if p.frozen)
    return f"FROZEN = {names}  # inputs training never changes: value_and_grad skips them"


def check_renderable(graph: Graph, backend: str, supported: tuple[str, ...], hint: str) -> None:
    """Refuse, with a pointer to the pass that is missing, ops the backend cannot render."""
    for index, op in enumerate(graph.ops):
        if op.name not in supported:
            raise BackendError(f"the {backend} backend cannot render op {index} "
                               f"({op.name} %{op.result.name}): {hint}")
        if op.name in OPS_WITH_BASIS and op.name != "kan.layer" and not op.has_attr("eval"):
            raise BackendError(f"the {backend} backend needs an evaluation mode on op {index} "
                               f"({op.name} %{op.result.name}): run lower-basis")


LOSS_OPS = ("kan.loss", "kan.loss_grad", "kan.penalty", "kan.penalty_grad", "kan.add")


def loss_expression(op: Op, args: list[str], library: str, coef: str) -> str:
    """The expression of a loss-side op (LOSS_OPS), the same in every backend: ``library``
    is "np" or "torch"; ``coef`` is the penalized parameter in its (in, out, n_b) layout.
    The emitted module defines mse, mse_grad, cross_entropy and cross_entropy_grad."""
    weight = op.attr("weight", 1)
    scale = "" if weight == 1 else f"{literal(weight)} * "
    if op.name == "kan.loss":
        return f"{scale}{op.attr('kind')}({args[0]}, {args[1]})"
    if op.name == "kan.loss_grad":
        return f"{scale}{op.attr('kind')}_grad({args[0]}, {args[1]})"
    if op.name == "kan.penalty":
        return f"{scale}{library}.sum({args[0]} * {args[0]})"
    if op.name == "kan.penalty_grad":
        return f"{literal(2 * weight)} * {coef}"
    if op.name == "kan.add":
        return f"{args[0]} + {args[1]}"
    raise ValueError(f"{op.name} is not a loss-side op")


def operand_expr(operand: Value | Param, params: str = "params") -> str:
    return f'{params}["{operand.name}"]' if isinstance(operand, Param) else var(operand)


def prediction_ops(graph: Graph) -> tuple[tuple[Op, ...], Value]:
    """The ops that compute the model's prediction, and that value: all ops of an inference
    graph; for a training graph, those the kan.loss prediction depends on."""
    losses = [op for op in graph.ops if op.name == "kan.loss"]
    if not losses:
        return graph.ops, graph.outputs[0]
    prediction = losses[0].operands[0]
    needed = {prediction.name}
    kept = []
    for op in reversed(graph.ops):
        if any(r.name in needed for r in op.results):
            kept.append(op)
            needed.update(o.name for o in op.operands if isinstance(o, Value))
    return tuple(reversed(kept)), prediction
