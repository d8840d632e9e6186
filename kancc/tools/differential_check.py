"""Differential checking: every backend and pipeline against the NumPy reference, and the
NumPy reference against an independent oracle (scipy's BSpline; numpy.polynomial for the
global kinds).

What ``kancc check SPEC`` compares, on seeded inputs (uniform over the first layer's domain
widened by 5% each side, plus its grid points) and seeded parameters rounded to float32 so
that every dtype sees the same numbers:

  oracle     numpy float64 (inference pipeline) vs scipy.interpolate.BSpline, whole model
  passes     numpy float64: "reference" pipeline (Cox-de Boor, unfused) vs "inference"
  float32    per layer, numpy float32 vs float64 on the same float32 inputs: the error of
             the emitted code itself, apart from the model's conditioning (DESIGN.md 5)
  targets    every other target asked for (torch, triton): per layer, float32 vs numpy
             float32; whole model in float64
  gradients  float64, the loss of the spec's [train] table on random targets:
             value_and_grad of the "training" pipeline vs central differences (a sample
             of entries of every parameter, step 1e-6; entries whose one-sided
             differences disagree -- a kink of a degree-1 layer inside the step -- are
             left out), vs the "training-reference" pipeline (Cox-de Boor derivative), and
             every other target vs NumPy

Relative error is max |a - b| / max |reference|. Tolerances: 1e-10 in float64 (whole
models), 1e-5 in float32 (per layer), 1e-6 against finite differences. scipy and the Cox-de
Boor reference work with float64-rounded knots, which the default evaluation does not: their
comparisons also allow the knot rounding error (``knot_rounding_allowance``, negligible
unless cells are tiny next to |t|). A layer whose knots float32 cannot hold is skipped in
the float32 comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from kancc.backends import TARGETS
from kancc.frontend.param_names import base_name, coef_name
from kancc.ir import GLOBAL_KINDS
from kancc.program import compile
from kancc.spec import Spec, SpecSource, load_spec
from kancc.spec.representable import representability_problem
from kancc.spec.scaling_table import ScalingSpec

from .unfactorized import is_factorized, unfactorized_model

TOL64 = 1e-10
TOL32 = 1e-5
TOL_FD = 1e-6
FD_STEP = 1e-6
FD_ENTRIES = 8  # per parameter


@dataclass(frozen=True)
class Comparison:
    name: str
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        return f"  {status}  {self.name:<44}  max rel err {self.error:.2e}  " \
               f"(tol {self.tolerance:.1g})"


@dataclass(frozen=True)
class CheckReport:
    spec_name: str
    samples: int
    comparisons: tuple[Comparison, ...]
    skipped: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def lines(self) -> list[str]:
        return [header(self.spec_name, self.samples)] + [c.line() for c in self.comparisons] + \
            self.closing_lines()

    def closing_lines(self) -> list[str]:
        out = [f"  skip  {reason}" for reason in self.skipped]
        failed = sum(not c.ok for c in self.comparisons)
        summary = f"{len(self.comparisons) - failed} passed, {failed} failed"
        if self.skipped:
            summary += f", {len(self.skipped)} skipped"
        out.append(("all checks passed: " if not failed else "CHECK FAILED: ") + summary)
        return out


def knot_rounding_allowance(spec: Spec) -> float:
    """What evaluators with float64-rounded knots (scipy; Cox-de Boor's knot differences) may
    lose, relative to max |y|: the knot error eps |t| over the smallest cell, times the order
    (a bound on the spline's slope in s, relative to its coefficients), per layer."""
    eps = float(np.finfo(np.float64).eps)
    total = 0.0
    for basis in spec.layers:
        rows = basis.grid_rows
        reach = float(max(max(abs(row[0]), abs(row[-1])) for row in rows))
        smallest = float(min(v - u for row in rows for u, v in zip(row, row[1:])))
        total += 4 * basis.order * eps * reach / smallest
    return total


def header(name: str, samples: int) -> str:
    return f"check @{name}: {samples} inputs"


def relative_error(value: np.ndarray, reference: np.ndarray) -> float:
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    if value.shape != reference.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(reference), initial=0.0)), 1e-30)
    diff = np.abs(value - reference)
    return float("inf") if not np.all(np.isfinite(diff)) else float(diff.max(initial=0.0) / scale)


