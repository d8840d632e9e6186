"""What every optimizer loop shares: the data, progress output, the history of losses, the
last parameters whose loss was finite, and each parameter's learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from kancc.frontend import lotra_params
from kancc.program import Program
from kancc.spec import Spec

from .optim import learning_rate
from .progress import Progress
from .request import TrainRequest


class DivergedError(Exception):
    """The training loss became NaN or Inf after ``step`` steps."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(step, loss)
        self.step, self.loss = step, loss


class RunLog:
    """What every optimizer loop shares: data, progress, history, the last good params.

    History row k holds the losses of the parameters after k optimizer steps (row 0: the
    initial parameters), so the last row describes the parameters the run returns."""

    def __init__(self, program: Program, request: TrainRequest, label: str) -> None:
        self.program = program
        self.spec, self.train_set, self.val_set = request.spec, request.train_set, request.val_set
        self.steps = self.spec.train.steps
        self.progress = Progress(self.steps, request.log, label)
        self.rows: list[tuple[float, float, float]] = []
        self.good: dict[str, np.ndarray] = {}
        self.done = self.steps  # steps taken (L-BFGS may converge before train.steps)
        self.trainable = [p.name for p in program.ir.trainable_params]
        self.factors = rate_factors(self.spec)

    def validation_loss(self, params: Mapping[str, np.ndarray]) -> float:
        if self.val_set.n == 0:
            return math.nan
        return self.program.value_and_grad(params, self.val_set.x, self.val_set.y)[0]

    def record(self, step: int, loss: float, params: Callable[[], dict[str, np.ndarray]]
               ) -> None:
        """After ``step`` steps the training loss is ``loss`` at ``params()``."""
        if not math.isfinite(loss):
            raise DivergedError(step, loss)
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


def rate_factors(spec: Spec) -> dict[str, float]:
    """Each parameter's learning rate relative to train.lr (LoTRA's components; else 1)."""
    if spec.finetune is None or not spec.finetune.lotra:
        return {}
    base = spec.train.learning_rate
    return {name: rate / base for name, rate in lotra_params.component_rates(spec).items()}
