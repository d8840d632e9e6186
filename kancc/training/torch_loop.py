"""The optimizer loop of the torch targets: torch.optim's Adam or L-BFGS over the emitted
module, with gradients from its compiled value_and_grad."""

from __future__ import annotations

from typing import Any

import numpy as np

from .run_log import RunLog


def torch_loop(run: RunLog, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
