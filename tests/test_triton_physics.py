"""Physics losses on the Triton target (the jet kernels and their backward kernels) against
the NumPy reference (the interpreter on CPU, the GPU when present): the loss and gradient of
the examples, the parameter gradient of random losses against central differences of the
Triton loss itself, and a second derivative through the kernels raising."""

import random
import tomllib
from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.frontend import spec_init_params
from kancc.physics.problem import collocation_inputs
from kancc.spec import load_spec
from kancc.tools.random_physics import (
    physics_module,
    physics_spec,
    random_inputs,
    random_terms,
)

pytestmark = pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")

EXAMPLES = Path(__file__).parents[1] / "examples"


def small_example(name: str):
    """An example's spec with few collocation points."""
    with open(EXAMPLES / f"{name}.toml", "rb") as f:
        spec = tomllib.load(f)
    spec["pde"]["points"] = 40
    for condition in spec["pde"].get("condition", []):
        condition["points"] = 12
    return load_spec(spec)


@pytest.mark.parametrize("example", ["poisson", "burgers", "helmholtz"])
def test_the_triton_physics_loss_and_gradient_equal_numpys(example):
    spec = small_example(example)
    reference = kancc.compile(spec, "numpy", training=True)
    inputs = collocation_inputs(spec, 3)
    params = reference.init_params(2)
    rng = np.random.default_rng(0)
    params = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in params.items()}
    expected = reference.physics_loss(params, inputs)
    got = kancc.compile(spec, "triton", training=True).physics_loss(params, inputs)
    assert got.loss == pytest.approx(expected.loss, rel=1e-12)
    assert got.terms == pytest.approx(expected.terms, rel=1e-12)
    for name, grad in expected.grads.items():
        np.testing.assert_allclose(got.grads[name], grad, rtol=0,
                                   atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("seed", range(3))
def test_the_triton_physics_gradient_equals_central_differences(seed):
    import torch

    spec = load_spec(physics_spec(seed))
    terms = random_terms(random.Random(seed), spec.widths[0])
    module = physics_module(spec, terms, "triton")
    inputs = {k: torch.tensor(v) for k, v in random_inputs(spec, terms, 7, seed).items()}
    rng = np.random.default_rng(seed)
    params = {k: torch.tensor(rng.standard_normal(v.shape) * 0.5)
              for k, v in spec_init_params(spec, 0).items()}
    _, grads, _, _ = module.value_and_grad(params, inputs)
    step = 1e-6
    for name, value in params.items():
        flat = value.reshape(-1)
        for index in rng.choice(flat.numel(), size=min(8, flat.numel()), replace=False):
            loss_at = []
            for shift in (step, -step):
                shifted = dict(params, **{name: value.clone()})
                shifted[name].view(-1)[index] += shift
                loss_at.append(module.value_and_grad(shifted, inputs)[0])
            numeric = (loss_at[0] - loss_at[1]) / (2 * step)
            scale = max(float(grads[name].abs().max()), 1e-3)
            assert abs(float(grads[name].reshape(-1)[index]) - numeric) <= 1e-6 * scale


def test_a_second_derivative_through_the_jet_kernels_raises():
    import torch

    spec = small_example("poisson")
    terms = random_terms(random.Random(0), spec.widths[0])
    module = physics_module(spec, terms, "triton")
    first_layer = min((name for name in dir(module) if name.startswith("JetLayer")),
                      key=lambda name: int(name[len("JetLayer"):]))
    jet = module.jet_seed(torch.rand(5, 2, dtype=torch.float64), 2)
    shape = spec_init_params(spec, 0)["layers.0.coef"].shape
    coef = torch.rand(*shape, dtype=torch.float64, requires_grad=True)
    out = getattr(module, first_layer).apply(jet, coef, False)
    (first,) = torch.autograd.grad(out[:, :, 3].sum(), coef, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiable once"):
        torch.autograd.grad(first.sum(), coef)
