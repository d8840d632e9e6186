"""Nested multilevel training (the multilevel paper's Algorithm 1).

Level 0 is the spec as written (the coarsest grids); level k splits every cell into
factor^k cells. Each level trains for its epochs, then its coefficients are prolonged
exactly (u_fine = P u_coarse, ``kancc.frontend.prolong_params``) to start the next level,
so refinement never loses what was learned (a properly nested hierarchy: the loss right after the
prolongation equals the loss before it). Levels with 0 epochs are passed through: before the
first trained level nothing is carried (that level starts from its own seeded
initialization, e.g. the fine-only schedule [0, 0, 0, 16]); after the last trained level
nothing is prolonged or logged (the result is that level's model, e.g. [128, 0, 0, 0]).
Each level recompiles (cached), restarts its optimizer, ramps its learning rate again
(``train.warmup`` steps, Adam), logs its losses and, given a checkpoint path, writes one
checkpoint per trained level (``NAME.level{k}.npz``, k = 1 for the coarsest, as in the log)
next to the final one.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from kancc.frontend import prolong_params
from kancc.spec import Spec
from kancc.spec.refinement import refine_spec
from kancc.storage import save_checkpoint

from .gradient import train_gradient
from .request import TrainRequest, TrainResult


def level_specs(spec: Spec, n_train: int) -> list[Spec]:
    """The spec of every level, with train.steps = epochs * steps per epoch (validated
    before any training, so a level whose grid is too fine fails first)."""
    levels = spec.train.multilevel
    assert levels is not None
    per_epoch = levels.steps_per_epoch
    if per_epoch is None:
        batch = spec.train.batch_size or n_train
        per_epoch = 1 if spec.train.optimizer == "lbfgs" else max(1, math.ceil(n_train / batch))
    specs, current = [], spec
    for index, epochs in enumerate(levels.epochs):
        if index > 0:
            current = refine_spec(current, levels.factor)
        steps = epochs * per_epoch
        train = replace(spec.train, steps=max(steps, 1), warmup=min(spec.train.warmup, steps),
                        multilevel=None)
        specs.append(replace(current, train=train))
    return specs


def level_path(checkpoint: str | os.PathLike[str], level: int) -> Path:
    path = Path(checkpoint)
    return path.with_name(f"{path.stem}.level{level}{path.suffix or '.npz'}")


def train_multilevel(request: TrainRequest) -> TrainResult:
    spec, log = request.spec, request.log
    assert spec.train.multilevel is not None
    epochs = spec.train.multilevel.epochs
    specs = level_specs(spec, request.train_set.n)
    results: list[TrainResult] = []
    trained: list[Spec] = []
    rows: list[np.ndarray] = []
    offset = 0
    current = dict(request.params) if request.params is not None else None
    previous: Spec | None = None
    last_trained = max(i for i, count in enumerate(epochs) if count > 0)
    for index, (level, count) in enumerate(zip(specs[:last_trained + 1], epochs)):
        if previous is not None and current is not None:
            current = prolong_params(previous, level, current)
        previous = level
        grids = "/".join(str(b.grid) for b in level.layers)
        if log is not None:
            log.write(f"level {index + 1}/{len(specs)}: grid {grids}, {count} epochs "
                      f"({level.train.steps if count else 0} steps)\n")
        if count == 0:  # before any training the first trained level initializes itself
            continue
        checkpoint = level_path(request.checkpoint, index + 1) if request.checkpoint else None
        result = train_gradient(replace(request, spec=level, params=current,
                                        checkpoint=checkpoint),
                                label=f"{spec.name} level {index + 1} grid {grids}")
        if log is not None:
            log.write(f"level {index + 1}: {result.message}\n")
        results.append(result)
        trained.append(level)
        history = result.history.copy()
        history[:, 0] += offset  # row 0 of a level: the prolonged model, at the boundary step
        rows.append(history)
        if len(history):  # empty when the level diverged before its first step
            offset = history[-1, 0]
        current = result.params
        if result.status != "done":
            break
    final = results[-1]
    history = np.concatenate(rows)
    levels = f"{len(results)} trained level{'' if len(results) == 1 else 's'}"
    message = f"multilevel, {levels}; last level " + final.message
    if request.checkpoint is not None:
        save_checkpoint(request.checkpoint, trained[-1], final.params, history)
        message += f"; final checkpoint {os.fspath(request.checkpoint)}"
    return TrainResult(final.params, history, final.status, message, final.program,
                       tuple(results))
