"""Interfaces (``pde.level_set`` and conditions of kind "interface"): the level-set
augmentation's input jets against central differences of the composed model
u(z) = N(z, |phi(z)|), the interface term against the model's own jet on each side, the
interface points, and the spec's errors."""

import copy
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.errors import SpecError
from kancc.physics import level_set
from kancc.physics.problem import collocation_inputs
from kancc.spec import load_spec
from kancc.spec.pde_equations import pde_equations

EXAMPLE = Path(__file__).parents[1] / "examples" / "poisson_interface.toml"

CURVED = {
    "model": {"layers": [3, 4, 1], "dtype": "float64"},
    "basis": {"degree": 3, "grid": 5, "domain": [-2, 2]},
    "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]],
            "level_set": "x + y**2/2 - 1/5", "residual": "u_xx + 3*u_yy + u_x - u_y",
            "points": 40, "sampler": "random",
            "condition": [{"kind": "interface", "left": "u_x", "right": "2*u_y + u",
                           "value": "y", "points": 12}]},
}


def example(**pde):
    with open(EXAMPLE, "rb") as f:
        spec = tomllib.load(f)
    spec["pde"].update(pde)
    return spec


def composed(program, params, equations):
    """z -> N(z, |phi(z)|), the model as a function of the variables."""
    return lambda z: program.forward(params, level_set.model_inputs(equations, z))[:, 0]


def test_the_residual_equals_central_differences_of_the_composed_model():
    spec = load_spec(CURVED)
    equations = pde_equations(spec.pde)
    program = kancc.compile(spec, "numpy", training=True)
    params = {k: v + 0.3 * np.random.default_rng(1).standard_normal(v.shape)
              for k, v in program.init_params(0).items()}
    inputs = collocation_inputs(spec, 0)
    z = inputs["interior"][:, :2, 0]
    phi = z[:, 0] + z[:, 1] ** 2 / 2 - 0.2
    assert np.any(phi > 0.05) and np.any(phi < -0.05)  # both sides are tested
    residuals = program.physics_loss(params, inputs).residuals["residual"][:, 0]
    u = composed(kancc.compile(spec, "numpy"), params, equations)
    h = 1e-4
    derivatives = []
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        derivatives.append(((u(z + e) - u(z - e)) / (2 * h),
                            (u(z + e) - 2 * u(z) + u(z - e)) / h ** 2))
    expected = derivatives[0][1] + 3 * derivatives[1][1] + derivatives[0][0] - derivatives[1][0]
    away = np.abs(phi) > 10 * h * (1 + np.abs(z[:, 1]))  # differences not across the kink
    np.testing.assert_allclose(residuals[away], expected[away], rtol=0,
                               atol=1e-5 * np.abs(expected).max())


def test_the_interface_term_reads_each_side_of_the_kink():
    """On phi = 0: u_k = N_k + s N_v phi_k on side s; right = 2 u_y + u, left = u_x."""
    spec = load_spec(CURVED)
    program = kancc.compile(spec, "numpy", training=True)
    params = {k: v + 0.3 * np.random.default_rng(2).standard_normal(v.shape)
              for k, v in program.init_params(0).items()}
    inputs = collocation_inputs(spec, 0)
    z = inputs["interface"][:, :2, 0]
    np.testing.assert_allclose(z[:, 0] + z[:, 1] ** 2 / 2, 0.2, atol=1e-12)
    got = program.physics_loss(params, inputs).residuals["interface"][:, 0]
    value, slope = kancc.compile(spec, "numpy", jet=1).jet(
        params, np.concatenate([z, np.zeros((len(z), 1))], axis=1))
    n_x, n_y, n_v = slope[:, 0, 0], slope[:, 0, 1], slope[:, 0, 2]
    left = n_x - n_v * 1.0
    right = 2 * (n_y + n_v * z[:, 1]) + value[:, 0]
    np.testing.assert_allclose(got, right - left - z[:, 1], rtol=0, atol=1e-12)


