"""``kancc.train``: compile the training program of a spec and run its optimizer.

Gradients always come from the compiled training graph (``value_and_grad`` of the emitted
module), on both targets; torch supplies only the optimizers on the Triton target.

A non-finite training loss stops the run: the parameters of the last finite step are kept
(and checkpointed), and the result says where it stopped. Seeds: ``train.seed`` fixes the
initial parameters and the minibatch order, ``data.seed`` the sampling and the split.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

import numpy as np

from kancc.data import Dataset, from_arrays, load_data
from kancc.errors import DataError, KanccError
from kancc.frontend import lotra_params
from kancc.passes import PIPELINES
from kancc.program import Program, compile
from kancc.spec import Spec, SpecSource, TrainSpec, load_spec
from kancc.storage import save_checkpoint

from .optim import Adam, learning_rate
from .progress import Progress

DataSource = Dataset | tuple[np.ndarray, np.ndarray] | str | os.PathLike | None


@dataclass(frozen=True)
class TrainResult:
    params: dict[str, np.ndarray] = field(repr=False)
    history: np.ndarray = field(repr=False)  # (k, 3): step, training loss, validation loss
    status: str  # "done" or "diverged"
    message: str
    program: Program = field(repr=False)
    levels: tuple["TrainResult", ...] = field(default=(), repr=False)  # multilevel runs

    @property
    def loss(self) -> float:
        """The training loss of the returned parameters."""
        return float(self.history[-1, 1]) if len(self.history) else math.nan

    @property
    def validation_loss(self) -> float:
        measured = self.history[~np.isnan(self.history[:, 2]), 2]
        return float(measured[-1]) if len(measured) else math.nan


class _Diverged(Exception):
    def __init__(self, step: int, loss: float) -> None:
        super().__init__(step, loss)
        self.step, self.loss = step, loss


def resolve_data(spec: Spec, data: DataSource) -> tuple[Dataset, Dataset]:
    """(training, validation) sets from the argument or, by default, the spec's [data]."""
    n_in, n_out = spec.widths[0], spec.widths[-1]
    labels = spec.train.loss == "cross_entropy"
    validation, seed = 0.0, 0
    if spec.data is not None:
        validation, seed = float(spec.data.validation), spec.data.seed
    if data is None:
        if spec.data is None:
            raise KanccError("no training data: give data, or a [data] table in the spec "
                             "(source = a file or a synthetic target)")
        source: Any = spec.data.source
        if spec.origin is not None and Path(source).suffix:  # a file next to the spec
            source = Path(spec.origin).parent / source
        dataset = load_data(source, n_in, n_out, labels=labels, n=spec.data.n, seed=seed)
    elif isinstance(data, Dataset):
        dataset = from_arrays(data.x, data.y, n_in, n_out, labels=labels, name=data.name)
    elif isinstance(data, tuple):
        if len(data) != 2:
            raise KanccError(f"data must be an (x, y) pair, got a tuple of {len(data)}")
        dataset = from_arrays(data[0], data[1], n_in, n_out, labels=labels, name="arrays")
    else:
        dataset = load_data(data, n_in, n_out, labels=labels, n=None, seed=seed)
    _check_range(dataset, spec.dtype)
    return dataset.split(validation, seed)


def _check_range(dataset: Dataset, dtype: str) -> None:
    """Finite float64 data may still overflow the model's dtype: refuse it, naming where."""
    limit = float(np.finfo(dtype).max)
    arrays = [("x", dataset.x)] + ([("y", dataset.y)] if dataset.y.dtype.kind == "f" else [])
    for what, array in arrays:
        beyond = np.argwhere(np.abs(array) > limit)
        if len(beyond):
            row, column = (int(v) for v in beyond[0])
            raise DataError(dataset.name, f"{what} at row {row}, column {column} is "
                            f"{array[row, column]:g}, beyond {dtype}'s range")


