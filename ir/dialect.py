"""The ``kan`` dialect: every op's schema, type rule, attribute check and traits, in one table.

The lowering ladder, top to bottom:

  kan.layer        spec view: y = sum_p sum_i coef[p,q,i] B_i(x_p), one op per KAN layer
  kan.basis        math view: the [B, in, n_b] basis tensor of a spline family ...
  kan.contract     ... contracted with coef[in, out, n_b]
  kan.fused_layer  kernel view: basis evaluated locally and contracted without materializing

Training ops (made by the autodiff pass; DESIGN.md 3):

  kan.loss         scalar loss of a prediction against a target: kind mse | cross_entropy
  kan.loss_grad    d(loss)/d(prediction)
  kan.penalty      scalar regularizer of one parameter (kind l2: weight * sum coef^2)
  kan.penalty_grad its gradient
  kan.add          elementwise sum of two values of one type (loss terms, gradient terms)
  kan.affine       y[:, j] = x[:, j] * scale[j] + shift[j]: [data] standardize's input and
                   output maps (exact attributes; its reverse is kan.affine with shift 0)

The base branch (spec key base = "silu"; added to its layer with kan.add):

  kan.base_layer       y[:, q] = sum_p w[p, q] silu(x[:, p])
  kan.vjp_base_weight  dw = silu(x)^T g
  kan.vjp_base_input   dx = silu'(x) * (g w^T)
  kan.vjp_input    d(loss)/dx of a fused layer from d(loss)/dy: basis derivative, recomputed
  kan.vjp_coef     d(loss)/dcoef of a fused layer from d(loss)/dy: basis recomputed, never stored

Tucker layers (Slim KANs and LoTRA adapters; every view, since the op is already a kernel):

  kan.tucker_layer y = sum_(p,i) W[p,q,i] B_i(x_p) with W = core x1 U1 x2 U2 x3 U3 never
                   formed: basis -> x U3 -> x U1 -> core -> x U2 (the cheap order)
  kan.vjp_tucker   its reverse: (dcore, dU1, dU2, dU3[, dx]) from d(loss)/dy, basis recomputed

A graph with a GRADIENT op is a *training graph*: it returns the loss, then one gradient per
trainable parameter in declaration order (each typed like its parameter), then optionally
d(loss)/dx. Tucker shapes: core (r1, r2, r3), U1 (in, r1), U2 (out, r2), U3 (n_b, r3).
Attributes and their meaning: basis_attrs.py. Passes and backends ask an op's *traits*
(below) rather than its name, and dispatch by name through their own rule tables.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from . import type_rules
from .basis_attrs import (
    BASIS_KEYS,
    LOSS_KEYS,
    LOSS_KINDS,
    LOWERING_KEYS,
    PENALTY_KINDS,
    basis_errors,
    is_per_input,
    jet_errors,
    loss_errors,
    n_basis,
)
from .graph import Graph, Op, Param, Value
from .schedule_attrs import schedule_errors
from .types import TensorType


class Trait(enum.Enum):
    """What passes and backends need to know of an op without naming it."""

    BASIS = "carries the basis attributes kind, order, grid, domain, knots"
    SPEC_VIEW = "a layer as the spec declares it: the parameterization passes (refine, " \
                "to-relu-basis, tucker) work on these, before expand-layers"
    FORWARD_BASIS = "evaluates its basis in the forward sweep: derive-stencils and " \
                    "lower-basis set how"
    READS_COEF = "operand 1 is a full (in, out, n_b) coefficient tensor"
    LOSS_TERM = "a scalar term of the loss"
    GRADIENT = "a reverse-sweep op: a graph holding one is a training graph"
    DIFFERENTIATES_PARAMS = "differentiates or penalizes its parameter operands, which must " \
                            "be trainable (not frozen)"
    JET = "computes a jet: the value with its input derivatives, [B, width, 1 + jet * d]"


AttrCheck = Callable[[Op], list[str]]


@dataclass(frozen=True)
class OpDef:
    """Schema of one op: operand kinds, required/optional attributes, a type rule, the
    semantic check of its attribute values, and its traits."""

    name: str
    operands: tuple[type, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    infer: Callable[[Op], tuple[TensorType, ...]]
    summary: str
    traits: frozenset[Trait] = frozenset()
    check: AttrCheck | None = None


def _input_rows_errors(op: Op) -> list[str]:
    """Per-input knots: one row for each column of the op's input."""
    width = op.operands[0].type.shape[-1] if op.operands[0].type.rank == 2 else None
    if is_per_input(op.attr_dict) and len(op.attr("knots")) != width:
        return [f"{op.name}: knots has {len(op.attr('knots'))} rows (one per input) but "
                f"%{op.operands[0].name} has {width} inputs"]
    return []


