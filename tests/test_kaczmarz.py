"""Seed 001: Kaczmarz and Newton-Kaczmarz training of piecewise-linear KANs.

Oracles: the least-squares fit (numpy lstsq) for one function, the projection formula for
one layer, finite differences of the model for the Jacobian rows, and the compiled training
program's own gradients (``reference_epoch``) for the numba record loop."""

import numpy as np
import pytest

import kancc
from kancc.cli import main
from kancc.errors import KanccError, KanccWarning, SpecError
from kancc.training.kaczmarz import fit_newton_kaczmarz, kaczmarz_epoch, reference_epoch
from kancc.training.kaczmarz_grids import RANGE_MARGIN, predict, refit
from kancc.training.kaczmarz_grids import Grid as _Grid
from kancc.training.kaczmarz_grids import grids_of as _grids
from kancc.training.kaczmarz_grids import renormalize as _renormalize
from kancc.training.kaczmarz_grids import to_cubic as _to_cubic


def nk_spec(widths, grid=4, degree=1, domain=(0, 1), dtype="float64", **kaczmarz):
    return kancc.load_spec({
        "model": {"name": "nk", "layers": list(widths), "dtype": dtype},
        "basis": {"degree": degree, "grid": grid, "domain": list(domain)},
        "train": ({"method": "newton-kaczmarz", "kaczmarz": kaczmarz} if degree == 1
                  else {"loss": "mse"})})


def random_params(spec, rng, scale=0.5):
    return {f"layers.{i}.coef": rng.uniform(-scale, scale, (spec.widths[i], spec.widths[i + 1],
                                                           b.n_basis))
            for i, b in enumerate(spec.layers)}


def output(spec, params, x):
    coefs = [params[f"layers.{i}.coef"] for i in range(spec.n_layers)]
    return predict(coefs, _grids(spec), x)


# -- one function, one layer: Kaczmarz proper -------------------------------------------------

def test_one_function_converges_to_the_least_squares_fit_of_consistent_data():
    """Targets on a piecewise-linear function of the grid: the system is consistent, and
    cyclic projections converge to its (unique) solution, the least-squares fit."""
    rng = np.random.default_rng(0)
    spec = nk_spec([1, 1], grid=7)
    truth = rng.normal(size=(1, 1, 8))
    x = rng.uniform(0, 1, (300, 1))
    y = output(spec, {"layers.0.coef": truth}, x)
    params = {"layers.0.coef": np.zeros((1, 1, 8))}
    for _ in range(60):
        params = kaczmarz_epoch(spec, params, x, y, 1.0)
    design = _grids(spec)[0].basis(x[:, 0])
    least_squares = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(params["layers.0.coef"][0, 0], least_squares, atol=1e-10)
    np.testing.assert_allclose(least_squares, truth[0, 0], atol=1e-10)


def test_small_relaxation_approaches_the_row_normalized_least_squares_fit_of_noisy_data():
    """Inconsistent data: relaxed cyclic projections end within O(alpha) of the least-squares
    fit of the normalized rows (min sum (a_i.c - y_i)^2 / ||a_i||^2), the known limit of
    Kaczmarz's method as alpha -> 0 (on consistent data it is the plain fit, above)."""
    rng = np.random.default_rng(1)
    spec = nk_spec([1, 1], grid=6)
    x = rng.uniform(0, 1, (400, 1))
    y = np.sin(5 * x[:, 0]) + rng.normal(0, 0.05, 400)
    design = _grids(spec)[0].basis(x[:, 0])
    weight = 1 / np.linalg.norm(design, axis=1)
    fit = np.linalg.lstsq(design * weight[:, None], y * weight, rcond=None)[0]
    gaps = []
    for alpha, epochs in ((0.2, 100), (0.02, 300), (0.005, 1000)):
        params = {"layers.0.coef": np.zeros((1, 1, 7))}
        for _ in range(epochs):
            params = kaczmarz_epoch(spec, params, x, y, alpha)
        gaps.append(np.abs(params["layers.0.coef"][0, 0] - fit).max())
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.002