def scipy_forward(spec: Spec, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The model evaluated edge by edge with scipy's BSpline (extrapolating), or for the
    global kinds numpy.polynomial and np.cos / np.sin of tanh(x), in float64; base
    branches by scipy.special.expit, [scaling] maps in float64."""
    from scipy.interpolate import BSpline
    from scipy.special import expit

    scaling = spec.scaling or ScalingSpec()
    h = scaling.standardized(x)
    for index, basis in enumerate(spec.layers):
        coef = np.asarray(params[coef_name(index)], np.float64)
        rows = [np.array([float(t) for t in row]) for row in basis.extended_rows]
        out = np.zeros((h.shape[0], coef.shape[1]))
        for p in range(coef.shape[0]):
            if basis.kind in GLOBAL_KINDS:
                out += global_basis_oracle(basis.kind, basis.order, h[:, p]) @ coef[p].T
            else:
                knots = rows[p if basis.per_input else 0]
                out += BSpline(knots, coef[p].T, basis.degree, extrapolate=True)(h[:, p])
        if basis.base == "silu":
            out += (h * expit(h)) @ np.asarray(params[base_name(index)], np.float64)
        h = out
    return scaling.destandardized(h)


def global_basis_oracle(kind: str, count: int, x: np.ndarray) -> np.ndarray:
    """(len(x), count) values of a global basis at t = tanh(x), by numpy's own routines."""
    from numpy.polynomial import chebyshev, legendre, polynomial

    t = np.tanh(x)
    if kind == "fourier":
        columns = [np.ones_like(t)]
        for j in range(1, (count - 1) // 2 + 1):
            columns += [np.cos(j * np.pi * t), np.sin(j * np.pi * t)]
        return np.stack(columns, axis=1)
    evaluate = {"chebyshev": chebyshev.chebval, "legendre": legendre.legval,
                "taylor": polynomial.polyval}[kind]
    return np.stack([evaluate(t, unit) for unit in np.eye(count)], axis=1)


def sample_inputs(spec: Spec, samples: int, seed: int) -> np.ndarray:
    """Seeded float32-representable inputs over the first domain (+5% margins) and its grid."""
    basis = spec.layers[0]
    a, b = (float(v) for v in basis.domain)
    margin = 0.05 * (b - a)
    rng = np.random.default_rng(seed)
    x = rng.uniform(a - margin, b + margin, size=(samples, spec.widths[0]))
    grids = [np.array([float(t) for t in row]) for row in basis.grid_rows]
    for p in range(spec.widths[0]):
        grid = grids[p if basis.per_input else 0]
        rows = min(len(grid), samples)
        x[:rows, p] = grid[:rows]
    return x.astype(np.float32).astype(np.float64)


def layer_spec(spec: Spec, index: int, dtype: str) -> Spec:
    return replace(spec, name=f"{spec.name}_layer{index}", dtype=dtype,
                   widths=spec.widths[index:index + 2], layers=(spec.layers[index],),
                   scaling=None)


def layer_params(params: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """The parameters of ``layer_spec(spec, index, ...)``: layer ``index``'s, renamed to 0."""
    names = {coef_name(index): coef_name(0), base_name(index): base_name(0)}
    return {names[name]: value for name, value in params.items() if name in names}


def differential_check(source: SpecSource, *, samples: int = 257, seed: int = 0,
                       targets: tuple[str, ...] = ("numpy", "torch", "triton"),
                       on_result: Callable[[Comparison], None] | None = None) -> CheckReport:
    """Run every comparison; ``on_result`` sees each one as it completes (progress)."""
    spec = load_spec(source)
    comparisons: list[Comparison] = []
    skipped: list[str] = []
    if spec.pde is not None:  # the model is compared; its physics loss is not
        skipped.append("the [pde] physics loss (the test suite checks its gradient against "
                       "central differences); the model is checked as a data model")
        spec = replace(spec, pde=None)

    def record(comparison: Comparison) -> None:
        comparisons.append(comparison)
        if on_result is not None:
            on_result(comparison)

    if is_factorized(spec):  # its formed twin is the oracle, then gets every other check
        full_spec = factorized_checks(spec, samples, seed, targets, record, skipped)
        full = differential_check(full_spec, samples=samples, seed=seed, targets=targets,
                                  on_result=on_result)
        return CheckReport(spec.name, samples, tuple(comparisons) + full.comparisons,
                           tuple(skipped) + full.skipped)
    spec64 = replace(spec, dtype="float64")
    inference = compile(spec64, "numpy")
    params = {k: v.astype(np.float32).astype(np.float64)
              for k, v in inference.init_params(seed).items()}
    x = sample_inputs(spec, samples, seed)
    y64 = inference.forward(params, x)
    rounded_knots = TOL64 + knot_rounding_allowance(spec)
    try:
        oracle = "scipy BSpline" if all(b.kind == "bspline" for b in spec.layers) else \
            "scipy/numpy.polynomial"
        record(Comparison(f"numpy f64 vs {oracle} oracle",
                          relative_error(y64, scipy_forward(spec, params, x)), rounded_knots))
    except ImportError:
        skipped.append("scipy oracle: scipy is not installed (pip install scipy)")
    reference = compile(spec64, "numpy", passes="reference")
    record(Comparison("numpy f64: reference vs inference pipeline",
                      relative_error(reference.forward(params, x), y64), rounded_knots))
    others = runnable_targets(targets, skipped)
    first_inputs = (spec.scaling or ScalingSpec()).standardized(x)
    float32_comparisons(spec, params, first_inputs, others, record, skipped)
    for target in others:
        record(Comparison(f"{target} f64 vs numpy f64, whole model", relative_error(
            compile(spec64, target).forward(params, x), y64), TOL64))
    for comparison in gradient_comparisons(spec64, params, x, seed, others):
        record(comparison)
    return CheckReport(spec.name, samples, tuple(comparisons), tuple(skipped))


def float32_comparisons(spec: Spec, params: dict[str, np.ndarray], h: np.ndarray,
                        others: tuple[str, ...], record: Callable[[Comparison], None],
                        skipped: list[str]) -> None:
    """Layer by layer on the same float32 inputs ``h`` (what layer 0 sees): NumPy float32
    against float64, and every other target against NumPy float32."""
    h32 = h.astype(np.float32)
    for index, basis in enumerate(spec.layers):
        problem = next(filter(None, (representability_problem(row, 1, "float32")
                                     for row in basis.extended_rows)), None) \
            if basis.per_input else representability_problem(basis.points, basis.order,
                                                              "float32")
        if problem is not None:  # a float64 model may need float64
            skipped.append(f"float32, layers {index} and after: {problem[1]}")
            break
        single = layer_params(params, index)
        numpy32 = compile(layer_spec(spec, index, "float32"), "numpy")
        numpy64 = compile(layer_spec(spec, index, "float64"), "numpy")
        out32 = numpy32.forward(single, h32)
        record(Comparison(f"numpy f32 vs f64, layer {index}", relative_error(
            out32, numpy64.forward(single, h32.astype(np.float64))), TOL32))
        for target in others:
            other32 = compile(layer_spec(spec, index, "float32"), target)
            record(Comparison(f"{target} f32 vs numpy f32, layer {index}",
                              relative_error(other32.forward(single, h32), out32), TOL32))
        h32 = out32


def factorized_checks(spec: Spec, samples: int, seed: int, targets: tuple[str, ...],
                      record: Callable[[Comparison], None], skipped: list[str]) -> Spec:
    """A factorized model against its formed twin, its gradients, and the other targets; the
    formed model (returned) then gets every other check."""
    spec64 = replace(spec, dtype="float64")
    program = compile(spec64, "numpy")
    rng = np.random.default_rng(seed)
    params = {k: (rng.standard_normal(v.shape) / np.sqrt(v.shape[0])).astype(np.float32)
              .astype(np.float64) for k, v in program.init_params(seed).items()}
    x = sample_inputs(spec, samples, seed)
    y64 = program.forward(params, x)
    full_spec, full_params = unfactorized_model(spec64, params)
    record(Comparison("numpy f64: factorized vs W formed", relative_error(
        y64, compile(full_spec, "numpy").forward(full_params, x)), TOL64))
    others = runnable_targets(targets, skipped)
    for target in others:
        record(Comparison(f"{target} f64 vs numpy f64, factorized", relative_error(
            compile(spec64, target).forward(params, x), y64), TOL64))
    for comparison in gradient_comparisons(spec64, params, x, seed, others):
        record(replace(comparison, name=comparison.name + ", factorized"))
    return replace(full_spec, dtype=spec.dtype)


def gradient_comparisons(spec64: Spec, params: dict[str, np.ndarray], x: np.ndarray,
                         seed: int, others: tuple[str, ...]) -> list[Comparison]:
    """The float64 gradient checks of the module docstring."""
    rng = np.random.default_rng(seed)
    n_out = spec64.widths[-1]
    y: np.ndarray = rng.integers(0, n_out, len(x)) if spec64.train.loss == "cross_entropy" \
        else rng.standard_normal((len(x), n_out))
    training = compile(spec64, "numpy", training=True)
    _, grads = training.value_and_grad(params, x, y)

    def loss_at(name: str, index: tuple[int, ...], step: float) -> float:
        moved = dict(params)
        moved[name] = params[name].copy()
        moved[name][index] += step
        return training.value_and_grad(moved, x, y)[0]

    numeric, analytic = [], []
    for name, grad in grads.items():
        flat = np.abs(grad).ravel()
        picks = np.concatenate([np.argsort(flat)[-FD_ENTRIES // 2:],
                                rng.integers(0, flat.size, FD_ENTRIES // 2)])
        for index in {np.unravel_index(i, grad.shape) for i in picks}:
            centre = loss_at(name, index, 0.0)
            ahead, behind = loss_at(name, index, FD_STEP), loss_at(name, index, -FD_STEP)
            forward, backward = (ahead - centre) / FD_STEP, (centre - behind) / FD_STEP
            if abs(forward - backward) > 1e-4 * max(abs(forward), abs(backward), 1e-8):
                continue  # a kink inside the step: no derivative to compare with
            numeric.append((ahead - behind) / (2 * FD_STEP))
            analytic.append(grad[index])
    results = [Comparison("gradients f64 vs central differences",
                          relative_error(np.array(analytic), np.array(numeric)), TOL_FD)]
    if all(b.per_input or b.kind != "bspline" for b in spec64.layers):
        # lower-basis gives per-input layers de Boor in both pipelines: nothing to compare
        return results + _target_gradients(spec64, params, x, y, grads, others)
    reference = compile(spec64, "numpy", training=True, passes="training-reference")
    _, expected = reference.value_and_grad(params, x, y)
    results.append(Comparison("gradients f64: horner vs cox-de-boor", max(
        relative_error(grads[k], expected[k]) for k in grads), TOL64 +
        knot_rounding_allowance(spec64)))
    return results + _target_gradients(spec64, params, x, y, grads, others)


def _target_gradients(spec64: Spec, params: dict[str, np.ndarray], x: np.ndarray,
                      y: np.ndarray, grads: dict[str, np.ndarray], others: tuple[str, ...]
                      ) -> list[Comparison]:
    results = []
    for target in others:
        _, got = compile(spec64, target, training=True).value_and_grad(params, x, y)
        results.append(Comparison(f"gradients {target} f64 vs numpy f64", max(
            relative_error(got[k], grads[k]) for k in grads), TOL64))
    return results


def runnable_targets(targets: tuple[str, ...], skipped: list[str]) -> tuple[str, ...]:
    """The targets besides numpy that can run in this process; a skip says why for each
    other one."""
    runnable = []
    for target in targets:
        problem = TARGETS[target].unavailable() if target != "numpy" else "reference"
        if problem is None:
            runnable.append(target)
        elif target != "numpy":
            skipped.append(f"{target} target: {problem}")
    return tuple(runnable)
