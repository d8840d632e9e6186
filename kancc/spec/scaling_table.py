"""The optional ``[scaling]`` table: fixed affine maps around the model, compiled into it.

    [scaling]                 # written by kancc train when [data] standardize is set
    input_mean = [152.1, 0.5] # the model sees (x - input_mean) / input_std ...
    input_std = [77.09, 0.25]
    output_mean = [152.1]     # ... and returns its last layer's value * output_std + output_mean
    output_std = [77.09]

The frontend makes them a ``kan.affine`` op before the first layer and after the last, so
``run``, ``eval``, ``plot`` and emitted modules take and give raw data, and the IR shows
the maps. Each pair is given together, one entry per model input (or output).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .checker import Checker
from .keys import ArrayOf, Number, key, read_table, table_to_dict

MEANS = ArrayOf(Number(), "entries")
STDS = ArrayOf(Number(Fraction(0), low_open=True), "entries")
Affine = tuple[tuple[Fraction, ...], tuple[Fraction, ...]]  # (scale, shift) per column


@dataclass(frozen=True)
class ScalingSpec:
    input_mean: tuple[Fraction, ...] | None = key(None, MEANS, "subtracted from each input "
                                                                "column")
    input_std: tuple[Fraction, ...] | None = key(None, STDS, "then each input column is "
                                                              "divided by this")
    output_mean: tuple[Fraction, ...] | None = key(None, MEANS, "added to each output, after")
    output_std: tuple[Fraction, ...] | None = key(None, STDS, "each output is multiplied by "
                                                               "this")

    def input_map(self) -> Affine | None:
        """x -> x * scale + shift with scale = 1/std, shift = -mean/std (None: identity)."""
        if self.input_mean is None or self.input_std is None:
            return None
        scale = tuple(1 / s for s in self.input_std)
        return scale, tuple(-m / s for m, s in zip(self.input_mean, self.input_std))

    def output_map(self) -> Affine | None:
        """z -> z * std + mean (None: identity)."""
        if self.output_mean is None or self.output_std is None:
            return None
        return self.output_std, self.output_mean

    def standardized(self, x: np.ndarray) -> np.ndarray:
        """``x`` (rows of inputs) through the input map, in float64: what layer 0 sees."""
        return _applied(self.input_map(), x)

    def destandardized(self, z: np.ndarray) -> np.ndarray:
        """The last layer's values ``z`` through the output map, in float64."""
        return _applied(self.output_map(), z)


def _applied(affine: Affine | None, a: np.ndarray) -> np.ndarray:
    values = np.asarray(a, np.float64)
    if affine is None:
        return values
    scale, shift = (np.array([float(v) for v in part]) for part in affine)
    result: np.ndarray = values * scale + shift
    return result


def parse_scaling(check: Checker, raw: object, widths: tuple[int, ...]) -> ScalingSpec:
    """[scaling], each mean given with its std and of the model's input or output width."""
    values = read_table(check, raw, "scaling", ScalingSpec)
    for side, width in (("input", widths[0]), ("output", widths[-1])):
        mean, std = f"{side}_mean", f"{side}_std"
        given = [name for name in (mean, std) if name in values]
        if len(given) == 1:
            other = std if given[0] == mean else mean
            raise check.fail(f"scaling.{other}", f"missing: give it with scaling.{given[0]}")
        for name in given:
            if len(values[name]) != width:
                raise check.fail(f"scaling.{name}", f"give {width} entries (the model's "
                                                    f"{side} width), got {len(values[name])}")
    return ScalingSpec(**values)


def scaling_to_dict(scaling: ScalingSpec) -> dict[str, Any]:
    return table_to_dict(scaling)
