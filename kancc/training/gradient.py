"""Gradient training of one spec: its optimizer for ``train.steps`` steps on the compiled
training program (Adam: NumPy's on the numpy target, torch.optim's on torch targets; L-BFGS:
one scipy loop on every target).

A non-finite training loss stops the run: the parameters of the last finite step are kept
(and checkpointed), and the result says where it stopped. Seeds: ``train.seed`` fixes the
initial parameters and the minibatch order, ``data.seed`` the sampling and the split.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np

from kancc.backends import TARGETS
from kancc.errors import KanccError
from kancc.program import Program
from kancc.storage import save_checkpoint

from .numpy_loops import numpy_adam, numpy_lbfgs
from .request import TrainRequest, TrainResult
from .run_log import DivergedError, OutOfPatienceError, RunLog
from .torch_loop import torch_adam, torch_lbfgs

Loop = Callable[[RunLog, dict[str, np.ndarray]], dict[str, np.ndarray]]
LOOPS: dict[tuple[str, str], Loop] = {  # (the target's arrays, train.optimizer)
    ("numpy", "adam"): numpy_adam,
    ("numpy", "lbfgs"): numpy_lbfgs,
    ("torch", "adam"): torch_adam,
    ("torch", "lbfgs"): torch_lbfgs,
}


def _loop(request: TrainRequest) -> Loop:
    return LOOPS[TARGETS[request.target].arrays, request.spec.train.optimizer]


def train_gradient(request: TrainRequest, label: str | None = None) -> TrainResult:
    """One optimizer run of ``spec.train.steps`` steps on already split data."""
    spec = request.spec
    program = request.programs.training_program(spec, request.target)
    start = program.spec_init_params(spec.train.seed) if request.params is None else \
        _starting_params(program, request.params)
    run = RunLog(program, request, label or f"{spec.name} {spec.train.optimizer}")
    mapped = program.pipeline.map_params(start)
    status, kept = "done", -1
    try:
        run.finish(_loop(request)(run, dict(mapped)))
        final = run.good
        message = f"trained {_steps(run.done)}"
    except OutOfPatienceError as stop:
        final = run.good
        run.remeasure(len(run.rows) - 1, final)
        message = (f"stopped early after {_steps(stop.step)}: no lower validation loss "
                   f"since step {stop.best} (train.patience {spec.train.patience})")
    except DivergedError as stop:
        final = run.good or mapped
        status = "diverged"
        kept_at = f"step {int(run.rows[-1][0])}" if run.rows else "the initial ones"
        message = (f"stopped: the training loss became {stop.loss} after step {stop.step}; "
                   f"kept the parameters of the last finite step ({kept_at}); lower train.lr "
                   "or add warmup")
    run.progress.end()
    validation = run.validation_metrics
    if spec.train.keep == "best" and run.best is not None and status == "done":
        final, kept, validation = run.best.params, run.best.row, run.best.metrics
        run.remeasure(kept, final)
        message += f"; kept step {run.best.step} (lowest validation loss)"
    final = program.pipeline.unmap_params(final)
    history = np.array(run.rows, dtype=float).reshape(-1, 3)
    message += "; " + _losses(history, kept, validation)
    if request.checkpoint is not None:
        save_checkpoint(request.checkpoint, spec, final, history)
        message += f"; checkpoint {os.fspath(request.checkpoint)}"
    return TrainResult(final, history, status, message, program, kept=kept,
                       validation_metrics=validation)


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


def _losses(history: np.ndarray, kept: int, validation: dict[str, float]) -> str:
    """The returned parameters' losses and validation metrics, for the summary line."""
    if not len(history):
        return "no finite loss"
    text = f"loss {history[kept, 1]:.3e}"
    if validation:
        text += ", validation " + ", ".join(f"{name} {value:.4g}"
                                             for name, value in validation.items())
    return text


def _starting_params(program: Program, params: Mapping[str, np.ndarray]
                     ) -> dict[str, np.ndarray]:
    """Given starting parameters, checked: the model's names and shapes, finite values."""
    expected = {p.name: tuple(p.type.shape) for p in program.input_ir.params}
    return checked_params(params, expected, program.spec.dtype)


def checked_params(params: Mapping[str, np.ndarray],
                   expected: Mapping[str, tuple[int | str, ...]], dtype: str
                   ) -> dict[str, np.ndarray]:
    """``params`` in ``dtype``, refused unless they have exactly the ``expected`` names and
    shapes and finite values."""
    start = {k: np.array(v, dtype=dtype) for k, v in params.items()}
    got = {k: v.shape for k, v in start.items()}
    if got != dict(expected):
        raise KanccError(f"params do not fit the model: expected {dict(expected)}, got {got}")
    for name, value in start.items():
        if not np.isfinite(value).all():
            raise KanccError(f"params: {name} holds NaN or Inf (or values beyond "
                             f"{dtype}'s range)")
    return start
