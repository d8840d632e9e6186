"""Newton-Kaczmarz training (seed 001): record by record, piecewise linear, then cubic.

``train.method = "newton-kaczmarz"`` trains a spec of uniform degree-1 B-spline layers with
one output (a single function [1, 1], a GAM [n, 1], the classic Kolmogorov-Arnold model
[n, 2n+1, 1], or deeper chains) by the relaxed projection of ``kaczmarz_kernel``, and
between epochs:
- grows each layer towards ``cells`` one cell per epoch from epoch 1 (inner and outer
  layers separately), refitting every edge function to the finer grid;
- renormalizes every hidden layer's input range: the range each hidden unit took during the
  epoch (plus 1% each side) is mapped onto the layer's domain. The affine map is folded into
  the previous layer's coefficients (exact: its B-splines sum to 1 per input) and the
  layer's own functions are refitted to the moved arguments, so the model remembers its
  ranges in its ordinary spec (each layer's domain) and stays a plain kancc model;
- after ``epochs`` piecewise-linear epochs, converts every edge function to a cubic B-spline
  on the same cells (least squares) and trains ``spline_epochs`` more with the same method.

Refits are least-squares fits of the old function sampled at 8 points per basis function
of the new grid: exact when the new space contains the old function (cubic pieces cannot
reproduce a kink, so PL -> cubic and non-nested regridding are approximate; the tests state
the tolerance). Inputs outside a layer's domain use the edge cell's polynomial, as
everywhere in kancc.

The result is an ordinary kancc model: its spec has the final grids and degree (and the
default gradient [train] table); its parameters compile and run on every backend.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Callable, Mapping, TextIO

import numpy as np

from kancc.data import Dataset
from kancc.errors import KanccError, KanccWarning
from kancc.frontend.param_names import coef_name
from kancc.program import Program
from kancc.spec import Spec, TrainSpec, load_spec, spec_to_dict
from kancc.storage import save_checkpoint

from .kaczmarz_kernel import ORDERS, basis_matrix, epoch_kernel, forward_kernel
from .progress import Progress

SAMPLES_PER_BASIS = 8  # least-squares refits sample the old function this densely
RANGE_MARGIN = 0.01    # renormalized ranges are widened by this fraction on each side
SHRINK_FLOOR = 0.1     # a domain shrinks only onto a seen range at least this fraction of it
SKIP_OFF_EPOCHS = 6    # record skipping is off in epochs 0..6 and the last 6 (0-based)


@dataclass
class _Grid:
    """One layer's uniform grid: ``n`` cells of width ``h`` from ``lo``, B-splines of order."""

    order: int
    lo: float
    h: float
    n: int

    @property
    def hi(self) -> float:
        return self.lo + self.n * self.h

    def basis(self, points: np.ndarray) -> np.ndarray:
        return basis_matrix(self.order, self.lo, 1.0 / self.h, self.n, points)


@dataclass
class KaczmarzFit:
    """What the record loop produced, before compilation: the trained model's spec and
    coefficients, one history row per epoch (epoch, running training MSE, validation MSE),
    and the seconds spent in training (the loop, refits and renormalization), in all and
    per phase (piecewise linear, then cubic)."""

    spec: Spec
    params: dict[str, np.ndarray] = field(repr=False)
    history: np.ndarray = field(repr=False)
    seconds: float
    phase_seconds: tuple[float, ...] = ()
    diverged_at: int | None = None  # the epoch whose updates were not finite (then undone)


