"""What a training method is asked to do, and what it returns."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from kancc.data import Dataset
from kancc.program import Program
from kancc.spec import Spec

from .program_cache import ProgramCache


@dataclass(frozen=True)
class TrainRequest:
    """One training run: the spec (its [train] table says how), the data already split, the
    target, optional starting parameters (spec-level), where to checkpoint, where progress
    goes (None: silent), and the compiled programs the caller shares between runs."""

    spec: Spec
    train_set: Dataset
    val_set: Dataset
    target: str
    params: Mapping[str, np.ndarray] | None = field(default=None, repr=False)
    checkpoint: str | os.PathLike[str] | None = None
    log: TextIO | None = None
    programs: ProgramCache = field(default_factory=ProgramCache, repr=False)


@dataclass(frozen=True)
class TrainResult:
    params: dict[str, np.ndarray] = field(repr=False)
    history: np.ndarray = field(repr=False)  # (k, 3): step, training loss, validation loss
    status: str  # "done" or "diverged"
    message: str
    program: Program = field(repr=False)
    levels: tuple[TrainResult, ...] = field(default=(), repr=False)  # multilevel runs
    kept: int = -1  # the history row of the returned parameters (train.keep = "best")
    validation_metrics: dict[str, float] = field(default_factory=dict)  # of those parameters
    # physics-informed runs: each loss term per history row, "rel_l2" and "abs_linf" (the
    # relative L2 and absolute max error; NaN: not measured)
    physics: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def loss(self) -> float:
        """The training loss of the returned parameters."""
        return float(self.history[self.kept, 1]) if len(self.history) else math.nan

    @property
    def validation_loss(self) -> float:
        """The last validation loss measured up to the returned parameters (NaN: none)."""
        if not len(self.history):
            return math.nan
        rows = self.history[:self.kept % len(self.history) + 1]
        measured = rows[~np.isnan(rows[:, 2]), 2]
        return float(measured[-1]) if len(measured) else math.nan
