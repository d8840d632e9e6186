"""The type rule of each ``kan`` op: operand types -> result types, or TypeError saying why.

The dialect table (dialect.py) names one rule per op; the verifier compares what a rule
infers with the result types an op declares.
"""

from __future__ import annotations

from collections.abc import Callable

from .basis_attrs import n_basis
from .graph import Op, Operand, Param, Value
from .types import TensorType

Rule = Callable[[Op], tuple[TensorType, ...]]


def layer(op: Op) -> tuple[TensorType, ...]:
    """kan.layer and kan.fused_layer: x [B, in], coef [in, out, n_b] -> y [B, out]."""
    x, coef = op.operands[:2]
    _require_rank(x, 2)
    _require_rank(coef, 3)
    if coef.type.shape[0] != x.type.shape[1]:
        raise TypeError(f"{ref(coef)} has {coef.type.shape[0]} inputs but {ref(x)} has "
                        f"{x.type.shape[1]} features")
    nb = n_basis(op.attr("order"), op.attr("grid"))
    if coef.type.shape[2] != nb:
        raise TypeError(f"{ref(coef)} has {coef.type.shape[2]} basis coefficients per edge "
                        f"but the basis has {nb} functions (grid + order - 1)")
    _require_same_dtype(op.operands[:2])
    return (TensorType(_dtype_of(op), (x.type.shape[0], coef.type.shape[1])),)


def basis(op: Op) -> tuple[TensorType, ...]:
    (x,) = op.operands
    _require_rank(x, 2)
    nb = n_basis(op.attr("order"), op.attr("grid"))
    return (TensorType(_dtype_of(op), (*x.type.shape, nb)),)


def contract(op: Op) -> tuple[TensorType, ...]:
    basis_value, coef = op.operands
    _require_rank(basis_value, 3)
    _require_rank(coef, 3)
    b, p, nb = basis_value.type.shape
    if (coef.type.shape[0], coef.type.shape[2]) != (p, nb):
        raise TypeError(f"{ref(coef)} of shape {coef.type} does not contract with "
                        f"{ref(basis_value)} of type {basis_value.type} (need [{p},out,{nb}])")
    _require_same_dtype(op.operands)
    return (TensorType(_dtype_of(op), (b, coef.type.shape[1])),)


def _layer_cotangent(op: Op) -> None:
    """The third operand of a vjp op is d(loss)/dy, typed like the layer's output."""
    (y,) = layer(op)
    grad = op.operands[2]
    if grad.type != y:
        raise TypeError(f"{ref(grad)} has type {grad.type} but the layer's output is {y}")


def vjp_input(op: Op) -> tuple[TensorType, ...]:
    _layer_cotangent(op)
    return (op.operands[0].type,)


def vjp_coef(op: Op) -> tuple[TensorType, ...]:
    _layer_cotangent(op)
    return (op.operands[1].type,)


def tucker_layer(op: Op) -> tuple[TensorType, ...]:
    """x [B, in], core (r1, r2, r3), U1 (in, r1), U2 (out, r2), U3 (n_b, r3) -> y [B, out]."""
    return (_tucker_output(op),)


def _tucker_output(op: Op) -> TensorType:
    x, core, u1, u2, u3 = op.operands[:5]
    _require_rank(x, 2)
    _require_rank(core, 3)
    for factor in (u1, u2, u3):
        _require_rank(factor, 2)
    nb = n_basis(op.attr("order"), op.attr("grid"))
    if u1.type.shape[0] != x.type.shape[1]:
        raise TypeError(f"{ref(u1)} has {u1.type.shape[0]} rows but {ref(x)} has "
                        f"{x.type.shape[1]} features")
    if u3.type.shape[0] != nb:
        raise TypeError(f"{ref(u3)} has {u3.type.shape[0]} rows but the basis has {nb} "
                        "functions (grid + order - 1)")
    ranks = tuple(f.type.shape[1] for f in (u1, u2, u3))
    if core.type.shape != ranks:
        raise TypeError(f"{ref(core)} has shape {core.type} but the factors' ranks are "
                        f"{list(ranks)}")
    _require_same_dtype(op.operands)
    return TensorType(_dtype_of(op), (x.type.shape[0], u2.type.shape[0]))


