"""Newton-Kaczmarz training (the Kaczmarz / Newton-Kaczmarz paper on piecewise-linear KANs):
record by record, piecewise linear, then cubic.

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

The refits, renormalization and growth are ``kaczmarz_grids``. Inputs outside a layer's
domain use the edge cell's polynomial, as everywhere in kancc.

The result is an ordinary kancc model: its spec has the final grids and degree (and the
default gradient [train] table); its parameters compile and run on every backend.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TextIO

import numpy as np

from kancc.backends import TARGETS
from kancc.data.metrics import metrics
from kancc.errors import BackendError, KanccError, KanccWarning
from kancc.frontend.param_names import coef_name
from kancc.program import Program
from kancc.spec import KaczmarzSpec, Spec, TrainSpec, load_spec, spec_to_dict
from kancc.storage import save_checkpoint

from .kaczmarz_grids import Grid, grid_arrays, grids_of, grow, predict, renormalize, to_cubic
from .kaczmarz_kernel import ORDERS, basis_matrix, epoch_kernel, forward_kernel
from .progress import Progress
from .request import TrainRequest, TrainResult

SKIP_OFF_EPOCHS = 6    # record skipping is off in epochs 0..6 and the last 6 (0-based)


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
    """The Newton-Kaczmarz paper's start: random function values whose sums land in the next
    layer's domain (the last layer's in the targets' range), as the published code does."""
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
    problem = TARGETS[target].unavailable()
    if problem is not None:
        raise BackendError(f"the {target} target cannot run here: {problem}")
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
    skip = float(method.skip_below) * float(y.max() - y.min())
    phases = [(method.epochs, 0.0)] + ([(method.spline_epochs, skip)]
                                       if method.spline_epochs else [])
    fit = _Schedule(spec, method, target, coefs, (x, y, x_val, y_val),
                    Progress(sum(e for e, _ in phases), log, f"{spec.name} newton-kaczmarz"),
                    measure_validation=log is not None)
    marks = [start]
    for phase, (epochs, skip_below) in enumerate(phases):
        if fit.diverged_at is not None:
            break
        if phase == 1:
            to_cubic(fit.coefs, fit.grids)
        fit.run_phase(epochs, skip_below, growing=phase == 0)
        marks.append(time.perf_counter())
    named = {coef_name(i): c.astype(spec.dtype) for i, c in enumerate(fit.coefs)}
    return KaczmarzFit(_trained_spec(spec, fit.grids), named,
                       np.array(fit.rows, dtype=float).reshape(-1, 3), marks[-1] - start,
                       tuple(np.diff(marks)), fit.diverged_at)


