"""The variables a physics-informed run iterates on: the B-spline coefficients u (spline
geometry) or the truncated-power weights w = A^T u (ReLU geometry, the multilevel paper's
Table 1), layer by layer.

Data-driven training gets the ReLU geometry from a program compiled through to-relu-basis.
The physics-informed programs keep the spline basis, whose jets are built, and the
optimizer moves in w by the chain rule around them: u = A^-T w, so dL/dw = A^-1 dL/du. The
model's function at each step is the same either way; only the optimizer's path differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kancc.numerics.basis_matrices import (
    relu_weight_gradient,
    to_relu_weights,
    to_spline_coefficients,
)
from kancc.passes.relu_basis import relu_change_of_basis_matrices
from kancc.program import Program

Params = dict[str, np.ndarray]


class Parameterization(Protocol):
    """What the optimizer of a physics-informed run iterates on, and how that maps to the
    coefficients the physics program takes (a Geometry, or FactoredLayers for Tucker and
    LoTRA layers)."""

    def variables(self, params: Mapping[str, np.ndarray]) -> Params:
        """The spec's parameters -> the optimizer's variables."""
        ...

    def params(self, variables: Mapping[str, np.ndarray]) -> Params:
        """The optimizer's variables -> the spec's parameters."""
        ...

    def coefficients(self, variables: Mapping[str, np.ndarray]) -> Params:
        """The optimizer's variables -> the physics program's coefficients."""
        ...

    def gradient(self, grads: Mapping[str, np.ndarray], variables: Mapping[str, np.ndarray]
                 ) -> Params:
        """The gradient in the coefficients -> the gradient in the variables."""
        ...


@dataclass(frozen=True)
class Geometry:
    """Maps between the spec-level coefficients and the optimizer's variables; with no
    matrices (the spline geometry) every map is the identity."""

    matrices: Mapping[str, np.ndarray]  # A of each coefficient the optimizer sees as w

    def variables(self, coefficients: Mapping[str, np.ndarray]) -> Params:
        """u -> the optimizer's variables (w = A^T u)."""
        return self._each(coefficients, to_relu_weights)

    def coefficients(self, variables: Mapping[str, np.ndarray]) -> Params:
        """The optimizer's variables -> u (u = A^-T w)."""
        return self._each(variables, to_spline_coefficients)

    def params(self, variables: Mapping[str, np.ndarray]) -> Params:
        """The spec's parameters: the coefficients u."""
        return self.coefficients(variables)

    def gradient(self, grads: Mapping[str, np.ndarray], variables: Mapping[str, np.ndarray]
                 ) -> Params:
        """dL/du -> the gradient in the optimizer's variables (dL/dw = A^-1 dL/du; the map
        is linear, so the variables do not enter)."""
        return self._each(grads, relu_weight_gradient)

    def _each(self, arrays: Mapping[str, np.ndarray],
              convert: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Params:
        """``convert(array, A)`` of every array with an A; the others as they are."""
        return {k: convert(v, self.matrices[k]) if k in self.matrices else v
                for k, v in arrays.items()}


def physics_geometry(geometry: str, model: Program) -> Geometry:
    """The geometry ``train.geometry`` names, for the inference program ``model`` of the
    spec being trained (its spec view gives each layer's knots)."""
    if geometry == "spline":
        return Geometry({})
    return Geometry(relu_change_of_basis_matrices(model.input_ir))
