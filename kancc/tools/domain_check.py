"""Which layers see inputs outside their domain, and how often.

A B-spline layer is defined on its domain; beyond it kancc extends the edge cells'
polynomials, so an input far outside is extrapolated by a cubic (or whatever the degree)
that nothing constrained. Training and ``kancc eval`` warn once when more than
``THRESHOLD`` of a layer's inputs fall outside (DESIGN.md 6). Global bases (tanh-mapped)
have no domain and are not checked.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from kancc.errors import KanccWarning
from kancc.ir import GLOBAL_KINDS, Op, Trait, has_trait, input_knots, is_per_input
from kancc.program import compile
from kancc.spec import Spec

THRESHOLD = 0.05


@dataclass(frozen=True)
class OutsideDomain:
    layer: int
    fraction: float  # of the layer's input values (rows x inputs) outside the domain
    domain: tuple[Fraction, Fraction]
    per_input: bool = False  # each input has its own grid; domain is their hull

    def describe(self) -> str:
        if self.per_input:
            return f"layer {self.layer}: {self.fraction:.1%} of its inputs outside their grids"
        low, high = (float(v) for v in self.domain)
        return f"layer {self.layer}: {self.fraction:.1%} of its inputs outside [{low:g}, {high:g}]"


def layer_inputs(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray
                 ) -> list[tuple[Op, np.ndarray]]:
    """Per layer, in order: its basis op in the compiled NumPy program and the values it
    receives on raw rows ``x`` (after [scaling]'s input map), by the module's ``trace``."""
    program = compile(spec, "numpy")
    values = program.module.trace(program.pipeline.map_params(dict(params)), x)
    bases: dict[str, Op] = {}  # by input value: LoTRA's two ops of a layer share one
    for op in program.ir.ops:
        if has_trait(op, Trait.BASIS) and not has_trait(op, Trait.GRADIENT):
            bases.setdefault(op.operands[0].name, op)
    return [(op, np.asarray(values[name])) for name, op in bases.items()]


def outside_domain(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray
                   ) -> list[OutsideDomain]:
    """For every B-spline layer of ``spec`` evaluated on ``x`` (raw rows, as the compiled
    model takes them), the fraction of its input values outside its domain."""
    report = []
    for layer, (op, values) in enumerate(layer_inputs(spec, params, x)):
        if op.attr("kind") in GLOBAL_KINDS or values.size == 0:
            continue
        low, high = _column_bounds(op)
        outside = (values < low) | (values > high)
        report.append(OutsideDomain(layer, float(outside.mean()), op.attr("domain"),
                                    is_per_input(op.attr_dict)))
    return report


def _column_bounds(op: Op) -> tuple[np.ndarray, np.ndarray]:
    """Each input column's [t_0, t_n]: the layer's domain, or with per-input knots each
    input's own grid."""
    if not is_per_input(op.attr_dict):
        low, high = op.attr("domain")
        return np.array(float(low)), np.array(float(high))
    r, n = op.attr("order"), op.attr("grid")
    rows = input_knots(op.attr_dict)
    return (np.array([float(row[r - 1]) for row in rows]),
            np.array([float(row[r - 1 + n]) for row in rows]))


def warn_outside_domain(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray,
                        what: str) -> None:
    """One KanccWarning naming every layer with more than THRESHOLD of its inputs outside
    its domain on ``what`` (e.g. "the training data")."""
    far = [r for r in outside_domain(spec, params, x) if r.fraction > THRESHOLD]
    if far:
        warnings.warn(f"on {what}, {'; '.join(r.describe() for r in far)}: kancc extends the "
                      f"edge cells' polynomials there; {_advice(spec, far)}", KanccWarning,
                      stacklevel=2)


def _advice(spec: Spec, far: list[OutsideDomain]) -> str:
    """What to change: the domain of those layers, and for raw inputs, standardization."""
    layers = ", ".join(f"layers[{r.layer}]" for r in far)
    advice = f"widen the domain (or the knot vectors) of {layers}"
    standardized = spec.scaling is not None and spec.scaling.input_mean is not None
    if far[0].layer == 0 and not standardized:
        advice += ', or set [data] standardize = true with domain = [-3, 3] or "auto"'
    return advice
