"""lower-basis: choose how each basis op is evaluated (option ``eval``).

  horner       (default) per-cell polynomial pieces in s = (x - t_k)/h_k, derived exactly
               from the stencil and evaluated in Horner form: O(r) per basis function and
               accurate in float32 (DESIGN.md 5)
  relu-local   the stencil applied to the r truncated powers of the cell (the multilevel
               paper's ReLU form, evaluated locally); cancels as r grows, see DESIGN.md 5
  cox-de-boor  the de Boor triangle of the cell, O(r^2); needs no stencil

horner and relu-local read the stencil attribute, so derive-stencils must run first.
Basis ops of kind relu (made by to-relu-basis) are always lowered to eval=dense, and the
global kinds (chebyshev, legendre, taylor, fourier) to eval=recurrence (deriving the
recurrence attribute when derive-stencils has not). A layer with one knot vector per input
is always lowered to eval=cox-de-boor, which reads its knots from a per-input table.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from kancc import symbolic
from kancc.errors import PassError
from kancc.ir import (
    GLOBAL_KINDS,
    Attr,
    Graph,
    Op,
    Trait,
    extended_knots,
    grid_points,
    has_trait,
    is_per_input,
)

from .options import Choice, option
from .pass_types import Pass, PassResult


@dataclass(frozen=True)
class LowerBasisOptions:
    eval: str = option("horner", Choice(("horner", "cox-de-boor", "relu-local")),
                       "how the B-spline layers are evaluated")


def stencil_bands(op: Op, knots: tuple[Fraction, ...]) -> list[tuple[Fraction, ...]]:
    """The op's stencil as one scaled band per row of A (shared bands repeated)."""
    stencil, scale = op.attr("stencil"), op.attr("stencil_scale")
    order = op.attr("order")
    rows = len(knots) - order
    if isinstance(stencil[0], tuple):
        return [tuple(scale * v for v in row) for row in stencil]
    return [tuple(scale * v for v in stencil)] * rows


def horner_pieces(op: Op) -> Attr:
    """Exact per-cell coefficient tables; one shared table when all cells agree."""
    order = op.attr("order")
    points = grid_points(op.attr_dict)
    if not isinstance(op.attr("stencil")[0], tuple):
        # A shared band means equal spacing, and then every cell has the same pieces in s:
        # derive them once, on a one-cell knot vector with the same spacing.
        points = points[:2]
    knots = extended_knots(points, order)
    tables = symbolic.local_pieces(order, knots, stencil_bands(op, knots))
    exact = tuple(tuple(tuple(map(symbolic.as_fraction, row)) for row in table) for table in tables)
    return exact[0] if all(t == exact[0] for t in exact) else exact


def derivative_pieces(op: Op, level: int = 1) -> Attr:
    """Exact pieces of d^level/dx^level B on each cell; one shared table when the grid is
    uniform (then every cell has the same pieces in s: derive them on one cell)."""
    order = op.attr("order")
    points = grid_points(op.attr_dict)
    if op.attr("knots") == "uniform":
        points = points[:2]
    tables = symbolic.local_derivative_pieces(order, extended_knots(points, order), level)
    exact = tuple(tuple(tuple(map(symbolic.as_fraction, row)) for row in table)
                  for table in tables)
    return exact[0] if all(t == exact[0] for t in exact) else exact


def lower_op(op: Op, mode: str, where: str) -> Op:
    if op.attr("kind") == "relu":
        return op.without_attrs("eval").with_attrs(eval="dense")
    if op.attr("kind") in GLOBAL_KINDS:
        if op.attr("kind") != "fourier" and not op.has_attr("recurrence"):
            steps = symbolic.recurrence(op.attr("kind"), op.attr("order"))
            op = op.with_attrs(recurrence=steps)
        return op.without_attrs("eval").with_attrs(eval="recurrence")
    if has_trait(op, Trait.JET):
        return lower_jet_op(op, mode, where)
    if is_per_input(op.attr_dict):  # one knot vector per input: de Boor reads them all
        return op.without_attrs("eval", "pieces").with_attrs(eval="cox-de-boor")
    if mode in ("horner", "relu-local") and not op.has_attr("stencil"):
        raise PassError(f"{where} ({op.name} %{op.result.name}) has no stencil attribute; "
                        f"run derive-stencils before lower-basis{{eval={mode}}}")
    lowered = op.without_attrs("eval", "pieces").with_attrs(eval=mode)
    if mode == "horner":
        lowered = lowered.with_attrs(pieces=horner_pieces(op))
    return lowered


def lower_jet_op(op: Op, mode: str, where: str) -> Op:
    """A B-spline jet layer: horner, with the exact pieces of B' and (jet 2) of B''."""
    if is_per_input(op.attr_dict) or mode != "horner":
        what = "one knot vector per input" if is_per_input(op.attr_dict) else f"eval={mode}"
        raise PassError(f"{where} ({op.name} %{op.results[0].name}): {what} does not apply "
                        "to jet layers, which are evaluated by exact horner pieces")
    if not op.has_attr("stencil"):
        raise PassError(f"{where} ({op.name} %{op.results[0].name}) has no stencil attribute; "
                        "run derive-stencils before lower-basis")
    levels = {"dpieces": 1, "d2pieces": 2} if op.attr("jet") == 2 else {"dpieces": 1}
    derivatives = {key: derivative_pieces(op, level) for key, level in levels.items()}
    return op.without_attrs("eval", "pieces", *levels).with_attrs(
        eval="horner", pieces=horner_pieces(op), **derivatives)


def lower_basis(graph: Graph, options: LowerBasisOptions) -> PassResult:
    ops = [lower_op(op, options.eval, f"op {index}") if has_trait(op, Trait.FORWARD_BASIS)
           else op for index, op in enumerate(graph.ops)]
    return PassResult(graph.with_ops(ops))


PASS = Pass("lower-basis", "choose the basis evaluation: horner | relu-local | cox-de-boor",
            lower_basis, LowerBasisOptions)
