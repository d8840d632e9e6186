"""The torch target against the NumPy reference: values, gradients, double backward (by
torch autograd), training, torch_module, torch.compile."""

import warnings

import numpy as np
import pytest

import kancc
from kancc.backends import TARGETS
from kancc.errors import SlowTargetWarning
from kancc.tools.differential_check import layer_spec, relative_error, sample_inputs
from kancc.tools.random_specs import random_global_spec, random_spec, random_tucker_spec

torch = pytest.importorskip("torch")

BATCHES = [1, 7, 33, 257, 300]


def inputs_and_params(spec, seed):
    loaded = kancc.load_spec(spec)
    dtype = np.float32 if loaded.dtype == "float32" else np.float64
    params = {k: v.astype(dtype) for k, v in kancc.compile(spec).init_params(seed).items()}
    return loaded, params, sample_inputs(loaded, BATCHES[seed % 5], seed).astype(dtype)


@pytest.mark.parametrize("seed", range(40))
def test_torch_matches_numpy_float32_layer_by_layer(seed):
    """Two float32 sums of the same terms in different orders differ by a few ulps of the
    sum of the terms' magnitudes (the layer on |coef|: B-splines are nonnegative), which
    cancellation can make large next to the result itself."""
    loaded, params, h = inputs_and_params(random_spec(seed), seed)
    for index in range(loaded.n_layers):
        single = layer_spec(loaded, index, "float32")
        coef = params[f"layers.{index}.coef"]
        numpy_program = kancc.compile(single, "numpy")
        expected = numpy_program.forward({"layers.0.coef": coef}, h)
        got = kancc.compile(single, "torch").forward({"layers.0.coef": coef}, h)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        magnitude = numpy_program.forward({"layers.0.coef": np.abs(coef)}, h)
        scale = max(float(np.abs(expected).max()), float(magnitude.max()), 1e-30)
        error = float(np.abs(got - expected).max()) / scale
        assert error <= 1e-6, f"layer {index} of {loaded.widths}"
        h = expected


@pytest.mark.parametrize("make, seed", [(random_spec, s) for s in range(100, 115)]
                         + [(random_tucker_spec, s) for s in range(5)]
                         + [(random_global_spec, s) for s in range(5)])
def test_torch_matches_numpy_float64(make, seed):
    spec = make(seed, dtype="float64")
    loaded, params, x = inputs_and_params(spec, seed)
    expected = kancc.compile(spec, "numpy").forward(params, x)
    assert relative_error(kancc.compile(spec, "torch").forward(params, x), expected) <= 1e-12


@pytest.mark.parametrize("extra", [{}, {"l2": "1/100"}, {"loss": "cross_entropy"}])
def test_torch_gradients_equal_numpy(extra):
    spec = {"model": {"layers": [3, 4, 3], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 5, "knots": [-1, "-1/2", 0, "1/5", "3/5", 1]},
            "train": {"steps": 1, **extra}}
    numpy_program = kancc.compile(spec, "numpy", training=True)
    torch_program = kancc.compile(spec, "torch", training=True)
    params = numpy_program.init_params(4)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, (37, 3))
    y = rng.integers(0, 3, 37) if extra.get("loss") else rng.normal(size=(37, 3))
    loss, grads = numpy_program.value_and_grad(params, x, y)
    got_loss, got = torch_program.value_and_grad(params, x, y)
    assert got_loss == pytest.approx(loss, rel=1e-12)
    assert got.keys() == grads.keys()
    for name in grads:
        assert relative_error(got[name], grads[name]) <= 1e-12


def test_torch_input_gradient_of_the_training_graph():
    spec = {"model": {"layers": [2, 3, 1], "dtype": "float64"}, "basis": {"grid": 4}}
    numpy_program = kancc.compile(spec, "numpy", training=True,
                                  passes="expand-layers,derive-stencils,lower-basis,fuse,"
                                         "autodiff{wrt=params+input},dce,canonicalize")
    torch_program = kancc.compile(spec, "torch", training=True,
                                  passes="expand-layers,derive-stencils,lower-basis,fuse,"
                                         "autodiff{wrt=params+input},dce,canonicalize")
    params = numpy_program.init_params(1)
    x = np.random.default_rng(1).uniform(-1, 1, (9, 2))
    y = np.ones((9, 1))
    _, grads = numpy_program.value_and_grad(params, x, y)
    _, got = torch_program.value_and_grad(params, x, y)
    assert relative_error(got["x"], grads["x"]) <= 1e-12


