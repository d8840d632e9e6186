"""The base branch (base = "silu"): every backend against the scipy oracle and the NumPy
reference, its gradients against finite differences, and where it is refused."""

import numpy as np
import pytest

import kancc
from kancc.backends import TARGETS
from kancc.frontend import prolong_params
from kancc.spec.refinement import refine_spec
from kancc.tools.differential_check import differential_check
from kancc.tools.random_specs import random_spec


def with_base(spec):
    for table in spec.get("layers", []):
        table["base"] = "silu"
    spec.setdefault("basis", {})["base"] = "silu"
    return spec


@pytest.mark.parametrize("seed", range(6))
def test_random_specs_with_a_base_branch_pass_every_check(seed):
    spec = with_base(random_spec(seed, max_width=6))
    targets = tuple(t for t in TARGETS if TARGETS[t].unavailable() is None)
    report = differential_check(spec, samples=33, seed=seed, targets=targets)
    failed = [c.line() for c in report.comparisons if not c.ok]
    assert not failed, failed
    names = {c.name for c in report.comparisons}
    assert "gradients f64 vs central differences" in names
    assert any("oracle" in name for name in names)


def test_the_base_branch_adds_silu_times_its_weights():
    spec = {"model": {"layers": [2, 3], "dtype": "float64"}, "basis": {"grid": 4}}
    plain = kancc.compile(spec)
    based = kancc.compile(with_base(spec))
    params = based.init_params(1)
    assert params["layers.0.base"].shape == (2, 3)
    x = np.random.default_rng(0).uniform(-2, 2, (10, 2))
    silu = x / (1 + np.exp(-x))
    expected = plain.forward({"layers.0.coef": params["layers.0.coef"]}, x) + \
        silu @ params["layers.0.base"]
    np.testing.assert_allclose(based.forward(params, x), expected, rtol=1e-13)
    assert "kan.base_layer %x, @layers.0.base {fn=silu}" in kancc.ir.to_text(based.input_ir)


def test_refinement_keeps_the_base_weights_and_the_function():
    spec = kancc.load_spec(with_base({"model": {"layers": [2, 3, 1], "dtype": "float64"},
                                      "basis": {"grid": 3}}))
    params = kancc.compile(spec).spec_init_params(2)
    fine = refine_spec(spec, 2)
    moved = prolong_params(spec, fine, params)
    assert np.array_equal(moved["layers.1.base"], params["layers.1.base"])
    x = np.random.default_rng(1).uniform(-1, 1, (40, 2))
    np.testing.assert_allclose(kancc.compile(fine).forward(moved, x),
                               kancc.compile(spec).forward(params, x), rtol=1e-12, atol=1e-13)


def test_training_with_a_base_branch_learns():
    spec = with_base({"model": {"layers": [2, 4, 1]}, "basis": {"grid": 4},
                      "train": {"optimizer": "lbfgs", "steps": 40},
                      "data": {"source": "sin_sin", "n": 400}})
    result = kancc.train(spec, log=None)
    assert result.status == "done" and result.loss < 0.1 * result.history[0, 1]
    assert set(result.params) == {"layers.0.coef", "layers.0.base", "layers.1.coef",
                                  "layers.1.base"}


@pytest.mark.parametrize("change, field", [
    ({"basis": {"base": "relu"}}, "basis.base"),
    ({"basis": {"base": "silu", "tucker": "1/2"}}, "basis.base"),
    ({"basis": {"base": "silu", "degree": 1},
      "train": {"method": "newton-kaczmarz"}}, "train.method"),
    ({"basis": {"base": "silu"}, "train": {"geometry": "relu"}}, "train.geometry"),
    ({"layers": [{"base": "silu"}, {}],
      "finetune": {"pretrained": "p.npz", "tucker": "1/2"}}, "layers[0].base"),
])
def test_where_the_base_branch_is_refused(change, field):
    spec = {"model": {"layers": [2, 3, 1]}, **change}
    with pytest.raises(kancc.SpecError) as info:
        kancc.load_spec(spec)
    assert info.value.path == field
