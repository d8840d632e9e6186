"""Learning-rate schedules and the NumPy Adam optimizer (Kingma & Ba, with bias correction).

torch targets use torch.optim.Adam with the same schedule (``learning_rate``); the two are
the same algorithm, so a spec trains alike on both targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def learning_rate(step: int, base: float, warmup: int, steps: int, schedule: str,
                  cycle: int = 100, gamma: float = 1.0) -> float:
    """The rate of 0-based ``step``: linear warmup over ``warmup`` steps, then constant, a
    cosine decay from ``base`` to 0 at ``steps``, or exp-cyclic: a triangle wave between
    base / 10 and base of period ``cycle``, its height above base / 10 decaying by
    ``gamma`` per step (torch's CyclicLR in mode exp_range)."""
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "exp-cyclic":
        t = step - warmup
        phase = (t % cycle) / cycle
        low = base / 10
        return low + (base - low) * (1.0 - abs(2.0 * phase - 1.0)) * gamma ** t
    if schedule == "cosine":
        span = max(1, steps - warmup)
        return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))
    return base


class Adam:
    """Adam on a dict of NumPy arrays, updated in place; moments kept in float64."""

    def __init__(self, params: Mapping[str, np.ndarray], beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros(v.shape) for k, v in params.items()}
        self.v = {k: np.zeros(v.shape) for k, v in params.items()}
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray],
             lr: float | Mapping[str, float]) -> None:
        """One step on every parameter with a gradient; ``lr`` one rate or one per name."""
        self.t += 1
        correction1 = 1.0 - self.beta1 ** self.t
        correction2 = 1.0 - self.beta2 ** self.t
        for name, grad in grads.items():
            rate = lr[name] if isinstance(lr, Mapping) else lr
            self._update(params, name, grad, rate, correction1, correction2)

    def _update(self, params: dict[str, np.ndarray], name: str, grad: np.ndarray, lr: float,
                correction1: float, correction2: float) -> None:
        # A diverging run overflows here; the trainer stops on the non-finite loss it causes.
        with np.errstate(over="ignore", invalid="ignore"):
            m, v = self.m[name], self.v[name]
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * np.square(grad)
            update = lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)
            params[name] = (params[name] - update).astype(params[name].dtype)
