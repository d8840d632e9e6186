"""Layers with one knot vector per input (``knots = [[...], ...]``, exterior knots included,
as pykan and efficient-kan hold their grids after update_grid): every backend against
scipy's BSpline per input, gradients against finite differences, exact refinement and knot
insertion, and the places such layers are refused."""

import random

import numpy as np
import pytest

import kancc
from kancc.backends import TARGETS
from kancc.frontend import prolong_params
from kancc.spec.refinement import refine_spec
from kancc.spec.toml_text import spec_to_toml
from kancc.tools.differential_check import differential_check
from kancc.tools.quantile_knots import quantile_refinement


def knot_rows(rng, inputs, degree, cells):
    """Random increasing full knot vectors: cells + 2 degree + 1 exact decimals each."""
    rows = []
    for _ in range(inputs):
        a = rng.randint(-12, -4) / 8
        steps = [rng.randint(1, 9) / 8 for _ in range(cells + 2 * degree)]
        rows.append([str(a + sum(steps[:i])) for i in range(cells + 2 * degree + 1)])
    return rows


def random_per_input_spec(seed, dtype="float64"):
    rng = random.Random(seed)
    widths = [rng.randint(1, 5) for _ in range(rng.randint(2, 3))]
    layers = []
    for n_in in widths[:-1]:
        degree = rng.randint(1, 4)
        if rng.random() < 0.7:
            layers.append({"degree": degree, "knots": knot_rows(rng, n_in, degree,
                                                                rng.randint(1, 7))})
        else:
            layers.append({"degree": degree, "grid": rng.randint(1, 6), "domain": [-2, 2]})
    return {"model": {"name": f"per_input_{seed}", "layers": widths, "dtype": dtype},
            "layers": layers}


@pytest.mark.parametrize("seed", range(8))
def test_random_per_input_specs_pass_every_check(seed):
    spec = random_per_input_spec(seed, "float32")
    targets = tuple(t for t in TARGETS if TARGETS[t].unavailable() is None)
    report = differential_check(spec, samples=41, seed=seed, targets=targets)
    failed = [c.line() for c in report.comparisons if not c.ok]
    assert not failed, failed
    names = {c.name for c in report.comparisons}
    assert "numpy f64 vs scipy BSpline oracle" in names
    assert "gradients f64 vs central differences" in names
    if "triton" in targets:
        assert "gradients triton f64 vs numpy f64" in names


def test_the_spec_and_the_ir_keep_every_knot():
    spec = kancc.load_spec(random_per_input_spec(3))
    assert kancc.loads_spec(spec_to_toml(spec)) == spec
    program = kancc.compile(spec, training=True, check_roundtrip=True)
    fused = [op for op in program.ir.ops if op.name == "kan.fused_layer"]
    per_input = [op for op, basis in zip(fused, spec.layers) if basis.per_input]
    assert per_input and all(op.attr("eval") == "cox-de-boor" for op in per_input)


@pytest.mark.parametrize("seed", range(4))
def test_refinement_and_knot_insertion_keep_the_function(seed):
    spec = kancc.load_spec(random_per_input_spec(seed))
    params = kancc.compile(spec).spec_init_params(seed)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.5, 2.5, (300, spec.widths[0]))  # beyond the grids too
    expected = kancc.compile(spec).forward(params, x)
    scale = np.abs(expected).max()
    fine = refine_spec(spec, 2)
    got = kancc.compile(fine).forward(prolong_params(spec, fine, params), x)
    assert np.abs(got - expected).max() <= 1e-12 * scale
    adapted = quantile_refinement(spec, params, rng.normal(0, 0.5, (200, spec.widths[0])))
    got = kancc.compile(adapted).forward(prolong_params(spec, adapted, params), x)
    assert np.abs(got - expected).max() <= 1e-12 * scale
    for before, after in zip(spec.layers, adapted.layers):
        assert after.grid == 2 * before.grid
        for coarse, fine_row in zip(before.extended_rows, after.extended_rows):
            assert set(coarse) <= set(fine_row)


