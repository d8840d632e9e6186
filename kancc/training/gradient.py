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
from .run_log import DivergedError, RunLog
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
    try:
        run.finish(_loop(request)(run, dict(mapped)))
        final, status = run.good, "done"
        message = f"trained {run.done} steps: loss {run.rows[-1][1]:.3e}"
    except DivergedError as stop:
        final = run.good or mapped
        status = "diverged"
        kept = f"step {int(run.rows[-1][0])}" if run.rows else "the initial ones"
        message = (f"stopped: the training loss became {stop.loss} after step {stop.step}; "
                   f"kept the parameters of the last finite step ({kept}); lower train.lr "
                   "or add warmup")
    final = program.pipeline.unmap_params(final)
    history = np.array(run.rows, dtype=float).reshape(-1, 3)
    if request.checkpoint is not None:
        save_checkpoint(request.checkpoint, spec, final, history)
        message += f"; checkpoint {os.fspath(request.checkpoint)}"
    run.progress.message(message)
    return TrainResult(final, history, status, message, program)


def _starting_params(program: Program, params: Mapping[str, np.ndarray]
                     ) -> dict[str, np.ndarray]:
    """Given starting parameters, checked: the model's names and shapes, finite values."""
    expected = {p.name: tuple(p.type.shape) for p in program.input_ir.params}
    start = {k: np.array(v, dtype=program.spec.dtype) for k, v in params.items()}
    got = {k: v.shape for k, v in start.items()}
    if got != expected:
        raise KanccError(f"params do not fit the model: expected {expected}, got {got}")
    for name, value in start.items():
        if not np.isfinite(value).all():
            raise KanccError(f"params: {name} holds NaN or Inf (or values beyond "
                             f"{program.spec.dtype}'s range)")
    return start
