"""What the attributes of the ``kan`` ops mean, and the checks of their values.

Basis attributes (every op with the BASIS trait):
  kind          "bspline", or "relu": the truncated powers psi_j(x) = (x - t_j)_+^(r-1),
                j = 0..n_b-1 over the full extended knots (r = 1: the step H(x - t_j));
                for t_j <= a the untruncated power, so both kinds extrapolate alike. A relu
                layer's coef is w = A^T u of the B-spline layer it came from
  order         r = degree + 1, 1..6
  grid          n, number of intervals on the domain
  domain        [a, b], exact
  knots         "uniform" or the n+1 grid points [t_0 = a, ..., t_n = b], exact; or, per
                input, one full knot vector per input [[t_{1-r}, ..., t_{n+r-1}], ...]
                (as pykan and efficient-kan hold their grids: exterior knots included), all
                with the same n; then domain is the hull of their [t_0, t_n]

Lowering attributes (added by passes):
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
  dpieces       for eval=horner on ops that need d/dx: the same tables for d/dx B_{k+m}
                (degree r-2; the last column is zero)
  d2pieces      for eval=horner on jet ops of order 2 (and the reverse of order 1): the
                tables of d2/dx2 B_{k+m}
  d3pieces      on the reverse of a jet of order 2: the tables of d3/dx3 B_{k+m}
  recurrence    for the polynomial global kinds: [[a_k, c_k], ...], k = 0..order-2, with
                phi_{k+1} = a_k t phi_k - c_k phi_{k-1} (derived by derive-stencils)

Global kinds ("chebyshev", "legendre", "taylor", "fourier"; the LoTRA paper's bases): their
``order`` is the number of basis functions n_b (all nonzero everywhere) on grid = 1 cell of
domain [-1, 1], uniform; the input is normalized by t = tanh(x) and the functions are
T_k(t), P_k(t), t^k, or 1, cos(pi t), sin(pi t), ..., cos(K pi t), sin(K pi t)
(kancc.symbolic). They are evaluated with eval="recurrence".

Loss attributes: ``kind`` (mse | cross_entropy; l2 for penalties) and a positive exact
``weight``.

Out-of-domain policy: a backend evaluates x outside [a, b] with the polynomial piece of the
nearest edge cell (like scipy's BSpline(extrapolate=True)); NaN propagates to the outputs it
touches.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

GLOBAL_KINDS = ("chebyshev", "legendre", "taylor", "fourier")  # = kancc.symbolic's
BASIS_KINDS = ("bspline", "relu") + GLOBAL_KINDS
EVAL_MODES = ("cox-de-boor", "relu-local", "horner", "dense", "recurrence")
MAX_ORDER = 6
MAX_GLOBAL_FUNCTIONS = 41
BASIS_KEYS = ("kind", "order", "grid", "domain", "knots")
LOWERING_KEYS = ("stencil", "stencil_scale", "eval", "pieces", "dpieces", "d2pieces",
                 "d3pieces", "recurrence")
PIECES_OF_LEVEL = ("pieces", "dpieces", "d2pieces", "d3pieces")  # d^m/dx^m B: its attribute
JET_ORDERS = (1, 2)  # the derivative orders a jet carries (attribute ``jet``)
LOSS_KINDS = ("mse", "cross_entropy")
PENALTY_KINDS = ("l2",)
LOSS_KEYS = ("kind", "weight")


def is_number(v: object) -> bool:
    return isinstance(v, (int, Fraction)) and not isinstance(v, bool)


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_per_input(attrs: Mapping[str, Any]) -> bool:
    """Whether the op's knots are one full knot vector per input."""
    knots = attrs.get("knots")
    return isinstance(knots, tuple) and bool(knots) and isinstance(knots[0], tuple)


def input_knots(attrs: Mapping[str, Any]) -> tuple[tuple[Fraction, ...], ...]:
    """The full knot vectors t_{1-r} .. t_{n+r-1} of every input of a per-input op."""
    return tuple(tuple(Fraction(v) for v in row) for row in attrs["knots"])


def n_basis(order: int, grid: int) -> int:
    """Number of B-splines of order r on n intervals: n + r - 1."""
    return grid + order - 1


def grid_points(attrs: Mapping[str, Any]) -> tuple[Fraction, ...]:
    """The n+1 exact grid points t_0 = a < ... < t_n = b of a basis op (shared by its inputs:
    a per-input op has none, and asking is a ValueError)."""
    knots = attrs["knots"]
    if is_per_input(attrs):
        raise ValueError("this op has one knot vector per input: read input_knots(attrs)")
    if knots == "uniform":
        a, b = (Fraction(v) for v in attrs["domain"])
        n = int(attrs["grid"])
        return tuple(a + (b - a) * i / n for i in range(n + 1))
    return tuple(Fraction(v) for v in knots)