def vjp_tucker(op: Op) -> tuple[TensorType, ...]:
    """(dcore, dU1, dU2, dU3), and dx when the op has five results."""
    y = _tucker_output(op)
    grad = op.operands[5]
    if grad.type != y:
        raise TypeError(f"{ref(grad)} has type {grad.type} but the layer's output is {y}")
    x, core, u1, u2, u3 = op.operands[:5]
    grads = (core.type, u1.type, u2.type, u3.type)
    return grads + (x.type,) if len(op.results) == 5 else grads


def _loss_target(op: Op) -> None:
    pred, target = op.operands
    _require_rank(pred, 2)
    if op.attr("kind") == "cross_entropy":
        expected = TensorType("i32", pred.type.shape[:1])
        what = "class labels for"
    else:
        expected = pred.type
        what = "the same type as"
    if target.type != expected:
        raise TypeError(f"{ref(target)} must be {expected} ({what} {ref(pred)}), "
                        f"got {target.type}")


def loss(op: Op) -> tuple[TensorType, ...]:
    _loss_target(op)
    return (TensorType(_dtype_of(op), ()),)


def loss_grad(op: Op) -> tuple[TensorType, ...]:
    _loss_target(op)
    return (op.operands[0].type,)


def penalty(op: Op) -> tuple[TensorType, ...]:
    (param,) = op.operands
    return (TensorType(param.type.dtype, ()),)


def penalty_grad(op: Op) -> tuple[TensorType, ...]:
    return (op.operands[0].type,)


def add(op: Op) -> tuple[TensorType, ...]:
    a, b = op.operands
    if a.type != b.type:
        raise TypeError(f"{ref(a)} of type {a.type} and {ref(b)} of type {b.type} differ")
    return (a.type,)


def base_layer(op: Op) -> tuple[TensorType, ...]:
    """x [B, in], w (in, out) -> y [B, out]: y = b(x) @ w."""
    x, w = op.operands[:2]
    _require_rank(x, 2)
    _require_rank(w, 2)
    if w.type.shape[0] != x.type.shape[1]:
        raise TypeError(f"{ref(w)} of shape {w.type} does not take {ref(x)} of type {x.type} "
                        f"(need [{x.type.shape[1]},out])")
    _require_same_dtype(op.operands)
    return (TensorType(_dtype_of(op), (x.type.shape[0], w.type.shape[1])),)


def _base_cotangent(op: Op) -> None:
    (y,) = base_layer(op)
    grad = op.operands[2]
    if grad.type != y:
        raise TypeError(f"{ref(grad)} has type {grad.type} but the base branch gives {y}")


def vjp_base_weight(op: Op) -> tuple[TensorType, ...]:
    _base_cotangent(op)
    return (op.operands[1].type,)


def vjp_base_input(op: Op) -> tuple[TensorType, ...]:
    _base_cotangent(op)
    return (op.operands[0].type,)


def affine(op: Op) -> tuple[TensorType, ...]:
    """y = x * scale + shift per column: the type of x (the attribute lengths are checked by
    the op's attribute check)."""
    (x,) = op.operands
    _require_rank(x, 2)
    return (x.type,)


def jet_seed(op: Op) -> tuple[TensorType, ...]:
    """x [B, d] -> its jet [B, d, 1 + jet * d]: the value, d/dx_k x = identity, d2 = 0."""
    (x,) = op.operands
    _require_rank(x, 2)
    width = x.type.shape[1]
    if not isinstance(width, int):
        raise TypeError(f"{ref(x)} must have a fixed width, has type {x.type}")
    return (TensorType(_dtype_of(op), (x.type.shape[0], width, 1 + op.attr("jet") * width)),)