@pytest.mark.parametrize("widths", [[1, 1], [4, 1]])
@pytest.mark.parametrize("alpha", [0.3, 1.0, 1.7])
def test_one_layer_update_scales_the_residual_by_one_minus_alpha(widths, alpha):
    """For a linear model the update is an exact relaxed projection: after updating on a
    record its residual is (1 - alpha) times what it was (one function, or a GAM)."""
    rng = np.random.default_rng(2)
    spec = nk_spec(widths, grid=5)
    params = random_params(spec, rng)
    for _ in range(10):
        x = rng.uniform(-0.2, 1.2, (1, widths[0]))  # edge cells extrapolate: still linear
        y = rng.normal(size=1)
        before = y[0] - output(spec, params, x)[0]
        params = kaczmarz_epoch(spec, params, x, y, alpha)
        after = y[0] - output(spec, params, x)[0]
        assert after == pytest.approx((1 - alpha) * before, abs=1e-12)


# -- Newton-Kaczmarz: the Jacobian row and the IR-derived oracle ------------------------------

@pytest.mark.parametrize("widths,degree", [([2, 5, 1], 1), ([3, 4, 2, 1], 1), ([2, 3, 1], 3)])
def test_update_direction_is_the_jacobian_row_by_finite_differences(widths, degree):
    """One record, tiny alpha: the change of every coefficient is alpha D J / ||J||^2 with
    J the finite-difference derivative of the model output."""
    rng = np.random.default_rng(3)
    spec = nk_spec(widths, grid=4, degree=degree, domain=(-1, 1))
    params = random_params(spec, rng)
    x = rng.uniform(-1, 1, (1, widths[0]))
    y = rng.normal(size=1)
    residual = y[0] - output(spec, params, x)[0]
    alpha = 1e-3
    moved = kaczmarz_epoch(spec, params, x, y, alpha)
    jacobian, eps = {}, 1e-6
    for name, value in params.items():
        row = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += eps
            down[name][index] -= eps
            row[index] = (output(spec, up, x)[0] - output(spec, down, x)[0]) / (2 * eps)
        jacobian[name] = row
    norm = sum(float(np.sum(j * j)) for j in jacobian.values())
    for name in params:
        expected = alpha * residual * jacobian[name] / norm
        np.testing.assert_allclose(moved[name] - params[name], expected, atol=1e-9, rtol=1e-5)


@pytest.mark.parametrize("widths,degree,seed", [([2, 5, 1], 1, 0), ([5, 11, 1], 1, 1),
                                                 ([1, 3, 2, 1], 1, 2), ([3, 7, 1], 3, 3),
                                                 ([2, 1], 3, 4)])
