"""kancc.symbolic: exact spline mathematics in sympy (standalone; imports nothing of kancc),
and the global bases of the LoTRA paper (global_bases.py).

Knot vectors are the full extended vectors t_{1-r} < ... < t_{n+r-1}, exact rationals.
"""

from .bspline import X, bspline_basis, bspline_cell_polynomials, bspline_derivative_cell_polynomials
from .change_of_basis import relu_change_of_basis, relu_stencil_bands, uniform_relu_change_of_basis
from .global_bases import GLOBAL_KINDS, basis_functions, n_functions, recurrence
from .knots import (
    as_fraction,
    as_knots,
    rational,
    refine_knot_vector,
    refine_points,
    uniform_knots,
)
from .pieces import local_derivative_pieces, local_pieces
from .prolongation import NotNestedError, interior_points, prolongation, prolongation_entries

__all__ = [
    "GLOBAL_KINDS", "X", "as_fraction", "as_knots", "basis_functions", "bspline_basis",
    "bspline_cell_polynomials", "n_functions", "recurrence",
    "bspline_derivative_cell_polynomials", "interior_points", "local_derivative_pieces",
    "local_pieces", "NotNestedError", "prolongation", "prolongation_entries",
    "rational", "refine_knot_vector", "refine_points", "relu_change_of_basis",
    "relu_stencil_bands", "uniform_knots",
    "uniform_relu_change_of_basis",
]