class _Run:
    """What every optimizer loop shares: data, progress, history, the last good params.

    History row k holds the losses of the parameters after k optimizer steps (row 0: the
    initial parameters), so the last row describes the parameters the run returns."""

    def __init__(self, program: Program, spec: Spec, train_set: Dataset, val_set: Dataset,
                 log: TextIO | None, label: str) -> None:
        self.program, self.train_set, self.val_set = program, train_set, val_set
        self.spec = spec
        self.steps = self.spec.train.steps
        self.progress = Progress(self.steps, log, label)
        self.rows: list[tuple[float, float, float]] = []
        self.good: dict[str, np.ndarray] = {}
        self.done = self.steps  # steps taken (L-BFGS may converge before train.steps)
        self.trainable = [p.name for p in program.ir.trainable_params]
        self.factors = rate_factors(spec)

    def validation_loss(self, params: Mapping[str, np.ndarray]) -> float:
        if self.val_set.n == 0:
            return math.nan
        return self.program.value_and_grad(params, self.val_set.x, self.val_set.y)[0]

    def record(self, step: int, loss: float, params: Callable[[], dict[str, np.ndarray]]
               ) -> None:
        """After ``step`` steps the training loss is ``loss`` at ``params()``."""
        if not math.isfinite(loss):
            raise _Diverged(step, loss)
        current = params()
        self.good = current
        due = step % self.progress.every == 0 or step == self.steps
        validation = self.validation_loss(current) if due else math.nan
        self.rows.append((step, loss, validation))
        self.progress.update(step, loss, validation)

    def finish(self, params: dict[str, np.ndarray]) -> None:
        """Evaluate what the last step produced: the run returns only measured parameters
        (a row an optimizer already wrote for that step is replaced by this measurement)."""
        loss = self.program.value_and_grad(params, self.train_set.x, self.train_set.y)[0]
        if self.rows and self.rows[-1][0] == self.done:
            self.rows.pop()
        self.record(self.done, loss, lambda: params)

    def rates(self, step: int) -> dict[str, float]:
        """The rate of every trainable parameter at ``step`` (LoTRA: per component)."""
        rate = self.rate(step)
        return {name: rate * self.factors.get(name, 1.0) for name in self.trainable}

    def rate(self, step: int) -> float:
        train = self.spec.train
        return learning_rate(step, train.learning_rate, train.warmup, self.steps, train.schedule)


def _numpy_adam(run: _Run, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    program, train = run.program, run.spec.train
    rng = np.random.default_rng(train.seed)
    optimizer = Adam({k: params[k] for k in run.trainable})
    batch = train.batch_size or run.train_set.n
    step = 0
    while step < run.steps:
        for xb, yb in run.train_set.batches(batch, rng):
            loss, grads = program.value_and_grad(params, xb, yb)
            run.record(step, loss, lambda: {k: v.copy() for k, v in params.items()})
            optimizer.step(params, grads, run.rates(step))
            step += 1
            if step >= run.steps:
                break
    return params


def _numpy_lbfgs(run: _Run, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """scipy's L-BFGS-B (no bounds) on the flattened parameters, full batch. The loss is
    evaluated in the spec's dtype and handed to scipy in float64."""
    from scipy.optimize import minimize

    program, data = run.program, run.train_set
    names = run.trainable
    frozen = {k: v for k, v in params.items() if k not in names}
    shapes = [params[k].shape for k in names]
    dtype = params[names[0]].dtype
    splits = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def unflatten(flat: np.ndarray) -> dict[str, np.ndarray]:
        return {**frozen, **{k: part.reshape(s).astype(dtype)
                             for k, part, s in zip(names, np.split(flat, splits), shapes)}}

    state: dict[str, Any] = {"iteration": 0, "loss": math.nan}

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grads = program.value_and_grad(unflatten(flat), data.x, data.y)
        if not math.isfinite(loss):
            raise _Diverged(state["iteration"] + 1, loss)
        state["loss"] = loss
        return loss, np.concatenate([grads[k].ravel() for k in names]).astype(np.float64)

    def callback(flat: np.ndarray) -> None:
        state["iteration"] += 1
        run.record(state["iteration"], state["loss"], lambda: unflatten(flat))

    start = np.concatenate([params[k].ravel() for k in names]).astype(np.float64)
    run.record(0, objective(start)[0], lambda: unflatten(start))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": run.steps, "maxfun": 4 * run.steps, "ftol": 1e-16,
                               "gtol": 1e-12, "maxcor": 20})
    run.done = state["iteration"]
    if run.done < run.steps:
        run.progress.message(f"L-BFGS stopped after {run.done} iterations: {result.message}")
    return unflatten(result.x)


