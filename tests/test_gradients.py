"""Gradients of the compiled training graph against independent oracles: exact sympy
identities for the basis derivative, central finite differences (float64) for the NumPy
backend's value_and_grad on random specs (orders 1-6, non-uniform knots, 1-3 layers)."""

import numpy as np
import pytest
import sympy

import kancc
from kancc import symbolic
from kancc.tools.differential_check import sample_inputs
from kancc.tools.random_specs import random_spec

FD_STEP = 1e-6
FD_TOLERANCE = 1e-6
TRAINING_PIPELINES = {
    "horner": "training",
    "cox-de-boor": "training-reference",
    "relu-local": "expand-layers,derive-stencils,lower-basis{eval=relu-local},fuse,autodiff,dce,"
                  "canonicalize",
}


@pytest.mark.parametrize("order", range(1, 7))
@pytest.mark.parametrize("points", [(0, 1, 2, 3, 4, 5), (-1, sympy.Rational(-1, 3), 0,
                                                        sympy.Rational(1, 7), 2)])
def test_derivative_pieces_are_the_derivative_of_the_pieces(order, points):
    """The difference-of-lower-order-splines pieces equal d/dx of the stencil pieces."""
    h = [b - a for a, b in zip(points, points[1:])]
    knots = [points[0] - k * h[0] for k in range(order - 1, 0, -1)] + list(points) + \
        [points[-1] + k * h[-1] for k in range(1, order)]
    knots = [sympy.Rational(v) for v in knots]
    pieces = symbolic.local_pieces(order, knots, symbolic.relu_stencil_bands(order, knots))
    derivative = symbolic.local_derivative_pieces(order, knots)
    s = sympy.Symbol("s")
    for k, (table, dtable) in enumerate(zip(pieces, derivative)):
        for row, drow in zip(table, dtable):
            value = sum(c * s ** d for d, c in enumerate(row))
            expected = sympy.expand(sympy.diff(value, s) / h[k])
            assert sympy.expand(sum(c * s ** d for d, c in enumerate(drow)) - expected) == 0
    if order > 1:  # and not all zero: the test can fail
        assert any(c != 0 for table in derivative for row in table for c in row)


def training_spec(seed, loss="mse", l2=0):
    spec = random_spec(seed, dtype="float64")
    if loss == "cross_entropy":
        spec["model"]["layers"][-1] = max(2, spec["model"]["layers"][-1])
    spec["train"] = {"loss": loss, "l2": l2}
    return spec


def batch_of(spec, seed, n=7):
    loaded = kancc.load_spec(spec)
    x = sample_inputs(loaded, n, seed)
    rng = np.random.default_rng(seed)
    if loaded.train.loss == "cross_entropy":
        return x, rng.integers(0, loaded.widths[-1], n)
    return x, rng.standard_normal((n, loaded.widths[-1]))


def checked_entries(grad, rng, count=6):
    """The largest entries plus random ones: where a wrong gradient would show."""
    flat = np.abs(grad).ravel()
    largest = np.argsort(flat)[-count:]
    chosen = np.unique(np.concatenate([largest, rng.integers(0, flat.size, count)]))
    return [np.unravel_index(i, grad.shape) for i in chosen]


def assert_matches_finite_differences(loss_of, params, grads, seed):
    rng = np.random.default_rng(seed)
    for name, grad in grads.items():
        entries = checked_entries(grad, rng)
        numeric, analytic = [], []
        for index in entries:
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += FD_STEP
            minus[name][index] -= FD_STEP
            numeric.append((loss_of(plus) - loss_of(minus)) / (2 * FD_STEP))
            analytic.append(grad[index])
        numeric, analytic = np.array(numeric), np.array(analytic)
        scale = max(np.max(np.abs(numeric)), 1e-8)
        error = np.max(np.abs(numeric - analytic)) / scale
        assert error <= FD_TOLERANCE, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("seed", range(30))
def test_numpy_gradients_match_finite_differences(seed):
    mode = list(TRAINING_PIPELINES)[seed % 3]
    loss = "cross_entropy" if seed % 5 == 4 else "mse"
    spec = training_spec(seed, loss, l2="1/100" if seed % 4 == 1 else 0)
    program = kancc.compile(spec, training=True, passes=TRAINING_PIPELINES[mode])
    params = program.init_params(seed)
    x, y = batch_of(spec, seed)
    value, grads = program.value_and_grad(params, x, y)
    assert set(grads) == set(params)
    assert value == pytest.approx(program.value_and_grad(params, x, y)[0], rel=0, abs=0)

    def loss_of(p):
        return program.value_and_grad(p, x, y)[0]

    assert_matches_finite_differences(loss_of, params, grads, seed)