@pytest.mark.parametrize("layer, field, message", [
    ({"degree": 1, "knots": [[0, 1, 2, 3], [0, 1, 2]]}, "layers[0].knots[1]", "has 3 knots"),
    ({"degree": 1, "knots": [[0, 2, 1, 3], [0, 1, 2, 3]]}, "layers[0].knots[0][2]",
     "strictly increasing"),
    ({"degree": 2, "knots": [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]}, "layers[0].knots",
     "at least 6 knots"),
    ({"degree": 1, "knots": [[0, 1, 2, 3]]}, "layers[0].knots", "the layer has 2 inputs"),
    ({"degree": 1, "grid": 2, "knots": [[0, 1, 2, 3], [0, 1, 2, 3]]}, "layers[0].grid",
     "each knot vector has 1 cells"),
    ({"degree": 1, "knots": [[0, 1, 2, 3], [0, 1, 2, 3]], "tucker": [1, 1, 1]},
     "layers[0].tucker", "cannot be a Tucker layer"),
])
def test_bad_per_input_knots_name_their_field(layer, field, message):
    spec = {"model": {"layers": [2, 1]}, "layers": [layer]}
    with pytest.raises(kancc.SpecError, match=message) as info:
        kancc.load_spec(spec)
    assert info.value.path == field


def test_the_relu_change_of_basis_refuses_per_input_layers():
    spec = {"model": {"layers": [2, 1]},
            "layers": [{"degree": 1, "knots": [[0, 1, 2, 3], [0, 1, "5/2", 3]]}]}
    with pytest.raises(kancc.PassError, match="one knot vector per input"):
        kancc.compile(spec, passes="to-relu-basis,inference")
    with pytest.raises(kancc.SpecError, match="one knot vector per input"):
        kancc.load_spec({**spec, "train": {"geometry": "relu"}})


def test_edge_plots_use_each_inputs_knots(tmp_path):
    from scipy.interpolate import BSpline

    from kancc.tools.plots import edge_functions

    spec = kancc.load_spec({"model": {"layers": [2, 2], "dtype": "float64"},
                            "layers": [{"degree": 1, "knots": [[0, 1, 2, 3],
                                                               [0, 1, "5/2", 3]]}]})
    params = kancc.compile(spec).spec_init_params(0)
    kancc.save_checkpoint(tmp_path / "c.npz", spec, params)
    x, phi = edge_functions(kancc.load_checkpoint(tmp_path / "c.npz"), 0)
    for p, row in enumerate(spec.layers[0].input_knots):
        knots = np.array([float(t) for t in row])
        expected = BSpline(knots, params["layers.0.coef"][p].T, 1, extrapolate=True)(x)
        np.testing.assert_allclose(phi[p], expected.T, atol=1e-14)


def test_a_knot_row_per_input_is_verified_against_the_inputs():
    import dataclasses

    spec = kancc.load_spec({"model": {"layers": [2, 1]},
                            "layers": [{"degree": 1, "knots": [[0, 1, 2, 3], [0, 1, 2, 3]]}]})
    with pytest.raises(kancc.PassError, match="knots has 2 rows"):
        kancc.compile(dataclasses.replace(spec, widths=(1, 1)))


def test_the_domain_warning_measures_each_input_against_its_own_grid():
    from kancc.tools.domain_check import outside_domain

    spec = kancc.load_spec({"model": {"layers": [2, 1], "dtype": "float64"},
                            "layers": [{"degree": 1, "knots": [[-2, -1, 0, 1, 2],
                                                               ["-0.1", 0, "0.1", "0.2",
                                                                "0.3"]]}]})
    params = kancc.compile(spec).spec_init_params(0)
    x = np.random.default_rng(0).uniform(-1, 1, (400, 2))
    (report,) = outside_domain(spec, params, x)
    assert report.per_input and 0.4 < report.fraction < 0.5  # input 1: 90% outside [0, 0.2]
    assert "outside their grids" in report.describe()


def test_analyze_reports_per_input_layers_and_goes_on():
    from kancc.tools.analyze import analyze

    spec = kancc.load_spec({"model": {"layers": [2, 2, 1]},
                            "layers": [{"degree": 1, "knots": [[0, 1, 2, 3], [0, 1, 2, 4]]},
                                       {"degree": 3, "grid": 4}]})
    text, _ = analyze(spec)
    assert "one knot vector each" in text and "layer 1: bspline order 4" in text


def test_per_input_grids_have_the_grid_limit():
    rows = [[str(i) for i in range(5000)]]
    with pytest.raises(kancc.SpecError, match="at most 4096") as info:
        kancc.load_spec({"model": {"layers": [1, 1]}, "layers": [{"degree": 1,
                                                                  "knots": rows}]})
    assert info.value.path == "layers[0].knots"
