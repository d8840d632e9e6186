"""Physics-informed losses: reverse mode through jets, [pde] specs, collocation, training.

Oracles: central differences of the compiled loss for its parameter gradient; a loss
computed in this file from Program.jet (the forward jets, themselves checked against scipy
in test_jets.py); sympy's own derivatives for the derived forcing; hand-written residuals.
"""

import random
from fractions import Fraction

import numpy as np
import pytest

import kancc
from kancc.errors import KanccWarning, SpecError
from kancc.frontend import spec_init_params
from kancc.physics.collocation import boundary, initial, interior
from kancc.physics.problem import collocation_inputs, loss_terms, solution_grid
from kancc.spec import load_spec, spec_to_dict
from kancc.spec.pde_equations import pde_equations
from kancc.tools.random_physics import (
    physics_module,
    physics_spec,
    random_inputs,
    random_terms,
)

POISSON = {
    "model": {"layers": [2, 5, 1], "dtype": "float64"},
    "basis": {"degree": 3, "grid": 5, "domain": [-1, 1]},
    "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]], "parameters": {"k": 2},
            "solution": "sin(pi*x)*sin(pi*y)", "residual": "lap(u) + k*u - f", "points": 64,
            "condition": [{"kind": "dirichlet", "value": "solution", "points": 32}]},
}
BURGERS = {
    "model": {"layers": [2, 4, 1], "dtype": "float64"},
    "basis": {"degree": 3, "grid": 4, "domain": [-1, 1]},
    "pde": {"variables": ["t", "x"], "time": "t", "box": [[0, 1], [-1, 1]],
            "parameters": {"nu": "0.01"}, "residual": "u_t + u*u_x - nu/pi*u_xx",
            "points": 64,
            "condition": [{"kind": "dirichlet", "value": "0", "points": 16},
                          {"kind": "initial", "value": "-sin(pi*x)", "points": 16}]},
}


@pytest.mark.parametrize("seed", range(6))
def test_the_parameter_gradient_of_a_physics_loss_equals_central_differences(seed):
    spec = load_spec(physics_spec(seed))
    terms = random_terms(random.Random(seed), spec.widths[0])
    module = physics_module(spec, terms, "numpy")
    inputs = random_inputs(spec, terms, 7, seed)
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(v.shape) * 0.5
              for k, v in spec_init_params(spec, 0).items()}
    loss, grads, _, _ = module.value_and_grad(params, inputs)
    step = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][index] += step
            up = module.value_and_grad(shifted, inputs)[0]
            shifted[name][index] -= 2 * step
            numeric[index] = (up - module.value_and_grad(shifted, inputs)[0]) / (2 * step)
        scale = max(float(np.abs(numeric).max()), 1e-3)
        np.testing.assert_allclose(grads[name], numeric, rtol=0, atol=1e-6 * scale)


def test_the_loss_equals_one_computed_from_program_jet():
    spec = load_spec(physics_spec(3))
    terms = random_terms(random.Random(3), spec.widths[0])
    module = physics_module(spec, terms, "numpy")
    inputs = random_inputs(spec, terms, 11, 3)
    params = spec_init_params(spec, 1)
    _, _, by_term, residuals = module.value_and_grad(params, inputs)
    program = kancc.compile(spec, "numpy", jet=2)
    for term in terms:
        _, dy, d2y = program.jet(params, inputs[term.points])
        channels = np.concatenate([program.forward(params, inputs[term.points])[:, :, None],
                                   dy, d2y], axis=2)[:, 0, :]
        value = sum(float(m.scale) * np.prod(channels[:, list(m.factors)], axis=1)
                    * (inputs[f"{term.name}.{m.column}"][:, 0] if m.column else 1.0)
                    for m in term.monomials)
        expected = float(term.weight) * np.mean((value - inputs[f"{term.name}.target"][:, 0]) ** 2)
        assert by_term[term.name] == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(residuals[term.name][:, 0],
                                   value - inputs[f"{term.name}.target"][:, 0], atol=1e-12)


def test_the_forcing_comes_from_the_solution():
    equations = pde_equations(load_spec(POISSON).pde)
    x, y = equations.variables
    import sympy

    solution = sympy.sin(sympy.pi * x) * sympy.sin(sympy.pi * y)
    forcing = -2 * sympy.pi ** 2 * solution + 2 * solution  # lap(u) + k u with k = 2
    assert sympy.simplify(equations.residual.known + forcing) == 0
    assert [(c, int(v)) for c, v in equations.residual.terms] == [((0,), 2), ((3,), 1), ((4,), 1)]


