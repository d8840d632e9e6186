"""The optimizer loops of the NumPy target: Adam with minibatches, and L-BFGS (lbfgs.py);
gradients from the compiled program's value_and_grad."""

from __future__ import annotations

import numpy as np

from .lbfgs import lbfgs
from .optim import Adam
from .run_log import RunLog


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
    program, data = run.program, run.train_set
    return lbfgs(run, params, lambda p: program.value_and_grad(p, data.x, data.y))
