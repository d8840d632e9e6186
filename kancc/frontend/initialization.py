"""Seeded starting parameters of a spec's model, at the spec level (before any pass)."""

from __future__ import annotations

import numpy as np

from kancc.errors import KanccError
from kancc.spec import Spec
from kancc.symbolic.global_bases import GLOBAL_KINDS

from .param_names import parse_param_name, spec_parameters

NP_DTYPES = {"float32": np.float32, "float64": np.float64}


def spec_init_params(spec: Spec, seed: int = 0) -> dict[str, np.ndarray]:
    """coef ~ N(0, 1/in), so a layer's output has unit scale (the B-splines of a point sum
    to one); N(0, 1/(in n_b)) for the global kinds, whose n_b functions all have size about
    one. Tucker layers start as the LoTRA paper's eq. (8) with no pretrained tensor (a Slim
    KAN): core = 0, U1 ~ N(0, 1/in), U2 ~ N(0, 1/out) (columns of norm about 1),
    U3 ~ N(0, 1/n_b). Draws follow the declaration order, one per parameter."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise KanccError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    dtype = NP_DTYPES[spec.dtype]
    params = {}
    for decl in spec_parameters(spec):
        value = rng.standard_normal(decl.shape) / np.sqrt(decl.shape[0])
        name = parse_param_name(decl.name)
        if name.role == "coef" and spec.layers[name.layer].kind in GLOBAL_KINDS:
            value /= np.sqrt(decl.shape[2])  # n_b functions of size ~1 add up, unlike B-splines
        params[decl.name] = (0 * value if name.role == "core" else value).astype(dtype)
    return params