def test_numba_epoch_matches_the_compiled_programs_gradients(widths, degree, seed):
    """The fast path against the reference update computed from the IR's training
    program, over an epoch of records, some outside the domain."""
    rng = np.random.default_rng(seed)
    spec = nk_spec(widths, grid=int(rng.integers(2, 7)), degree=degree, domain=(-1, 2))
    params = random_params(spec, rng)
    x = rng.uniform(-1.3, 2.3, (25, widths[0]))
    y = rng.normal(size=25)
    program = kancc.compile(spec, training=True)
    fast = kaczmarz_epoch(spec, params, x, y, 0.7)
    reference = reference_epoch(program, params, x, y, 0.7)
    for name in params:
        np.testing.assert_allclose(fast[name], reference[name], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("order", [2, 4])
def test_kernel_pieces_are_the_symbolic_b_spline_pieces(order):
    """The kernel's hand-written uniform pieces (and their s-derivatives) equal the exact
    Cox-de Boor polynomials kancc.symbolic derives, on a cell of integer knots (h = 1)."""
    import sympy

    from kancc import symbolic
    from kancc.training.kaczmarz_kernel import _basis, _basis_derivative

    knots = list(range(2 * order))
    cell = order - 1
    pieces = symbolic.bspline_cell_polynomials(order, knots)
    slopes = symbolic.bspline_derivative_cell_polynomials(order, knots)
    s = sympy.Symbol("s")
    values, derivatives = np.empty(order, dtype=object), np.empty(order, dtype=object)
    _basis.py_func(order, s, values, 0)
    _basis_derivative.py_func(order, s, derivatives)
    for i in range(order):
        index = cell - order + 1 + i
        exact = pieces[index][cell].as_expr().subs(symbolic.X, s + cell)
        assert sympy.expand(values[i] - exact) == 0
        exact_slope = slopes[index][cell].as_expr().subs(symbolic.X, s + cell)
        assert sympy.expand(derivatives[i] - exact_slope) == 0


def test_forward_matches_the_numpy_backend():
    """Inside and outside the domain, huge inputs (cells compared as floats, no index
    overflow) and NaN (NaN out) included."""
    rng = np.random.default_rng(5)
    for degree in (1, 3):
        spec = nk_spec([3, 7, 1], grid=5, degree=degree, domain=(-1, 1))
        params = random_params(spec, rng)
        x = rng.uniform(-1.5, 1.5, (200, 3))
        x[0, 0], x[1, 1], x[2, 2], x[3, 0] = 1e20, -1e20, np.nan, 1e5
        expected = kancc.compile(spec).forward(params, x)[:, 0]
        np.testing.assert_allclose(output(spec, params, x), expected, rtol=1e-12, atol=1e-12,
                                   equal_nan=True)


# -- ranges, growth, conversion ---------------------------------------------------------------

def test_refit_onto_a_nested_grid_is_exact_and_onto_one_more_cell_is_close():
    rng = np.random.default_rng(6)
    coef = rng.normal(size=(3, 4, 6))
    old = _Grid(2, 0.0, 0.2, 5)
    points = np.linspace(0, 1, 401)
    values = coef @ old.basis(points).T
    nested = _Grid(2, 0.0, 0.1, 10)
    np.testing.assert_allclose(refit(coef, old, nested) @ nested.basis(points).T, values,
                               atol=1e-12)
    finer = _Grid(2, 0.0, 1 / 6, 6)  # 5 -> 6 cells: not nested, least squares
    error = np.abs(refit(coef, old, finer) @ finer.basis(points).T - values).max()
    assert error < 0.25 * np.abs(np.diff(coef, axis=-1)).max()


def _seen_for(a_wanted, b_wanted, shape):
    """A ``seen`` range whose 1% margins widen it to exactly [a_wanted, b_wanted]."""
    width = (b_wanted - a_wanted) / (1 + 2 * RANGE_MARGIN)
    seen = np.full(shape, [np.inf, -np.inf])
    seen[1, :, 0] = a_wanted + RANGE_MARGIN * width
    seen[1, :, 1] = seen[1, :, 0] + width
    return seen


def test_renormalizing_folds_the_map_exactly_into_the_previous_layer():
    """Hidden sums move onto the next layer's domain. The map is folded exactly into the
    previous layer; the next layer's functions are refitted to the moved arguments, which
    is exact when the new cells subdivide the old ones and the sums stay in the new range
    (here: they lie in [0, 0.5], which becomes the domain) and a small least-squares error
    for a small move of smooth functions."""
    rng = np.random.default_rng(7)
    spec = nk_spec([3, 4, 1], grid=4, domain=(0, 1))
    params = {"layers.0.coef": rng.uniform(0.01, 0.16, (3, 4, 5)),  # sums in [0.03, 0.48]
              "layers.1.coef": rng.normal(size=(4, 1, 5))}
    x = rng.uniform(0, 1, (500, 3))
    grids = _grids(spec)
    coefs = [params["layers.0.coef"].copy(), params["layers.1.coef"].copy()]
    before = predict(coefs, grids, x)
    _renormalize(coefs, grids, _seen_for(0.0, 1.0, (2, 4, 2)))  # the identity map
    np.testing.assert_allclose(predict(coefs, grids, x), before, atol=1e-12)
    _renormalize(coefs, grids, _seen_for(0.0, 0.5, (2, 4, 2)))  # nested: cells halve
    np.testing.assert_allclose(predict(coefs, grids, x), before, atol=1e-12)
    smooth = np.sin(np.linspace(0, 2, 5))  # a smooth outer function, moved a little
    coefs = [params["layers.0.coef"].copy(), np.tile(smooth, (4, 1, 1))]
    before = predict(coefs, grids, x)
    _renormalize(coefs, grids, _seen_for(-0.05, 1.05, (2, 4, 2)))
    # a piecewise-linear refit of sin on cells of h = 0.5 (old units) is within about the
    # interpolation bound h^2 max|f''| / 8 = 0.031 of the old function
    assert np.abs(predict(coefs, grids, x) - before).max() < 0.031


def test_renormalizing_a_deeper_chain_folds_every_hidden_layer_exactly():
    """Both hidden layers' sums lie in [0.25, 0.75] (by construction of the coefficients):
    mapping that onto [0, 1] halves every cell, so each refit is exact."""
    rng = np.random.default_rng(16)
    spec = nk_spec([2, 4, 3, 1], grid=4, domain=(0, 1))
    x = rng.uniform(0, 1, (300, 2))
    grids = _grids(spec)
    coefs = [rng.uniform(0.13, 0.37, (2, 4, 5)), rng.uniform(0.065, 0.185, (4, 3, 5)),
             rng.normal(size=(3, 1, 5))]
    before = predict(coefs, grids, x)
    seen = np.full((3, 4, 2), [np.inf, -np.inf])
    width = 0.5 / (1 + 2 * RANGE_MARGIN)
    seen[1:, :, 0] = 0.25 + RANGE_MARGIN * width  # [0.25, 0.75] after the margins: nested
    seen[1:, :, 1] = seen[1:, :, 0] + width
    _renormalize(coefs, grids, seen)
    np.testing.assert_allclose(predict(coefs, grids, x), before, atol=1e-12)


def test_a_nearly_constant_unit_widens_but_never_zooms():
    """A hidden unit whose seen range is degenerate (one record, constant inputs) keeps
    its domain: zooming onto it would divide the previous layer by ~0."""
    rng = np.random.default_rng(17)
    spec = nk_spec([2, 3, 1], grid=4, domain=(0, 1))
    params = random_params(spec, rng, scale=0.2)
    coefs = [params["layers.0.coef"].copy(), params["layers.1.coef"].copy()]
    grids = _grids(spec)
    seen = np.full((2, 3, 2), [np.inf, -np.inf])
    seen[1, :, :] = 0.4  # a single value
    _renormalize(coefs, grids, seen)
    np.testing.assert_array_equal(coefs[0], params["layers.0.coef"])
    one_record = nk_spec([2, 3, 1], grid=2, epochs=5, cells=[4, 4])
    x = np.array([[0.3, 0.6]])
    result = kancc.train(one_record, (x, np.array([0.7])), log=None)
    assert result.status == "done" and result.loss < 1e-6
    assert all(np.isfinite(v).all() for v in result.params.values())


def test_growing_one_cell_stays_within_the_stated_tolerance():
    """n -> n+1 cells is a least-squares refit, not exact: within h_new / 2 times the
    largest slope change of the old function (DESIGN section 5); nested growth is exact."""
    rng = np.random.default_rng(18)
    coef = np.cumsum(rng.normal(size=(3, 2, 8)), axis=-1)  # random walks: kinks everywhere
    old = _Grid(2, 0.0, 1 / 7, 7)
    points = np.linspace(0, 1, 701)
    values = coef @ old.basis(points).T
    new = _Grid(2, 0.0, 1 / 8, 8)
    error = np.abs(refit(coef, old, new) @ new.basis(points).T - values).max(axis=-1)
    slope_change = np.abs(np.diff(coef, n=2, axis=-1)).max(axis=-1) / old.h
    assert np.all(error <= new.h / 2 * slope_change)
    assert np.all(error > 0)  # not nested: the refit really is approximate


def test_piecewise_linear_to_cubic_keeps_outputs_close():
    rng = np.random.default_rng(8)
    spec = nk_spec([2, 5, 1], grid=12, domain=(0, 1))
    x = rng.uniform(0, 1, (2000, 2))
    y = np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1])
    fit = fit_newton_kaczmarz(spec, x, y, x[:0], y[:0])
    coefs = [fit.params[f"layers.{i}.coef"].astype(float) for i in range(2)]
    grids = _grids(fit.spec)
    linear = predict(coefs, grids, x)
    _to_cubic(coefs, grids)
    cubic = predict(coefs, grids, x)
    # a cubic cannot follow a kink: the stated tolerance is 1% of the range in RMS and 5%
    # at worst (measured: 0.4% and 3.3%), and training in the cubic phase goes on from there
    change = cubic - linear
    assert np.sqrt(np.mean(change ** 2)) < 0.01 * np.ptp(y)
    assert np.abs(change).max() < 0.05 * np.ptp(y)


