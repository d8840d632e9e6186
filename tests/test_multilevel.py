"""Seed 000: exact prolongation, the refine pass, the ReLU change of basis as a rewrite,
multilevel training (Algorithm 1) and `kancc analyze` / `kancc refine`."""

import random
import warnings
from fractions import Fraction

import numpy as np
import pytest
import sympy

import kancc
from kancc import symbolic
from kancc.cli import main
from kancc.errors import KanccError, KanccWarning, PassError
from kancc.frontend import prolong_params
from kancc.ir import extended_knots
from kancc.spec.refinement import refine_spec
from kancc.symbolic.knots import as_fraction
from kancc.symbolic.prolongation import _blossom_entries, _dyadic_entries

EXACT_REFINE = "refine{factor=%d},expand-layers,derive-stencils,lower-basis,fuse,dce,canonicalize"
RELU = "to-relu-basis,expand-layers,derive-stencils,lower-basis,fuse,dce,canonicalize"


def nested_points(rng: random.Random, coarse_cells: int, extra: int):
    coarse = sorted({Fraction(0), Fraction(1)} |
                    {Fraction(rng.randint(1, 999), 1000) for _ in range(coarse_cells - 1)})
    fine = sorted(set(coarse) | {Fraction(rng.randint(1, 9999), 10000) for _ in range(extra)})
    return tuple(coarse), tuple(fine)


def assert_exact_prolongation(order, coarse, fine):
    """sum_i u_i B_i^coarse == sum_k (P u)_k B_k^fine as polynomials on every fine cell of
    [a, b], for every unit u (exact sympy)."""
    p = symbolic.prolongation(order, coarse, fine)
    coarse_pieces = symbolic.bspline_cell_polynomials(order, coarse)
    fine_pieces = symbolic.bspline_cell_polynomials(order, fine)
    zero = sympy.Poly(0, symbolic.X, domain=sympy.QQ)
    n_cells = len(fine) - 2 * order + 1
    for i in range(len(coarse) - order):
        for cell in range(order - 1, order - 1 + n_cells):
            coarse_cell = max(c for c in range(len(coarse) - 1) if coarse[c] <= fine[cell])
            lhs = coarse_pieces[i].get(coarse_cell, zero)
            rhs = zero
            for k in range(len(fine) - order):
                if p[k, i] != 0 and cell in fine_pieces[k]:
                    rhs += fine_pieces[k][cell] * p[k, i]
            assert (lhs - rhs).is_zero, (order, i, cell)


@pytest.mark.parametrize("order", range(1, 7))
def test_prolongation_is_exact_uniform_and_nonuniform(order):
    uniform = symbolic.uniform_knots
    assert_exact_prolongation(order, uniform(order, 0, 1, 3), uniform(order, 0, 1, 6))
    assert_exact_prolongation(order, uniform(order, -1, 2, 2), uniform(order, -1, 2, 6))
    coarse, fine = nested_points(random.Random(order), 3, 4)
    assert_exact_prolongation(order, extended_knots(coarse, order), extended_knots(fine, order))


@pytest.mark.parametrize("order", range(1, 7))
def test_dyadic_closed_form_equals_the_general_derivation(order):
    coarse = tuple(map(as_fraction, symbolic.uniform_knots(order, -1, 1, 5)))
    fine = tuple(map(as_fraction, symbolic.uniform_knots(order, -1, 1, 10)))
    closed = _dyadic_entries(order, len(coarse) - order, len(fine) - order)
    assert sorted(closed) == sorted(_blossom_entries(order, coarse, fine))
    # the closed form's entries: 2^(1-r) C(r, k)
    assert {v for _, _, v in closed} <= {Fraction(sympy.binomial(order, k), 2 ** (order - 1))
                                         for k in range(order + 1)}


def test_prolongation_handles_1024_cells():
    p = symbolic.prolongation(4, symbolic.uniform_knots(4, -1, 1, 512),
                              symbolic.uniform_knots(4, -1, 1, 1024))
    assert p.shape == (1027, 515)
    entries = symbolic.prolongation_entries(4, symbolic.uniform_knots(4, 0, 1, 341),
                                            symbolic.uniform_knots(4, 0, 1, 1023))
    assert len(entries) > 1023


