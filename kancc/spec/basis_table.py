"""The [basis] and [[layers]] tables of a spec: one validated BasisSpec per layer.

A layer's basis is [basis] (or the defaults) overlaid with its [[layers]] table; every error
names the table its value came from (``layers[1].grid`` or ``basis.grid``). B-spline layers
take kind, degree, grid, domain and knots; the global kinds (Chebyshev, Legendre, Taylor,
Fourier, as in the LoTRA paper) take a degree only. ``layer_to_dict`` writes a layer back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from kancc.errors import KanccError
from kancc.ir import MAX_ORDER, extended_rows, grid_points, is_per_input
from kancc.numerics.hosvd import ranks_for
from kancc.symbolic.global_bases import GLOBAL_KINDS, n_functions
from kancc.symbolic.global_bases import MAX_DEGREE as MAX_GLOBAL_DEGREE

from .checker import Checker, describe, is_list, show, show_int
from .representable import check_representable, representability_problem

MAX_DEGREE = MAX_ORDER - 1
MAX_GRID = 4096
BASIS_KINDS = ("bspline",) + GLOBAL_KINDS  # the IR's "relu" kind is made by to-relu-basis
BASIS_KEYS = ("kind", "degree", "grid", "domain", "knots")
LAYER_KEYS = BASIS_KEYS + ("tucker", "base")
BASES = ("none", "silu")  # the base branch: y_q += sum_p w_b[p, q] b(x_p)
DEFAULT_BASIS = {"kind": "bspline", "degree": 3, "grid": 5, "domain": [-1, 1],
                 "knots": "uniform"}


@dataclass(frozen=True)
class BasisSpec:
    """The spline family of one layer (numbers exact) and how its coefficients are held:
    ``tucker`` None for the full (in, out, n_b) tensor, else the Tucker ranks (r1, r2, r3)
    of a factorized layer (core and three factors, kancc.numerics.hosvd). ``base`` "silu"
    adds the base branch sum_p w_b[p, q] silu(x_p) (as pykan and efficient-kan have)."""

    kind: str
    degree: int
    grid: int
    domain: tuple[Fraction, Fraction]
    # "uniform", the grid+1 points, or per input its full knot vector (grid + 2 degree + 1
    # points, exterior knots included; then domain is the hull of the inputs' [t_0, t_n])
    knots: str | tuple[Fraction, ...] | tuple[tuple[Fraction, ...], ...]
    tucker: tuple[int, int, int] | None = None
    base: str = "none"
    auto_domain: bool = False  # domain = "auto": chosen from data when training starts
    @property
    def order(self) -> int:
        """r = degree + 1 for B-splines; for a global kind, its number of functions."""
        if self.kind in GLOBAL_KINDS:
            return n_functions(self.kind, self.degree)
        return self.degree + 1

    @property
    def n_basis(self) -> int:
        return self.grid + self.order - 1

    @property
    def per_input(self) -> bool:
        """Whether each input has its own knot vector (``input_knots``)."""
        return is_per_input({"knots": self.knots})

    @property
    def points(self) -> tuple[Fraction, ...]:
        """The grid points t_0 = a < ... < t_n = b (the IR's rule, ``ir.grid_points``); a
        layer with per-input knots has none shared (KanccError: read ``input_knots``)."""
        if self.per_input:
            raise KanccError("this layer has one knot vector per input; this operation needs "
                             "knots shared by its inputs")
        return grid_points({"knots": self.knots, "domain": self.domain, "grid": self.grid})

    @property
    def grid_rows(self) -> tuple[tuple[Fraction, ...], ...]:
        """Each input's grid points t_0 .. t_n: one row per input of a per-input layer,
        else the one shared row."""
        if not self.per_input:
            return (self.points,)
        return tuple(row[self.degree:self.degree + self.grid + 1] for row in self.input_knots)

    @property
    def extended_rows(self) -> tuple[tuple[Fraction, ...], ...]:
        """Each input's full knot vector t_{1-r} .. t_{n+r-1} (one shared row unless the
        layer is per-input; kancc's exterior rule then, ``ir.extended_knots``)."""
        return extended_rows({"knots": self.knots, "domain": self.domain, "grid": self.grid,
                              "order": self.order})

    @property
    def input_knots(self) -> tuple[tuple[Fraction, ...], ...]:
        """Every input's full knot vector t_{1-r} .. t_{n+r-1} (a per-input layer's)."""
        assert self.per_input
        return self.knots  # type: ignore[return-value]


def global_basis(check: Checker, kind: str, merged: Mapping[str, Any],
                  where: dict[str, str], given: set[str]) -> BasisSpec:
    """A Chebyshev, Legendre, Taylor or Fourier layer: only its degree (for fourier, the
    number of harmonics); the input is normalized by tanh, so it has no grid or domain."""
    for key in ("grid", "domain", "knots"):
        if key in given:
            raise check.fail(where[key], f"does not apply to kind = \"{kind}\" (a global basis "
                                         "of t = tanh(x); give its degree only)")
    degree = check.integer(merged["degree"], where["degree"], 0, MAX_GLOBAL_DEGREE[kind])
    return BasisSpec(kind, degree, 1, (Fraction(-1), Fraction(1)), "uniform")


def layer_basis(check: Checker, default: dict[str, Any], override: Mapping[str, Any],
                index: int, dtype: str, given: set[str]) -> BasisSpec:
    """The basis of layer ``index``: [basis] (or the defaults) overlaid with its [[layers]]
    table; errors name the table each value came from."""
    merged = dict(default)
    if is_list(override.get("knots")):
        for key in ("grid", "domain"):  # a layer's explicit knots replace the default grid
            merged.pop(key, None)
    merged.update(override)
    where = {key: f"layers[{index}].{key}" if key in override else f"basis.{key}"
             for key in BASIS_KEYS}

    kind = check.choice(merged["kind"], where["kind"], BASIS_KINDS)
    if kind in GLOBAL_KINDS:  # [basis] grid keys are for the other layers if this one sets kind
        given_here = set(override) | (given if "kind" not in override else set())
        return global_basis(check, kind, merged, where, given_here)
    degree = check.integer(merged["degree"], where["degree"], 0, MAX_DEGREE)
    knots = merged["knots"]
    if isinstance(knots, str):
        check.choice(knots, where["knots"], ("uniform",))
        for key in ("grid", "domain"):
            if key not in merged:
                raise check.fail(f"layers[{index}].{key}", "missing: uniform knots need a grid "
                                 "and a domain, and [basis] gives explicit knots instead")
        grid = check.integer(merged["grid"], where["grid"], 1, MAX_GRID)
        if merged["domain"] == "auto":  # a placeholder until training resolves it
            return BasisSpec(kind, degree, grid, (Fraction(-1), Fraction(1)), "uniform",
                             auto_domain=True)
        domain = domain_of(check, merged["domain"], where["domain"])
        basis = BasisSpec(kind, degree, grid, domain, "uniform")
        check_representable(check, basis.points, basis.order, dtype, where["domain"],
                             where["grid"])
        return basis
    if not is_list(knots):
        raise check.fail(where["knots"], f"must be \"uniform\" or an array of grid points, "
                                         f"got {describe(knots)}")
    if knots and is_list(knots[0]):
        return per_input_basis(check, kind, degree, knots, merged, where, dtype)
    points = listed_points(check, knots, merged, where)
    check_representable(check, points, degree + 1, dtype, where["knots"], where["knots"])
    return BasisSpec(kind, degree, len(points) - 1, (points[0], points[-1]), points)


def per_input_basis(check: Checker, kind: str, degree: int, rows: list[Any],
                    merged: Mapping[str, Any], where: dict[str, str], dtype: str) -> BasisSpec:
    """One full knot vector per input (as pykan's and efficient-kan's grid buffers hold
    them): each grid + 2 degree + 1 strictly increasing exact numbers, the same count for
    every input; grid and domain, when given, must agree (domain: the hull)."""
    vectors: list[tuple[Fraction, ...]] = []
    for p, row in enumerate(rows):
        path = f"{where['knots']}[{p}]"
        if not is_list(row):
            raise check.fail(path, f"must be an array of knots, got {describe(row)}")
        vector = tuple(check.number(v, f"{path}[{i}]") for i, v in enumerate(row))
        if len(vector) != len(vectors[0] if vectors else vector):
            raise check.fail(path, f"has {len(vector)} knots, input 0 has {len(vectors[0])}")
        for i in range(1, len(vector)):
            if vector[i] <= vector[i - 1]:
                raise check.fail(f"{path}[{i}]", "knots must be strictly increasing")
        problem = representability_problem(vector, 1, dtype)
        if problem is not None:
            raise check.fail(path, problem[1])
        vectors.append(vector)
    grid = len(vectors[0]) - 2 * degree - 1
    if grid > MAX_GRID:
        raise check.fail(where["knots"], f"has {grid} cells per input; at most {MAX_GRID}")
    if grid < 1:
        raise check.fail(where["knots"], f"each input needs at least {2 * degree + 2} knots "
                                         f"(degree {degree}: its exterior knots included)")
    if "grid" in merged and check.integer(merged["grid"], where["grid"], 1, MAX_GRID) != grid:
        raise check.fail(where["grid"], f"is {merged['grid']} but each knot vector has "
                                        f"{grid} cells (grid + 2 degree + 1 knots)")
    hull = (min(v[degree] for v in vectors), max(v[degree + grid] for v in vectors))
    if "domain" in merged and domain_of(check, merged["domain"], where["domain"]) != hull:
        raise check.fail(where["domain"], "must be the hull of the inputs' grids, "
                                          f"[{show(hull[0])}, {show(hull[1])}], or be left out")
    return BasisSpec(kind, degree, grid, hull, tuple(vectors))


def with_input_count(check: Checker, basis: BasisSpec, n_in: int, index: int) -> BasisSpec:
    """A per-input layer holds one knot vector for each of its ``n_in`` inputs, and is not
    a Tucker layer (whose kernels evaluate the basis of all inputs as one column)."""
    if basis.per_input and len(basis.input_knots) != n_in:
        raise check.fail(f"layers[{index}].knots", f"has {len(basis.input_knots)} knot "
                                                   f"vectors; the layer has {n_in} inputs")
    if basis.per_input and basis.tucker is not None:
        raise check.fail(f"layers[{index}].tucker", "a layer with one knot vector per input "
                                                    "cannot be a Tucker layer yet")
    return basis


def listed_points(check: Checker, knots: list[Any], merged: Mapping[str, Any],
                  where: dict[str, str]) -> tuple[Fraction, ...]:
    """Explicit grid points: exact, increasing, and agreeing with any grid or domain given."""
    points = tuple(check.number(v, f"{where['knots']}[{i}]") for i, v in enumerate(knots))
    if len(points) < 2:
        raise check.fail(where["knots"], f"needs at least 2 points, got {len(points)}")
    if len(points) - 1 > MAX_GRID:
        raise check.fail(where["knots"], f"has {len(points) - 1} intervals; at most {MAX_GRID}")
    for i in range(1, len(points)):
        if points[i] <= points[i - 1]:
            raise check.fail(f"{where['knots']}[{i}]", f"must be greater than the point before "
                             f"({show(points[i - 1])}), got {show(points[i])}: knots must be "
                             "strictly increasing")
    if "grid" in merged:
        grid = check.integer(merged["grid"], where["grid"], 1, MAX_GRID)
        if grid != len(points) - 1:
            raise check.fail(where["grid"], f"is {grid} but knots has {len(points)} points "
                                            f"({len(points) - 1} intervals)")
    if "domain" in merged:
        domain = domain_of(check, merged["domain"], where["domain"])
        if domain != (points[0], points[-1]):
            raise check.fail(where["domain"], f"is [{show(domain[0])}, {show(domain[1])}] but "
                             f"knots run from {show(points[0])} to {show(points[-1])}")
    return points


def layer_to_dict(basis: BasisSpec) -> dict[str, Any]:
    """The [[layers]] table ``layer_basis`` reads back to ``basis`` (numbers as "p/q")."""
    table: dict[str, Any] = {"kind": basis.kind, "degree": basis.degree}
    if basis.kind in GLOBAL_KINDS:
        pass  # degree says it all
    elif basis.auto_domain:
        table.update(grid=basis.grid, domain="auto", knots="uniform")
    elif basis.knots == "uniform":
        table.update(grid=basis.grid, domain=[str(v) for v in basis.domain], knots="uniform")
    elif basis.per_input:
        table["knots"] = [[str(v) for v in row] for row in basis.input_knots]
    else:
        table["knots"] = [str(v) for v in basis.points]
    if basis.tucker is not None:
        table["tucker"] = list(basis.tucker)
    if basis.base != "none":
        table["base"] = basis.base
    return table


def with_base(check: Checker, basis: BasisSpec, value: object, index: int, own: bool
              ) -> BasisSpec:
    """``basis`` with its base branch ("none" or "silu"); a Tucker layer has none."""
    path = f"layers[{index}].base" if own else "basis.base"
    base = check.choice(value, path, BASES)
    if base != "none" and basis.tucker is not None:
        raise check.fail(path, "a Tucker (Slim) layer has no base branch; remove base or "
                               "tucker")
    return replace(basis, base=base)


def with_tucker(check: Checker, basis: BasisSpec, value: object, widths: tuple[int, int],
                 index: int, own: bool) -> BasisSpec:
    """``basis`` with its Tucker ranks: from cr in (0, 1] (r_k = ceil(cr * dim_k)) or from
    [r1, r2, r3], each at most its mode's size (in, out, n_b); ``false`` keeps a layer full
    when [basis] makes the others Tucker layers."""
    if value is None or value is False:
        return basis
    path = f"layers[{index}].tucker" if own else "basis.tucker"
    dims = (*widths, basis.n_basis)
    if is_list(value):
        items = check.array(value, path)
        if len(items) != 3:
            raise check.fail(path, f"must be a compression ratio or 3 ranks [in, out, basis], "
                                   f"got {len(items)} numbers")
        ranks = tuple(check.integer(v, f"{path}[{k}]", 1) for k, v in enumerate(items))
        for k, (rank, dim, mode) in enumerate(zip(ranks, dims, ("in", "out", "basis"))):
            if rank > dim:
                raise check.fail(f"{path}[{k}]", f"the {mode} rank {show_int(rank)} is larger "
                                                 f"than the mode's size {dim} (layer {index} is "
                                                 f"{dims[0]} x {dims[1]} x {dims[2]})")
    else:
        cr = check.number(value, path)
        if not 0 < cr <= 1:
            raise check.fail(path, f"a compression ratio must be in (0, 1], got {show(cr)}")
        ranks = ranks_for(dims, cr)
    return replace(basis, tucker=ranks)  # type: ignore[arg-type]


def domain_of(check: Checker, value: object, path: str) -> tuple[Fraction, Fraction]:
    if isinstance(value, str):
        raise check.fail(path, f'must be [a, b] or "auto" (with uniform knots), got '
                               f"{describe(value)}")
    items = check.array(value, path)
    if len(items) != 2:
        raise check.fail(path, f"must be [a, b], got {len(items)} numbers")
    a, b = (check.number(v, f"{path}[{i}]") for i, v in enumerate(items))
    if not a < b:
        raise check.fail(path, f"must have a < b, got [{show(a)}, {show(b)}]")
    return a, b
