"""Seeded starting parameters of a spec's model, at the spec level (before any pass)."""

from __future__ import annotations

import numpy as np

from kancc.errors import KanccError
from kancc.ir import extended_knots, grid_points, input_knots
from kancc.spec import BasisSpec, Spec
from kancc.symbolic.global_bases import GLOBAL_KINDS

from .param_names import parse_param_name, spec_parameters

NP_DTYPES = {"float32": np.float32, "float64": np.float64}


def spec_init_params(spec: Spec, seed: int = 0) -> dict[str, np.ndarray]:
    """coef ~ N(0, 1/in), so a layer's output has unit scale (the B-splines of a point sum
    to one); N(0, 1/(in n_b)) for the global kinds, whose n_b functions all have size about
    one. Tucker layers start as the LoTRA paper's eq. (8) with no pretrained tensor (a Slim
    KAN): core = 0, U1 ~ N(0, 1/in), U2 ~ N(0, 1/out) (columns of norm about 1),
    U3 ~ N(0, 1/n_b). Draws follow the declaration order, one per parameter.

    A [pde] model starts smooth instead: each B-spline edge (degree >= 1) is the affine
    function slope (x - c) / half-width (c, half-width: its domain's), slope ~ N(0, 1/in),
    whose coefficients are the slope at the Greville abscissae (splines reproduce affine
    functions exactly); a global-basis edge is slope * t, t = tanh(x) (sin(pi t) / pi for
    Fourier). Its derivatives are then bounded by the slopes and its second
    derivatives are zero, where random coefficients on a grid of cell h have second
    derivatives of size 1/h^2: the residual of a PDE would start huge."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise KanccError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    dtype = NP_DTYPES[spec.dtype]
    params = {}
    for decl in spec_parameters(spec):
        value = rng.standard_normal(decl.shape) / np.sqrt(decl.shape[0])
        name = parse_param_name(decl.name)
        basis = spec.layers[name.layer]
        if spec.pde is not None and name.role == "coef" and basis.kind == "bspline" \
                and basis.degree >= 1:
            value = value[:, :, :1] * _affine_coefficients(basis)
        if name.role == "coef" and basis.kind in GLOBAL_KINDS:
            if spec.pde is not None:
                value = _smooth_global_coefficients(basis.kind, value)
            else:  # n_b functions of size ~1 add up, unlike B-splines
                value /= np.sqrt(decl.shape[2])
        params[decl.name] = (0 * value if name.role == "core" else value).astype(dtype)
    return params


def _smooth_global_coefficients(kind: str, value: np.ndarray) -> np.ndarray:
    """A [pde] model's global-basis edge: slope * t (slope * sin(pi t) / pi for Fourier),
    t = tanh(x), the slope value[:, :, 0] ~ N(0, 1/in); the other functions start at zero.
    Random coefficients of degree d start with second derivatives of size d^4 per layer (a
    ChebyKAN [2, 64, 64, 1] of degree 7 starts the LoTRA paper's elliptic problem with a
    residual of size 1e6)."""
    index = 2 if kind == "fourier" else 1
    if value.shape[2] <= index:  # degree 0: the constant alone
        return value
    smooth = np.zeros_like(value)
    smooth[:, :, index] = value[:, :, 0] / (np.pi if kind == "fourier" else 1.0)
    return smooth


def _affine_coefficients(basis: BasisSpec) -> np.ndarray:
    """[in or 1, 1, n_b]: the B-spline coefficients of (x - c) / half-width on each input's
    knots: the Greville abscissae t*_i = (t_{i+1} + ... + t_{i+k}) / k, shifted and scaled."""
    a, b = (float(v) for v in basis.domain)
    attrs = {"knots": basis.knots, "grid": basis.grid, "domain": basis.domain}
    rows = input_knots(attrs) if basis.per_input else \
        (extended_knots(grid_points(attrs), basis.order),)
    k = basis.degree
    greville = np.array([[float(sum(row[i + 1:i + k + 1])) / k for i in range(basis.n_basis)]
                         for row in rows])
    return ((greville - (a + b) / 2) / ((b - a) / 2))[:, None, :]