def jet_of(rule: Rule) -> Rule:
    """The type rule of an op's jet form: operand 0 is a jet [B, width, C] (C = 1 + jet * d
    channels: the value, then d first and, for jet 2, d second derivatives), the result is
    the plain rule's [B, out] with the same C channels."""
    def infer(op: Op) -> tuple[TensorType, ...]:
        jet = op.operands[0]
        _require_rank(jet, 3)
        channels, order = jet.type.shape[2], op.attr("jet")
        if not (isinstance(channels, int) and isinstance(order, int) and order >= 1
                and channels > order and (channels - 1) % order == 0):
            raise TypeError(f"{ref(jet)} of type {jet.type} is not a jet of order {order} "
                            "(channels: 1 + order * inputs)")
        value = Value(jet.name, TensorType(jet.type.dtype, jet.type.shape[:2]))
        plain = Op(op.name, (value, *op.operands[1:]), op.attrs, op.results)
        return tuple(TensorType(t.dtype, (*t.shape, channels)) for t in rule(plain))
    return infer


def jet_channel(op: Op) -> tuple[TensorType, ...]:
    """One channel of one output of a jet [B, out, C] -> [B, 1]."""
    jet = op.operands[0]
    _require_rank(jet, 3)
    _, width, channels = jet.type.shape
    for key, size in (("output", width), ("channel", channels)):
        index = op.attr(key)
        if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
            raise TypeError(f"{key}={index!r} is outside {ref(jet)} of type {jet.type}")
    return (TensorType(jet.type.dtype, (jet.type.shape[0], 1)),)


def vjp_jet_channel(op: Op) -> tuple[TensorType, ...]:
    """The cotangent g [B, 1] of one channel, placed in the jet's type (zeros elsewhere)."""
    (value,) = jet_channel(op)
    grad = op.operands[1]
    if grad.type != value:
        raise TypeError(f"{ref(grad)} has type {grad.type} but the channel is {value}")
    return (op.operands[0].type,)


def elementwise(op: Op) -> tuple[TensorType, ...]:
    """kan.mul and kan.scale: values of one type -> that type."""
    if len(op.operands) == 2:
        return add(op)
    return (op.operands[0].type,)


def vjp_jet_layer_input(op: Op) -> tuple[TensorType, ...]:
    """d(loss)/d(jet) of a jet layer (operand 2: the cotangent of its output jet)."""
    return (_jet_cotangent(op, layer).type,)


def vjp_jet_layer_coef(op: Op) -> tuple[TensorType, ...]:
    _jet_cotangent(op, layer)
    return (op.operands[1].type,)


def vjp_jet_base_input(op: Op) -> tuple[TensorType, ...]:
    return (_jet_cotangent(op, base_layer).type,)


def vjp_jet_base_weight(op: Op) -> tuple[TensorType, ...]:
    _jet_cotangent(op, base_layer)
    return (op.operands[1].type,)


def _jet_cotangent(op: Op, rule: Rule) -> Value:
    """Checks the cotangent (operand 2) has the type of the jet op's output; the input jet."""
    (output,) = jet_of(rule)(Op(op.name, op.operands[:2], op.attrs, op.results[:1]))
    grad = op.operands[2]
    if grad.type != output:
        raise TypeError(f"{ref(grad)} has type {grad.type} but the jet layer gives {output}")
    jet = op.operands[0]
    assert isinstance(jet, Value)
    return jet


def ref(v: Operand) -> str:
    return f"%{v.name}" if isinstance(v, Value) else f"@{v.name}"


def _dtype_of(op: Op) -> str:
    return op.operands[0].type.dtype


def _require_rank(v: Value | Param, rank: int) -> None:
    if v.type.rank != rank:
        raise TypeError(f"{ref(v)} must have rank {rank}, has type {v.type}")


def _require_same_dtype(operands: tuple[Operand, ...]) -> None:
    dtypes = {o.type.dtype for o in operands}
    if len(dtypes) != 1:
        raise TypeError(f"operands mix dtypes {sorted(dtypes)}")
