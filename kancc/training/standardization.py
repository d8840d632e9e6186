"""[data] standardize: fit the [scaling] table's means and stds on the training split.

The fitted numbers are rounded to 6 significant digits and kept exact (Fractions), so the
spec, the checkpoint and the IR's kan.affine attributes all show the same short numbers;
rounding only moves the standardized data by a relative 1e-6, which the model absorbs. A
column with zero spread keeps std 1. Maps already in the spec (a [scaling] table, or a
checkpoint given to --init) are kept: parameters are only meaningful with the maps they
were trained with.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

from kancc.data import Dataset
from kancc.spec import Spec
from kancc.spec.scaling_table import ScalingSpec

DIGITS = 6


def exact_rounded(value: float) -> Fraction:
    return Fraction(f"{value:.{DIGITS}g}")


def column_stats(a: np.ndarray) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
    """Per column: the mean and the (population) std, rounded; std 1 where it is 0."""
    mean = a.mean(axis=0)
    std = a.std(axis=0)
    stds = tuple(exact_rounded(s) if exact_rounded(s) > 0 else Fraction(1) for s in std)
    return tuple(exact_rounded(m) for m in mean), stds


def fit_scaling(spec: Spec, train_set: Dataset) -> Spec:
    """``spec`` with the maps its [data] standardize asks for fitted on ``train_set``."""
    if spec.data is None or spec.data.standardize == "none" or train_set.n == 0:
        return spec
    scaling = spec.scaling or ScalingSpec()
    side = spec.data.standardize
    if side in ("inputs", "both") and scaling.input_mean is None:
        mean, std = column_stats(train_set.x)
        scaling = replace(scaling, input_mean=mean, input_std=std)
    if side in ("outputs", "both") and scaling.output_mean is None:
        mean, std = column_stats(train_set.y.reshape(train_set.n, -1))
        scaling = replace(scaling, output_mean=mean, output_std=std)
    return replace(spec, scaling=scaling)
