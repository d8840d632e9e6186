"""The unfactorized twin of a factorized model: every coefficient tensor W written out.

A Tucker (Slim) layer's W = core x1 U1 x2 U2 x3 U3; a LoTRA model's W = W_pt + Delta W. The
unfactorized model is the plain spec with those layers full: the oracle of ``kancc check``,
and what ``kancc plot`` draws. Factorized programs themselves never form W.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from kancc.frontend import lotra_params
from kancc.frontend.param_names import base_name, coef_name, tucker_names
from kancc.numerics.hosvd import Tucker
from kancc.spec import Spec


def is_factorized(spec: Spec) -> bool:
    """Tucker (Slim) layers or LoTRA adapters: parameters other than full coefficients."""
    return any(b.tucker is not None for b in spec.layers) or \
        (spec.finetune is not None and spec.finetune.lotra)


def unfactorized_model(spec: Spec, params: Mapping[str, np.ndarray]
                       ) -> tuple[Spec, dict[str, np.ndarray]]:
    """The same model with every coefficient tensor formed (W = core x U1 x U2 x U3, or
    W_pt + Delta W): the oracle of a factorized model."""
    if spec.finetune is not None and spec.finetune.lotra:
        return unfactorized_spec(spec), lotra_params.merged(spec, params)
    coefs = {}
    for index, basis in enumerate(spec.layers):
        if basis.tucker is None:
            coefs[coef_name(index)] = params[coef_name(index)]
            if basis.base != "none":
                coefs[base_name(index)] = params[base_name(index)]
        else:
            core, u1, u2, u3 = (params[name] for name in tucker_names(index))
            coefs[coef_name(index)] = Tucker(core, (u1, u2, u3)).full()
    return unfactorized_spec(spec), coefs


def unfactorized_spec(spec: Spec) -> Spec:
    """The spec of ``unfactorized_model``: every layer full, no [finetune] table."""
    layers = tuple(replace(b, tucker=None) for b in spec.layers)
    return replace(spec, layers=layers, finetune=None)
