"""The ReLU geometry of physics-informed training: the optimizer moves in w = A^T u around a
program in the spline basis. Oracles: central differences of the loss as a function of w,
the round trip u -> w -> u, and the spline-geometry run of the same spec (same function at
the start, same loss carried across a refinement)."""

import numpy as np
import pytest
from central_differences import assert_gradient_matches

import kancc
from kancc.physics.problem import collocation_inputs, solution_grid
from kancc.spec import load_spec
from kancc.training.geometry import physics_geometry

POISSON = {
    "model": {"layers": [2, 3, 1], "dtype": "float64"},
    "basis": {"degree": 3, "grid": 3, "domain": [-1, 1]},
    "layers": [{}, {"degree": 2, "grid": 4, "domain": [-2, 2]}],
    "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]],
            "solution": "sin(pi*x)*sin(pi*y)", "residual": "lap(u) - f", "points": 40,
            "condition": [{"kind": "dirichlet", "value": "solution", "points": 16}]},
}


def test_the_gradient_in_relu_weights_equals_central_differences():
    spec = load_spec({**POISSON, "train": {"geometry": "relu"}})
    program = kancc.compile(spec, training=True)
    geometry = physics_geometry("relu", kancc.compile(spec))
    inputs = collocation_inputs(spec, 0)
    rng = np.random.default_rng(3)
    coefficients = {k: rng.standard_normal(v.shape) * 0.5
                    for k, v in program.init_params(0).items()}
    assert set(geometry.matrices) == set(coefficients)
    weights = geometry.variables(coefficients)
    for name, u in geometry.coefficients(weights).items():
        np.testing.assert_allclose(u, coefficients[name], rtol=0, atol=1e-12)

    def loss(w):
        return program.physics_loss(geometry.coefficients(w), inputs).loss

    grads = geometry.gradient(program.physics_loss(coefficients, inputs).grads, weights)
    assert_gradient_matches(loss, weights, grads)
    assert not np.allclose(grads["layers.0.coef"],
                           program.physics_loss(coefficients, inputs).grads["layers.0.coef"])


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_relu_geometry_starts_at_the_same_function_and_returns_spline_coefficients(optimizer):
    rate = {"lr": "0.01"} if optimizer == "adam" else {}
    runs = {geometry: kancc.train({**POISSON, "train": {
        "optimizer": optimizer, "steps": 12, "geometry": geometry, **rate}}, log=None)
        for geometry in ("spline", "relu")}
    spline, relu = runs["spline"], runs["relu"]
    assert relu.history[0, 1] == pytest.approx(spline.history[0, 1], rel=1e-12)
    assert relu.history[-1, 1] < relu.history[0, 1]
    assert not np.isclose(relu.history[-1, 1], spline.history[-1, 1], rtol=1e-6)
    points, values = solution_grid(relu.program.spec)
    predicted = relu.program.forward(relu.params, points).reshape(values.shape)
    error = np.linalg.norm(predicted - values) / np.linalg.norm(values)
    assert relu.physics["rel_l2"][-1] == pytest.approx(error, rel=1e-12)
    largest = np.abs(predicted - values).max()
    assert relu.physics["abs_linf"][-1] == pytest.approx(largest, rel=1e-12)


def test_relu_geometry_multilevel_carries_the_loss_across_levels():
    spec = {**POISSON, "train": {"optimizer": "adam", "lr": "0.01", "geometry": "relu",
                                 "multilevel": {"epochs": [10, 10]}}}
    result = kancc.train(spec, log=None)
    first, second = result.levels
    assert second.history[0, 1] == pytest.approx(first.history[-1, 1], rel=1e-9)