def _basis_check(op: Op) -> list[str]:
    return basis_errors(op.name, op.attr_dict, wants_dx=False) + _input_rows_errors(op)


def _scheduled_check(op: Op) -> list[str]:
    """A fused-layer kernel: its basis, then its schedule (tile limits need a sound n_b)."""
    attrs = op.attr_dict
    errors = basis_errors(op.name, attrs, wants_dx=op.name == "kan.vjp_input") + \
        _input_rows_errors(op)
    n_b = None if errors else n_basis(op.attr("order"), op.attr("grid"))
    return errors + schedule_errors(attrs, n_b)


def _vjp_tucker_check(op: Op) -> list[str]:
    return basis_errors(op.name, op.attr_dict, wants_dx=len(op.results) == 5) + \
        _input_rows_errors(op)


def _affine_check(op: Op) -> list[str]:
    """scale and shift: one exact number per column of the operand."""
    x = op.operands[0].type
    width = x.shape[1] if x.rank == 3 else x.shape[-1] if x.rank else None  # a jet: [B, w, C]
    errors = []
    for key in ("scale", "shift"):
        value = op.attr(key)
        numbers = isinstance(value, tuple) and all(
            isinstance(v, int | Fraction) and not isinstance(v, bool) for v in value)
        if not numbers or len(value) != width:
            errors.append(f"{op.name}: {key} must be a list of {width} numbers (one per "
                          f"column), got {value!r}")
    return errors


def _base_check(op: Op) -> list[str]:
    fn = op.attr("fn")
    return [] if fn in BASE_FUNCTIONS else [f"{op.name}: fn must be one of "
                                            f"{', '.join(BASE_FUNCTIONS)}, got {fn!r}"]


def _jet_basis_check(op: Op) -> list[str]:
    """A jet layer: its jet order, then its basis with the derivative pieces it needs (one
    more level for the input cotangent of its reverse)."""
    errors = jet_errors(op.name, op.attr_dict)
    extra = 1 if op.name == "kan.vjp_jet_input" else 0
    return errors or basis_errors(op.name, op.attr_dict, wants_dx=True,
                                  derivatives=op.attr("jet") + extra)


def _channel_check(op: Op) -> list[str]:
    return [f"{op.name}: {key} must be a non-negative integer, got {op.attr(key)!r}"
            for key in ("output", "channel")
            if not (isinstance(op.attr(key), int) and not isinstance(op.attr(key), bool)
                    and op.attr(key) >= 0)]


def _scale_check(op: Op) -> list[str]:
    factor = op.attr("factor")
    if isinstance(factor, int | Fraction) and not isinstance(factor, bool):
        return []
    return [f"{op.name}: factor must be an exact number, got {factor!r}"]


def _jet_affine_check(op: Op) -> list[str]:
    return jet_errors(op.name, op.attr_dict) or _affine_check(op)


def _jet_base_check(op: Op) -> list[str]:
    return jet_errors(op.name, op.attr_dict) or _base_check(op)


def _loss_check(op: Op) -> list[str]:
    return loss_errors(op.attr_dict, LOSS_KINDS)


def _penalty_check(op: Op) -> list[str]:
    return loss_errors(op.attr_dict, PENALTY_KINDS)


PLAIN_LOWERING_KEYS = tuple(key for key in LOWERING_KEYS  # what only jets and their
                            if key not in ("d2pieces", "d3pieces"))  # reverse carry
LOWERING = tuple(key for key in PLAIN_LOWERING_KEYS if key != "eval")
JET_LOWERING = tuple(key for key in LOWERING_KEYS if key != "eval")
BASE_FUNCTIONS = ("silu",)
FUSED = LOWERING + ("strategy", "tile")  # and their kernels' schedule (schedule_attrs.py)

