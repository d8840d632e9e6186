"""Compiled training programs, owned by whoever trains: multilevel levels, repeated seeds
and sweeps compile each (model, loss, target, pipeline) once."""

from __future__ import annotations

from dataclasses import replace

from kancc.passes import PIPELINES
from kancc.program import Program, compile
from kancc.spec import Spec, TrainSpec


def training_pipeline(spec: Spec) -> str:
    """The pass pipeline of a spec's training program: the ReLU geometry iterates on the
    weights of the to-relu-basis program."""
    relu = "to-relu-basis," if spec.train.geometry == "relu" else ""
    return relu + PIPELINES["training"]


class ProgramCache:
    """Training programs by what they depend on: the model and the loss (not the steps,
    seeds or data), the target and the pipeline. ``kancc.train`` makes one per call unless
    the caller passes its own to share between calls."""

    def __init__(self) -> None:
        self._programs: dict[tuple[Spec, str, str], Program] = {}

    def training_program(self, spec: Spec, target: str) -> Program:
        model = replace(spec, origin=None, data=None,
                        train=TrainSpec(loss=spec.train.loss, l2=spec.train.l2,
                                        geometry=spec.train.geometry))
        key = (model, target, training_pipeline(spec))
        if key not in self._programs:
            self._programs[key] = compile(model, target, training=True, passes=key[2])
        return self._programs[key]

    def __len__(self) -> int:
        return len(self._programs)