class _Schedule:
    """The model being fitted (coefficients and grids), its history and its epochs."""

    def __init__(self, spec: Spec, method: KaczmarzSpec, target: str, coefs: list[np.ndarray],
                 data: tuple[np.ndarray, ...], progress: Progress,
                 measure_validation: bool) -> None:
        self.spec, self.method, self.target, self.coefs = spec, method, target, coefs
        self.x, self.y, self.x_val, self.y_val = data
        self.progress, self.measure_validation = progress, measure_validation
        self.grids = grids_of(spec)
        self.cells = method.cells or tuple(g.n for g in self.grids)
        self.rows: list[tuple[float, float, float]] = []
        self.done = 0
        self.diverged_at: int | None = None

    def run_phase(self, epochs: int, skip_below: float, growing: bool) -> None:
        """``epochs`` epochs of the current degree; a non-finite epoch is undone and ends
        the fit (``diverged_at``)."""
        kernel = _epoch_function(self.grids[0].order, self.target)
        last = np.full(len(self.y), np.inf)  # every record's residual when last evaluated
        for epoch in range(epochs):
            middle = SKIP_OFF_EPOCHS < epoch < epochs - SKIP_OFF_EPOCHS
            seen = np.full((len(self.coefs), max(self.spec.widths), 2), [np.inf, -np.inf])
            lo, inv_h, n = grid_arrays(self.grids)
            kept = [c.copy() for c in self.coefs], list(self.grids)
            squares = kernel(tuple(self.coefs), lo, inv_h, n, self.x, self.y,
                             float(self.method.alpha), skip_below if middle else 0.0, seen,
                             last)
            if self.method.renormalize:
                renormalize(self.coefs, self.grids, seen, expand_only=middle and skip_below > 0)
            if growing and epoch >= 1:
                grow(self.coefs, self.grids, self.cells)
            if not (math.isfinite(squares) and _representable(self.coefs, self.spec.dtype)):
                (self.coefs, self.grids), self.diverged_at = kept, self.done + 1
                return
            self.done += 1
            self._record(squares / len(self.y))

    def _record(self, loss: float) -> None:
        total = self.progress.total
        due = self.done % self.progress.every == 0 or self.done == total
        validation = math.nan
        if due and len(self.y_val) and (self.measure_validation or self.done == total):
            predicted = predict(self.coefs, self.grids, self.x_val)
            validation = float(np.mean((predicted - self.y_val) ** 2))
        self.rows.append((self.done, loss, validation))
        self.progress.update(self.done, loss, validation)


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
    grids = grids_of(spec)
    if len({g.order for g in grids}) != 1 or grids[0].order not in ORDERS:
        raise KanccError("the Kaczmarz kernel takes layers of one degree, 1 or 3")
    lo, inv_h, n = grid_arrays(grids)
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


def _trained_spec(spec: Spec, grids: list[Grid]) -> Spec:
    """The spec of the trained model: the final grids and degree, the default [train]."""
    raw = spec_to_dict(replace(spec, train=TrainSpec(loss="mse"), data=None))
    for table, grid in zip(raw["layers"], grids):
        table["degree"] = grid.order - 1
        table["grid"] = grid.n
    return replace(load_spec(raw), origin=spec.origin, data=spec.data)


def train_newton_kaczmarz(request: TrainRequest) -> TrainResult:
    """``kancc.train`` for train.method = "newton-kaczmarz": fit, then compile the trained
    model's program and measure its losses with it (the compiled program is the judge)."""
    spec, train_set, val_set, log = request.spec, request.train_set, request.val_set, \
        request.log
    if request.target == "triton" and (spec.n_layers > 2):
        raise KanccError("newton-kaczmarz on the triton target takes [n, 1] and [n, m, 1] "
                         f"models; {spec.name} has {spec.n_layers} layers (use numpy)")
    fit = fit_newton_kaczmarz(spec, train_set.x, train_set.y, val_set.x, val_set.y,
                              params=request.params, log=log, target=request.target)
    # the NumPy reference measures the result
    program = request.programs.training_program(fit.spec, "numpy")
    loss = program.value_and_grad(fit.params, train_set.x, train_set.y)[0]
    validation, scores = math.nan, {}
    if val_set.n:
        validation = program.value_and_grad(fit.params, val_set.x, val_set.y)[0]
        scores = metrics("mse", program.forward(fit.params, val_set.x), val_set.y)
    history = fit.history.copy() if len(fit.history) else np.zeros((1, 3))
    history[-1, 1:] = loss, validation  # the last row: the returned model, measured
    if fit.diverged_at is None and math.isfinite(loss):
        status = "done"
        message = (f"trained {len(fit.history)} epochs in {fit.seconds:.2f}s: loss {loss:.3e}"
                   + (", validation " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
                      if scores else ""))
    else:
        status = "diverged"
        message = (f"stopped: the updates of epoch {fit.diverged_at} were not finite; kept "
                   f"the parameters before it (loss {loss:.3e}); lower train.kaczmarz.alpha")
    if request.checkpoint is not None:
        save_checkpoint(request.checkpoint, fit.spec, fit.params, history)
        message += f"; checkpoint {os.fspath(request.checkpoint)}"
    return TrainResult(fit.params, history, status, message, program,
                       validation_metrics=scores)
