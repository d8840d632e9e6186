"""The Newton-Kaczmarz record loop (the Newton-Kaczmarz paper), compiled by numba: the
fast path.

The model is a chain of uniform-knot B-spline layers of one degree (1: piecewise linear, or
3: cubic); layer l maps z_l to z_{l+1}[q] = sum_p sum_i coef_l[p, q, i] B_i(z_l[p]), with
kancc's basis numbering (index i is B_{i+1-r}, so cell k touches indices k .. k+r-1) and
inputs outside [lo, lo + n h] evaluated with the edge cell's polynomial (kancc's policy).

For one record (x, y) with residual D = y - yhat, the Jacobian row J of yhat with respect to
the coefficients is sparse: d yhat / d coef_l[p, q, k_p + i] = g_{l+1}[q] B_i(z_l[p]), where
g_L = 1 and g_l[p] = sum_q g_{l+1}[q] f'_{l,p,q}(z_l[p]) (the paper's F^T products, every
slope taken before the update). The update is the relaxed projection
coef += alpha D J / ||J||^2; for one layer (a single function or a GAM) it scales that
record's residual by exactly (1 - alpha).

Why numba: the method is sequential in the records (each update changes the next record's
forward pass), so it cannot be batched into array operations, and a Python loop costs ~100x
the arithmetic. ``kancc.training.kaczmarz.reference_epoch`` computes the same update from
the compiled training program's gradients: the oracle this kernel is tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numba
import numpy as np

ORDERS = (2, 4)  # degree 1 (piecewise linear) and degree 3 (cubic)
# reassociation and contraction, but NaN and Inf keep their meaning (divergence is detected)
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _basis(order: int, s: float, b: np.ndarray, at: int) -> None:
    """The uniform B-spline pieces nonzero on a cell at in-cell coordinate s, into b[at:]."""
    if order == 2:
        b[at] = 1.0 - s
        b[at + 1] = s
    else:
        t = 1.0 - s
        s2 = s * s
        b[at] = t * t * t / 6.0
        b[at + 1] = (3.0 * s2 * s - 6.0 * s2 + 4.0) / 6.0
        b[at + 2] = (-3.0 * s2 * s + 3.0 * s2 + 3.0 * s + 1.0) / 6.0
        b[at + 3] = s2 * s / 6.0


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _basis_derivative(order: int, s: float, db: np.ndarray) -> None:
    """d/ds of the pieces of ``_basis``."""
    if order == 2:
        db[0] = -1.0
        db[1] = 1.0
    else:
        t = 1.0 - s
        s2 = s * s
        db[0] = -0.5 * t * t
        db[1] = 1.5 * s2 - 2.0 * s
        db[2] = -1.5 * s2 + s + 0.5
        db[3] = 0.5 * s2


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _cell(value: float, lo: float, inv_h: float, n_cells: int) -> tuple[int, float]:
    """The cell of ``value`` (clamped to the edge cells, NaN to cell 0, compared as floats
    so that huge values cannot overflow the index) and the in-cell coordinate."""
    t = (value - lo) * inv_h
    if t >= n_cells - 1:
        k = n_cells - 1
    elif t >= 0.0:
        k = int(t)
    else:
        k = 0
    return k, t - k


@numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def basis_matrix(order: int, lo: float, inv_h: float, n_cells: int, points: np.ndarray
                 ) -> np.ndarray:
    """B[j, i] = B_i(points[j]) for the n_cells + order - 1 basis functions."""
    matrix = np.zeros((points.shape[0], n_cells + order - 1))
    b = np.zeros(order)
    for j in range(points.shape[0]):
        k, s = _cell(points[j], lo, inv_h, n_cells)
        _basis(order, s, b, 0)
        for i in range(order):
            matrix[j, k + i] = b[i]
    return matrix


# Long by design: one epoch's record loop is one compiled function, so numba keeps every
# per-record quantity in registers (a call per record would cost more than its arithmetic).
def _make_epoch(order: int) -> Callable[..., float]:
    r = order  # a closure constant: numba unrolls the loops over the r pieces

    # Long by design: the hot loop itself (forward pass, Jacobian norm, update per record).
    @numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
    def epoch(coefs, lo, inv_h, n_cells, x, y, alpha, skip_below, seen, last):  # type: ignore[no-untyped-def]
        n_layers = len(coefs)
        w = x.shape[1]
        for layer in range(n_layers):
            w = max(w, coefs[layer].shape[1])
        z = np.zeros((n_layers + 1) * w)      # every layer's input, then the output
        g = np.zeros((n_layers + 1) * w)      # d yhat / d z
        cell = np.zeros(n_layers * w, dtype=np.int64)
        b = np.zeros(n_layers * w * r)
        db = np.zeros(r)
        bb = np.zeros(n_layers)               # sum over the layer's inputs of sum_i B_i^2
        slope = np.zeros(n_layers * w * w)    # f'_{l,p,q}, needed for l >= 1 only
        total = 0.0
        for row in range(x.shape[0]):
            if abs(last[row]) < skip_below:
                total += last[row] * last[row]
                continue
            for p in range(x.shape[1]):
                z[p] = x[row, p]
            for layer in range(n_layers):
                coef = coefs[layer]
                n_in, n_out = coef.shape[0], coef.shape[1]
                out = (layer + 1) * w
                for q in range(n_out):
                    z[out + q] = 0.0
                bsum = 0.0
                for p in range(n_in):
                    arg = z[layer * w + p]
                    if layer > 0:
                        seen[layer, p, 0] = min(seen[layer, p, 0], arg)
                        seen[layer, p, 1] = max(seen[layer, p, 1], arg)
                    k, s = _cell(arg, lo[layer], inv_h[layer], n_cells[layer])
                    cell[layer * w + p] = k
                    at = (layer * w + p) * r
                    _basis(r, s, b, at)
                    for i in range(r):
                        bsum += b[at + i] * b[at + i]
                    if layer == 0:  # no slopes: nothing before layer 0 to propagate to
                        for q in range(n_out):
                            value = 0.0
                            for i in range(r):
                                value += coef[p, q, k + i] * b[at + i]
                            z[out + q] += value
                    else:
                        _basis_derivative(r, s, db)
                        for q in range(n_out):
                            value = 0.0
                            derivative = 0.0
                            for i in range(r):
                                c = coef[p, q, k + i]
                                value += c * b[at + i]
                                derivative += c * db[i]
                            z[out + q] += value
                            slope[(layer * w + p) * w + q] = derivative * inv_h[layer]
                bb[layer] = bsum
            residual = y[row] - z[n_layers * w]
            total += residual * residual
            last[row] = residual
            g[n_layers * w] = 1.0
            norm = 0.0
            for layer in range(n_layers - 1, -1, -1):
                n_in, n_out = coefs[layer].shape[0], coefs[layer].shape[1]
                above = (layer + 1) * w
                gq2 = 0.0
                for q in range(n_out):
                    gq2 += g[above + q] * g[above + q]
                norm += gq2 * bb[layer]
                if layer > 0:
                    for p in range(n_in):
                        acc = 0.0
                        for q in range(n_out):
                            acc += g[above + q] * slope[(layer * w + p) * w + q]
                        g[layer * w + p] = acc
            if norm == 0.0:
                continue
            step = alpha * residual / norm
            for layer in range(n_layers):
                coef = coefs[layer]
                n_in, n_out = coef.shape[0], coef.shape[1]
                above = (layer + 1) * w
                for p in range(n_in):
                    k = cell[layer * w + p]
                    at = (layer * w + p) * r
                    for q in range(n_out):
                        scale = step * g[above + q]
                        for i in range(r):
                            coef[p, q, k + i] += scale * b[at + i]
        return total

    return epoch


def _make_forward(order: int) -> Callable[..., np.ndarray]:
    r = order

    @numba.njit(cache=True, fastmath=FASTMATH, error_model="numpy")
    def forward(coefs, lo, inv_h, n_cells, x):  # type: ignore[no-untyped-def]
        """Every layer's input for every record: z[l, :, :width_l], shape (L+1, N, W)."""
        n_layers = len(coefs)
        w = x.shape[1]
        for layer in range(n_layers):
            w = max(w, coefs[layer].shape[1])
        z = np.zeros((n_layers + 1, x.shape[0], w))
        b = np.zeros(r)
        for row in range(x.shape[0]):
            for p in range(x.shape[1]):
                z[0, row, p] = x[row, p]
            for layer in range(n_layers):
                coef = coefs[layer]
                for p in range(coef.shape[0]):
                    k, s = _cell(z[layer, row, p], lo[layer], inv_h[layer], n_cells[layer])
                    _basis(r, s, b, 0)
                    for q in range(coef.shape[1]):
                        value = 0.0
                        for i in range(r):
                            value += coef[p, q, k + i] * b[i]
                        z[layer + 1, row, q] += value
        return z

    return forward


@cache
def epoch_kernel(order: int) -> Callable[..., float]:
    """``epoch(coefs, lo, inv_h, n_cells, x, y, alpha, skip_below, seen, last) -> sum of
    squared residuals``: one pass over the records in order, updating the tuple of
    (in, out, n_b) float64 arrays ``coefs`` in place. ``last`` (N,) holds each record's
    residual when it was last evaluated; records whose ``last`` is below ``skip_below`` in
    absolute value are skipped, forward pass and all, counting their old residual (Polar's
    KANPro skips records so in the middle of its spline phase). ``seen`` (layers, width, 2)
    is widened to the smallest and largest input every hidden layer (l >= 1) saw."""
    return _make_epoch(order)


@cache
def forward_kernel(order: int) -> Callable[..., np.ndarray]:
    """``forward(coefs, lo, inv_h, n_cells, x) -> z`` with every layer's input and output."""
    return _make_forward(order)