# -- end to end -------------------------------------------------------------------------------

def test_classic_kolmogorov_arnold_model_trains_and_compiles():
    """[2, 5, 1] (2m+1 outer functions), nodes grown, then cubic; the trained model is an
    ordinary spec whose compiled program gives the loss the trainer reports."""
    spec = kancc.load_spec({
        "model": {"name": "kar", "layers": [2, 5, 1], "dtype": "float64"},
        "basis": {"degree": 1, "grid": 1, "domain": [-1, 1]},
        "train": {"method": "newton-kaczmarz", "kaczmarz": {
            "epochs": 30, "cells": [6, 8], "spline_epochs": 20, "alpha": 0.5}},
        "data": {"source": "sin_sin", "n": 3000, "validation": 0.3}})
    result = kancc.train(spec, log=None)
    final = result.program.spec
    assert [b.grid for b in final.layers] == [6, 8]
    assert [b.degree for b in final.layers] == [3, 3]
    assert result.loss < 5e-4 and result.validation_loss < 5e-4  # measured 1.1e-4 both
    assert result.history.shape == (50, 3)


def test_inputs_outside_the_first_domain_are_warned_about():
    spec = nk_spec([2, 3, 1], grid=2, domain=(0, 1), epochs=1)
    x = np.array([[0.5, 0.5], [1.5, 0.2], [0.1, 0.3], [0.2, 0.2]])
    with pytest.warns(KanccWarning, match="12.5% of the training inputs lie outside"):
        fit_newton_kaczmarz(spec, x, x[:, 0], x[:0], x[:0, 0])


