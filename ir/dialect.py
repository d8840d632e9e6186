"""The ``kan`` dialect: what each op means, its attribute schema and its type rule.

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
  kan.vjp_input    d(loss)/dx of a fused layer from d(loss)/dy: basis derivative, recomputed
  kan.vjp_coef     d(loss)/dcoef of a fused layer from d(loss)/dy: basis recomputed, never stored

Tucker layers (seed 004; every view, since the op is already a kernel):

  kan.tucker_layer y = sum_(p,i) W[p,q,i] B_i(x_p) with W = core x1 U1 x2 U2 x3 U3 never
                   formed: basis -> x U3 -> x U1 -> core -> x U2 (the cheap order)
  kan.vjp_tucker   its reverse: (dcore, dU1, dU2, dU3[, dx]) from d(loss)/dy, basis recomputed

A graph with a kan.loss op is a *training graph*: it returns the loss, then one gradient per
parameter in declaration order (each typed like its parameter), then optionally d(loss)/dx.

Tucker shapes: core (r1, r2, r3), U1 (in, r1), U2 (out, r2), U3 (n_b, r3), r_k >= 1.

Basis attributes (shared by kan.layer, kan.basis, kan.fused_layer):
  kind          "bspline", or "relu": the truncated powers psi_j(x) = (x - t_j)_+^(r-1),
                j = 0..n_b-1 over the full extended knots (r = 1: the step H(x - t_j));
                for t_j <= a the untruncated power, so both kinds extrapolate alike. A relu
                layer's coef is w = A^T u of the B-spline layer it came from (seed 000)
  order         r = degree + 1, 1..6
  grid          n, number of intervals on the domain
  domain        [a, b], exact
  knots         "uniform" or the n+1 grid points [t_0 = a, ..., t_n = b], exact
  stencil       rows of the change of basis A (B_i = sum_j A_ij ReLU(x - t_j)^(r-1)):
                either one band shared by all rows (uniform: A_ij = scale * stencil[j-i])
                or one band of r+1 entries per row (n_b rows), A_ij = scale * stencil[i][j-i]
  stencil_scale the common factor of the band(s)
  eval          how a backend evaluates the basis: "cox-de-boor" (local de Boor triangle),
                "relu-local" (the stencil applied to the r truncated powers of the cell),
                "horner" (per-cell polynomial pieces in s = (x - t_k)/h_k, Horner form);
                "dense" (kind relu only: every truncated power, evaluated in float64)
  pieces        for eval=horner: pieces[k][m][d] is the coefficient of s^d in B_{k+m} on
                cell k, either one r x r table shared by all cells or n tables
  dpieces       for eval=horner on kan.vjp_input: the same tables for d/dx B_{k+m}
                (degree r-2; the last column is zero)
  recurrence    for the polynomial global kinds: [[a_k, c_k], ...], k = 0..order-2, with
                phi_{k+1} = a_k t phi_k - c_k phi_{k-1} (derived by derive-stencils)

Global kinds (seed 004): "chebyshev", "legendre", "taylor", "fourier". Their ``order`` is
the number of basis functions n_b (all nonzero everywhere) on grid = 1 cell of domain
[-1, 1], uniform; the input is normalized by t = tanh(x) and the functions are T_k(t),
P_k(t), t^k, or 1, cos(pi t), sin(pi t), ..., cos(K pi t), sin(K pi t) (kancc.symbolic).
They are evaluated with eval="recurrence".

Out-of-domain policy: a backend evaluates x outside [a, b] with the polynomial piece of the
nearest edge cell (like scipy's BSpline(extrapolate=True)); NaN propagates to the outputs it
touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping

from .graph import Op, Param, Value
from .types import TensorType

GLOBAL_KINDS = ("chebyshev", "legendre", "taylor", "fourier")  # = kancc.symbolic's
BASIS_KINDS = ("bspline", "relu") + GLOBAL_KINDS
EVAL_MODES = ("cox-de-boor", "relu-local", "horner", "dense", "recurrence")
MAX_ORDER = 6
MAX_GLOBAL_FUNCTIONS = 41
BASIS_KEYS = ("kind", "order", "grid", "domain", "knots")
LOWERING_KEYS = ("stencil", "stencil_scale", "eval", "pieces", "dpieces", "recurrence")
LOSS_KINDS = ("mse", "cross_entropy")
PENALTY_KINDS = ("l2",)
LOSS_KEYS = ("kind", "weight")


def is_number(v: object) -> bool:
    return isinstance(v, (int, Fraction)) and not isinstance(v, bool)


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def n_basis(order: int, grid: int) -> int:
    """Number of B-splines of order r on n intervals: n + r - 1."""
    return grid + order - 1


def grid_points(attrs: Mapping[str, Any]) -> tuple[Fraction, ...]:
    """The n+1 exact grid points t_0 = a < ... < t_n = b of a basis op."""
    knots = attrs["knots"]
    if knots == "uniform":
        a, b = (Fraction(v) for v in attrs["domain"])
        n = int(attrs["grid"])
        return tuple(a + (b - a) * i / n for i in range(n + 1))
    return tuple(Fraction(v) for v in knots)


def extended_knots(points: tuple[Fraction, ...], order: int) -> tuple[Fraction, ...]:
    """The full knot vector t_{1-r} .. t_{n+r-1}: end intervals repeated outward (DESIGN 6)."""
    first, last = points[1] - points[0], points[-1] - points[-2]
    left = tuple(points[0] - k * first for k in range(order - 1, 0, -1))
    right = tuple(points[-1] + k * last for k in range(1, order))
    return left + tuple(points) + right


@dataclass(frozen=True)
class OpDef:
    """Schema of one op: operand kinds, required/optional attributes, a type rule."""

    name: str
    operands: tuple[type, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    infer: Callable[[Op], tuple[TensorType, ...]]
    summary: str


def _check_basis_attrs(attrs: Mapping[str, Any]) -> list[str]:
    errors = []
    if attrs.get("kind") not in BASIS_KINDS:
        errors.append(f"kind must be one of {', '.join(BASIS_KINDS)}, got {attrs.get('kind')!r}")
    order: Any = attrs.get("order")
    grid: Any = attrs.get("grid")
    if attrs.get("kind") in GLOBAL_KINDS:
        if not (is_int(order) and 1 <= order <= MAX_GLOBAL_FUNCTIONS):
            errors.append(f"order (the number of functions) must be an integer in "
                          f"1..{MAX_GLOBAL_FUNCTIONS}, got {order!r}")
        if attrs.get("kind") == "fourier" and is_int(order) and order % 2 == 0:
            errors.append(f"a fourier basis has an odd number of functions, got {order}")
        if (grid, attrs.get("domain"), attrs.get("knots")) != (1, (-1, 1), "uniform"):
            errors.append("a global basis has grid=1, domain=[-1, 1], knots=uniform")
        return errors
    if not (is_int(order) and 1 <= order <= MAX_ORDER):
        errors.append(f"order must be an integer in 1..{MAX_ORDER}, got {order!r}")
    if not (is_int(grid) and grid >= 1):
        errors.append(f"grid must be a positive integer, got {grid!r}")
    domain: Any = attrs.get("domain")
    if not (isinstance(domain, tuple) and len(domain) == 2 and all(map(is_number, domain))
            and domain[0] < domain[1]):
        errors.append(f"domain must be [a, b] with exact numbers a < b, got {domain!r}")
    knots: Any = attrs.get("knots")
    if knots != "uniform":
        ok = isinstance(knots, tuple) and all(map(is_number, knots)) and \
            all(u < v for u, v in zip(knots, knots[1:]))
        if not ok:
            errors.append("knots must be \"uniform\" or strictly increasing exact numbers")
        elif is_int(grid) and len(knots) != grid + 1:
            errors.append(f"knots has {len(knots)} points but grid={grid} needs {grid + 1}")
        elif isinstance(domain, tuple) and (knots[0], knots[-1]) != domain:
            errors.append(f"knots run from {knots[0]} to {knots[-1]} but domain is {domain}")
    return errors


def _check_lowering_attrs(attrs: Mapping[str, Any]) -> list[str]:
    """Shapes of stencil / pieces, given valid order and grid."""
    errors = []
    order, grid = attrs["order"], attrs["grid"]
    nb = n_basis(order, grid)
    if "stencil" in attrs:
        stencil = attrs["stencil"]
        band = order + 1
        shared = isinstance(stencil, tuple) and len(stencil) == band and \
            all(map(is_number, stencil))
        per_row = isinstance(stencil, tuple) and len(stencil) == nb and all(
            isinstance(row, tuple) and len(row) == band and all(map(is_number, row))
            for row in stencil)
        if not (shared or per_row):
            errors.append(f"stencil must be one band of {band} numbers or {nb} such bands")
        if not is_number(attrs.get("stencil_scale")):
            errors.append("stencil needs a numeric stencil_scale")
    eval_mode = attrs.get("eval")
    if eval_mode is not None and eval_mode not in EVAL_MODES:
        errors.append(f"eval must be one of {', '.join(EVAL_MODES)}, got {eval_mode!r}")
    if eval_mode is not None and (eval_mode == "dense") != (attrs.get("kind") == "relu"):
        errors.append(f"eval={eval_mode} does not apply to kind={attrs.get('kind')} "
                      "(kind relu is evaluated dense, kind bspline locally)")
    is_global = attrs.get("kind") in GLOBAL_KINDS
    if eval_mode is not None and (eval_mode == "recurrence") != is_global:
        errors.append(f"eval={eval_mode} does not apply to kind={attrs.get('kind')} (the "
                      "global kinds are evaluated by recurrence, and only they)")
    if is_global and "stencil" in attrs:
        errors.append(f"kind={attrs.get('kind')} has no stencil")
    polynomial = is_global and attrs.get("kind") != "fourier"
    if "recurrence" in attrs:
        steps = attrs["recurrence"]
        if not polynomial:
            errors.append(f"kind={attrs.get('kind')} has no recurrence attribute")
        elif not (isinstance(steps, tuple) and len(steps) == order - 1 and all(
                isinstance(s, tuple) and len(s) == 2 and all(map(is_number, s)) for s in steps)):
            errors.append(f"recurrence must be {order - 1} pairs [a_k, c_k]")
    elif polynomial and eval_mode == "recurrence":
        errors.append("eval=recurrence needs the recurrence attribute (run derive-stencils)")
    if eval_mode == "relu-local" and "stencil" not in attrs:
        errors.append("eval=relu-local needs the stencil attribute")
    if eval_mode == "horner" and "pieces" not in attrs:
        errors.append("eval=horner needs the pieces attribute")
    for key in ("pieces", "dpieces"):
        if key not in attrs:
            continue
        pieces = attrs[key]

        def is_table(t: object) -> bool:
            return isinstance(t, tuple) and len(t) == order and all(
                isinstance(row, tuple) and len(row) == order and all(map(is_number, row))
                for row in t)

        if not (is_table(pieces) or (isinstance(pieces, tuple) and len(pieces) == grid
                                     and all(map(is_table, pieces)))):
            errors.append(f"{key} must be one {order}x{order} table or {grid} of them")
    return errors


OPS_WITH_BASIS = ("kan.layer", "kan.basis", "kan.fused_layer", "kan.vjp_input", "kan.vjp_coef",
                  "kan.tucker_layer", "kan.vjp_tucker")
GRADIENT_OPS = ("kan.vjp_coef", "kan.vjp_input", "kan.vjp_tucker")


def _check_loss_attrs(attrs: Mapping[str, Any], kinds: tuple[str, ...]) -> list[str]:
    errors = []
    if attrs.get("kind") not in kinds:
        errors.append(f"kind must be one of {', '.join(kinds)}, got {attrs.get('kind')!r}")
    weight: Any = attrs.get("weight")
    if not (is_number(weight) and weight > 0):
        errors.append(f"weight must be a positive exact number, got {weight!r}")
    return errors


def check_attrs(op: Op) -> list[str]:
    """Semantic attribute errors of a kan op (schema keys are checked by the verifier)."""
    attrs = op.attr_dict
    if op.name in ("kan.loss", "kan.loss_grad"):
        return _check_loss_attrs(attrs, LOSS_KINDS)
    if op.name in ("kan.penalty", "kan.penalty_grad"):
        return _check_loss_attrs(attrs, PENALTY_KINDS)
    if op.name not in OPS_WITH_BASIS:
        return []
    errors = _check_basis_attrs(attrs)
    if not errors:
        errors += _check_lowering_attrs(attrs)
    wants_dx = op.name == "kan.vjp_input" or (op.name == "kan.vjp_tucker" and
                                              len(op.results) == 5)
    if not errors and wants_dx and attrs.get("eval") == "horner" and "dpieces" not in attrs:
        errors.append(f"{op.name} with eval=horner and d/dx needs the dpieces attribute")
    return errors


def _dtype_of(op: Op) -> str:
    return op.operands[0].type.dtype


def _infer_layer(op: Op) -> tuple[TensorType, ...]:
    x, coef = op.operands
    _require_rank(x, 2)
    _require_rank(coef, 3)
    if coef.type.shape[0] != x.type.shape[1]:
        raise TypeError(f"{_ref(coef)} has {coef.type.shape[0]} inputs but {_ref(x)} has "
                        f"{x.type.shape[1]} features")
    nb = n_basis(op.attr("order"), op.attr("grid"))
    if coef.type.shape[2] != nb:
        raise TypeError(f"{_ref(coef)} has {coef.type.shape[2]} basis coefficients per edge "
                        f"but the basis has {nb} functions (grid + order - 1)")
    _require_same_dtype(op)
    return (TensorType(_dtype_of(op), (x.type.shape[0], coef.type.shape[1])),)


def _infer_basis(op: Op) -> tuple[TensorType, ...]:
    (x,) = op.operands
    _require_rank(x, 2)
    nb = n_basis(op.attr("order"), op.attr("grid"))
    return (TensorType(_dtype_of(op), (*x.type.shape, nb)),)


def _infer_contract(op: Op) -> tuple[TensorType, ...]:
    basis, coef = op.operands
    _require_rank(basis, 3)
    _require_rank(coef, 3)
    b, p, nb = basis.type.shape
    if (coef.type.shape[0], coef.type.shape[2]) != (p, nb):
        raise TypeError(f"{_ref(coef)} of shape {coef.type} does not contract with "
                        f"{_ref(basis)} of type {basis.type} (need [{p},out,{nb}])")
    _require_same_dtype(op)
    return (TensorType(_dtype_of(op), (b, coef.type.shape[1])),)


def _infer_vjp(op: Op) -> tuple[TensorType, ...]:
    x, coef, grad = op.operands
    (y,) = _infer_layer(Op(op.name, (x, coef), op.attrs, op.results))
    if grad.type != y:
        raise TypeError(f"{_ref(grad)} has type {grad.type} but the layer's output is {y}")
    return (x.type,) if op.name == "kan.vjp_input" else (coef.type,)


def _infer_tucker(op: Op) -> tuple[TensorType, ...]:
    x, core, u1, u2, u3 = op.operands[:5]
    _require_rank(x, 2)
    _require_rank(core, 3)
    for factor in (u1, u2, u3):
        _require_rank(factor, 2)
    nb = n_basis(op.attr("order"), op.attr("grid"))
    if u1.type.shape[0] != x.type.shape[1]:
        raise TypeError(f"{_ref(u1)} has {u1.type.shape[0]} rows but {_ref(x)} has "
                        f"{x.type.shape[1]} features")
    if u3.type.shape[0] != nb:
        raise TypeError(f"{_ref(u3)} has {u3.type.shape[0]} rows but the basis has {nb} "
                        "functions (grid + order - 1)")
    ranks = tuple(f.type.shape[1] for f in (u1, u2, u3))
    if core.type.shape != ranks:
        raise TypeError(f"{_ref(core)} has shape {core.type} but the factors' ranks are "
                        f"{list(ranks)}")
    _require_same_dtype(op)
    y = TensorType(_dtype_of(op), (x.type.shape[0], u2.type.shape[0]))
    if op.name == "kan.tucker_layer":
        return (y,)
    grad = op.operands[5]
    if grad.type != y:
        raise TypeError(f"{_ref(grad)} has type {grad.type} but the layer's output is {y}")
    grads = (core.type, u1.type, u2.type, u3.type)
    return grads + (x.type,) if len(op.results) == 5 else grads


def _infer_loss(op: Op) -> tuple[TensorType, ...]:
    pred, target = op.operands
    _require_rank(pred, 2)
    if op.attr("kind") == "cross_entropy":
        expected = TensorType("i32", pred.type.shape[:1])
        what = "class labels for"
    else:
        expected = pred.type
        what = "the same type as"
    if target.type != expected:
        raise TypeError(f"{_ref(target)} must be {expected} ({what} {_ref(pred)}), "
                        f"got {target.type}")
    if op.name == "kan.loss_grad":
        return (pred.type,)
    return (TensorType(_dtype_of(op), ()),)


def _infer_penalty(op: Op) -> tuple[TensorType, ...]:
    (param,) = op.operands
    return (param.type,) if op.name == "kan.penalty_grad" else (TensorType(param.type.dtype, ()),)


def _infer_add(op: Op) -> tuple[TensorType, ...]:
    a, b = op.operands
    if a.type != b.type:
        raise TypeError(f"{_ref(a)} of type {a.type} and {_ref(b)} of type {b.type} differ")
    return (a.type,)


def _ref(v: Value | Param) -> str:
    return f"%{v.name}" if isinstance(v, Value) else f"@{v.name}"


def _require_rank(v: Value | Param, rank: int) -> None:
    if v.type.rank != rank:
        raise TypeError(f"{_ref(v)} must have rank {rank}, has type {v.type}")


def _require_same_dtype(op: Op) -> None:
    dtypes = {o.type.dtype for o in op.operands}
    if len(dtypes) != 1:
        raise TypeError(f"operands mix dtypes {sorted(dtypes)}")


OPS: dict[str, OpDef] = {d.name: d for d in (
    OpDef("kan.layer", (Value, Param), BASIS_KEYS, (), _infer_layer,
          "one KAN layer: y[:, q] = sum_p sum_i coef[p, q, i] B_i(x[:, p])"),
    OpDef("kan.basis", (Value,), BASIS_KEYS, LOWERING_KEYS, _infer_basis,
          "the basis tensor [B, in, n_b] of x"),
    OpDef("kan.contract", (Value, Param), (), (), _infer_contract,
          "y[:, q] = sum_p sum_i basis[:, p, i] coef[p, q, i]"),
    OpDef("kan.fused_layer", (Value, Param), BASIS_KEYS + ("eval",),
          tuple(key for key in LOWERING_KEYS if key != "eval"), _infer_layer,
          "kan.basis + kan.contract evaluated locally, the basis tensor never materialized"),
    OpDef("kan.vjp_input", (Value, Param, Value), BASIS_KEYS + ("eval",),
          tuple(key for key in LOWERING_KEYS if key != "eval"), _infer_vjp,
          "dx[:, p] = sum_q g[:, q] sum_i coef[p, q, i] B'_i(x[:, p]) of a fused layer"),
    OpDef("kan.vjp_coef", (Value, Param, Value), BASIS_KEYS + ("eval",),
          tuple(key for key in LOWERING_KEYS if key != "eval"), _infer_vjp,
          "dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p]) of a fused layer (@coef names it)"),
    OpDef("kan.tucker_layer", (Value, Param, Param, Param, Param), BASIS_KEYS,
          tuple(key for key in LOWERING_KEYS if key != "dpieces"), _infer_tucker,
          "a KAN layer with coef = core x1 U1 x2 U2 x3 U3, evaluated without forming coef"),
    OpDef("kan.vjp_tucker", (Value, Param, Param, Param, Param, Value), BASIS_KEYS + ("eval",),
          tuple(key for key in LOWERING_KEYS if key != "eval"), _infer_tucker,
          "(dcore, dU1, dU2, dU3[, dx]) of a kan.tucker_layer from d(loss)/dy"),
    OpDef("kan.loss", (Value, Value), LOSS_KEYS, (), _infer_loss,
          "weight * loss(prediction, target): mse (mean over batch and outputs) or "
          "cross_entropy (mean over batch, i32 labels)"),
    OpDef("kan.loss_grad", (Value, Value), LOSS_KEYS, (), _infer_loss,
          "d(kan.loss)/d(prediction)"),
    OpDef("kan.penalty", (Param,), LOSS_KEYS, (), _infer_penalty,
          "weight * sum(coef^2) (kind l2)"),
    OpDef("kan.penalty_grad", (Param,), LOSS_KEYS, (), _infer_penalty,
          "d(kan.penalty)/d(coef)"),
    OpDef("kan.add", (Value, Value), (), (), _infer_add, "a + b, same types"),
)}

ATTR_ORDER = BASIS_KEYS + LOWERING_KEYS + ("weight",)


def canonical_attr_order(op: Op) -> Op:
    """Same op with attributes in the dialect's canonical order (unknown keys last)."""
    rank = {k: i for i, k in enumerate(ATTR_ORDER)}
    ordered = sorted(op.attrs, key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return Op(op.name, op.operands, tuple(ordered), op.results)
