"""The optimizer loops of the torch targets on the emitted module, with gradients from its
compiled value_and_grad: torch.optim's Adam with minibatches, and the shared L-BFGS
(lbfgs.py) evaluated on the device."""

from __future__ import annotations

from typing import Any

import numpy as np

from .lbfgs import lbfgs
from .run_log import RunLog


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_lbfgs(run: RunLog, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """L-BFGS whose full-batch loss and gradients the Triton module computes; the training
    set is copied to the device once."""
    import torch

    module, deterministic, device = run.program.module, run.spec.train.deterministic, _device()
    x = torch.tensor(run.train_set.x, device=device)
    y = torch.tensor(run.train_set.y, device=device)

    def evaluate(current: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        tensors = {k: torch.tensor(v, device=device) for k, v in current.items()}
        loss, grads = module.value_and_grad(tensors, x, y, deterministic)
        return float(loss), {k: g.detach().cpu().numpy() for k, g in grads.items()}
    return lbfgs(run, params, evaluate)


def torch_adam(run: RunLog, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """torch.optim.Adam with per-parameter rates (run.rates) over shuffled minibatches."""
    import torch

    train, module, device = run.spec.train, run.program.module, _device()
    tensors = {k: torch.tensor(v, device=device, requires_grad=k in run.trainable)
               for k, v in params.items()}

    def snapshot() -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in tensors.items()}

    def evaluate(xb: np.ndarray, yb: np.ndarray) -> float:
        x, y = torch.tensor(xb, device=device), torch.tensor(yb, device=device)  # copies
        loss, grads = module.value_and_grad(tensors, x, y, train.deterministic)
        for name, grad in grads.items():
            tensors[name].grad = grad
        return float(loss)

    optimizer: Any = torch.optim.Adam([{"params": [tensors[k]], "name": k}
                                       for k in run.trainable], lr=train.learning_rate)
    rng = np.random.default_rng(train.seed)
    batch = train.batch_size or run.train_set.n
    step = 0
    while step < run.steps:
        for xb, yb in run.train_set.batches(batch, rng):
            loss = evaluate(xb, yb)
            run.record(step, loss, snapshot)
            rates = run.rates(step)
            for group in optimizer.param_groups:
                group["lr"] = rates[group["name"]]
            optimizer.step()
            step += 1
            if step >= run.steps:
                break
    return snapshot()
