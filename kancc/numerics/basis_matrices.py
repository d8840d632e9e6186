"""The exact change-of-basis and prolongation matrices as float64 arrays, and the
coefficient maps they define.

The matrices are derived exactly by ``kancc.symbolic`` (each entry rounded to float64 once);
the maps act on coefficient tensors along their last (basis) axis in float64 and return the
input's dtype. Knot vectors are the full extended vectors t_{1-r} .. t_{n+r-1}.

    A^[r]  B = A psi on [a, b] (psi_j = ReLU(x - t_j)^(r-1)): w = A^T u, u = A^-T w
    P      u_fine = P u_coarse between nested grids (exact on [a, b])
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from scipy.linalg import solve_triangular

from kancc.symbolic import prolongation_entries, relu_stencil_bands


def relu_change_of_basis_float(order: int, knots: Sequence[Fraction]) -> np.ndarray:
    """A^[r] for the extended ``knots`` as float64 (exact banded entries rounded once),
    n_b x n_b, built from the bands without a dense sympy matrix."""
    bands = relu_stencil_bands(order, knots)
    n_b = len(bands)
    matrix = np.zeros((n_b, n_b))
    for i, band in enumerate(bands):
        for offset, value in enumerate(band[:n_b - i]):
            matrix[i, i + offset] = float(value)
    return matrix


def prolongation_matrix(order: int, coarse_knots: Sequence[Fraction],
                        fine_knots: Sequence[Fraction]) -> np.ndarray:
    """P in float64 (each exact entry rounded once), n_b_fine x n_b_coarse; raises
    ``kancc.symbolic.NotNestedError`` when the fine grid does not refine the coarse one."""
    matrix = np.zeros((len(fine_knots) - order, len(coarse_knots) - order))
    for row, column, value in prolongation_entries(order, coarse_knots, fine_knots):
        matrix[row, column] = float(value)
    return matrix


def prolongation_of_rows(order: int, coarse_rows: Sequence[Sequence[Fraction]],
                         fine_rows: Sequence[Sequence[Fraction]]) -> np.ndarray:
    """P of a layer from its full knot vectors (``extended_rows``): one matrix for knots its
    inputs share, one per input stacked (in, n_b_fine, n_b_coarse) for per-input knots."""
    if len(coarse_rows) == 1:
        return prolongation_matrix(order, coarse_rows[0], fine_rows[0])
    return np.stack([prolongation_matrix(order, c, f) for c, f in zip(coarse_rows, fine_rows)])


def prolong_coef(coef: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """coef (in, out, n_b_coarse) -> (in, out, n_b_fine): P applied along the basis axis
    (one P for every input, or one per input stacked as (in, n_b_fine, n_b_coarse))."""
    fine: np.ndarray = np.asarray(coef, dtype=np.float64) @ np.swapaxes(matrix, -1, -2)
    return fine.astype(np.asarray(coef).dtype)


def to_relu_weights(u: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """w = A^T u along the last axis."""
    w: np.ndarray = np.asarray(u, dtype=np.float64) @ matrix
    return w.astype(np.asarray(u).dtype)


def to_spline_coefficients(w: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """u = A^-T w along the last axis (A upper triangular: one triangular solve)."""
    w = np.asarray(w)
    flat = np.asarray(w, dtype=np.float64).reshape(-1, w.shape[-1])
    u = solve_triangular(matrix, flat.T, trans="T", lower=False).T
    return np.asarray(u.reshape(w.shape).astype(w.dtype))


def relu_weight_gradient(grad_u: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """dL/dw = A^-1 dL/du along the last axis, for u = A^-T w (one triangular solve)."""
    grad_u = np.asarray(grad_u)
    flat = np.asarray(grad_u, dtype=np.float64).reshape(-1, grad_u.shape[-1])
    grad_w = solve_triangular(matrix, flat.T, lower=False).T
    return np.asarray(grad_w.reshape(grad_u.shape).astype(grad_u.dtype))