def test_not_nested_knots_are_refused():
    uniform = symbolic.uniform_knots
    with pytest.raises(symbolic.NotNestedError, match="not nested: coarse grid point 1/3"):
        symbolic.prolongation(3, uniform(3, 0, 1, 3), uniform(3, 0, 1, 4))
    with pytest.raises(symbolic.NotNestedError, match="different domains"):
        symbolic.prolongation(3, uniform(3, 0, 1, 2), uniform(3, 0, 2, 4))


def model_spec(order_pair, dtype="float64"):
    return {"model": {"layers": [2, 3, 2], "dtype": dtype},
            "layers": [{"degree": order_pair[0] - 1, "knots": [0, "0.1", "0.5", 1]},
                       {"degree": order_pair[1] - 1, "grid": 4, "domain": [-2, 2]}]}


@pytest.mark.parametrize("orders", [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 1)])
@pytest.mark.parametrize("factor", [2, 3])
def test_whole_model_refinement_preserves_outputs(orders, factor):
    spec = kancc.load_spec(model_spec(orders))
    program = kancc.compile(spec)
    params = program.init_params(orders[0])
    x = np.random.default_rng(factor).uniform(0, 1, (400, 2))
    expected = program.forward(params, x)
    fine = refine_spec(spec, factor)
    assert [b.grid for b in fine.layers] == [3 * factor, 4 * factor]
    by_spec = kancc.compile(fine).forward(prolong_params(spec, fine, params), x)
    by_pass = kancc.compile(spec, passes=EXACT_REFINE % factor)
    refined = by_pass.forward(by_pass.init_params(orders[0]), x)
    scale = np.abs(expected).max()
    assert np.abs(by_spec - expected).max() <= 1e-12 * scale
    assert np.abs(refined - expected).max() <= 1e-12 * scale


def test_prolong_params_onto_explicit_fine_knots():
    coarse = kancc.load_spec({"model": {"layers": [1, 1], "dtype": "float64"},
                              "basis": {"degree": 3, "knots": [0, "0.25", 1]}})
    fine = kancc.load_spec({"model": {"layers": [1, 1], "dtype": "float64"},
                            "basis": {"degree": 3, "knots": [0, "0.1", "0.25", "0.7", 1]}})
    params = kancc.compile(coarse).init_params(3)
    x = np.linspace(0, 1, 101)[:, None]
    np.testing.assert_allclose(kancc.compile(fine).forward(prolong_params(coarse, fine, params),
                                                           x),
                               kancc.compile(coarse).forward(params, x), rtol=0, atol=1e-13)
    wrong = kancc.load_spec({"model": {"layers": [1, 1], "dtype": "float64"},
                             "basis": {"degree": 3, "knots": [0, "0.3", 1]}})
    with pytest.raises(KanccError, match=r"layers\[0\].*not nested.*1/4"):
        prolong_params(coarse, wrong, params)


def test_refine_pass_needs_the_spec_view_and_bspline_layers():
    spec = model_spec((3, 4))
    with pytest.raises(PassError, match="run it before expand-layers"):
        kancc.compile(spec, passes="expand-layers,refine")
    with pytest.raises(PassError, match="no kan.layer of kind bspline"):
        kancc.compile(spec, passes="to-relu-basis,to-relu-basis")


def test_refine_has_no_inverse_param_map():
    program = kancc.compile(model_spec((3, 4)), passes=EXACT_REFINE % 2)
    with pytest.raises(KanccError, match="irreversibly"):
        program.pipeline.unmap_params(program.init_params(0))


def test_multilevel_level_that_diverges_at_once_is_reported(tmp_path):
    spec = {**MULTILEVEL, "model": {"layers": [2, 3, 1], "dtype": "float32"}}
    start = {"layers.0.coef": np.full((2, 3, 5), 1e20), "layers.1.coef": np.full((3, 1, 5), 1e20)}
    result = kancc.train(spec, params=start, log=None)
    assert result.status == "diverged" and len(result.levels) == 1


def test_cli_refining_a_relu_layer_exits_2(tmp_path, capsys):
    path = tmp_path / "m.toml"
    path.write_text('[model]\nlayers = [1, 1]\n')
    code = main(["compile", str(path), "--passes", "to-relu-basis,refine",
                 "-o", str(tmp_path / "m.py")])
    assert code == 2
    assert "no B-spline grid to refine" in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists()