@pytest.mark.parametrize("degree", [2, 3, 5])
def test_gradcheck_and_gradgradcheck_in_float64(degree):
    spec = {"model": {"layers": [2, 3, 2], "dtype": "float64"},
            "basis": {"degree": degree, "grid": 4, "knots": [-1, "-1/3", 0, "1/2", 1]}}
    program = kancc.compile(spec, "torch")
    params = program.init_params(2)
    weights = [torch.tensor(value, requires_grad=True) for value in params.values()]
    x = torch.tensor(np.random.default_rng(3).uniform(-0.95, 0.95, (6, 2)), requires_grad=True)

    def function(x, *weights):
        return program.module.forward(dict(zip(params, weights)), x)

    assert torch.autograd.gradcheck(function, (x, *weights))
    assert torch.autograd.gradgradcheck(function, (x, *weights))


def test_second_derivative_in_x_matches_finite_differences():
    """u_xx by double backward, the PDE-residual case that is silently wrong through a
    once-differentiable backward."""
    spec = {"model": {"layers": [1, 4, 1], "dtype": "float64"}, "basis": {"grid": 6}}
    model = kancc.compile(spec, "torch").torch_module(seed=5)
    x = torch.linspace(-0.9, 0.9, 10, dtype=torch.float64)[:, None].requires_grad_(True)
    u = model(x)
    (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), x)
    h = 1e-4
    with torch.no_grad():
        fd = (model(x + h) - 2 * model(x) + model(x - h)) / h**2
    np.testing.assert_allclose(d2u.numpy(), fd.numpy(), rtol=1e-5, atol=1e-5)


def test_torch_module_is_initialized_and_trains_with_a_torch_optimizer():
    program = kancc.compile("examples/cubic_2_5_1.toml", "torch")
    params = program.init_params(3)
    model = program.torch_module(params)
    x = np.random.default_rng(0).uniform(-1, 1, (20, 2)).astype(np.float32)
    expected = kancc.compile("examples/cubic_2_5_1.toml").forward(params, x)
    np.testing.assert_allclose(model(torch.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    target = torch.sin(torch.tensor(x).sum(dim=1, keepdim=True))
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.mean((model(torch.tensor(x)) - target) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_torch_compile_runs_the_module():
    program = kancc.compile({"model": {"layers": [2, 3, 1], "dtype": "float64"}}, "torch")
    model = program.torch_module(seed=1)
    compiled = torch.compile(model, backend="aot_eager")
    x = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (8, 2)))
    np.testing.assert_allclose(compiled(x).detach().numpy(), model(x).detach().numpy(),
                               rtol=1e-14)


def test_training_on_the_torch_target_follows_numpy_lbfgs():
    spec = {"model": {"layers": [2, 3, 1], "dtype": "float64"}, "basis": {"grid": 4},
            "train": {"optimizer": "lbfgs", "steps": 15},
            "data": {"source": "sin_sin", "n": 300, "validation": "0.2"}}
    on_numpy = kancc.train(spec, log=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowTargetWarning)  # torch is not slow on a CPU
        on_torch = kancc.train(spec, target="torch", log=None)
    np.testing.assert_allclose(on_torch.history[:8, 1], on_numpy.history[:8, 1], rtol=1e-8)
    assert on_torch.loss < 0.2 * on_torch.history[0, 1]


def test_relu_layers_are_refused_by_name():
    with pytest.raises(kancc.BackendError, match="kind=relu"):
        kancc.compile("examples/cubic_2_5_1.toml", "torch", passes="to-relu-basis,inference")


def test_triton_in_the_interpreter_says_it_is_slow():
    if TARGETS["triton"].unavailable() is not None or TARGETS["triton"].slow_here is None \
            or TARGETS["triton"].slow_here() is None:
        pytest.skip("the triton target does not run in the interpreter here")
    program = kancc.compile("examples/cubic_2_5_1.toml", "triton")
    with pytest.warns(SlowTargetWarning, match="--target torch"):
        program.forward(program.init_params(0), np.zeros((2, 2), np.float32))


def test_torch_module_of_the_triton_target():
    if TARGETS["triton"].unavailable() is not None:
        pytest.skip(f"triton target: {TARGETS['triton'].unavailable()}")
    program = kancc.compile("examples/cubic_2_5_1.toml", "triton")
    params = program.init_params(4)
    model = program.torch_module(params)
    x = np.random.default_rng(2).uniform(-1, 1, (9, 2)).astype(np.float32)
    expected = kancc.compile("examples/cubic_2_5_1.toml").forward(params, x)
    np.testing.assert_allclose(model(torch.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    assert {name for name, _ in model.named_parameters()} == set(params)


def test_torch_module_needs_a_torch_target():
    with pytest.raises(kancc.BackendError, match="numpy arrays"):
        kancc.compile("examples/cubic_2_5_1.toml").torch_module()