OPS: dict[str, OpDef] = {d.name: d for d in (
    OpDef("kan.layer", (Value, Param), BASIS_KEYS, (), type_rules.layer,
          "one KAN layer: y[:, q] = sum_p sum_i coef[p, q, i] B_i(x[:, p])",
          traits=frozenset({Trait.BASIS, Trait.SPEC_VIEW, Trait.READS_COEF}),
          check=_basis_check),
    OpDef("kan.basis", (Value,), BASIS_KEYS, PLAIN_LOWERING_KEYS, type_rules.basis,
          "the basis tensor [B, in, n_b] of x",
          traits=frozenset({Trait.BASIS, Trait.FORWARD_BASIS}), check=_basis_check),
    OpDef("kan.contract", (Value, Param), (), (), type_rules.contract,
          "y[:, q] = sum_p sum_i basis[:, p, i] coef[p, q, i]",
          traits=frozenset({Trait.READS_COEF})),
    OpDef("kan.fused_layer", (Value, Param), BASIS_KEYS + ("eval",), FUSED, type_rules.layer,
          "kan.basis + kan.contract evaluated locally, the basis tensor never materialized",
          traits=frozenset({Trait.BASIS, Trait.FORWARD_BASIS, Trait.READS_COEF}),
          check=_scheduled_check),
    OpDef("kan.vjp_input", (Value, Param, Value), BASIS_KEYS + ("eval",), FUSED,
          type_rules.vjp_input,
          "dx[:, p] = sum_q g[:, q] sum_i coef[p, q, i] B'_i(x[:, p]) of a fused layer",
          traits=frozenset({Trait.BASIS, Trait.READS_COEF, Trait.GRADIENT}),
          check=_scheduled_check),
    OpDef("kan.vjp_coef", (Value, Param, Value), BASIS_KEYS + ("eval",), FUSED,
          type_rules.vjp_coef,
          "dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p]) of a fused layer (@coef names it)",
          traits=frozenset({Trait.BASIS, Trait.READS_COEF, Trait.GRADIENT,
                            Trait.DIFFERENTIATES_PARAMS}),
          check=_scheduled_check),
    OpDef("kan.tucker_layer", (Value, Param, Param, Param, Param), BASIS_KEYS,
          tuple(key for key in PLAIN_LOWERING_KEYS if key != "dpieces"), type_rules.tucker_layer,
          "a KAN layer with coef = core x1 U1 x2 U2 x3 U3, evaluated without forming coef",
          traits=frozenset({Trait.BASIS, Trait.SPEC_VIEW, Trait.FORWARD_BASIS}),
          check=_basis_check),
    OpDef("kan.vjp_tucker", (Value, Param, Param, Param, Param, Value), BASIS_KEYS + ("eval",),
          LOWERING, type_rules.vjp_tucker,
          "(dcore, dU1, dU2, dU3[, dx]) of a kan.tucker_layer from d(loss)/dy",
          traits=frozenset({Trait.BASIS, Trait.GRADIENT, Trait.DIFFERENTIATES_PARAMS}),
          check=_vjp_tucker_check),
    OpDef("kan.loss", (Value, Value), LOSS_KEYS, (), type_rules.loss,
          "weight * loss(prediction, target): mse (mean over batch and outputs) or "
          "cross_entropy (mean over batch, i32 labels)",
          traits=frozenset({Trait.LOSS_TERM}), check=_loss_check),
    OpDef("kan.loss_grad", (Value, Value), LOSS_KEYS, (), type_rules.loss_grad,
          "d(kan.loss)/d(prediction)", check=_loss_check),
    OpDef("kan.penalty", (Param,), LOSS_KEYS, (), type_rules.penalty,
          "weight * sum(coef^2) (kind l2)",
          traits=frozenset({Trait.LOSS_TERM, Trait.DIFFERENTIATES_PARAMS}),
          check=_penalty_check),
    OpDef("kan.penalty_grad", (Param,), LOSS_KEYS, (), type_rules.penalty_grad,
          "d(kan.penalty)/d(coef)", traits=frozenset({Trait.DIFFERENTIATES_PARAMS}),
          check=_penalty_check),
    OpDef("kan.add", (Value, Value), (), (), type_rules.add, "a + b, same types"),
    OpDef("kan.base_layer", (Value, Param), ("fn",), (), type_rules.base_layer,
          "the base branch: y[:, q] = sum_p w[p, q] fn(x[:, p])", check=_base_check),
    OpDef("kan.vjp_base_weight", (Value, Param, Value), ("fn",), (), type_rules.vjp_base_weight,
          "dw[p, q] = sum_b fn(x[b, p]) g[b, q] of a kan.base_layer (typed like @w)",
          traits=frozenset({Trait.GRADIENT, Trait.DIFFERENTIATES_PARAMS}), check=_base_check),
    OpDef("kan.vjp_base_input", (Value, Param, Value), ("fn",), (), type_rules.vjp_base_input,
          "dx[b, p] = fn'(x[b, p]) sum_q g[b, q] w[p, q] of a kan.base_layer",
          traits=frozenset({Trait.GRADIENT}), check=_base_check),
    OpDef("kan.affine", (Value,), ("scale", "shift"), (), type_rules.affine,
          "y[:, j] = x[:, j] * scale[j] + shift[j] (input and output standardization)",
          check=_affine_check),
    # Jets (the jet pass; DESIGN.md 3): the forward ops above carrying input derivatives
    OpDef("kan.jet_seed", (Value,), ("jet",), (), type_rules.jet_seed,
          "the jet of the model input: x, d/dx_k x_p = [p = k], second derivatives 0",
          traits=frozenset({Trait.JET}), check=lambda op: jet_errors(op.name, op.attr_dict)),
    OpDef("kan.jet_layer", (Value, Param), BASIS_KEYS + ("jet",), LOWERING_KEYS,
          type_rules.jet_of(type_rules.layer),
          "a KAN layer on a jet: value, sum_p phi'_qp dx_p, sum_p phi''_qp dx_p^2 + "
          "phi'_qp d2x_p",
          traits=frozenset({Trait.BASIS, Trait.FORWARD_BASIS, Trait.READS_COEF, Trait.JET}),
          check=_jet_basis_check),
    OpDef("kan.jet_tucker_layer", (Value, Param, Param, Param, Param), BASIS_KEYS + ("jet",),
          LOWERING_KEYS, type_rules.jet_of(type_rules.tucker_layer),
          "a Tucker layer on a jet (the same chain rule through its coefficients)",
          traits=frozenset({Trait.BASIS, Trait.FORWARD_BASIS, Trait.JET}),
          check=_jet_basis_check),
    OpDef("kan.jet_base_layer", (Value, Param), ("fn", "jet"), (),
          type_rules.jet_of(type_rules.base_layer),
          "the base branch on a jet: fn, fn', fn'' of the value, then the weights",
          traits=frozenset({Trait.JET}), check=_jet_base_check),
    OpDef("kan.jet_affine", (Value,), ("scale", "shift", "jet"), (),
          type_rules.jet_of(type_rules.affine),
          "kan.affine on a jet: every channel scaled, the value shifted",
          traits=frozenset({Trait.JET}), check=_jet_affine_check),
    OpDef("kan.vjp_jet_input", (Value, Param, Value), BASIS_KEYS + ("jet", "eval"),
          JET_LOWERING, type_rules.vjp_jet_layer_input,
          "d(loss)/d(input jet) of a kan.jet_layer from the cotangent of its output jet",
          traits=frozenset({Trait.BASIS, Trait.READS_COEF, Trait.GRADIENT, Trait.JET}),
          check=_jet_basis_check),
    OpDef("kan.vjp_jet_coef", (Value, Param, Value), BASIS_KEYS + ("jet", "eval"),
          JET_LOWERING, type_rules.vjp_jet_layer_coef,
          "d(loss)/dcoef of a kan.jet_layer from the cotangent of its output jet",
          traits=frozenset({Trait.BASIS, Trait.READS_COEF, Trait.GRADIENT,
                            Trait.DIFFERENTIATES_PARAMS, Trait.JET}),
          check=_jet_basis_check),
    OpDef("kan.vjp_jet_base_input", (Value, Param, Value), ("fn", "jet"), (),
          type_rules.vjp_jet_base_input, "d(loss)/d(input jet) of a kan.jet_base_layer",
          traits=frozenset({Trait.GRADIENT, Trait.JET}), check=_jet_base_check),
    OpDef("kan.vjp_jet_base_weight", (Value, Param, Value), ("fn", "jet"), (),
          type_rules.vjp_jet_base_weight, "d(loss)/dw of a kan.jet_base_layer",
          traits=frozenset({Trait.GRADIENT, Trait.DIFFERENTIATES_PARAMS, Trait.JET}),
          check=_jet_base_check),
    # Residuals of PDE losses: elementwise ops on channels of jets (DESIGN.md 3)
    OpDef("kan.jet_channel", (Value,), ("output", "channel"), (), type_rules.jet_channel,
          "y[:, 0] = jet[:, output, channel]: a value (0), d/dx_k (k + 1), d2/dx_k2 (d + k + 1)",
          check=_channel_check),
    OpDef("kan.vjp_jet_channel", (Value, Value), ("output", "channel"), (),
          type_rules.vjp_jet_channel,
          "the cotangent g [B, 1] of a kan.jet_channel placed in its jet (zeros elsewhere)",
          check=_channel_check),
    OpDef("kan.mul", (Value, Value), (), (), type_rules.elementwise, "a * b, same types"),
    OpDef("kan.scale", (Value,), ("factor",), (), type_rules.elementwise,
          "a * factor (an exact constant)", check=_scale_check),
)}


def has_trait(op: Op, trait: Trait) -> bool:
    """Whether ``op``'s definition has ``trait`` (an unknown op has none)."""
    opdef = OPS.get(op.name)
    return opdef is not None and trait in opdef.traits


def is_training_graph(graph: Graph) -> bool:
    """A graph with reverse-sweep ops: it returns the loss and the gradients."""
    return any(has_trait(op, Trait.GRADIENT) for op in graph.ops)


ATTR_ORDER = BASIS_KEYS + ("jet",) + LOWERING_KEYS + ("strategy", "tile", "weight", "scale",
                                                       "shift")


def canonical_attr_order(op: Op) -> Op:
    """Same op with attributes in the dialect's canonical order (unknown keys last)."""
    rank = {k: i for i, k in enumerate(ATTR_ORDER)}
    ordered = sorted(op.attrs, key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return Op(op.name, op.operands, tuple(ordered), op.results)
