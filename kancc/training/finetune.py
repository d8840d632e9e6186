"""Fine-tuning from a pretrained checkpoint ([finetune], seed 004): LoTRA or full.

full:  every coefficient trains, starting from the pretrained values (the seed's baseline).
lotra: the pretrained coefficients are frozen parameters of the compiled program; only the
       adapters train, each parameter at its component's rate (kancc.frontend.lotra_params), and the
       checkpoint holds the adapters only (kancc.checkpoint).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Mapping, TextIO

import numpy as np

from kancc.data import Dataset
from kancc.errors import KanccError
from kancc.frontend import lotra_params
from kancc.spec import Spec
from kancc.storage import save_checkpoint
from kancc.storage.checkpoints import load_pretrained

from .trainer import TrainResult, train_level, training_program


def train_finetune(spec: Spec, train_set: Dataset, val_set: Dataset, *, target: str,
                   params: Mapping[str, np.ndarray] | None,
                   checkpoint: str | os.PathLike | None, log: TextIO | None) -> TrainResult:
    assert spec.finetune is not None
    pretrained = load_pretrained(spec)
    if spec.finetune.lotra:
        start = dict(params) if params is not None else \
            _lotra_start(spec, pretrained.params, train_set, target)
        label = f"{spec.name} lotra cr={spec.finetune.cr}"
    else:
        start = dict(params) if params is not None else pretrained.params
        label = f"{spec.name} full fine-tuning"
    result = train_level(spec, train_set, val_set, target=target, params=start,
                         checkpoint=None, log=log, label=label)
    message = result.message
    if spec.finetune.lotra:
        stored, full = lotra_params.storage(spec)
        message += (f"; the adapter stores {stored} numbers, {stored / full:.1%} of the "
                    f"pretrained model's {full}")
    if checkpoint is not None:
        save_checkpoint(checkpoint, spec, result.params, result.history)
        message += f"; checkpoint {os.fspath(checkpoint)}"
    return replace(result, message=message)


def _lotra_start(spec: Spec, pretrained: Mapping[str, np.ndarray], train_set: Dataset,
                 target: str) -> dict[str, np.ndarray]:
    """Pretrained coefficients plus eq. (8)'s adapters; U2 needs the gradient of the
    pretrained model's loss on the fine-tuning data (kancc.frontend.lotra_params)."""
    if train_set.n == 0:
        raise KanccError("LoTRA needs training data to align U2 with the initial gradient")
    full_spec = replace(spec, finetune=None)
    _, grads = training_program(full_spec, target).value_and_grad(
        dict(pretrained), train_set.x, train_set.y)
    return {**pretrained, **lotra_params.initial_adapter(spec, grads, spec.train.seed)}