def test_burgers_residual_monomials():
    import sympy

    terms = dict(pde_equations(load_spec(BURGERS).pde).residual.terms)
    assert terms[(0, 2)] == 1 and terms[(1,)] == 1  # u u_x, u_t (t is variable 0)
    assert sympy.simplify(terms[(4,)] + sympy.Rational(1, 100) / sympy.pi) == 0


@pytest.mark.parametrize("residual, message", [
    ("u_xy", "unknown name 'u_xy'"),
    ("u_xxx + u", "unknown name 'u_xxx'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("x.real + u", "Attribute is not allowed"),
    ("(lambda: 1)() + u", "only named functions"),
    ("[u for u in x]", "ListComp is not allowed"),
    ("sin(u)", "polynomial in u"),
    ("1/u", "polynomial in u"),
    ("u ^ 2", "write powers as **"),
    ("lap(x)", "lap takes u itself"),
    ("u + q", "column 5: unknown name 'q'"),
    ("u +", "not an expression"),
    ("x + y", "does not involve u"),
    ("u - f", "f is the forcing derived from pde.solution"),
])
def test_bad_residuals_name_the_field_and_column(residual, message):
    spec = {**POISSON, "pde": {**POISSON["pde"], "residual": residual}}
    if "f is the forcing" in message:
        spec["pde"] = {k: v for k, v in spec["pde"].items() if k not in ("solution",
                                                                         "condition")}
    with pytest.raises(SpecError, match="pde.residual") as error:
        load_spec(spec)
    assert message in str(error.value)


@pytest.mark.parametrize("change, field", [
    ({"variables": ["x"]}, "pde.variables"),
    ({"box": [[-1, 1]]}, "pde.box"),
    ({"box": [[1, -1], [-1, 1]]}, "pde.box[0]"),
    ({"solution": "sin(pi*z)"}, "pde.solution"),
    ({"time": "s"}, "pde.time"),
    ({"condition": [{"kind": "initial"}]}, "pde.condition[0].kind"),
    ({"condition": [{"kind": "neumann"}]}, "pde.condition[0].kind"),
    ({"condition": [{"kind": "dirichlet", "value": "open('x')"}]}, "pde.condition[0].value"),
    ({"disk": 1}, "pde.box"),
    ({"parameters": {"pi": 3}}, "pde.parameters.pi"),
])
def test_bad_pde_tables_name_the_field(change, field):
    with pytest.raises(SpecError) as error:
        load_spec({**POISSON, "pde": {**POISSON["pde"], **change}})
    assert error.value.path == field


def test_a_bad_pde_spec_exits_2_and_writes_nothing(tmp_path, capsys):
    from kancc.cli import main

    spec = tmp_path / "bad.toml"
    spec.write_text('[model]\nlayers = [2, 3, 1]\n[pde]\nvariables = ["x", "y"]\n'
                    'box = [[0, 1], [0, 1]]\nresidual = "u_xx + __import__(1)"\n')
    output = tmp_path / "out.ckpt.npz"
    assert main(["train", str(spec), "-o", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pde.residual: column 8: unknown function '__import__'" in err[0]
    assert not output.exists()


def test_pde_specs_round_trip():
    spec = load_spec(BURGERS)
    assert load_spec(spec_to_dict(spec)) == spec


def test_collocation_points_lie_where_they_should():
    spec = load_spec(BURGERS)
    equations = pde_equations(spec.pde)
    for sampler in ("grid", "random", "sobol"):
        inside = interior(spec.pde, equations, 100, sampler, 0)
        assert inside.shape[1] == 2 and len(inside) >= 100
        assert inside[:, 0].min() >= 0 and inside[:, 0].max() <= 1
        assert np.abs(inside[:, 1]).max() <= 1
        edge = boundary(spec.pde, equations, 40, sampler, 0)
        assert np.all(np.abs(edge[:, 1]) == 1)  # x = -1 or 1: time is not a boundary
        first = initial(spec.pde, equations, 40, sampler, 0)
        assert np.all(first[:, 0] == 0)
    disk = load_spec({**POISSON, "pde": {**POISSON["pde"], "box": None, "disk": 2}} |
                     {"pde": {k: v for k, v in POISSON["pde"].items() if k != "box"} |
                      {"disk": 2}})
    equations = pde_equations(disk.pde)
    for sampler in ("grid", "random", "sobol"):
        points = interior(disk.pde, equations, 200, sampler, 1)
        assert np.all(np.hypot(points[:, 0], points[:, 1]) <= 2 + 1e-12)
        assert 150 <= len(points) <= 260
        edge = boundary(disk.pde, equations, 50, sampler, 1)
        np.testing.assert_allclose(np.hypot(edge[:, 0], edge[:, 1]), 2)
    a = collocation_inputs(disk, 5)
    b = collocation_inputs(disk, 5)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_collocation_inputs_hold_the_targets():
    spec = load_spec(POISSON)
    inputs = collocation_inputs(spec, 0)
    x, y = inputs["dirichlet"].T
    np.testing.assert_allclose(inputs["dirichlet.target"][:, 0],
                               np.sin(np.pi * x) * np.sin(np.pi * y), atol=1e-15)
    x, y = inputs["interior"].T
    forcing = (2 - 2 * np.pi ** 2) * np.sin(np.pi * x) * np.sin(np.pi * y)
    np.testing.assert_allclose(inputs["residual.target"][:, 0], forcing, atol=1e-12)
    assert [t.name for t in loss_terms(spec)] == ["residual", "dirichlet"]
    points, values = solution_grid(spec)
    assert len(points) >= 4096 and values.shape == (len(points), 1)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_training_reduces_the_physics_loss(optimizer, tmp_path):
    spec = {**POISSON, "train": {"optimizer": optimizer, "steps": 30, "seed": 1}}
    result = kancc.train(spec, checkpoint=tmp_path / "p.ckpt.npz", log=None)
    assert result.status == "done"
    assert result.history[-1, 1] < 0.5 * result.history[0, 1]
    assert set(result.physics) == {"residual", "dirichlet", "rel_l2", "abs_linf"}
    assert not np.isnan(result.physics["rel_l2"][-1])
    assert kancc.load_checkpoint(tmp_path / "p.ckpt.npz").spec.pde == load_spec(spec).pde


def test_the_torch_target_gives_the_same_physics_loss_and_gradient():
    pytest.importorskip("torch")
    spec = load_spec(BURGERS)
    reference = kancc.compile(spec, "numpy", training=True)
    inputs = collocation_inputs(spec, 3)
    params = reference.init_params(2)
    loss, grads, terms, residuals = reference.physics_loss(params, inputs)
    got = kancc.compile(spec, "torch", training=True).physics_loss(params, inputs)
    assert got.loss == pytest.approx(loss, rel=1e-12)
    assert got.terms == pytest.approx(terms, rel=1e-12)
    for name, grad in grads.items():
        np.testing.assert_allclose(got.grads[name], grad, rtol=1e-10, atol=1e-12)
    for name, residual in residuals.items():
        np.testing.assert_allclose(got.residuals[name], residual, rtol=1e-10, atol=1e-12)


def test_multilevel_physics_training_carries_the_loss_across_levels():
    spec = {**POISSON, "train": {"optimizer": "lbfgs", "multilevel": {"epochs": [15, 15]}}}
    result = kancc.train(spec, log=None)
    first, second = result.levels
    assert [level.program.spec.layers[0].grid for level in result.levels] == [5, 10]
    # the prolongation is exact: the finer level starts from the coarser level's loss
    assert second.history[0, 1] == pytest.approx(first.history[-1, 1], rel=1e-9)
    assert len(result.history) == len(first.history) + len(second.history)
    assert result.history[-1, 0] == first.history[-1, 0] + second.history[-1, 0]


def test_residual_based_attention_weights_follow_the_update_rule():
    from kancc.training.physics import _Attention

    spec = load_spec({**POISSON, "pde": {**POISSON["pde"], "rba": "0.1"}})
    program = kancc.compile(spec, "numpy", training=True)
    assert "residual.weights" in {v.name for v in program.ir.inputs}
    inputs = collocation_inputs(spec, 0)
    raw_target = inputs["residual.target"].copy()
    params = program.init_params(0)
    attention = _Attention(0.1, inputs)
    first = program.physics_loss(params, inputs)
    attention.update(first.residuals["residual"], inputs)
    error = np.abs(first.residuals["residual"])  # the weights were 1
    expected = 0.9 + 0.1 * error / error.max()
    np.testing.assert_allclose(inputs["residual.weights"], expected, rtol=1e-15)
    np.testing.assert_allclose(inputs["residual.target"], expected * raw_target, rtol=1e-15)
    second = program.physics_loss(params, inputs)
    np.testing.assert_allclose(second.residuals["residual"], expected * first.residuals["residual"],
                               rtol=1e-12, atol=1e-12)
    with pytest.raises(SpecError, match="pde.rba"):
        load_spec({**POISSON, "pde": {**POISSON["pde"], "rba": "0.1"},
                   "train": {"optimizer": "lbfgs"}})
    result = kancc.train({**POISSON, "pde": {**POISSON["pde"], "rba": "0.1"},
                          "train": {"steps": 20}}, log=None)
    assert result.status == "done" and result.history[-1, 1] < result.history[0, 1]


def test_the_exponential_cyclic_schedule():
    from kancc.training.optim import learning_rate

    rates = [learning_rate(step, 1e-3, 0, 1000, "exp-cyclic", 100, 0.9995) for step in
             range(300)]
    assert rates[0] == pytest.approx(1e-4) and rates[100] == pytest.approx(1e-4)
    assert rates[50] == pytest.approx(1e-4 + 9e-4 * 0.9995 ** 50)
    assert rates[250] == pytest.approx(1e-4 + 9e-4 * 0.9995 ** 250)
    assert max(rates[200:300]) < max(rates[:100])
    assert learning_rate(3, 1e-3, 10, 1000, "exp-cyclic", 100, 0.9995) == pytest.approx(4e-4)


def test_auto_domains_come_from_the_collocation_points_and_far_inputs_warn():
    spec = {**POISSON, "model": {"layers": [2, 5, 5, 1], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 5, "domain": "auto"}, "train": {"steps": 2}}
    result = kancc.train(spec, log=None)
    first, *hidden = result.program.spec.layers
    assert -Fraction(6, 5) <= first.domain[0] < -1 < 1 < first.domain[1] <= Fraction(6, 5)
    assert all(layer.domain != (-1, 1) for layer in hidden)
    narrow = {**spec, "basis": {"degree": 3, "grid": 5, "domain": [-0.5, 0.5]}}
    with pytest.warns(KanccWarning, match="interior collocation points"):
        kancc.train(narrow, log=None)


def test_physics_models_start_as_affine_functions():
    """Each B-spline edge of a [pde] model starts affine: no curvature anywhere."""
    spec = load_spec({**POISSON, "model": {"layers": [2, 3, 3, 1], "dtype": "float64"},
                      "layers": [{"degree": 2, "grid": 4, "domain": [-1, 1]},
                                 {"degree": 3, "grid": 5, "domain": [-2, 2]},
                                 {"degree": 5, "grid": 3, "knots": [-3, 0, "1/2", 3]}]})
    program = kancc.compile(spec, "numpy", jet=2)
    params = program.init_params(4)
    x = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    _, dy, d2y = program.jet(params, x)
    assert np.abs(d2y).max() < 1e-12 and np.abs(dy).max() > 1e-3
    plain = {k: v for k, v in POISSON.items() if k != "pde"}
    rng = np.random.default_rng(0)  # other specs keep coef ~ N(0, 1/in)
    expected = rng.standard_normal((2, 5, 8)) / np.sqrt(2)
    np.testing.assert_array_equal(spec_init_params(load_spec(plain), 0)["layers.0.coef"],
                                  expected)


@pytest.mark.parametrize("kind, smooth, rougher", [
    ("chebyshev", 1, 30), ("legendre", 1, 30), ("taylor", 1, None), ("fourier", 2, 30)])
def test_global_basis_physics_models_start_as_one_smooth_function_per_edge(kind, smooth,
                                                                           rougher):
    """slope * tanh(x) (sin(pi tanh x) / pi for Fourier) per edge: second derivatives of
    the size of the slopes, where random coefficients start far larger (but for Taylor,
    whose t^k are small, the random start is as smooth)."""
    widths = {"model": {"layers": [2, 16, 16, 1], "dtype": "float64"}}
    spec = load_spec({**POISSON, **widths, "basis": {"kind": kind, "degree": 5}})
    params = spec_init_params(spec, 1)
    for value in params.values():
        others = np.delete(value, smooth, axis=2)
        assert np.all(others == 0) and np.abs(value[:, :, smooth]).max() > 0.1
    program = kancc.compile(spec, "numpy", jet=2)
    x = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    plain = spec_init_params(load_spec(
        {k: v for k, v in {**POISSON, **widths, "basis": {"kind": kind, "degree": 5}}.items()
         if k != "pde"}), 1)
    smooth_d2 = np.abs(program.jet(params, x)[2]).max()
    random_d2 = np.abs(program.jet(plain, x)[2]).max()
    assert smooth_d2 < 10
    if rougher:
        assert random_d2 > rougher * smooth_d2


def test_the_differential_check_and_value_and_grad_on_pde_specs():
    from kancc.tools.differential_check import differential_check

    report = differential_check(POISSON, samples=9, targets=("numpy", "torch"))
    assert report.comparisons and all(c.ok for c in report.comparisons)
    assert any("[pde] physics loss" in reason for reason in report.skipped)
    program = kancc.compile(POISSON, "numpy", training=True)
    with pytest.raises(kancc.KanccError, match="use physics_loss"):
        program.value_and_grad(program.init_params(0), np.zeros((3, 2)), np.zeros((3, 1)))


ALLEN_CAHN = {
    "model": {"layers": [2, 4, 1], "dtype": "float64"},
    "basis": {"degree": 3, "grid": 4, "domain": [-1, 1]},
    "pde": {"variables": ["t", "x"], "time": "t", "box": [[0, 1], [-1, 1]],
            "residual": "u_t - 0.0001*u_xx + 5*u**3 - 5*u", "points": 64,
            "condition": [{"kind": "initial", "value": "x**2*cos(pi*x)", "points": 16},
                          {"kind": "periodic", "variable": "x", "points": 16}]},
}


def test_periodic_conditions_compare_both_ends():
    spec = load_spec(ALLEN_CAHN)
    assert [t.name for t in loss_terms(spec)] == ["residual", "initial", "periodic",
                                                  "periodic.rate"]
    inputs = collocation_inputs(spec, 0)
    low, high = inputs["periodic"], inputs["periodic.high"]
    assert np.all(low[:, 1] == -1) and np.all(high[:, 1] == 1)
    np.testing.assert_array_equal(low[:, 0], high[:, 0])
    program = kancc.compile(spec, "numpy", training=True)
    params = program.init_params(0)
    params = {k: v + np.random.default_rng(1).standard_normal(v.shape) for k, v in
              params.items()}
    result = program.physics_loss(params, inputs)
    jets = kancc.compile(spec, "numpy", jet=1)
    (u_low, du_low), (u_high, du_high) = (jets.jet(params, p) for p in (low, high))
    np.testing.assert_allclose(result.residuals["periodic"], u_low - u_high, atol=1e-12)
    np.testing.assert_allclose(result.residuals["periodic.rate"],
                               du_low[:, :, 1] - du_high[:, :, 1], atol=1e-12)
    # the gradient through both ends, against central differences
    name = "layers.0.coef"
    index = (1, 2, 3)
    shifted = {k: v.copy() for k, v in params.items()}
    shifted[name][index] += 1e-6
    up = program.physics_loss(shifted, inputs).loss
    shifted[name][index] -= 2e-6
    down = program.physics_loss(shifted, inputs).loss
    assert result.grads[name][index] == pytest.approx((up - down) / 2e-6, rel=1e-6)


@pytest.mark.parametrize("condition, field", [
    ({"kind": "periodic", "points": 8}, "pde.condition[0].variable"),
    ({"kind": "periodic", "variable": "t"}, "pde.condition[0].variable"),
    ({"kind": "periodic", "variable": "x", "value": "1"}, "pde.condition[0].value"),
    ({"kind": "initial", "variable": "x"}, "pde.condition[0].variable"),
])
def test_bad_periodic_conditions(condition, field):
    with pytest.raises(SpecError) as error:
        load_spec({**ALLEN_CAHN, "pde": {**ALLEN_CAHN["pde"], "condition": [condition]}})
    assert error.value.path == field


def test_resampling_draws_new_points_every_n_steps(monkeypatch):
    import kancc.training.physics as physics

    draws = []
    original = physics.collocation_inputs

    def counting(spec, seed):
        draws.append(seed)
        return original(spec, seed)

    monkeypatch.setattr(physics, "collocation_inputs", counting)
    spec = {**POISSON, "pde": {**POISSON["pde"], "resample_every": 4},
            "train": {"steps": 10, "seed": 3}}
    result = kancc.train(spec, log=None)
    assert result.status == "done"
    assert draws[-3:] == [3, 4, 5]  # the first draw, then after steps 4 and 8
    with pytest.raises(SpecError, match="pde.resample_every"):
        load_spec({**spec, "train": {"optimizer": "lbfgs"}})


@pytest.mark.parametrize("change, field, message", [
    ({"residual": "lap(u) - f + ((((x+y+1)**8)**8)**8)"}, "pde.residual", "nested powers"),
    ({"residual": "lap(u) - f + abs(x)"}, "pde.residual", "unknown function 'abs'"),
    ({"solution": "log(0) * x"}, "pde.solution", "not a finite real expression"),
    ({"solution": "sqrt(-1) * x"}, "pde.solution", "not a finite real expression"),
    ({"parameters": {"u_x": 5}}, "pde.parameters.u_x", "reserved"),
    ({"parameters": {"lambda": 5}}, "pde.parameters.lambda", "reserved"),
    ({"variables": ["x", "None"]}, "pde.variables[1]", "not a usable variable"),
    ({"box": [[-1, 1], [0, "1e300"]]}, "pde.box", "beyond 1e15"),
])
def test_review_findings_are_spec_errors(change, field, message):
    import time

    start = time.perf_counter()
    with pytest.raises(SpecError) as error:
        load_spec({**POISSON, "pde": {**POISSON["pde"], **change}})
    assert error.value.path == field and message in str(error.value)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("change, field", [
    ({"layers": [{"knots": [[-1, 0, 1], [-1, 0.5, 1]]}, {}]}, "layers[0].knots"),
    ({"train": {"l2": "0.5"}}, "train.l2"),
    ({"train": {"batch_size": 8}}, "train.batch_size"),
    ({"train": {"keep": "best"}}, "train.keep"),
])
def test_what_physics_losses_do_not_do_is_refused_at_load(change, field):
    with pytest.raises(SpecError) as error:
        load_spec({**POISSON, **change})
    assert error.value.path == field


def test_data_that_is_not_finite_on_the_domain_names_its_field(tmp_path, capsys):
    from kancc.cli import main

    spec = {**POISSON, "pde": {**POISSON["pde"], "residual": "lap(u) - sqrt(x)",
                               "sampler": "grid"}}
    spec["pde"].pop("solution")
    spec["pde"]["condition"] = [{"kind": "dirichlet", "value": "0"}]
    with pytest.raises(SpecError, match=r"pde.residual: is not finite at \d+ of its"):
        kancc.train(spec, log=None)
    path = tmp_path / "bad.toml"
    path.write_text('[model]\nlayers = [1, 3, 1]\n[pde]\nvariables = ["t"]\ntime = "t"\n'
                    'box = [[0, 1]]\nresidual = "u_t + u"\n[[pde.condition]]\nkind = "initial"\n'
                    'value = "log(t)"\nsampler = "grid"\n')
    assert main(["train", str(path), "-o", str(tmp_path / "c.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pde.condition[0].value: is not finite" in err[0]
    assert not (tmp_path / "c.npz").exists()


def test_an_ode_with_a_grid_sampler_trains():
    spec = {"model": {"layers": [1, 3, 1], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 4, "domain": [0, 1]},
            "pde": {"variables": ["t"], "time": "t", "box": [[0, 1]], "residual": "u_t + u",
                    "solution": "exp(-t)", "points": 32, "sampler": "grid",
                    "condition": [{"kind": "initial", "sampler": "grid"}]},
            "train": {"optimizer": "lbfgs", "steps": 30}}
    result = kancc.train(spec, log=None)
    assert result.status == "done" and result.history[-1, 1] < 0.05 * result.history[0, 1]
    assert np.isfinite(result.physics["rel_l2"][-1])


def test_the_torch_physics_program_checks_its_inputs():
    pytest.importorskip("torch")
    program = kancc.compile(POISSON, "torch", training=True)
    params = program.init_params(0)
    with pytest.raises(kancc.KanccError, match="inputs has no 'interior'"):
        program.physics_loss(params, {})
    inputs = collocation_inputs(program.spec, 0)
    inputs["residual.target"] = inputs["residual.target"][:-1]
    with pytest.raises(kancc.KanccError, match="rows"):
        program.physics_loss(params, inputs)
    with pytest.raises(kancc.KanccError, match="without training=True"):
        program.forward(params, np.zeros((2, 2)))
