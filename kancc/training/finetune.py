"""Fine-tuning from a pretrained checkpoint ([finetune]): LoTRA or full.

full:  every coefficient trains, starting from the pretrained values (the LoTRA paper's baseline).
lotra: the pretrained coefficients are frozen parameters of the compiled program; only the
       adapters train, each parameter at its component's rate (kancc.frontend.lotra_params),
       and the checkpoint holds the adapters only (kancc.storage.checkpoints).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from kancc.errors import KanccError
from kancc.frontend import lotra_params
from kancc.storage import save_checkpoint
from kancc.storage.checkpoints import load_pretrained

from .gradient import train_gradient
from .request import TrainRequest, TrainResult


def train_finetune(request: TrainRequest) -> TrainResult:
    spec = request.spec
    assert spec.finetune is not None
    pretrained = load_pretrained(spec)
    if spec.finetune.lotra:
        start = dict(request.params) if request.params is not None else \
            _lotra_start(request, pretrained.params)
        label = f"{spec.name} lotra cr={spec.finetune.cr}"
    else:
        start = dict(request.params) if request.params is not None else pretrained.params
        label = f"{spec.name} full fine-tuning"
    result = train_gradient(replace(request, params=start, checkpoint=None), label=label)
    message = result.message
    if spec.finetune.lotra:
        message += "; " + lotra_params.storage_note(spec)
    if request.checkpoint is not None:
        save_checkpoint(request.checkpoint, spec, result.params, result.history)
        message += f"; checkpoint {os.fspath(request.checkpoint)}"
    return replace(result, message=message)


def _lotra_start(request: TrainRequest, pretrained: Mapping[str, np.ndarray]
                 ) -> dict[str, np.ndarray]:
    """Pretrained coefficients plus eq. (8)'s adapters; U2 needs the gradient of the
    pretrained model's loss on the fine-tuning data (kancc.frontend.lotra_params)."""
    spec, train_set = request.spec, request.train_set
    if train_set.n == 0:
        raise KanccError("LoTRA needs training data to align U2 with the initial gradient")
    full_spec = replace(spec, finetune=None)
    program = request.programs.training_program(full_spec, request.target)
    _, grads = program.value_and_grad(dict(pretrained), train_set.x, train_set.y)
    return {**pretrained, **lotra_params.initial_adapter(spec, grads, spec.train.seed)}