def test_gam_fits_a_sum_of_functions():
    rng = np.random.default_rng(9)
    spec = nk_spec([3, 1], grid=10, epochs=30, alpha=1)
    x = rng.uniform(0, 1, (3000, 3))
    y = np.sin(4 * x[:, 0]) + x[:, 1] ** 2 - np.abs(x[:, 2] - 0.5)
    fit = fit_newton_kaczmarz(spec, x, y, x[:0], y[:0])
    residual = y - kancc.compile(fit.spec).forward(fit.params, x)[:, 0]
    assert np.sqrt(np.mean(residual ** 2)) < 0.01


def test_deeper_chain_reduces_the_loss():
    rng = np.random.default_rng(10)
    spec = nk_spec([2, 4, 3, 1], grid=4, epochs=20, alpha=0.3)
    x = rng.uniform(0, 1, (1500, 2))
    y = np.exp(-((x[:, 0] - 0.5) ** 2 + (x[:, 1] - 0.4) ** 2) * 4)
    fit = fit_newton_kaczmarz(spec, x, y, x[:0], y[:0])
    assert fit.history[-1, 1] < fit.history[0, 1] / 5


def test_training_is_deterministic_given_the_seed():
    rng = np.random.default_rng(11)
    spec = nk_spec([2, 5, 1], grid=2, epochs=5, cells=[4, 4])
    x = rng.uniform(0, 1, (300, 2))
    y = x[:, 0] * x[:, 1]
    first = fit_newton_kaczmarz(spec, x, y, x, y)
    second = fit_newton_kaczmarz(spec, x, y, x, y)
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])


# -- bad input --------------------------------------------------------------------------------

def test_a_layer_with_several_outputs_is_refused():
    with pytest.raises(SpecError, match="one output"):
        nk_spec([3, 2])


@pytest.mark.parametrize("change,field", [
    ({"kaczmarz": {"cells": [0, 3]}}, "train.kaczmarz.cells[0]"),
    ({"kaczmarz": {"cells": [3, 50], "epochs": 10}}, "train.kaczmarz.cells[1]"),
    ({"kaczmarz": {"cells": [3]}}, "train.kaczmarz.cells"),
    ({"kaczmarz": {"cells": [1, 3]}}, "train.kaczmarz.cells[0]"),
    ({"kaczmarz": {"alpha": 2}}, "train.kaczmarz.alpha"),
    ({"kaczmarz": {"epochs": 0}}, "train.kaczmarz.epochs"),
    ({"kaczmarz": {"skip_below": -1}}, "train.kaczmarz.skip_below"),
    ({"kaczmarz": {"nodes": 3}}, "train.kaczmarz"),
    ({"loss": "cross_entropy"}, "train.loss"),
    ({"multilevel": {"epochs": [1, 1]}}, "train.multilevel"),
])
def test_bad_kaczmarz_settings_name_the_field(change, field):
    train = {"method": "newton-kaczmarz", **change}
    raw = {"model": {"layers": [2, 3, 1]}, "basis": {"degree": 1, "grid": 2}, "train": train}
    with pytest.raises(SpecError) as error:
        kancc.load_spec(raw)
    assert field in str(error.value)


