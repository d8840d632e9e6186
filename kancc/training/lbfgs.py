"""Full-batch L-BFGS for every target: scipy's L-BFGS-B (no bounds) on the flattened
trainable parameters, with the target's compiled value_and_grad as the objective. One
algorithm, so a spec trains the same way (step for step, up to rounding) whichever target
evaluates it; the torch targets hand it their loss and gradients as NumPy arrays (the
parameters are small next to the data, which stays on the device)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .run_log import DivergedError, RunLog

Evaluate = Callable[[dict[str, np.ndarray]], tuple[float, dict[str, np.ndarray]]]


def lbfgs(run: RunLog, params: dict[str, np.ndarray],
          evaluate: Evaluate) -> dict[str, np.ndarray]:
    """``run.steps`` L-BFGS iterations from ``params``; ``evaluate(params)`` is the full-batch
    loss and gradients of the trainable parameters, in the spec's dtype (handed to scipy in
    float64)."""
    from scipy.optimize import minimize

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
        loss, grads = evaluate(unflatten(flat))
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