def extended_rows(attrs: Mapping[str, Any]) -> tuple[tuple[Fraction, ...], ...]:
    """Each input's full knot vector t_{1-r} .. t_{n+r-1}: a per-input op's own rows, else
    the one row its grid points extend to (``extended_knots``)."""
    if is_per_input(attrs):
        return input_knots(attrs)
    return (extended_knots(grid_points(attrs), int(attrs["order"])),)


def extended_knots(points: tuple[Fraction, ...], order: int) -> tuple[Fraction, ...]:
    """The full knot vector t_{1-r} .. t_{n+r-1}: end intervals repeated outward (DESIGN 6)."""
    first, last = points[1] - points[0], points[-1] - points[-2]
    left = tuple(points[0] - k * first for k in range(order - 1, 0, -1))
    right = tuple(points[-1] + k * last for k in range(1, order))
    return left + tuple(points) + right


def basis_errors(name: str, attrs: Mapping[str, Any], wants_dx: bool,
                 derivatives: int | None = None) -> list[str]:
    """Errors of the basis attributes, then (if those are sound) of the lowering ones; an op
    that computes d/dx (``derivatives`` of them: 1, or up to 3 for jets and their reverse)
    with eval=horner needs its dpieces (and d2pieces, d3pieces)."""
    errors = _basis_attr_errors(attrs)
    if not errors:
        errors += _lowering_attr_errors(attrs)
    needed = PIECES_OF_LEVEL[1:1 + (derivatives if derivatives is not None else wants_dx)]
    for level, key in enumerate(needed, start=1):
        if not errors and attrs.get("eval") == "horner" and key not in attrs:
            what = "d/dx" if level == 1 else f"d{level}/dx{level}"
            errors.append(f"{name} with eval=horner and {what} needs the {key} attribute")
    return errors


def jet_errors(name: str, attrs: Mapping[str, Any]) -> list[str]:
    """The ``jet`` attribute of a jet op: the derivative order its values carry."""
    jet = attrs.get("jet")
    if not (is_int(jet) and jet in JET_ORDERS):
        return [f"{name}: jet must be one of {', '.join(map(str, JET_ORDERS))}, got {jet!r}"]
    return []


def _basis_attr_errors(attrs: Mapping[str, Any]) -> list[str]:
    errors = []
    if attrs.get("kind") not in BASIS_KINDS:
        errors.append(f"kind must be one of {', '.join(BASIS_KINDS)}, got {attrs.get('kind')!r}")
    if attrs.get("kind") in GLOBAL_KINDS:
        return errors + _global_attr_errors(attrs)
    order: Any = attrs.get("order")
    grid: Any = attrs.get("grid")
    if not (is_int(order) and 1 <= order <= MAX_ORDER):
        errors.append(f"order must be an integer in 1..{MAX_ORDER}, got {order!r}")
    if not (is_int(grid) and grid >= 1):
        errors.append(f"grid must be a positive integer, got {grid!r}")
    domain: Any = attrs.get("domain")
    if not (isinstance(domain, tuple) and len(domain) == 2 and all(map(is_number, domain))
            and domain[0] < domain[1]):
        errors.append(f"domain must be [a, b] with exact numbers a < b, got {domain!r}")
    knots: Any = attrs.get("knots")
    if is_per_input(attrs):
        return errors + _per_input_errors(attrs)
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


def _per_input_errors(attrs: Mapping[str, Any]) -> list[str]:
    """One full knot vector per input: n + 2(r - 1) + 1 increasing numbers each."""
    order: Any = attrs.get("order")
    grid: Any = attrs.get("grid")
    domain = attrs.get("domain")
    if not (is_int(order) and is_int(grid)):
        return []
    length = grid + 2 * (order - 1) + 1
    for p, row in enumerate(attrs["knots"]):
        ok = isinstance(row, tuple) and len(row) == length and all(map(is_number, row)) and \
            all(u < v for u, v in zip(row, row[1:]))
        if not ok:
            return [f"knots[{p}] must be {length} strictly increasing exact numbers (the "
                    f"full knot vector of grid={grid}, order={order})"]
    inner = [(row[order - 1], row[order - 1 + grid]) for row in attrs["knots"]]
    hull = (min(a for a, _ in inner), max(b for _, b in inner))
    if domain != hull:
        return [f"domain must be the hull [{hull[0]}, {hull[1]}] of the inputs' grids, "
                f"got {domain!r}"]
    return []


