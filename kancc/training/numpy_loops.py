"""The optimizer loops of the NumPy target: Adam with minibatches, and scipy's L-BFGS-B;
gradients from the compiled program's value_and_grad."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optim import Adam
from .run_log import DivergedError, RunLog


def numpy_adam(run: RunLog, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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


def numpy_lbfgs(run: RunLog, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
            raise DivergedError(state["iteration"] + 1, loss)
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
