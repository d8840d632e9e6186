"""What every optimizer loop shares: the data, progress output, the history of losses, the
last parameters whose loss was finite, and each parameter's learning rate."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from kancc.data.metrics import HEADLINE, metrics
from kancc.errors import KanccError
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


class OutOfPatienceError(Exception):
    """``train.patience`` steps passed since the best validation loss (at ``best``)."""

    def __init__(self, step: int, best: int) -> None:
        super().__init__(step, best)
        self.step, self.best = step, best


@dataclass(frozen=True)
class Best:
    """The parameters with the lowest validation loss so far, and where they were."""

    step: int
    row: int
    validation: float
    params: dict[str, np.ndarray] = field(repr=False)
    metrics: dict[str, float] = field(repr=False)


class RunLog:
    """What every optimizer loop shares: data, progress, history, the last good params.

    History row k holds the losses of the parameters after k optimizer steps (row 0: the
    initial parameters). The validation set is measured every ``validate_every`` steps
    (train.validate_every, default a twentieth of the run) and at the last step; ``best``
    tracks the lowest validation loss for train.keep = "best" and train.patience."""

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
        self.validate_every = self.spec.train.validate_every or self.progress.every
        train = self.spec.train
        if (train.keep == "best" or train.patience is not None) and self.val_set.n == 0:
            key = "keep = \"best\"" if train.keep == "best" else "patience"
            raise KanccError(f"train.{key} needs a validation split: set [data] validation "
                             "(e.g. 0.2)")
        self.best: Best | None = None
        self.validation_metrics: dict[str, float] = {}  # of the last validation

    def validate(self, params: Mapping[str, np.ndarray]) -> dict[str, float]:
        """The metrics of ``params`` on the validation set ({} without one); its mse or
        cross_entropy is the validation loss, without the l2 penalty."""
        if self.val_set.n == 0:
            return {}
        x, y = self.val_set.x, self.val_set.y
        return metrics(self.spec.train.loss, self.program.forward(params, x), y)

    def record(self, step: int, loss: float, params: Callable[[], dict[str, np.ndarray]],
               last: bool = False) -> None:
        """After ``step`` steps the training loss is ``loss`` at ``params()`` (``last``: the
        parameters the run ends with, always validated)."""
        if not math.isfinite(loss):
            raise DivergedError(step, loss)
        current = params()
        self.good = current
        due = last or step % self.validate_every == 0 or step == self.steps
        scores = self.validate(current) if due else {}
        validation = scores.get(self.spec.train.loss, math.nan)
        self.rows.append((step, loss, validation))
        headline = HEADLINE[self.spec.train.loss]
        self.progress.update(step, loss, validation,
                             metric=(headline, scores[headline]) if scores else None)
        if scores:
            self.validation_metrics = scores
        if math.isfinite(validation):
            self._track_best(step, current, scores)

    def _track_best(self, step: int, params: dict[str, np.ndarray],
                    scores: dict[str, float]) -> None:
        validation = scores[self.spec.train.loss]
        if self.best is None or validation < self.best.validation:
            self.best = Best(step, len(self.rows) - 1, validation, params, scores)
        patience = self.spec.train.patience
        if patience is not None and step - self.best.step >= patience and step < self.steps:
            raise OutOfPatienceError(step, self.best.step)

    def remeasure(self, row: int, params: Mapping[str, np.ndarray]) -> None:
        """Row ``row``'s training loss measured on the whole training set (an Adam step
        records its minibatch's): for the parameters a run returns from that row."""
        loss = self.program.value_and_grad(params, self.train_set.x, self.train_set.y)[0]
        step, _, validation = self.rows[row]
        self.rows[row] = (step, loss, validation)

    def finish(self, params: dict[str, np.ndarray]) -> None:
        """Evaluate what the last step produced: the run returns only measured parameters
        (a row an optimizer already wrote for that step is replaced by this measurement)."""
        loss = self.program.value_and_grad(params, self.train_set.x, self.train_set.y)[0]
        if self.rows and self.rows[-1][0] == self.done:
            self.rows.pop()
        self.record(self.done, loss, lambda: params, last=True)

    def rates(self, step: int) -> dict[str, float]:
        """The rate of every trainable parameter at ``step`` (LoTRA: per component)."""
        rate = self.rate(step)
        return {name: rate * self.factors.get(name, 1.0) for name in self.trainable}

    def rate(self, step: int) -> float:
        train = self.spec.train
        return learning_rate(step, train.learning_rate, train.warmup, self.steps, train.schedule,
                             train.cycle, float(train.gamma))


def rate_factors(spec: Spec) -> dict[str, float]:
    """Each parameter's learning rate relative to train.lr (LoTRA's components; else 1)."""
    if spec.finetune is None or not spec.finetune.lotra:
        return {}
    base = spec.train.learning_rate
    return {name: rate / base for name, rate in lotra_params.component_rates(spec).items()}