def _global_attr_errors(attrs: Mapping[str, Any]) -> list[str]:
    errors = []
    order: Any = attrs.get("order")
    if not (is_int(order) and 1 <= order <= MAX_GLOBAL_FUNCTIONS):
        errors.append(f"order (the number of functions) must be an integer in "
                      f"1..{MAX_GLOBAL_FUNCTIONS}, got {order!r}")
    if attrs.get("kind") == "fourier" and is_int(order) and order % 2 == 0:
        errors.append(f"a fourier basis has an odd number of functions, got {order}")
    if (attrs.get("grid"), attrs.get("domain"), attrs.get("knots")) != (1, (-1, 1), "uniform"):
        errors.append("a global basis has grid=1, domain=[-1, 1], knots=uniform")
    return errors


def _lowering_attr_errors(attrs: Mapping[str, Any]) -> list[str]:
    """Shapes of stencil / pieces and the evaluation mode, given valid order and grid."""
    errors = _stencil_errors(attrs) + _eval_errors(attrs)
    order, grid = attrs["order"], attrs["grid"]
    for key in PIECES_OF_LEVEL:
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


def _stencil_errors(attrs: Mapping[str, Any]) -> list[str]:
    if "stencil" not in attrs:
        return []
    errors = []
    nb = n_basis(attrs["order"], attrs["grid"])
    stencil, band = attrs["stencil"], attrs["order"] + 1
    shared = isinstance(stencil, tuple) and len(stencil) == band and \
        all(map(is_number, stencil))
    per_row = isinstance(stencil, tuple) and len(stencil) == nb and all(
        isinstance(row, tuple) and len(row) == band and all(map(is_number, row))
        for row in stencil)
    if not (shared or per_row):
        errors.append(f"stencil must be one band of {band} numbers or {nb} such bands")
    if not is_number(attrs.get("stencil_scale")):
        errors.append("stencil needs a numeric stencil_scale")
    return errors


def _eval_errors(attrs: Mapping[str, Any]) -> list[str]:
    """The evaluation mode against the kind, and the attributes the mode reads."""
    errors = []
    eval_mode, kind = attrs.get("eval"), attrs.get("kind")
    if eval_mode is not None and eval_mode not in EVAL_MODES:
        errors.append(f"eval must be one of {', '.join(EVAL_MODES)}, got {eval_mode!r}")
    if eval_mode is not None and (eval_mode == "dense") != (kind == "relu"):
        errors.append(f"eval={eval_mode} does not apply to kind={kind} "
                      "(kind relu is evaluated dense, kind bspline locally)")
    is_global = kind in GLOBAL_KINDS
    if eval_mode is not None and (eval_mode == "recurrence") != is_global:
        errors.append(f"eval={eval_mode} does not apply to kind={kind} (the "
                      "global kinds are evaluated by recurrence, and only they)")
    if is_global and "stencil" in attrs:
        errors.append(f"kind={kind} has no stencil")
    polynomial = is_global and kind != "fourier"
    if "recurrence" in attrs:
        steps, order = attrs["recurrence"], attrs["order"]
        if not polynomial:
            errors.append(f"kind={kind} has no recurrence attribute")
        elif not (isinstance(steps, tuple) and len(steps) == order - 1 and all(
                isinstance(s, tuple) and len(s) == 2 and all(map(is_number, s)) for s in steps)):
            errors.append(f"recurrence must be {order - 1} pairs [a_k, c_k]")
    elif polynomial and eval_mode == "recurrence":
        errors.append("eval=recurrence needs the recurrence attribute (run derive-stencils)")
    if eval_mode == "relu-local" and "stencil" not in attrs:
        errors.append("eval=relu-local needs the stencil attribute")
    if eval_mode == "horner" and "pieces" not in attrs:
        errors.append("eval=horner needs the pieces attribute")
    return errors


def loss_errors(attrs: Mapping[str, Any], kinds: tuple[str, ...]) -> list[str]:
    errors = []
    if attrs.get("kind") not in kinds:
        errors.append(f"kind must be one of {', '.join(kinds)}, got {attrs.get('kind')!r}")
    weight: Any = attrs.get("weight")
    if not (is_number(weight) and weight > 0):
        errors.append(f"weight must be a positive exact number, got {weight!r}")
    return errors