def _torch_loop(run: _Run, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Adam or L-BFGS (one iteration, with strong-Wolfe line search, per step) from
    torch.optim on the Triton module; gradients by its compiled value_and_grad."""
    import torch

    train, module = run.spec.train, run.program.module
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tensors = {k: torch.tensor(v, device=device, requires_grad=k in run.trainable)
               for k, v in params.items()}
    trainable = [tensors[k] for k in run.trainable]

    def to_device(array: np.ndarray) -> Any:
        return torch.tensor(array, device=device)  # a copy: datasets are read-only

    def snapshot() -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in tensors.items()}

    def evaluate(xb: Any, yb: Any) -> float:
        loss, grads = module.value_and_grad(tensors, xb, yb, train.deterministic)
        for name, grad in grads.items():
            tensors[name].grad = grad
        return float(loss)

    optimizer: Any
    if train.optimizer == "lbfgs":
        x, y = to_device(run.train_set.x), to_device(run.train_set.y)
        optimizer = torch.optim.LBFGS(trainable, lr=1.0, max_iter=1,
                                      history_size=20, tolerance_grad=1e-12,
                                      tolerance_change=1e-16, line_search_fn="strong_wolfe")
        for step in range(run.steps):
            loss = float(optimizer.step(lambda: evaluate(x, y)))
            run.record(step, loss, snapshot)
        return snapshot()
    optimizer = torch.optim.Adam([{"params": [tensors[k]], "name": k} for k in run.trainable],
                                 lr=train.learning_rate)
    rng = np.random.default_rng(train.seed)
    batch = train.batch_size or run.train_set.n
    step = 0
    while step < run.steps:
        for xb, yb in run.train_set.batches(batch, rng):
            loss = evaluate(to_device(xb), to_device(yb))
            run.record(step, loss, snapshot)
            rates = run.rates(step)
            for group in optimizer.param_groups:
                group["lr"] = rates[group["name"]]
            optimizer.step()
            step += 1
            if step >= run.steps:
                break
    return snapshot()


def train(spec: SpecSource, data: DataSource = None, *, target: str = "numpy",
          params: Mapping[str, np.ndarray] | None = None,
          checkpoint: str | os.PathLike | None = None,
          log: TextIO | None = sys.stderr) -> TrainResult:
    """Train the model of ``spec`` as its [train] table says (multilevel when it has a
    [train.multilevel] table).

    ``data``: a Dataset, an (x, y) pair, a file or synthetic-target name; default the spec's
    [data] table. ``params``: start here (spec-level coefficients) instead of the seeded
    initialization. ``checkpoint``: write the final (or last finite) parameters there,
    atomically. ``log``: where progress goes (None: silent). The returned parameters are
    spec-level coefficients whatever ``train.geometry`` the optimizer iterated in."""
    spec = load_spec(spec)
    train_set, val_set = resolve_data(spec, data)
    if spec.train.method == "newton-kaczmarz":
        from .kaczmarz import train_newton_kaczmarz

        return train_newton_kaczmarz(spec, train_set, val_set, target=target, params=params,
                                     checkpoint=checkpoint, log=log)
    if spec.finetune is not None:
        from .finetune import train_finetune

        return train_finetune(spec, train_set, val_set, target=target, params=params,
                              checkpoint=checkpoint, log=log)
    if spec.train.multilevel is not None:
        from .multilevel import train_multilevel

        return train_multilevel(spec, train_set, val_set, target=target, params=params,
                                checkpoint=checkpoint, log=log)
    return train_level(spec, train_set, val_set, target=target, params=params,
                       checkpoint=checkpoint, log=log)


def rate_factors(spec: Spec) -> dict[str, float]:
    """Each parameter's learning rate relative to train.lr (LoTRA's components; else 1)."""
    if spec.finetune is None or not spec.finetune.lotra:
        return {}
    base = spec.train.learning_rate
    return {name: rate / base for name, rate in lotra_params.component_rates(spec).items()}


def training_pipeline(spec: Spec) -> str:
    """The pass pipeline of a spec's training program: the ReLU geometry iterates on the
    weights of the to-relu-basis program."""
    relu = "to-relu-basis," if spec.train.geometry == "relu" else ""
    return relu + PIPELINES["training"]


@lru_cache(maxsize=32)
def _compiled(model: Spec, target: str, passes: str) -> Program:
    return compile(model, target, training=True, passes=passes)


def training_program(spec: Spec, target: str) -> Program:
    """The compiled training program, cached on what it depends on (the model and the loss,
    not the steps or seeds): multilevel runs and repeated seeds reuse it."""
    model = replace(spec, origin=None, data=None,
                    train=TrainSpec(loss=spec.train.loss, l2=spec.train.l2,
                                    geometry=spec.train.geometry))
    return _compiled(model, target, training_pipeline(spec))


def train_level(spec: Spec, train_set: Dataset, val_set: Dataset, *, target: str,
                params: Mapping[str, np.ndarray] | None, checkpoint: str | os.PathLike | None,
                log: TextIO | None, label: str | None = None) -> TrainResult:
    """One optimizer run of ``spec.train.steps`` steps on already split data."""
    program = training_program(spec, target)
    start = program.spec_init_params(spec.train.seed) if params is None else \
        _starting_params(program, params)
    label = label or f"{spec.name} {spec.train.optimizer}"
    run = _Run(program, spec, train_set, val_set, log, label)
    loop = _torch_loop if target == "triton" else \
        (_numpy_lbfgs if spec.train.optimizer == "lbfgs" else _numpy_adam)
    mapped = program.pipeline.map_params(start)
    try:
        run.finish(loop(run, dict(mapped)))
        final, status = run.good, "done"
        message = f"trained {run.done} steps: loss {run.rows[-1][1]:.3e}"
    except _Diverged as stop:
        final = run.good or mapped
        status = "diverged"
        kept = f"step {int(run.rows[-1][0])}" if run.rows else "the initial ones"
        message = (f"stopped: the training loss became {stop.loss} after step {stop.step}; "
                   f"kept the parameters of the last finite step ({kept}); lower train.lr "
                   "or add warmup")
    final = program.pipeline.unmap_params(final)
    history = np.array(run.rows, dtype=float).reshape(-1, 3)
    if checkpoint is not None:
        save_checkpoint(checkpoint, spec, final, history)
        message += f"; checkpoint {os.fspath(checkpoint)}"
    run.progress.message(message)
    return TrainResult(final, history, status, message, program)


def _starting_params(program: Program, params: Mapping[str, np.ndarray]
                     ) -> dict[str, np.ndarray]:
    """Given starting parameters, checked: the model's names and shapes, finite values."""
    expected = {p.name: tuple(p.type.shape) for p in program.input_ir.params}
    start = {k: np.array(v, dtype=program.spec.dtype) for k, v in params.items()}
    got = {k: v.shape for k, v in start.items()}
    if got != expected:
        raise KanccError(f"params do not fit the model: expected {expected}, got {got}")
    for name, value in start.items():
        if not np.isfinite(value).all():
            raise KanccError(f"params: {name} holds NaN or Inf (or values beyond "
                             f"{program.spec.dtype}'s range)")
    return start