@pytest.mark.parametrize("order", range(1, 7))
def test_relu_basis_computes_the_same_model(order):
    spec = model_spec((order, 4))
    program = kancc.compile(spec)
    relu = kancc.compile(spec, passes=RELU)
    assert relu.ir.ops[0].attr("kind") == "relu" and relu.ir.ops[0].attr("eval") == "dense"
    params = program.init_params(1)
    x = np.random.default_rng(0).uniform(-0.2, 1.2, (300, 2))  # outside the domain too
    weights = relu.pipeline.map_params(params)
    np.testing.assert_allclose(relu.forward(weights, x), program.forward(params, x),
                               rtol=0, atol=1e-10)
    back = relu.pipeline.unmap_params(weights)
    # the round trip loses digits in proportion to the ReLU weights' size (the truncated
    # power basis grows ill-conditioned with the order: |w| ~ 2e4 at order 6)
    size = max(float(np.abs(w).max()) for w in weights.values())
    for name in params:
        np.testing.assert_allclose(back[name], params[name], rtol=0, atol=1e-13 * (1 + size))


def test_relu_gradient_is_the_preconditioned_spline_gradient():
    """w = A^T u, so dL/dw = A^-1 dL/du: the ReLU geometry's gradient (the multilevel paper,
    Table 1)."""
    spec = {**model_spec((4, 3)), "train": {"loss": "mse"}}
    spline = kancc.compile(spec, training=True)
    relu = kancc.compile(spec, training=True, passes="to-relu-basis," +
                         kancc.passes.PIPELINES["training"])
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1, (64, 2)), rng.normal(size=(64, 2))
    u = spline.init_params(0)
    loss_u, grad_u = spline.value_and_grad(u, x, y)
    loss_w, grad_w = relu.value_and_grad(relu.pipeline.map_params(u), x, y)
    assert loss_w == pytest.approx(loss_u, rel=1e-10)
    from kancc.passes.relu_basis import change_of_basis_matrix

    for index, op in enumerate(o for o in relu.input_ir.ops if o.name == "kan.layer"):
        a = change_of_basis_matrix(op)
        name = f"layers.{index}.coef"
        np.testing.assert_allclose(grad_w[name] @ a.T, grad_u[name], rtol=1e-8,
                                   atol=1e-10 * np.abs(grad_u[name]).max())
    # and against central differences in w
    w = relu.pipeline.map_params(u)
    name, idx, step = "layers.1.coef", (1, 0, 2), 1e-6
    plus, minus = {k: v.copy() for k, v in w.items()}, {k: v.copy() for k, v in w.items()}
    plus[name][idx] += step
    minus[name][idx] -= step
    fd = (relu.value_and_grad(plus, x, y)[0] - relu.value_and_grad(minus, x, y)[0]) / (2 * step)
    assert grad_w[name][idx] == pytest.approx(fd, rel=1e-5)


def test_relu_basis_warns_in_float32_and_triton_refuses():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kancc.compile(model_spec((4, 4), "float32"), passes=RELU)
    messages = [str(w.message) for w in caught if issubclass(w.category, KanccWarning)]
    assert any("f32 weights carry up to" in m for m in messages)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kancc.compile(model_spec((4, 4), "float64"), passes=RELU)
    assert not [w for w in caught if issubclass(w.category, KanccWarning)]
    with pytest.raises(kancc.BackendError, match="numpy backend only"):
        kancc.compile(model_spec((4, 4)), "triton", passes=RELU)


MULTILEVEL = {"model": {"layers": [2, 3, 1], "dtype": "float64"},
              "basis": {"degree": 3, "grid": 2, "domain": [-1, 1]},
              "train": {"optimizer": "lbfgs",
                        "multilevel": {"epochs": [6, 0, 4], "steps_per_epoch": 2}},
              "data": {"source": "sin_sin", "n": 300, "validation": "0.2"}}


@pytest.mark.parametrize("geometry", ["spline", "relu"])
def test_multilevel_training_keeps_the_loss_across_refinement(tmp_path, geometry):
    spec = {**MULTILEVEL, "train": {**MULTILEVEL["train"], "geometry": geometry}}
    result = kancc.train(spec, checkpoint=tmp_path / "m.npz", log=None)
    assert result.status == "done" and len(result.levels) == 2
    first, last = result.levels
    assert first.params["layers.0.coef"].shape[-1] == 2 + 3
    assert last.params["layers.0.coef"].shape[-1] == 8 + 3  # factor 2 twice
    # the prolonged model starts where the coarse one stopped (properly nested)
    assert last.history[0, 1] == pytest.approx(first.history[-1, 1], rel=1e-9)
    assert last.loss < first.loss
    assert result.history[-1, 0] == 12 + 8
    for level in (1, 3):
        checkpoint = kancc.load_checkpoint(tmp_path / f"m.level{level}.npz")
        assert checkpoint.spec.layers[0].grid == 2 ** level
    assert not (tmp_path / "m.level2.npz").exists()  # 0 epochs: passed through
    assert kancc.load_checkpoint(tmp_path / "m.npz").spec.layers[0].grid == 8


