"""What a spec leaves to the data, fitted when training starts: [data] standardize's
[scaling] maps and the layers whose ``domain = "auto"``.

Standardization: each column's mean and (population) std on the training split, rounded to
6 significant digits and kept exact (Fractions), so the spec, the checkpoint and the IR's
kan.affine attributes show the same short numbers; a column with zero spread keeps std 1.

Automatic domains, layer by layer from the first: the layer's inputs on the training split
(layer 0: the standardized inputs; layer l: what the layers before it give with the
starting parameters -- the seeded initialization, or ``--init``'s), their range widened by
10% each side and rounded outward to 3 significant digits. Hidden values move as training
proceeds: the out-of-domain warning after training says when they left the domain.

Maps and domains already in the spec (a [scaling] table, a checkpoint given to --init) are
kept: parameters are only meaningful with the maps they were trained with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction

import numpy as np

from kancc.data import Dataset
from kancc.errors import KanccError
from kancc.frontend import parse_param_name, spec_init_params
from kancc.program import compile
from kancc.spec import Spec
from kancc.spec.scaling_table import ScalingSpec

DIGITS = 6
DOMAIN_DIGITS = 3
MARGIN = Fraction(1, 10)


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


def refuse_refitting(spec: Spec) -> None:
    """Starting parameters mean what they meant with the maps and domains they were trained
    with: fitting new ones around them would change the model silently. A checkpoint's spec
    (``kancc train CKPT``, ``--init``) carries them; a spec that would fit afresh is refused."""
    auto = [i for i, basis in enumerate(spec.layers) if basis.auto_domain]
    if auto:
        raise KanccError(f'layers[{auto[0]}].domain is "auto" but starting parameters were '
                         "given: use the spec of the checkpoint they come from")
    side = spec.data.standardize if spec.data is not None else "none"
    scaling = spec.scaling or ScalingSpec()
    if (side in ("inputs", "both") and scaling.input_mean is None) or \
            (side in ("outputs", "both") and scaling.output_mean is None):
        raise KanccError("data.standardize would fit new [scaling] maps around the starting "
                         "parameters, which were trained without them: use the spec of the "
                         "checkpoint they come from, or train from scratch")


def outward(value: float, up: bool) -> Fraction:
    """``value`` rounded away from the data to DOMAIN_DIGITS significant digits."""
    if value == 0:
        return Fraction(0)
    exponent = math.floor(math.log10(abs(value))) - DOMAIN_DIGITS + 1
    step = Fraction(10) ** exponent
    units = Fraction(value) / step
    return (math.ceil(units) if up else math.floor(units)) * step


def auto_domain(values: np.ndarray, index: int) -> tuple[Fraction, Fraction]:
    """The domain of a layer whose inputs are ``values``: their range plus MARGIN each side."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise KanccError(f'layers[{index}].domain = "auto" needs finite inputs to the layer')
    low, high = float(finite.min()), float(finite.max())
    pad = max(high - low, abs(high), abs(low), 1e-6) * float(MARGIN)
    return outward(low - pad, up=False), outward(high + pad, up=True)


def fit_domains(spec: Spec, train_set: Dataset,
                params: Mapping[str, np.ndarray] | None) -> Spec:
    """``spec`` with every ``domain = "auto"`` chosen on ``train_set`` (module docstring)."""
    if not any(basis.auto_domain for basis in spec.layers):
        return spec
    if train_set.n == 0:
        raise KanccError('domain = "auto" needs training rows to choose the domain from')
    start = spec_init_params(spec, spec.train.seed) if params is None else params
    layers = list(spec.layers)
    for index, basis in enumerate(spec.layers):
        if basis.auto_domain:
            inputs = _layer_input(replace(spec, layers=tuple(layers)), start, train_set.x,
                                  index)
            layers[index] = replace(basis, domain=auto_domain(inputs, index),
                                    auto_domain=False)
    return replace(spec, layers=tuple(layers))


def _layer_input(spec: Spec, params: Mapping[str, np.ndarray], x: np.ndarray, index: int
                 ) -> np.ndarray:
    """What layer ``index`` of ``spec`` receives on rows ``x``: the standardized inputs, or
    the output of the layers before it (their domains already chosen)."""
    scaling = spec.scaling
    if index == 0:
        return (scaling or ScalingSpec()).standardized(x)
    no_output_map = replace(scaling, output_mean=None, output_std=None) if scaling else None
    prefix = replace(spec, name=f"{spec.name}_first{index}", layers=spec.layers[:index],
                     widths=spec.widths[:index + 1], finetune=None, scaling=no_output_map)
    program = compile(prefix, "numpy")
    kept = {name: value for name, value in params.items()
            if parse_param_name(name).layer < index}
    return np.asarray(program.forward(program.pipeline.map_params(kept), x))
