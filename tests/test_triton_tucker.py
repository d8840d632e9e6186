"""Tucker layers on the Triton backend (interpreter on CPU, GPU when present) against the
NumPy reference: forward, value_and_grad (with d/dx), and the autograd.Function path."""

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.frontend.initialization import NP_DTYPES
from kancc.tools.differential_check import sample_inputs
from kancc.tools.random_specs import random_tucker_spec

pytestmark = pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")

WITH_INPUT = ("expand-layers,derive-stencils,lower-basis,fuse,autodiff{wrt=params+input},dce,"
              "canonicalize")


def random_params(program, seed):
    """Every factor random and nonzero (the Slim initialization has core = 0)."""
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(v.shape) / np.sqrt(v.shape[0])).astype(v.dtype)
            for name, v in program.init_params(seed).items()}


def relative(got, expected):
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-30))


@pytest.mark.parametrize("seed, dtype, tolerance", [
    *[(seed, "float64", 1e-10) for seed in range(6)],
    *[(seed, "float32", 1e-4) for seed in range(6, 10)]])
def test_forward_and_gradients_match_numpy(seed, dtype, tolerance):
    spec = random_tucker_spec(seed, dtype=dtype)
    spec["train"] = {"l2": "1/1000" if seed % 2 else 0}
    reference = kancc.compile(spec, "numpy", training=True, passes=WITH_INPUT)
    params = random_params(reference, seed)
    x = sample_inputs(kancc.load_spec(spec), 7 + 13 * seed, seed).astype(NP_DTYPES[dtype])
    y = np.random.default_rng(seed).standard_normal((x.shape[0], spec["model"]["layers"][-1]))
    y = y.astype(x.dtype)
    triton = kancc.compile(spec, "triton", training=True, passes=WITH_INPUT)
    loss, grads = reference.value_and_grad(params, x, y)
    got_loss, got = triton.value_and_grad(params, x, y)
    assert got_loss == pytest.approx(loss, rel=tolerance)
    assert set(got) == set(grads)
    for name in grads:
        assert got[name].shape == grads[name].shape and got[name].dtype == grads[name].dtype
        assert relative(got[name], grads[name]) <= tolerance, name
    forward = kancc.compile(spec, "triton").forward(params, x)
    expected = kancc.compile(spec, "numpy").forward(params, x)
    assert relative(forward, expected) <= tolerance


def test_autograd_function_of_a_tucker_layer_matches_value_and_grad():
    import torch

    spec = {"model": {"layers": [3, 5, 2], "dtype": "float64"},
            "layers": [{"tucker": [2, 3, 4]}, {"tucker": [3, 2, 5]}], "train": {}}
    program = kancc.compile(spec, "triton", training=True)
    params = random_params(program, 4)
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-1, 1, (40, 3)), rng.standard_normal((40, 2))
    loss, grads = program.value_and_grad(params, x, y)
    model = program.module.Model()
    model.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    torch_loss = torch.mean((model(torch.tensor(x)) - torch.tensor(y)) ** 2)
    torch_loss.backward()
    assert torch_loss.item() == pytest.approx(loss, rel=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-10, atol=1e-13)


def test_the_basis_is_projected_in_the_kernel():
    """The forward module runs one fused basis kernel per Tucker layer and no other kernel;
    its wrapper never allocates a [batch, in, n_b] tensor."""
    source = kancc.compile({"model": {"layers": [6, 8, 1]}, "basis": {"tucker": 0.5}},
                           "triton").source
    assert source.count("@triton.jit") == 2
    assert "def tucker_0(" in source and "def tucker_1(" in source
    assert "(n, 6, 8)" not in source and "n_rows, 6, 8" not in source