@pytest.mark.parametrize("seed", range(6))
def test_input_gradient_matches_finite_differences(seed):
    spec = training_spec(seed + 300)
    program = kancc.compile(spec, training=True, passes="expand-layers,derive-stencils,"
                            "lower-basis,fuse,autodiff{wrt=params+input},dce,canonicalize")
    params = program.init_params(seed)
    _, y = batch_of(spec, seed)
    # Random points, not sample_inputs' knots: at a knot B' jumps (r <= 2) or is only
    # Lipschitz, and central differences do not measure the one-sided derivative we define.
    a, b = (float(v) for v in kancc.load_spec(spec).layers[0].domain)
    x = np.random.default_rng(seed).uniform(a, b, (len(y), kancc.load_spec(spec).widths[0]))
    _, grads = program.value_and_grad(params, x, y)
    assert grads["x"].shape == x.shape

    def loss_of(p):
        return program.value_and_grad(params, p["x"], y)[0]

    assert_matches_finite_differences(loss_of, {"x": x}, {"x": grads["x"]}, seed)


def test_mse_and_l2_values_by_hand():
    spec = {"model": {"layers": [1, 1], "dtype": "float64"}, "basis": {"degree": 1, "grid": 1},
            "train": {"l2": "1/10"}}
    program = kancc.compile(spec, training=True)
    coef = np.array([[[1.0, 3.0]]])  # linear from 1 at x=-1 to 3 at x=1: y = 2 + x
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]])
    loss, grads = program.value_and_grad({"layers.0.coef": coef}, x, y)
    assert loss == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2 + 0.1 * (1 + 9), abs=1e-14)
    # d/dcoef: mean of 2 (y_hat - y) B_i(x) + 0.2 coef; B(0) = (1/2, 1/2), B(1) = (0, 1)
    expected = np.array([[[(2 * 1 * 0.5) / 2 + 0.2, (2 * 1 * 0.5 + 2 * 2 * 1) / 2 + 0.6]]])
    np.testing.assert_allclose(grads["layers.0.coef"], expected, rtol=0, atol=1e-14)


def test_autodiff_refuses_a_graph_without_a_loss():
    with pytest.raises(kancc.KanccError, match="loss graph"):
        kancc.compile({"model": {"layers": [2, 1]}}, passes="training")


def test_training_needs_a_pipeline_with_autodiff():
    with pytest.raises(kancc.KanccError, match="autodiff"):
        kancc.compile({"model": {"layers": [2, 1]}}, training=True, passes="inference")


def test_an_add_inside_the_model_sends_its_cotangent_to_both_terms():
    """y + y after the last layer (LoTRA's frozen layer + adapter is such a sum): the loss
    is the plain model's with the last layer's coefficients doubled (the layer is linear in
    them), so its gradients are that model's, the last layer's times 2."""
    from kancc.backends import TARGETS
    from kancc.frontend import build_loss_graph
    from kancc.ir import Op, Value, parse, to_text
    from kancc.passes import PassManager, parse_pipeline
    from kancc.storage import load_module

    spec = {"model": {"layers": [2, 3, 2], "dtype": "float64"}}
    loss_graph = PassManager(parse_pipeline("expand-layers,lower-basis{eval=cox-de-boor},fuse")
                             ).run(build_loss_graph(kancc.load_spec(spec))).graph
    first, second = loss_graph.ops[:2]
    doubled = Value("sum", second.result.type)
    add = Op("kan.add", (second.result, second.result), (), (doubled,))
    loss = loss_graph.ops[2]
    ops = (first, second, add, Op(loss.name, (doubled, loss.operands[1]), loss.attrs,
                                  loss.results))
    graph = parse(to_text(loss_graph.with_ops(ops)))
    trained = PassManager(parse_pipeline("autodiff,dce,canonicalize")).run(graph).graph
    module = load_module(TARGETS["numpy"].emit(trained), "added_model")
    plain = kancc.compile(spec, training=True, passes="training-reference")
    params = plain.init_params(3)
    x = np.random.default_rng(0).uniform(-1, 1, (7, 2))
    y = np.random.default_rng(1).standard_normal((7, 2))
    loss, grads = module.value_and_grad(params, x, y)
    twice = {**params, "layers.1.coef": 2 * params["layers.1.coef"]}
    plain_loss, plain_grads = plain.value_and_grad(twice, x, y)
    assert loss == pytest.approx(plain_loss, rel=1e-12)
    np.testing.assert_allclose(grads["layers.0.coef"], plain_grads["layers.0.coef"], rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(grads["layers.1.coef"], 2 * plain_grads["layers.1.coef"],
                               rtol=1e-10, atol=1e-13)


def test_kancc_check_gradient_comparisons_pass_and_can_fail(monkeypatch):
    from kancc.program import Program
    from kancc.tools.differential_check import gradient_comparisons

    spec = kancc.load_spec({**training_spec(7), "model": {"layers": [2, 3, 1],
                                                          "dtype": "float64"}})
    params = kancc.compile(spec).init_params(0)
    x = sample_inputs(spec, 33, 0)
    assert all(c.ok for c in gradient_comparisons(spec, params, x, 0, others=()))
    honest = Program.value_and_grad

    def off_by_a_thousandth(self, params, x, y):
        loss, grads = honest(self, params, x, y)
        return loss, {k: v * 1.001 for k, v in grads.items()}

    monkeypatch.setattr(Program, "value_and_grad", off_by_a_thousandth)
    results = {c.name: c.ok for c in gradient_comparisons(spec, params, x, 0, ())}
    assert results == {"gradients f64 vs central differences": False,
                       "gradients f64: horner vs cox-de-boor": True}
