"""``kancc.train`` and the registry of training methods it chooses from.

A method is a function TrainRequest -> TrainResult, chosen by what the spec asks for; the
first entry of ``METHODS`` that applies wins. A new method is one entry here and its
module (which imports ``gradient`` or ``request``, never this registry).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from kancc.backends import TARGETS
from kancc.errors import KanccError
from kancc.spec import Spec, SpecSource, load_spec
from kancc.tools.domain_check import warn_outside_domain

from .finetune import train_finetune
from .fitted_spec import fit_domains, fit_scaling, refuse_refitting
from .gradient import train_gradient
from .multilevel import train_multilevel
from .physics import train_physics
from .program_cache import ProgramCache
from .request import TrainRequest, TrainResult
from .training_data import DataSource, resolve_data


def _newton_kaczmarz(request: TrainRequest) -> TrainResult:
    """Newton-Kaczmarz, imported when a spec asks for it: its record loop loads numba, which
    nothing else needs (``import kancc`` stays quick)."""
    from .kaczmarz import train_newton_kaczmarz

    return train_newton_kaczmarz(request)


@dataclass(frozen=True)
class Method:
    name: str
    applies: Callable[[Spec], bool]
    run: Callable[[TrainRequest], TrainResult]


METHODS: tuple[Method, ...] = (
    Method("newton-kaczmarz", lambda spec: spec.train.method == "newton-kaczmarz",
           _newton_kaczmarz),
    Method("finetune", lambda spec: spec.finetune is not None, train_finetune),
    Method("multilevel", lambda spec: spec.train.multilevel is not None, train_multilevel),
    Method("gradient", lambda spec: True, train_gradient),
)


def train(spec: SpecSource, data: DataSource = None, *, target: str = "numpy",
          params: Mapping[str, np.ndarray] | None = None,
          checkpoint: str | os.PathLike[str] | None = None,
          log: TextIO | None = sys.stderr, programs: ProgramCache | None = None) -> TrainResult:
    """Train the model of ``spec`` as its [train] table says (multilevel when it has a
    [train.multilevel] table, Newton-Kaczmarz, fine-tuning from [finetune], else gradient
    training).

    ``data``: a Dataset, an (x, y) pair, a file or synthetic-target name; default the spec's
    [data] table. ``params``: start here (spec-level coefficients) instead of the seeded
    initialization. ``checkpoint``: write the final (or last finite) parameters there,
    atomically. ``log``: where progress goes (None: silent). ``programs``: compiled
    programs to reuse across calls (default: a cache of this call only). The returned
    parameters are spec-level coefficients whatever ``train.geometry`` the optimizer
    iterated in. With [data] standardize, the maps are fitted on the training split first,
    then every ``domain = "auto"`` is chosen (``fitted_spec``); the checkpoint's spec and
    ``result.program.spec`` hold them."""
    if target not in TARGETS:
        raise KanccError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    spec = load_spec(spec)
    if spec.pde is not None:
        if data is not None:
            raise KanccError(f"{spec.name} has a [pde] table: it trains on its collocation "
                             "points, not on data")
        return train_physics(spec, target, params, checkpoint, log)
    train_set, val_set = resolve_data(spec, data)
    if params is not None:
        refuse_refitting(spec)
    spec = fit_domains(fit_scaling(spec, train_set), train_set, params)
    request = TrainRequest(spec, train_set, val_set, target, params, checkpoint, log,
                           programs if programs is not None else ProgramCache())
    method = next(m for m in METHODS if m.applies(spec))
    result = method.run(request)
    if result.status == "done" and train_set.n:
        warn_outside_domain(result.program.spec, result.params, train_set.x,
                            "the training data")
    return result