@lru_cache(maxsize=256)
def _least_squares(order: int, lo: float, h: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample points on a grid and the pseudo-inverse that fits its B-splines to them."""
    grid = _Grid(order, lo, h, n)
    points = np.linspace(grid.lo, grid.hi, SAMPLES_PER_BASIS * (n + order - 1) + 1)
    return points, np.linalg.pinv(grid.basis(points))


def refit(coef: np.ndarray, old: _Grid, new: _Grid, scale: float = 1.0,
          shift: float = 0.0) -> np.ndarray:
    """Coefficients on ``new`` of the functions t -> f(shift + scale * t), f given by
    ``coef`` (..., n_b_old) on ``old``: the least-squares fit at sample points of ``new``."""
    points, pseudo_inverse = _least_squares(new.order, new.lo, new.h, new.n)
    values = coef @ old.basis(shift + scale * points).T
    return np.ascontiguousarray(values @ pseudo_inverse.T)


def _grids(spec: Spec) -> list[_Grid]:
    return [_Grid(b.order, float(b.domain[0]), float(b.domain[1] - b.domain[0]) / b.grid,
                  b.grid) for b in spec.layers]


def _warn_outside_domain(spec: Spec, x: np.ndarray) -> None:
    """The first layer's range cannot be renormalized (nothing before it to fold into):
    inputs outside its domain use the edge cells' polynomials, which is fine near the edge
    and poor far from it, so say how many there are."""
    lo, hi = (float(v) for v in spec.layers[0].domain)
    outside = np.mean((x < lo) | (x > hi))
    if outside > 0:
        warnings.warn(KanccWarning(
            f"{100 * outside:.1f}% of the training inputs lie outside layers[0].domain "
            f"[{lo:g}, {hi:g}] (data range [{x.min():g}, {x.max():g}]); they are evaluated "
            "with the edge cells' polynomials: set the domain to the data's range"),
            stacklevel=3)


def _initial_coefs(spec: Spec, y: np.ndarray, seed: int) -> list[np.ndarray]:
    """Seed 001's start: random function values whose sums land in the next layer's domain
    (the last layer's in the targets' range), as the published code does."""
    rng = np.random.default_rng(seed)
    coefs = []
    for index, basis in enumerate(spec.layers):
        n_in, n_out = spec.widths[index], spec.widths[index + 1]
        if index + 1 < spec.n_layers:
            lo, hi = (float(v) for v in spec.layers[index + 1].domain)
        else:
            lo, hi = float(y.min()), float(y.max())
        coefs.append(rng.uniform(lo / n_in, hi / n_in, (n_in, n_out, basis.n_basis)))
    return coefs


def _starting_coefs(spec: Spec, params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    coefs = []
    for index, basis in enumerate(spec.layers):
        name = coef_name(index)
        shape = (spec.widths[index], spec.widths[index + 1], basis.n_basis)
        value = np.array(params.get(name, np.zeros(0)), dtype=np.float64)
        if value.shape != shape:
            raise KanccError(f"params: {name} must have shape {shape}, got {value.shape}")
        if not np.isfinite(value).all():
            raise KanccError(f"params: {name} holds NaN or Inf")
        coefs.append(np.ascontiguousarray(value))
    return coefs


def _renormalize(coefs: list[np.ndarray], grids: list[_Grid], seen: np.ndarray,
                 expand_only: bool = False) -> None:
    """Map the range each hidden unit took (plus margins) onto its layer's domain, in place:
    new argument = lo + (old - a) / scale. Units that saw nothing keep their map. A range
    narrower than SHRINK_FLOOR of the domain (a nearly constant unit) and every range with
    ``expand_only`` (an epoch that skipped records saw only part of the ranges) only widen
    the domain to cover what was seen: zooming onto a degenerate range would amplify the
    previous layer without bound."""
    for layer in range(1, len(coefs)):
        grid, n_units = grids[layer], coefs[layer].shape[0]
        a, b = seen[layer, :n_units, 0].copy(), seen[layer, :n_units, 1].copy()
        idle = ~(np.isfinite(a) & np.isfinite(b))
        a[idle], b[idle] = grid.lo, grid.hi
        margin = RANGE_MARGIN * (b - a)
        a, b = a - margin, b + margin
        widen = expand_only | (b - a < SHRINK_FLOOR * (grid.hi - grid.lo))
        a = np.where(widen, np.minimum(a, grid.lo), a)
        b = np.where(widen, np.maximum(b, grid.hi), b)
        scale = (b - a) / (grid.hi - grid.lo)
        n_before = coefs[layer - 1].shape[0]
        before = coefs[layer - 1]
        coefs[layer - 1] = grid.lo / n_before + (before - a[None, :, None] / n_before) \
            / scale[None, :, None]
        points, pseudo_inverse = _least_squares(grid.order, grid.lo, grid.h, grid.n)
        moved = (a - scale * grid.lo)[:, None] + scale[:, None] * points[None, :]
        old_basis = grid.basis(moved.ravel()).reshape(n_units, len(points), -1)
        values = np.einsum("pqi,pmi->pqm", coefs[layer], old_basis)
        coefs[layer] = np.ascontiguousarray(values @ pseudo_inverse.T)


def _grow(coefs: list[np.ndarray], grids: list[_Grid], cells: tuple[int, ...]) -> None:
    """One more cell for every layer below its target (in place)."""
    for layer, target in enumerate(cells):
        old = grids[layer]
        if old.n < target:
            new = _Grid(old.order, old.lo, (old.hi - old.lo) / (old.n + 1), old.n + 1)
            coefs[layer] = refit(coefs[layer], old, new)
            grids[layer] = new


def _to_cubic(coefs: list[np.ndarray], grids: list[_Grid]) -> None:
    for layer, old in enumerate(grids):
        new = _Grid(4, old.lo, old.h, old.n)
        coefs[layer] = refit(coefs[layer], old, new)
        grids[layer] = new


def _arrays(grids: list[_Grid]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.array([g.lo for g in grids])
    inv_h = np.array([1.0 / g.h for g in grids])
    n = np.array([g.n for g in grids], dtype=np.int64)
    return lo, inv_h, n


def predict(coefs: list[np.ndarray], grids: list[_Grid], x: np.ndarray) -> np.ndarray:
    """The model's output (N,) for inputs x (N, width_0)."""
    lo, inv_h, n = _arrays(grids)
    z = forward_kernel(grids[0].order)(tuple(coefs), lo, inv_h, n, np.ascontiguousarray(x))
    return z[-1, :, 0]


def fit_newton_kaczmarz(spec: Spec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray,
                        y_val: np.ndarray, *, params: Mapping[str, np.ndarray] | None = None,
                        log: TextIO | None = None, target: str = "numpy") -> KaczmarzFit:
    """Run the spec's [train.kaczmarz] schedule on float64 copies of the data; the record
    loop runs in numba (target "numpy") or in one Triton program (target "triton": models
    of one or two layers)."""
    method = spec.train.kaczmarz
    if method is None:
        raise KanccError(f'{spec.name}: train.method is not "newton-kaczmarz"')
    if target not in ("numpy", "triton"):
        raise KanccError(f"unknown target {target!r}; newton-kaczmarz runs on numpy or triton")
    # fresh writable copies: numba compiles read-only arrays (a Dataset's) as another type
    x = np.array(x, dtype=np.float64, order="C")
    y = np.array(np.reshape(y, -1), dtype=np.float64, order="C")
    x_val = np.array(x_val, dtype=np.float64, order="C")
    y_val = np.array(np.reshape(y_val, -1), dtype=np.float64)
    if len(y) == 0:
        raise KanccError("newton-kaczmarz needs at least one training record")
    _warn_outside_domain(spec, x)
    orders = ORDERS if method.spline_epochs else ORDERS[:1]
    for order in orders:  # compile (or load from numba's cache) before the clock starts
        _warm_up(_epoch_function(order, target), order, spec.widths)
    start = time.perf_counter()
    coefs = _initial_coefs(spec, y, spec.train.seed) if params is None else \
        _starting_coefs(spec, params)
    grids = _grids(spec)
    cells = method.cells or tuple(g.n for g in grids)
    skip = float(method.skip_below) * float(y.max() - y.min())
    phases = [(method.epochs, 0.0)] + ([(method.spline_epochs, skip)]
                                       if method.spline_epochs else [])
    total = sum(epochs for epochs, _ in phases)
    progress = Progress(total, log, f"{spec.name} newton-kaczmarz")
    rows, done, marks, diverged_at = [], 0, [start], None
    for phase, (epochs, skip_below) in enumerate(phases):
        if diverged_at is not None:
            break
        if phase == 1:
            _to_cubic(coefs, grids)
        kernel = _epoch_function(grids[0].order, target)
        last = np.full(len(y), np.inf)  # every record's residual when last evaluated
        for epoch in range(epochs):
            middle = SKIP_OFF_EPOCHS < epoch < epochs - SKIP_OFF_EPOCHS
            seen = np.full((len(coefs), max(spec.widths), 2), [np.inf, -np.inf])
            lo, inv_h, n = _arrays(grids)
            kept = [c.copy() for c in coefs], list(grids)
            squares = kernel(tuple(coefs), lo, inv_h, n, x, y, float(method.alpha),
                             skip_below if middle else 0.0, seen, last)
            if method.renormalize:
                _renormalize(coefs, grids, seen, expand_only=middle and skip_below > 0)
            if phase == 0 and epoch >= 1:
                _grow(coefs, grids, cells)
            if not (math.isfinite(squares) and _representable(coefs, spec.dtype)):
                (coefs, grids), diverged_at = kept, done + 1
                break
            done += 1
            due = done % progress.every == 0 or done == total
            validation = math.nan
            if due and len(y_val) and (log is not None or done == total):
                validation = float(np.mean((predict(coefs, grids, x_val) - y_val) ** 2))
            rows.append((done, squares / len(y), validation))
            progress.update(done, squares / len(y), validation)
        marks.append(time.perf_counter())
    final = _trained_spec(spec, grids)
    named = {coef_name(i): c.astype(spec.dtype) for i, c in enumerate(coefs)}
    return KaczmarzFit(final, named, np.array(rows, dtype=float).reshape(-1, 3),
                       marks[-1] - start, tuple(np.diff(marks)), diverged_at)


def _warm_up(kernel: Callable[..., float], order: int, widths: tuple[int, ...]) -> None:
    """Run ``kernel``, the forward kernel and ``basis_matrix`` once on no records, so that
    numba compiles them (or loads them from its cache) outside the timed training."""
    coefs = tuple(np.zeros((a, b, order)) for a, b in zip(widths, widths[1:]))
    ones = np.ones(len(coefs))
    x = np.zeros((0, widths[0]))
    seen = np.full((len(coefs), max(widths), 2), [np.inf, -np.inf])
    kernel(coefs, 0 * ones, ones, ones.astype(np.int64), x, np.zeros(0), 0.5, 0.0, seen,
           np.zeros(0))
    forward_kernel(order)(coefs, 0 * ones, ones, ones.astype(np.int64), x)
    basis_matrix(order, 0.0, 1.0, 1, np.zeros(1))


def _representable(coefs: list[np.ndarray], dtype: str) -> bool:
    """Finite, and finite once cast to the model's dtype."""
    limit = float(np.finfo(dtype).max)
    return all(bool(np.all(np.abs(c) <= limit)) for c in coefs)


def _epoch_function(order: int, target: str) -> Callable[..., float]:
    if target == "triton":
        from .kaczmarz_triton import triton_epoch

        return partial(triton_epoch, order=order)
    return epoch_kernel(order)


def kaczmarz_epoch(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray,
                   y: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """One epoch of the numba kernel on the spec's own grids (no growth, no renormalizing),
    on float64 copies of ``params``: the fast path that ``reference_epoch`` checks."""
    coefs = _starting_coefs(spec, params)
    grids = _grids(spec)
    if len({g.order for g in grids}) != 1 or grids[0].order not in ORDERS:
        raise KanccError("the Kaczmarz kernel takes layers of one degree, 1 or 3")
    lo, inv_h, n = _arrays(grids)
    seen = np.full((len(coefs), max(spec.widths), 2), [np.inf, -np.inf])
    y = np.ascontiguousarray(np.reshape(y, -1), float)
    epoch_kernel(grids[0].order)(tuple(coefs), lo, inv_h, n, np.ascontiguousarray(x, float),
                                 y, alpha, 0.0, seen, np.full(len(y), np.inf))
    return {coef_name(i): c for i, c in enumerate(coefs)}


def reference_epoch(program: Program, params: Mapping[str, np.ndarray], x: np.ndarray,
                    y: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """The same epoch as the numba kernel, from the compiled training program of the model
    (the IR's own forward and gradient): per record, J = d yhat / d theta recovered from the
    gradient of (yhat - y)^2 = D^2 as -grad / (2 D), then theta += alpha D J / ||J||^2.
    Slow (two program calls per record): the oracle of the kernel, in float64."""
    current = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    for row in range(len(x)):
        xr, yr = x[row:row + 1], np.reshape(y, (-1, 1))[row:row + 1]
        residual = float(yr[0, 0] - program.forward(current, xr)[0, 0])
        if residual == 0.0:
            continue
        grads = program.value_and_grad(current, xr, yr)[1]
        jacobian = {k: -g / (2.0 * residual) for k, g in grads.items()}
        norm = sum(float(np.sum(j * j)) for j in jacobian.values())
        if norm == 0.0:
            continue
        for name, j in jacobian.items():
            current[name] += alpha * residual * j / norm
    return current


def _trained_spec(spec: Spec, grids: list[_Grid]) -> Spec:
    """The spec of the trained model: the final grids and degree, the default [train]."""
    raw = spec_to_dict(replace(spec, train=TrainSpec(loss="mse"), data=None))
    for table, grid in zip(raw["layers"], grids):
        table["degree"] = grid.order - 1
        table["grid"] = grid.n
    return replace(load_spec(raw), origin=spec.origin, data=spec.data)


def train_newton_kaczmarz(spec: Spec, train_set: Dataset, val_set: Dataset, *, target: str,
                          params: Mapping[str, np.ndarray] | None,
                          checkpoint: str | os.PathLike | None, log: TextIO | None):  # noqa: ANN201
    """``kancc.train`` for train.method = "newton-kaczmarz": fit, then compile the trained
    model's program and measure its losses with it (the compiled program is the judge)."""
    from .trainer import TrainResult, training_program

    if target == "triton" and (spec.n_layers > 2):
        raise KanccError("newton-kaczmarz on the triton target takes [n, 1] and [n, m, 1] "
                         f"models; {spec.name} has {spec.n_layers} layers (use numpy)")
    fit = fit_newton_kaczmarz(spec, train_set.x, train_set.y, val_set.x, val_set.y,
                              params=params, log=log, target=target)
    program = training_program(fit.spec, "numpy")  # the NumPy reference measures the result
    loss = program.value_and_grad(fit.params, train_set.x, train_set.y)[0]
    validation = math.nan
    if val_set.n:
        validation = program.value_and_grad(fit.params, val_set.x, val_set.y)[0]
    history = fit.history.copy() if len(fit.history) else np.zeros((1, 3))
    history[-1, 1:] = loss, validation  # the last row: the returned model, measured
    if fit.diverged_at is None and math.isfinite(loss):
        status = "done"
        message = (f"trained {len(fit.history)} epochs in {fit.seconds:.2f}s: loss {loss:.3e}"
                   + (f" val {validation:.3e}" if math.isfinite(validation) else ""))
    else:
        status = "diverged"
        message = (f"stopped: the updates of epoch {fit.diverged_at} were not finite; kept "
                   f"the parameters before it (loss {loss:.3e}); lower train.kaczmarz.alpha")
    if checkpoint is not None:
        save_checkpoint(checkpoint, fit.spec, fit.params, history)
        message += f"; checkpoint {os.fspath(checkpoint)}"
    if log is not None:
        log.write(message + "\n")
    return TrainResult(fit.params, history, status, message, program)