def test_interface_points_lie_on_the_level_set_inside_the_domain():
    spec = load_spec(example())
    equations = pde_equations(spec.pde)
    points = level_set.interface(spec.pde, equations, 49, "grid", 0)
    assert points.shape == (49, 2)
    np.testing.assert_array_equal(points[:, 0], 0.0)
    np.testing.assert_allclose(points[:, 1], np.linspace(-1, 1, 49), atol=1e-12)
    random = level_set.interface(load_spec(CURVED).pde, pde_equations(load_spec(CURVED).pde),
                                 30, "random", 3)
    assert random.shape == (30, 2) and np.all(np.abs(random) <= 1)


def test_the_example_trains_and_its_targets_are_finite(tmp_path):
    spec = example()
    spec["train"]["steps"] = 20
    result = kancc.train(spec, checkpoint=tmp_path / "p.ckpt.npz", log=None)
    assert result.status == "done"
    assert set(result.physics) == {"residual", "dirichlet", "interface", "rel_l2", "abs_linf"}
    assert result.history[-1, 1] < result.history[0, 1]
    assert np.isfinite(result.physics["rel_l2"][-1])


@pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")
@pytest.mark.parametrize("target", ["torch", "triton"])
def test_the_torch_targets_equal_numpy_on_input_jets(target):
    spec = load_spec(CURVED)
    reference = kancc.compile(spec, "numpy", training=True)
    params = reference.init_params(3)
    inputs = collocation_inputs(spec, 1)
    expected = reference.physics_loss(params, inputs)
    got = kancc.compile(spec, target, training=True).physics_loss(params, inputs)
    assert got.loss == pytest.approx(expected.loss, rel=1e-12)
    for name, grad in expected.grads.items():
        np.testing.assert_allclose(got.grads[name], grad, rtol=0,
                                   atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("change, field, message", [
    (lambda s: (s["pde"].pop("level_set"), s["model"].update(layers=[2, 5, 1])),
     "pde.condition[1].kind", "needs pde.level_set"),
    (lambda s: s["pde"]["condition"][1].pop("left"), "pde.condition[1].left", "missing"),
    (lambda s: s["pde"]["condition"][0].update(left="u"), "pde.condition[0].left",
     "applies to interface conditions"),
    (lambda s: s["pde"]["condition"][1].update(right="u_z"), "pde.condition[1].right",
     "unknown name"),
    (lambda s: s["pde"].update(level_set="2"), "pde.level_set", "must depend on a variable"),
    (lambda s: s["model"].update(layers=[2, 5, 1]), "pde.variables",
     "less |level_set|"),
])
def test_bad_interface_specs_name_the_field(change, field, message):
    spec = example()
    change(spec)
    with pytest.raises(SpecError, match=rf"{re.escape(field)}: .*{message}"):
        load_spec(spec)


def test_a_level_set_that_misses_the_domain_is_reported():
    spec = copy.deepcopy(example(level_set="x + 5"))
    with pytest.raises(SpecError, match="pde.level_set: its zero set crosses the domain"):
        collocation_inputs(load_spec(spec), 0)


def test_a_forcing_undefined_on_the_interface_is_reported_where():
    """A 49 x 49 grid has points on x = 0, where the piecewise solution's forcing holds
    DiracDelta terms: a SpecError naming the residual and a point, not a number."""
    spec = load_spec(example(points=2401))
    with pytest.raises(SpecError, match=r"pde.residual: is not finite at \d+ of its 2401 "):
        collocation_inputs(spec, 0)


def test_a_level_set_model_takes_its_points_as_the_variables(tmp_path, capsys):
    from kancc.cli import main

    program = kancc.compile(EXAMPLE)
    params = program.init_params(1)
    equations = pde_equations(program.spec.pde)
    z = np.random.default_rng(0).uniform(-1, 1, (9, 2))
    np.testing.assert_array_equal(program.forward(params, z),
                                  program.forward(params, level_set.model_inputs(equations, z)))
    np.save(tmp_path / "z.npy", z)
    assert main(["run", str(EXAMPLE), "--input", str(tmp_path / "z.npy")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) >= 9
