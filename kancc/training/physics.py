"""Physics-informed training: the model of a [pde] spec fitted to its residual and
conditions on collocation points (kancc.physics), by Adam or L-BFGS, full batch.

The loss program is the spec's compiled physics loss graph; the points and their data are
drawn once from ``train.seed``. Every ``train.validate_every`` steps (default steps / 20)
the relative L2 error against the spec's solution is measured on ``pde.test_points`` grid
points, with the model's own inference program. The history has one row per step: the
step, the loss, and NaN (no validation split); ``physics`` holds each loss term per step
and the relative L2 error where measured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from kancc.data import Dataset
from kancc.frontend import lotra_params, prolong_params, spec_parameters
from kancc.physics.problem import collocation_inputs, solution_grid
from kancc.program import PhysicsLoss, Program, compile
from kancc.spec import Spec
from kancc.storage import save_checkpoint
from kancc.tools.domain_check import warn_outside_domain
from kancc.tools.unfactorized import is_factorized, unfactorized_spec

from .factored_layers import factored_start
from .fitted_spec import fit_domains
from .geometry import Parameterization, physics_geometry
from .gradient import checked_params
from .multilevel import level_specs
from .optim import Adam, learning_rate
from .progress import Progress
from .request import TrainResult
from .run_log import rate_factors

Evaluate = Callable[[dict[str, np.ndarray]], PhysicsLoss]


class _Attention:
    """Residual-based attention on the interior points (the multilevel paper's eq. (42)):
    weights w start at 1 and, after each step, w <- (1 - rate) w + rate |r| / max |r|; the
    residual term is then mean (w r)^2, its target w f."""

    def __init__(self, rate: float, inputs: dict[str, np.ndarray]) -> None:
        self.rate, self.target = rate, inputs["residual.target"].copy()
        self.weights = inputs["residual.weights"].astype(np.float64)

    def update(self, weighted: np.ndarray, inputs: dict[str, np.ndarray]) -> None:
        error = np.abs(weighted / self.weights)
        largest = float(error.max())
        if not math.isfinite(largest) or largest == 0.0:
            return
        self.weights = (1.0 - self.rate) * self.weights + self.rate * error / largest
        dtype = self.target.dtype
        inputs["residual.weights"] = self.weights.astype(dtype)
        inputs["residual.target"] = (self.weights * self.target).astype(dtype)


class _Record:
    """The run's history, progress and error measurements; ``params`` are the optimizer's
    variables (``geometry`` maps them to coefficients where the model is evaluated)."""

    def __init__(self, spec: Spec, model: Program, log: TextIO | None,
                 geometry: Parameterization) -> None:
        self.spec, self.model, self.geometry = spec, model, geometry
        self.test = solution_grid(spec)
        steps = spec.train.steps
        self.every = spec.train.validate_every or max(1, steps // 20)
        self.progress = Progress(steps, log, spec.name)
        self.rows: list[tuple[float, float, float]] = []
        self.terms: dict[str, list[float]] = {}
        self.errors: list[float] = []
        self.max_errors: list[float] = []
        self.last: dict[str, np.ndarray] = {}

    def error(self, params: Mapping[str, np.ndarray]) -> tuple[float, float]:
        """(relative L2, absolute max) error against the solution or reference (NaN:
        neither is known)."""
        if self.test is None:
            return math.nan, math.nan
        points, values = self.test
        coefficients = self.geometry.coefficients(params)
        difference = self.model.forward(coefficients, points).astype(np.float64) - values
        return (float(np.linalg.norm(difference) / np.linalg.norm(values)),
                float(np.abs(difference).max()))

    def record(self, step: int, loss: float, terms: Mapping[str, float],
               params: Mapping[str, np.ndarray]) -> None:
        measured = step % self.every == 0 or step == self.spec.train.steps
        error, max_error = self.error(params) if measured else (math.nan, math.nan)
        self.rows.append((step, loss, math.nan))
        for name, value in terms.items():
            self.terms.setdefault(name, []).append(value)
        self.errors.append(error)
        self.max_errors.append(max_error)
        if math.isfinite(loss):
            self.last = {k: v.copy() for k, v in params.items()}
        metric = ("rel_l2", error) if measured and not math.isnan(error) else None
        self.progress.update(max(step, 1), loss, metric=metric)

    def physics(self) -> dict[str, np.ndarray]:
        return {**{k: np.array(v) for k, v in self.terms.items()},
                "rel_l2": np.array(self.errors), "abs_linf": np.array(self.max_errors)}


def train_physics(spec: Spec, target: str, params: Mapping[str, np.ndarray] | None,
                  checkpoint: str | os.PathLike[str] | None, log: TextIO | None
                  ) -> TrainResult:
    """Train the model of ``spec`` (with a [pde] table) on its physics loss; with
    [train.multilevel], level by level (the multilevel paper's Algorithm 1): each level's
    coefficients are prolonged exactly onto the next level's grids, whose optimizer starts
    afresh (Adam ramps its rate again over ``train.warmup`` steps). ``domain = "auto"``
    layers are fitted to the interior collocation points (as to training rows), and a
    warning names the layers whose inputs there leave their domain."""
    points = collocation_inputs(spec, spec.train.seed)["interior"].astype(np.float64)
    if points.ndim == 3:  # a level set's precomputed input jet: its value channel
        points = points[:, :, 0]
    spec = fit_domains(spec, Dataset(points, np.zeros((len(points), 1)), "collocation"),
                       params)
    result = _train_levels(spec, target, params, checkpoint, log)
    if result.status == "done":
        warn_outside_domain(result.program.spec, result.params, points,
                            "the interior collocation points")
    return result


def _train_levels(spec: Spec, target: str, params: Mapping[str, np.ndarray] | None,
                  checkpoint: str | os.PathLike[str] | None, log: TextIO | None
                  ) -> TrainResult:
    if spec.train.multilevel is None:
        return _train_level(spec, target, params, checkpoint, log)
    epochs = spec.train.multilevel.epochs
    levels = level_specs(spec, 1)  # full batch: an epoch is one step
    current = None if params is None else dict(params)
    previous: Spec | None = None
    results: list[TrainResult] = []
    for index, (level, count) in enumerate(zip(levels, epochs)):
        if count == 0:
            continue
        if previous is not None and current is not None:
            current = prolong_params(previous, level, current)
        if log is not None:
            grids = "/".join(str(b.grid) for b in level.layers)
            log.write(f"level {index + 1}/{len(levels)}: grid {grids}, {count} epochs "
                      f"({level.train.steps} steps)\n")
        result = _train_level(level, target, current, None, log)
        results.append(result)
        if result.status != "done":
            break
        current, previous = result.params, level
    return _joined(results, checkpoint)


def _joined(results: list[TrainResult], checkpoint: str | os.PathLike[str] | None
            ) -> TrainResult:
    """One result of the levels: histories end to end (steps counted on), the last level's
    parameters and program."""
    rows, offset = [], 0
    for result in results:
        history = result.history.copy()
        history[:, 0] += offset
        offset = history[-1, 0]
        rows.append(history)
    last = results[-1]
    physics = {name: np.concatenate([r.physics[name] for r in results])
               for name in last.physics}
    history = np.concatenate(rows)
    if checkpoint is not None and last.status == "done":
        save_checkpoint(checkpoint, last.program.spec, last.params, history)
    message = f"{len(results)} levels; last: {last.message}"
    return TrainResult(last.params, history, last.status, message, last.program,
                       levels=tuple(results), physics=physics)


def _train_level(spec: Spec, target: str, params: Mapping[str, np.ndarray] | None,
                 checkpoint: str | os.PathLike[str] | None, log: TextIO | None
                 ) -> TrainResult:
    """One optimizer run on the spec's grids. The programs are the unfactorized model's;
    Tucker and LoTRA layers are factored around them (``factored_layers``)."""
    factored = is_factorized(spec) or spec.finetune is not None
    dense = unfactorized_spec(spec) if factored else spec
    program = compile(dense, target, training=True)
    model = compile(dense, target)
    inputs = collocation_inputs(spec, spec.train.seed)
    given = None if params is None else checked_params(
        params, {d.name: d.shape for d in spec_parameters(spec)}, spec.dtype)
    geometry: Parameterization
    if factored:
        start, geometry = factored_start(spec, program, inputs, given)
    else:
        start = program.init_params(spec.train.seed) if given is None else given
        geometry = physics_geometry(spec.train.geometry, model)
    record = _Record(spec, model, log, geometry)
    pde = spec.pde
    assert pde is not None
    attention = _Attention(float(pde.rba), inputs) if pde.rba else None
    evaluations = 0

    def evaluate(current: dict[str, np.ndarray]) -> PhysicsLoss:
        nonlocal attention, evaluations
        if pde.resample_every and evaluations and evaluations % pde.resample_every == 0:
            draw = evaluations // pde.resample_every
            inputs.update(collocation_inputs(spec, spec.train.seed + draw))
            attention = _Attention(float(pde.rba), inputs) if pde.rba else None
        evaluations += 1
        result = program.physics_loss(geometry.coefficients(current), inputs)
        if attention is not None:  # the next step's weights: out of this step's gradient
            attention.update(result.residuals["residual"], inputs)
        return result._replace(grads=geometry.gradient(result.grads, current))

    run = _lbfgs if spec.train.optimizer == "lbfgs" else _adam
    variables = geometry.variables(start)
    final, done = run(spec, variables, evaluate, record)
    record.progress.end()
    loss = record.rows[-1][1] if record.rows else math.nan
    status = "done" if math.isfinite(loss) else "diverged"
    params_out = geometry.params(final if status == "done" else record.last or variables)
    if checkpoint is not None:
        save_checkpoint(checkpoint, spec, params_out, np.array(record.rows))
    error = next((e for e in reversed(record.errors) if not math.isnan(e)), math.nan)
    message = (f"trained {done} {spec.train.optimizer} steps on the physics loss: loss "
               f"{loss:.4g}" + ("" if math.isnan(error) else f", relative L2 error {error:.3g}")
               if status == "done" else f"diverged at step {done} (loss {loss})")
    if spec.finetune is not None and spec.finetune.lotra:
        message += "; " + lotra_params.storage_note(spec)
    if factored:
        model = compile(spec, target)
    return TrainResult(params_out, np.array(record.rows), status, message, model,
                       physics=record.physics())


def _adam(spec: Spec, params: dict[str, np.ndarray], evaluate: Evaluate,
          record: _Record) -> tuple[dict[str, np.ndarray], int]:
    train = spec.train
    optimizer = Adam(params)
    base = train.learning_rate
    factors = rate_factors(spec)  # LoTRA: each component at its own rate
    for step in range(train.steps):
        loss, grads, terms, _ = evaluate(params)
        record.record(step, loss, terms, params)
        if not math.isfinite(loss):
            return params, step
        rate = learning_rate(step, base, train.warmup, train.steps, train.schedule,
                             train.cycle, float(train.gamma))
        optimizer.step(params, grads, {k: rate * factors.get(k, 1.0) for k in grads})
    loss, _, terms, _ = evaluate(params)
    record.record(train.steps, loss, terms, params)
    return params, train.steps


def _lbfgs(spec: Spec, params: dict[str, np.ndarray], evaluate: Evaluate,
           record: _Record) -> tuple[dict[str, np.ndarray], int]:
    """scipy's L-BFGS-B on the flattened parameters (float64), one record per iteration."""
    from scipy.optimize import minimize

    names = list(params)
    shapes = [params[k].shape for k in names]
    dtype = params[names[0]].dtype
    splits = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def unflatten(flat: np.ndarray) -> dict[str, np.ndarray]:
        return {k: part.reshape(s).astype(dtype)
                for k, part, s in zip(names, np.split(flat, splits), shapes)}

    latest = _Latest()

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        latest.loss, grads, latest.terms, _ = evaluate(unflatten(flat))
        if not math.isfinite(latest.loss):
            raise FloatingPointError(latest.loss)
        return latest.loss, np.concatenate([grads[k].ravel() for k in names]).astype(np.float64)

    def callback(flat: np.ndarray) -> None:
        latest.iteration += 1
        record.record(latest.iteration, latest.loss, latest.terms, unflatten(flat))

    start = np.concatenate([params[k].ravel() for k in names]).astype(np.float64)
    try:
        objective(start)
        record.record(0, latest.loss, latest.terms, params)
        result = minimize(objective, start, jac=True, method="L-BFGS-B", callback=callback,
                          options={"maxiter": spec.train.steps, "maxfun": 2 * spec.train.steps,
                                   "ftol": 1e-20, "gtol": 1e-14, "maxcor": 50})
    except FloatingPointError:  # a non-finite loss: the record keeps the last finite step
        record.record(latest.iteration + 1, latest.loss, latest.terms, params)
        return params, latest.iteration
    return unflatten(result.x), latest.iteration


@dataclass
class _Latest:
    """The last evaluation of L-BFGS's objective, for its per-iteration callback."""

    loss: float = math.nan
    terms: dict[str, float] = field(default_factory=dict)
    iteration: int = 0
