"""Triton backend against the NumPy reference (interpreter on CPU, a real GPU when present)."""

import re

import numpy as np
import pytest

import kancc
from kancc.backends import cuda_available, triton_installed
from kancc.tools.differential_check import layer_spec, relative_error, sample_inputs
from kancc.tools.random_specs import random_spec

pytestmark = pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")

BATCHES = [1, 7, 33, 257, 300]  # none a multiple of the 32..256-row blocks, except by chance
CASES32 = range(60)
CASES64 = range(100, 115)


def inputs_and_params(spec, seed):
    loaded = kancc.load_spec(spec)
    dtype = np.float32 if loaded.dtype == "float32" else np.float64
    params = {k: v.astype(dtype) for k, v in kancc.compile(spec).init_params(seed).items()}
    batch = BATCHES[seed % len(BATCHES)]
    return loaded, params, sample_inputs(loaded, batch, seed).astype(dtype)


def compare_model(spec, seed, tolerance):
    loaded, params, x = inputs_and_params(spec, seed)
    expected = kancc.compile(spec, "numpy").forward(params, x)
    got = kancc.compile(spec, "triton").forward(params, x)
    assert got.dtype == expected.dtype and got.shape == (len(x), loaded.widths[-1])
    error = relative_error(got, expected)
    assert error <= tolerance, f"{loaded.widths} {[b.order for b in loaded.layers]}: {error:.2e}"


def compare_layers(spec, seed, tolerance):
    """Each layer on the same inputs: the backend's own error, apart from how a deep model
    amplifies one-ulp differences in earlier layers (its conditioning)."""
    loaded, params, h = inputs_and_params(spec, seed)
    for index in range(loaded.n_layers):
        single = layer_spec(loaded, index, loaded.dtype)
        layer_params = {"layers.0.coef": params[f"layers.{index}.coef"]}
        expected = kancc.compile(single, "numpy").forward(layer_params, h)
        got = kancc.compile(single, "triton").forward(layer_params, h)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        error = relative_error(got, expected)
        assert error <= tolerance, f"layer {index} of {loaded.widths}: {error:.2e}"
        h = expected


@pytest.mark.parametrize("seed", CASES32)
def test_triton_matches_numpy_float32(seed):
    compare_layers(random_spec(seed), seed, 1e-5)


@pytest.mark.parametrize("seed", CASES64)
def test_triton_matches_numpy_float64(seed):
    compare_model(random_spec(seed, dtype="float64"), seed, 1e-12)


def test_the_suite_covers_what_the_issue_asks():
    specs = [kancc.load_spec(random_spec(seed)) for seed in CASES32]
    orders = {b.order for s in specs for b in s.layers}
    widths = {w for s in specs for w in s.widths}
    assert orders == {1, 2, 3, 4, 5, 6}
    assert {b.knots == "uniform" for s in specs for b in s.layers} == {True, False}
    assert min(widths) == 1 and max(widths) == 17
    assert len(specs) + len(CASES64) >= 50


@pytest.mark.parametrize("mode", ["horner", "relu-local", "cox-de-boor"])
@pytest.mark.parametrize("knots", ["uniform", "nonuniform"])
def test_every_eval_mode(mode, knots):
    basis = {"degree": 4, "grid": 9, "domain": [-1, 2]} if knots == "uniform" else \
        {"degree": 4, "knots": [-1, "-1/3", 0, "1/7", 1, 2]}
    spec = {"model": {"layers": [3, 5, 2], "dtype": "float64"}, "basis": basis}
    pipeline = f"expand-layers,derive-stencils,lower-basis{{eval={mode}}},fuse,canonicalize"
    numpy_program = kancc.compile(spec, "numpy", passes=pipeline)
    triton_program = kancc.compile(spec, "triton", passes=pipeline)
    params = numpy_program.init_params(0)
    x = sample_inputs(kancc.load_spec(spec), 65, 0)
    assert relative_error(triton_program.forward(params, x),
                          numpy_program.forward(params, x)) <= 1e-12


def test_float32_cubic_256_intervals_meets_1e_5():
    basis = {"degree": 3, "grid": 256, "domain": [-1, 1]}
    spec32 = {"model": {"layers": [4, 3]}, "basis": basis}
    spec64 = {"model": {"layers": [4, 3], "dtype": "float64"}, "basis": basis}
    params = {k: v.astype(np.float32)
              for k, v in kancc.compile(spec64).init_params(0).items()}
    x = np.random.default_rng(0).uniform(-1, 1, (2048, 4)).astype(np.float32)
    y32 = kancc.compile(spec32, "triton").forward(params, x)
    y64 = kancc.compile(spec64).forward(params, x.astype(np.float64))
    assert relative_error(y32, y64) <= 1e-5


def test_kernels_never_store_the_basis_tensor():
    """Each layer's kernel has exactly one store: its output tile."""
    program = kancc.compile("examples/deep_nonuniform.toml", "triton")
    kernels = re.findall(r"@triton\.jit\ndef (\w+)\(.*?(?=\n\n\n)", program.source, re.S)
    assert len(kernels) == 4
    bodies = program.source.split("@triton.jit")[1:]
    for body in bodies:
        kernel = body.split("\n\n\n")[0]
        assert kernel.count("tl.store(") == 1
        assert "tl.store(y_ptr" in kernel


def test_module_and_functional_forward_agree():
    import torch

    program = kancc.compile("examples/cubic_2_5_1.toml", "triton")
    module = program.module.Model()
    assert sorted(module.state_dict()) == ["layers.0.coef", "layers.1.coef"]
    params = program.init_params(2)
    module.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    x = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float32)
    with torch.no_grad():
        from_module = module(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(from_module, program.forward(params, x))
    assert program.forward(params, np.zeros((0, 2), np.float32)).shape == (0, 1)


def test_wrapper_checks_its_inputs():
    import torch

    program = kancc.compile("examples/cubic_2_5_1.toml", "triton")
    params = {k: torch.tensor(v) for k, v in program.init_params(0).items()}
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(batch, 2\)"):
        program.module.forward(params, torch.zeros(3, 3))
    with pytest.raises(KeyError, match="layers.1.coef"):
        program.module.forward({"layers.0.coef": params["layers.0.coef"]}, torch.zeros(3, 2))


@pytest.mark.gpu
def test_on_a_real_gpu():
    assert cuda_available()
    compare_layers(random_spec(7), 7, 1e-5)
    compare_model(random_spec(7, dtype="float64"), 7, 1e-12)


@pytest.mark.parametrize("degree", range(6))
@pytest.mark.parametrize("kind", ["uniform", "nonuniform"])
def test_single_edge_matches_scipy_in_float64(degree, kind):
    from scipy.interpolate import BSpline

    from kancc.ir import extended_knots

    basis = {"degree": degree, "grid": 17, "domain": [-1, 1]} if kind == "uniform" else \
        {"degree": degree, "knots": [-1, "-3/4", "-1/3", "1/5", "2/7", "5/6", 1]}
    spec = kancc.load_spec({"model": {"layers": [1, 1], "dtype": "float64"}, "basis": basis})
    knots = np.array([float(t) for t in extended_knots(spec.layers[0].points, degree + 1)])
    coef = np.random.default_rng(degree).standard_normal((1, 1, spec.layers[0].n_basis))
    x = np.random.default_rng(1).uniform(-1.05, 1.05, (300, 1))
    y = kancc.compile(spec, "triton").forward({"layers.0.coef": coef}, x)[:, 0]
    assert relative_error(y, BSpline(knots, coef[0, 0], degree)(x[:, 0])) <= 1e-12
