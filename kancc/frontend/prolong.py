"""Trained coefficients carried onto a finer spec: u_fine = P u_coarse, layer by layer.

The fine model computes the same function as the coarse one on every layer's domain (the
exact prolongation P of ``kancc.symbolic``, applied in float64): multilevel training and
``kancc refine`` rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kancc.errors import KanccError
from kancc.numerics.basis_matrices import prolong_coef, prolongation_of_rows
from kancc.spec import Spec
from kancc.spec.refinement import check_refines
from kancc.symbolic import NotNestedError

from .param_names import coef_name


def prolong_params(coarse: Spec, fine: Spec, params: Mapping[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    """Coefficients of ``coarse`` mapped onto ``fine``, any spec whose grids refine it (an
    explicit fine knot vector, any ratio); other parameters (base weights) carried over."""
    check_refines(coarse, fine)
    coefs = {coef_name(index) for index in range(coarse.n_layers)}
    result = {name: np.asarray(value).astype(fine.dtype) for name, value in params.items()
              if name not in coefs}  # base-branch weights: the grid does not touch them
    for index, (c, f) in enumerate(zip(coarse.layers, fine.layers)):
        name = coef_name(index)
        if name not in params:
            raise KanccError(f"params has no {name!r}")
        coef = np.asarray(params[name])
        expected = (coarse.widths[index], coarse.widths[index + 1], c.n_basis)
        if coef.shape != expected:
            raise KanccError(f"params[{name!r}] has shape {coef.shape}, the coarse model needs "
                             f"{expected}")
        try:
            matrix = prolongation_of_rows(c.order, c.extended_rows, f.extended_rows)
        except NotNestedError as exc:
            raise KanccError(f"layers[{index}]: {exc}") from None
        result[name] = prolong_coef(coef, matrix).astype(fine.dtype)
    return result