@pytest.mark.parametrize("epochs, message", [
    ([], "is empty"), ([4, -1], r"epochs\[1\]: must be between 0"),
    ([0, 0], "nothing to train"), (["a"], "must be an integer")])
def test_bad_schedules_are_refused(epochs, message):
    spec = {**MULTILEVEL, "train": {"optimizer": "lbfgs", "multilevel": {"epochs": epochs}}}
    with pytest.raises(kancc.SpecError, match=message):
        kancc.load_spec(spec)
    with pytest.raises(kancc.SpecError, match="remove train.steps"):
        kancc.load_spec({**MULTILEVEL, "train": {"steps": 3, "multilevel": {"epochs": [1]}}})


def test_cli_bad_schedule_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[model]\nlayers = [1, 1]\n[train]\n[train.multilevel]\nepochs = [3, -2]\n')
    assert main(["train", str(path), "-o", str(tmp_path / "out.npz")]) == 2
    assert "train.multilevel.epochs[1]" in capsys.readouterr().err
    assert not (tmp_path / "out.npz").exists()
    path.write_text('[model]\nlayers = [1, 1]\n[train]\n[train.multilevel]\nepochs = [3]\n')
    assert main(["train", str(path), "--steps", "5", "-o", str(tmp_path / "out.npz")]) == 2
    assert "--steps: the spec's [train.multilevel]" in capsys.readouterr().err


def test_analyze_shows_the_growth_of_the_eigenvalue_ratio(tmp_path, capsys):
    from kancc.tools.analyze import analyze, fitted_exponent, grid_family, spectrum

    for degree, grid in ((0, 10), (0, 50), (2, 10), (2, 50)):
        spec = kancc.load_spec({"model": {"layers": [1, 1]},
                                "basis": {"degree": degree, "grid": grid, "domain": [0, 1]}})
        text, _ = analyze(spec)
        assert "stencil A[i, i..i+" in text and "fitted: ratio ~ n^" in text
        basis = spec.layers[0]
        family = [spectrum(basis.order, p) for p in grid_family(basis)]
        ratios = [s.ratio for s in family]
        assert ratios == sorted(ratios)  # grows with n
        assert fitted_exponent(family[-2:]) == pytest.approx(2 * basis.order, abs=0.4)
    path = tmp_path / "s.toml"
    path.write_text('[model]\nlayers = [1, 1]\n[basis]\ndegree = 2\ngrid = 10\n')
    assert main(["analyze", str(path), "--plot", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "Lemma 4, asymptotically: n^(2r) = n^6" in out
    assert (tmp_path / "plots" / "s_layer0_eigen.png").stat().st_size > 1000


def test_cli_refine_checkpoint(tmp_path, capsys):
    from kancc.storage.checkpoints import load_checkpoint, save_checkpoint

    spec = kancc.load_spec(model_spec((4, 3)))
    params = kancc.compile(spec).init_params(0)
    save_checkpoint(tmp_path / "c.npz", spec, params)
    assert main(["refine", str(tmp_path / "c.npz"), "-o", str(tmp_path / "f.npz")]) == 0
    fine = load_checkpoint(tmp_path / "f.npz")
    assert [b.grid for b in fine.spec.layers] == [6, 8]
    x = np.random.default_rng(0).uniform(0, 1, (50, 2))
    np.testing.assert_allclose(kancc.compile(fine.spec).forward(fine.params, x),
                               kancc.compile(spec).forward(params, x), atol=1e-12)
    other = tmp_path / "other.toml"
    other.write_text('[model]\nlayers = [2, 3, 2]\ndtype = "float64"\n'
                     '[[layers]]\ndegree = 3\nknots = [0, 0.2, 1]\n'
                     '[[layers]]\ndegree = 2\ngrid = 8\ndomain = [-2, 2]\n')
    assert main(["refine", str(tmp_path / "c.npz"), "--spec", str(other),
                 "-o", str(tmp_path / "g.npz")]) == 2
    assert "not nested" in capsys.readouterr().err
    assert not (tmp_path / "g.npz").exists()
