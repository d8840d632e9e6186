"""to-relu-basis and to-spline-basis: the B-spline <-> truncated-power change of basis as a
rewrite of the model (the multilevel paper, section 2).

On [a, b] a layer's B-splines are B = A psi with psi_j(x) = (x - t_j)_+^(r-1) (Lemma 2), so

    sum_i u_i B_i(x) = sum_j w_j psi_j(x)   with   w = A^T u      (per edge, along n_b).

to-relu-basis turns every kan.layer into kind=relu (the multichannel-MLP form) with the param
map w = A^T u; to-spline-basis is its inverse (u = A^-T w, a triangular solve in float64).
Each pass carries the other's map as its inverse, so spec-level coefficients can be read
back. Training a to-relu-basis program iterates in w with the gradient in w: the "ReLU
geometry" of the multilevel paper's Table 1; the plain program is the natural KAN (spline geometry).

float32 hazard (DESIGN.md 5): the w of a fine, high-order grid are huge and alternate in
sign, and the sum over psi cancels. For |u| <= 1 the sum is bounded by
kappa = max_x sum_j (sum_i |A_ij|) |psi_j(x)|, so rounding the weights (or summing them)
costs up to eps * kappa relative to max|u|. The NumPy backend evaluates relu layers in
float64; the pass warns when eps(dtype) * kappa exceeds ``HAZARD`` for any layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from kancc.errors import KanccWarning, PassError
from kancc.ir import Graph, Op, extended_knots, grid_points, is_per_input
from kancc.numerics.basis_matrices import (
    relu_change_of_basis_float,
    to_relu_weights,
    to_spline_coefficients,
)

from .options import NoOptions
from .pass_types import Params, Pass, PassResult
from .spec_view import spec_view_layers

HAZARD = 1e-5
EPS = {"f32": float(np.finfo(np.float32).eps), "f64": float(np.finfo(np.float64).eps)}


def change_of_basis_matrix(op: Op) -> np.ndarray:
    """A^[r] of the op's knots in float64, n_b x n_b."""
    order = op.attr("order")
    return relu_change_of_basis_float(order, extended_knots(grid_points(op.attr_dict), order))


def relu_condition(op: Op, matrix: np.ndarray) -> float:
    """kappa = max over [a, b] of sum_j (sum_i |A_ij|) |psi_j(x)| for the op's A (``matrix``);
    every psi_j grows on [a, b], so the maximum is at x = b."""
    order = op.attr("order")
    knots = np.array([float(t) for t in extended_knots(grid_points(op.attr_dict), order)])
    b = knots[len(knots) - order]
    powers = (b - knots[:len(matrix)]) ** (order - 1)
    return float(np.abs(matrix).sum(axis=0) @ powers)


def _rewrite(graph: Graph, source: str, target: str, pass_name: str
             ) -> tuple[Graph, dict[str, np.ndarray]]:
    """Every kan.layer of kind ``source`` becomes kind ``target``; A per coefficient."""
    coefficients = {id(op): coef.name for op, coef in spec_view_layers(graph, pass_name)
                    if op.attr("kind") == source}
    matrices: dict[str, np.ndarray] = {}
    ops = []
    for op in graph.ops:
        if id(op) in coefficients and is_per_input(op.attr_dict):
            raise PassError(f"{pass_name} does not apply to kan.layer %{op.result.name}: it "
                            "has one knot vector per input (one change of basis each)")
        if id(op) in coefficients:
            matrices[coefficients[id(op)]] = change_of_basis_matrix(op)
            op = op.without_attrs("stencil", "stencil_scale").with_attrs(kind=target)
        ops.append(op)
    if not matrices:
        raise PassError(f"{pass_name}: no kan.layer of kind {source} to rewrite")
    return graph.with_ops(ops), matrices


def relu_change_of_basis_matrices(graph: Graph) -> dict[str, np.ndarray]:
    """A of every B-spline layer's coefficient (by param name) of a spec-view graph, with
    the float32 hazard warning of to-relu-basis: for a trainer that iterates on w = A^T u
    around a program that keeps the spline basis (the physics-informed trainer)."""
    rewritten, matrices = _rewrite(graph, "bspline", "relu", "to-relu-basis")
    _warn_hazard(rewritten, matrices)
    return matrices


def _warn_hazard(graph: Graph, matrices: dict[str, np.ndarray]) -> None:
    eps = EPS[graph.dtype]
    for index, (op, coef) in enumerate(spec_view_layers(graph, "to-relu-basis")):
        if coef.name not in matrices:
            continue
        bound = eps * relu_condition(op, matrices[coef.name])
        if bound > HAZARD:
            warnings.warn(KanccWarning(
                f"layer {index}: in the ReLU basis (order {op.attr('order')}, grid "
                f"{op.attr('grid')}) {graph.dtype} weights carry up to {bound:.1e} relative "
                f"error (eps * kappa, kappa = {bound / eps:.2e}); use float64 or keep the "
                "spline basis"), stacklevel=2)


def _apply(matrices: dict[str, np.ndarray], to_relu: bool) -> Callable[[Params], Params]:
    convert = to_relu_weights if to_relu else to_spline_coefficients
    return lambda params: {k: convert(v, matrices[k]) if k in matrices else v
                           for k, v in params.items()}


def to_relu_basis(graph: Graph, options: NoOptions) -> PassResult:
    rewritten, matrices = _rewrite(graph, "bspline", "relu", "to-relu-basis")
    _warn_hazard(rewritten, matrices)
    return PassResult(rewritten, _apply(matrices, True), _apply(matrices, False))


def to_spline_basis(graph: Graph, options: NoOptions) -> PassResult:
    rewritten, matrices = _rewrite(graph, "relu", "bspline", "to-spline-basis")
    return PassResult(rewritten, _apply(matrices, False), _apply(matrices, True))


TO_RELU = Pass("to-relu-basis", "B-splines -> truncated powers (multichannel MLP), w = A^T u",
               to_relu_basis)
TO_SPLINE = Pass("to-spline-basis", "truncated powers -> B-splines, u = A^-T w (inverse)",
                 to_spline_basis)
