"""Refinement at the spec level: the spec of a finer grid, and whether one spec refines
another.

``refine_spec(spec, factor)`` splits every cell of every layer into ``factor`` equal cells
(the spec-level twin of the ``refine`` pass); ``check_refines(coarse, fine)`` says where a
fine spec's grids do not contain a coarse one's. Carrying trained coefficients across is
``kancc.frontend.prolong_params``.
"""

from __future__ import annotations

from dataclasses import replace

from kancc.errors import KanccError, SpecError
from kancc.symbolic import refine_knot_vector, refine_points

from .load import Spec, load_spec, spec_to_dict


def refine_spec(spec: Spec, factor: int = 2) -> Spec:
    """``spec`` with every grid cell split into ``factor`` equal cells (validated again:
    the finer grid must still fit the dtype and the grid limit)."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise KanccError(f"refinement factor must be an integer >= 2, got {factor!r}")
    raw = spec_to_dict(spec)
    for table, basis in zip(raw["layers"], spec.layers):
        if basis.knots == "uniform":
            table["grid"] = basis.grid * factor
        elif basis.per_input:
            table["knots"] = [[str(p) for p in refine_knot_vector(row, basis.order, factor)]
                              for row in basis.input_knots]
        else:
            table["knots"] = [str(p) for p in refine_points(basis.points, factor)]
    try:
        fine = load_spec(raw)
    except SpecError as exc:
        raise KanccError(f"refining {spec.name} by {factor}: {exc}") from None
    return replace(spec, layers=fine.layers)


def check_refines(coarse: Spec, fine: Spec) -> None:
    """Raise KanccError naming the first layer where ``fine`` does not refine ``coarse``."""
    if coarse.widths != fine.widths:
        raise KanccError(f"the fine model's widths {list(fine.widths)} differ from the coarse "
                         f"model's {list(coarse.widths)}")
    for index, (c, f) in enumerate(zip(coarse.layers, fine.layers)):
        where = f"layers[{index}]"
        if (c.kind, c.degree) != (f.kind, f.degree):
            raise KanccError(f"{where}: the fine layer is {f.kind} degree {f.degree}, the coarse "
                             f"one {c.kind} degree {c.degree}")
        if c.base != f.base:
            raise KanccError(f"{where}: the fine layer's base branch is {f.base!r}, the coarse "
                             f"one's {c.base!r}")
        if c.domain != f.domain:
            raise KanccError(f"{where}: domains differ (coarse [{c.domain[0]}, {c.domain[1]}], "
                             f"fine [{f.domain[0]}, {f.domain[1]}])")
        if c.per_input != f.per_input:
            raise KanccError(f"{where}: one side has a knot vector per input, the other not")
        for c_row, f_row in zip(c.grid_rows, f.grid_rows):
            missing = set(c_row) - set(f_row)
            if missing:
                raise KanccError(f"{where}: the fine knots are not nested: coarse grid point "
                                 f"{min(missing)} is not a fine grid point")