def test_models_newton_kaczmarz_cannot_train_are_refused():
    base = {"method": "newton-kaczmarz"}
    with pytest.raises(SpecError, match="layers\\[0\\].*degree 1"):
        kancc.load_spec({"model": {"layers": [2, 1]}, "basis": {"degree": 3}, "train": base})
    with pytest.raises(SpecError, match="kaczmarz.*applies only"):
        kancc.load_spec({"model": {"layers": [2, 1]}, "train": {"kaczmarz": {}}})
    spec = nk_spec([2, 3, 2, 1])
    with pytest.raises(KanccError, match="triton target takes"):
        kancc.train(spec, (np.zeros((4, 2)), np.zeros(4)), target="triton", log=None)


def _write_spec(path, data_line, cells="[3, 3]"):
    path.write_text('[model]\nlayers = [2, 3, 1]\ndtype = "float64"\n[basis]\ndegree = 1\n'
                    'grid = 2\ndomain = [0, 1]\n[train]\nmethod = "newton-kaczmarz"\n'
                    f'[train.kaczmarz]\nepochs = 3\ncells = {cells}\n[data]\n{data_line}\n')


@pytest.mark.parametrize("csv,cells,what", [
    ("0.1,0.2,0.3\n0.2,0.5\n", "[3, 3]", "line 2"),                    # a short record
    ("0.1,0.2,nan\n0.2,0.5,0.1\n", "[3, 3]", "column 3: 'nan' is not finite"),  # NaN target
    ("", "[3, 3]", "empty"),
    ("0.1,0.2,0.3\n", "[0, 3]", "train.kaczmarz.cells[0]"),             # zero nodes
])
def test_cli_bad_input_exits_2_without_output(tmp_path, capsys, csv, cells, what):
    (tmp_path / "d.csv").write_text(csv)
    _write_spec(tmp_path / "m.toml", 'source = "d.csv"', cells)
    out = tmp_path / "out.npz"
    assert main(["train", str(tmp_path / "m.toml"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert what in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_trains_and_writes_a_checkpoint_of_the_trained_model(tmp_path, capsys):
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 1, (400, 2))
    np.save(tmp_path / "d.npy", np.column_stack([x, x[:, 0] + x[:, 1] ** 2]))
    _write_spec(tmp_path / "m.toml", 'source = "d.npy"\nvalidation = 0.25')
    out = tmp_path / "out.npz"
    assert main(["train", str(tmp_path / "m.toml"), "-o", str(out)]) == 0
    checkpoint = kancc.load_checkpoint(out)
    assert [b.grid for b in checkpoint.spec.layers] == [3, 3]
    assert checkpoint.spec.train.method == "gradient"
    assert "newton-kaczmarz" in capsys.readouterr().err


def test_gradient_settings_are_refused_for_newton_kaczmarz(tmp_path, capsys):
    with pytest.raises(SpecError, match="train.steps.*gradient training"):
        kancc.load_spec({"model": {"layers": [2, 1]}, "basis": {"degree": 1},
                         "train": {"method": "newton-kaczmarz", "steps": 10}})
    _write_spec(tmp_path / "m.toml", 'source = "polar5"')
    out = tmp_path / "out.npz"
    assert main(["train", str(tmp_path / "m.toml"), "--lr", "0.1", "-o", str(out)]) == 2
    assert "--lr: applies to gradient training" in capsys.readouterr().err
    assert not out.exists()


def test_cli_seed_override_works_for_newton_kaczmarz(tmp_path):
    rng = np.random.default_rng(19)
    x = rng.uniform(0, 1, (200, 2))
    np.save(tmp_path / "d.npy", np.column_stack([x, x[:, 0] * x[:, 1]]))
    _write_spec(tmp_path / "m.toml", 'source = "d.npy"')
    for seed in ("1", "2"):
        out = tmp_path / f"s{seed}.npz"
        assert main(["train", str(tmp_path / "m.toml"), "--seed", seed, "-o", str(out),
                     "--quiet"]) == 0
    first = kancc.load_checkpoint(tmp_path / "s1.npz").params["layers.0.coef"]
    second = kancc.load_checkpoint(tmp_path / "s2.npz").params["layers.0.coef"]
    assert not np.array_equal(first, second)


def test_a_newton_kaczmarz_spec_round_trips_through_a_checkpoint_dict():
    spec = nk_spec([3, 4, 1], grid=2, epochs=7, cells=[5, 6], spline_epochs=3, alpha=0.25,
                   skip_below=0.01, renormalize=False)
    assert kancc.load_spec(kancc.spec.spec_to_dict(spec)) == spec


def test_divergence_keeps_the_last_finite_parameters_and_exits_1(tmp_path, capsys):
    """Targets near 1e200 make the squared residuals overflow: the run stops at the first
    non-finite epoch, returns the parameters before it, and the CLI exits 1."""
    rng = np.random.default_rng(13)
    x = rng.uniform(0, 1, (400, 2))
    y = 1e200 * np.sin(40 * x[:, 0])
    spec = nk_spec([2, 6, 6, 1], grid=3, epochs=30, alpha=1.99, renormalize=False)
    result = kancc.train(spec, (x, y), log=None)
    assert result.status == "diverged" and "were not finite" in result.message
    assert all(np.isfinite(v).all() for v in result.params.values())
    np.save(tmp_path / "d.npy", np.column_stack([x, y]))
    (tmp_path / "m.toml").write_text(
        '[model]\nlayers = [2, 6, 6, 1]\ndtype = "float64"\n[basis]\ndegree = 1\ngrid = 3\n'
        'domain = [0, 1]\n[train]\nmethod = "newton-kaczmarz"\n[train.kaczmarz]\n'
        'epochs = 30\nalpha = 1.99\nrenormalize = false\n[data]\nsource = "d.npy"\n')
    assert main(["train", str(tmp_path / "m.toml"), "-o", str(tmp_path / "o.npz"),
                 "--quiet"]) == 1


triton_missing = pytest.mark.skipif(not kancc.backends.triton_installed(),
                                    reason="needs triton")


@triton_missing
@pytest.mark.parametrize("widths,order,skip", [([3, 5, 1], 2, 0.0), ([3, 5, 1], 4, 0.0),
                                               ([4, 1], 2, 0.0), ([2, 3, 1], 4, 0.3)])
def test_triton_epoch_matches_the_numba_epoch(widths, order, skip):
    """One Triton program walking the records (the interpreter without a GPU) against the
    numba loop: coefficients, running loss, seen ranges and last residuals."""
    from kancc.training.kaczmarz_kernel import epoch_kernel
    from kancc.training.kaczmarz_triton import triton_epoch

    rng = np.random.default_rng(14)
    n_basis = [3 + order - 1, 4 + order - 1]
    coefs = tuple(rng.uniform(-0.5, 0.5, (widths[i], widths[i + 1], n_basis[i]))
                  for i in range(len(widths) - 1))
    layers = len(coefs)
    lo, n = np.full(layers, -1.0), np.array([3, 4][:layers])
    x, y = rng.uniform(-1.3, 1.3, (12, widths[0])), rng.normal(size=12)
    last = rng.normal(size=12) if skip else np.full(12, np.inf)
    fast, gpu = tuple(c.copy() for c in coefs), tuple(c.copy() for c in coefs)
    seen_fast = np.full((layers, max(widths), 2), [np.inf, -np.inf])
    seen_gpu, last_fast, last_gpu = seen_fast.copy(), last.copy(), last.copy()
    total_fast = epoch_kernel(order)(fast, lo, n / 2.0, n, x, y, 0.7, skip, seen_fast,
                                     last_fast)
    total_gpu = triton_epoch(gpu, lo, n / 2.0, n, x, y, 0.7, skip, seen_gpu, last_gpu,
                             order=order)
    assert total_gpu == pytest.approx(total_fast, rel=1e-12)
    for a, b in zip(fast, gpu):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.isfinite(seen_gpu), np.isfinite(seen_fast))
    finite = np.isfinite(seen_fast)
    np.testing.assert_allclose(seen_gpu[finite], seen_fast[finite], rtol=1e-12)
    np.testing.assert_allclose(last_gpu, last_fast, rtol=1e-12, atol=1e-14)


@triton_missing
def test_training_on_the_triton_target_matches_numpy():
    rng = np.random.default_rng(15)
    spec = nk_spec([2, 3, 1], grid=2, epochs=2, cells=[3, 3], spline_epochs=1)
    x = rng.uniform(0, 1, (10, 2))
    y = x[:, 0] * x[:, 1]
    on_numpy = kancc.train(spec, (x, y), log=None)
    on_triton = kancc.train(spec, (x, y), target="triton", log=None)
    for name in on_numpy.params:
        np.testing.assert_allclose(on_triton.params[name], on_numpy.params[name], rtol=1e-10,
                                   atol=1e-12)
