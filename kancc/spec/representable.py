"""Whether a dtype can hold a layer's knots: refused in the spec, skipped by checks.

Every extended knot and 1/h must lie well inside the dtype's range, and no two neighbouring
knots may round to the same number (the cell of an input could not be told apart).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .checker import Checker, show


def representability_problem(points: tuple[Fraction, ...], order: int,
                             dtype: str) -> tuple[str, str] | None:
    """Why ``dtype`` cannot hold a layer with these grid points, as ("range" | "resolution",
    message), or None."""
    info = np.finfo(dtype)
    limit = Fraction(float(info.max)) / 16
    first, last = points[1] - points[0], points[-1] - points[-2]
    reach = max(abs(points[0] - (order - 1) * first), abs(points[-1] + (order - 1) * last))
    if reach > limit:
        return "range", (f"extended knots reach {show(reach)}, beyond what {dtype} holds "
                         f"safely ({show(limit)})")
    smallest = min(v - u for u, v in zip(points, points[1:]))
    if 1 / smallest > limit:
        return "resolution", f"cells as small as {show(smallest)} are below {dtype}'s range"
    held = [info.dtype.type(float(t)) for t in points]
    for i in range(1, len(held)):
        if held[i] <= held[i - 1]:
            return "resolution", (f"knots {i - 1} and {i} ({show(points[i - 1], 12)} and "
                                  f"{show(points[i], 12)}) are the same number in {dtype}: "
                                  "cells this small this far from 0 cannot be told apart (use "
                                  "float64, fewer cells, or a domain nearer 0)")
    return None


def check_representable(check: Checker, points: tuple[Fraction, ...], order: int, dtype: str,
                        range_path: str, resolution_path: str) -> None:
    problem = representability_problem(points, order, dtype)
    if problem is not None:
        kind, message = problem
        raise check.fail(range_path if kind == "range" else resolution_path, message)
