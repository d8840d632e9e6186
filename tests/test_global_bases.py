"""The global basis kinds of the LoTRA paper: Chebyshev, Legendre, Taylor and Fourier of tanh(x).

Oracles: numpy.polynomial (its own Chebyshev / Legendre / power series routines and their
derivatives), np.cos / np.sin, central differences, and NumPy vs Triton (interpreter)."""

import numpy as np
import pytest
import sympy
from numpy.polynomial import chebyshev, legendre, polynomial

import kancc
from kancc.backends import triton_installed
from kancc.errors import SpecError
from kancc.ir import parse, to_text, verify
from kancc.ir.verifier import VerifyError
from kancc.spec import load_spec
from kancc.symbolic import basis_functions, recurrence
from kancc.tools.differential_check import differential_check, global_basis_oracle
from kancc.tools.random_specs import random_global_spec

KINDS = ("chebyshev", "legendre", "taylor", "fourier")
EXACT = "expand-layers,derive-stencils,lower-basis,fuse,autodiff{wrt=params+input},dce," \
        "canonicalize"


def one_edge(kind: str, degree: int) -> dict:
    return {"model": {"layers": [1, 1], "dtype": "float64"},
            "basis": {"kind": kind, "degree": degree}, "train": {"loss": "mse"}}


def derivative_oracle(kind: str, count: int, x: np.ndarray) -> np.ndarray:
    """d/dx of each basis function at x, from numpy's derivative routines (t = tanh x)."""
    t = np.tanh(x)
    if kind == "fourier":
        columns = [np.zeros_like(t)]
        for j in range(1, (count - 1) // 2 + 1):
            columns += [-j * np.pi * np.sin(j * np.pi * t), j * np.pi * np.cos(j * np.pi * t)]
        dt = np.stack(columns, axis=1)
    else:
        module = {"chebyshev": (chebyshev.chebval, chebyshev.chebder),
                  "legendre": (legendre.legval, legendre.legder),
                  "taylor": (polynomial.polyval, polynomial.polyder)}[kind]
        value, der = module
        dt = np.stack([value(t, der(unit)) for unit in np.eye(count)], axis=1)
    return dt * (1 - t * t)[:, None]


@pytest.mark.parametrize("kind", ["chebyshev", "legendre", "taylor"])
def test_the_recurrence_is_derived_from_sympy_and_matches_numpy(kind):
    steps = recurrence(kind, 9)
    phis = basis_functions(kind, 9)
    converter = {"chebyshev": chebyshev.cheb2poly, "legendre": legendre.leg2poly,
                 "taylor": lambda c: c}[kind]
    for k, phi in enumerate(phis):
        coeffs = [float(phi.coeff(sympy.Symbol("t"), d)) if d else float(phi.subs("t", 0))
                  for d in range(9)]
        np.testing.assert_allclose(coeffs, np.pad(converter(np.eye(9)[k]), (0, 9))[:9],
                                   atol=1e-12)
    assert steps[1] == ((2, 1) if kind == "chebyshev" else
                        ((3 / 2, 1 / 2) if kind == "legendre" else (1, 0)))


@pytest.mark.parametrize("target", ["numpy", "triton"])
@pytest.mark.parametrize("kind", KINDS)
def test_values_and_derivatives_equal_numpys_oracles(kind, target):
    if target == "triton" and not triton_installed():
        pytest.skip("needs torch and triton")
    degree = 3 if kind == "fourier" else 7
    spec = one_edge(kind, degree)
    count = load_spec(spec).layers[0].n_basis
    program = kancc.compile(spec, target, training=True, passes=EXACT)
    x = np.concatenate([np.linspace(-4, 4, 37), [0.0, 30.0, -30.0]])[:, None]
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((1, 1, count))
    values = global_basis_oracle(kind, count, x[:, 0])
    np.testing.assert_allclose(kancc.compile(spec, target).forward({"layers.0.coef": coef}, x),
                               values @ coef[0].T, rtol=1e-12, atol=1e-12)
    # mse against y = 0: dL/dx = 2 f f' / B, dL/dcoef = 2 sum_b f B_i / B
    f = values @ coef[0, 0]
    _, grads = program.value_and_grad({"layers.0.coef": coef}, x, np.zeros_like(x))
    slope = derivative_oracle(kind, count, x[:, 0]) @ coef[0, 0]
    np.testing.assert_allclose(grads["x"][:, 0], 2 * f * slope / len(x), atol=1e-12)
    np.testing.assert_allclose(grads["layers.0.coef"][0, 0], 2 * values.T @ f / len(x),
                               atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_differential_check_passes_on_random_global_specs(seed):
    targets = ("numpy", "triton") if triton_installed() else ("numpy",)
    report = differential_check(random_global_spec(seed), samples=33, seed=seed,
                                targets=targets)
    assert report.ok, "\n".join(report.lines())


def test_the_ir_shows_the_recurrence_and_reads_back():
    program = kancc.compile(random_global_spec(2), training=True)
    for _, text in program.stages:
        assert to_text(parse(text)) == text
    text = to_text(kancc.compile(one_edge("legendre", 3)).ir)
    assert "kind=legendre, order=4, grid=1" in text
    assert "recurrence=[[1, 0], [3/2, 1/2], [5/3, 2/3]]" in text


@pytest.mark.parametrize("change,message", [
    (("eval=recurrence", "eval=horner"), "eval=horner does not apply to kind=legendre"),
    (("recurrence=[[1, 0], [3/2, 1/2], [5/3, 2/3]]", "recurrence=[[1, 0]]"),
     "recurrence must be 3 pairs"),
    (("grid=1", "grid=2"), "a global basis has grid=1"),
])
def test_the_verifier_checks_global_attributes(change, message):
    text = to_text(kancc.compile(one_edge("legendre", 3)).ir)
    assert change[0] in text
    with pytest.raises(VerifyError, match=message):
        verify(parse(text.replace(*change)))


@pytest.mark.parametrize("basis,field,message", [
    ({"kind": "chebyshev", "grid": 4}, "basis.grid", "does not apply"),
    ({"kind": "fourier", "domain": [0, 1]}, "basis.domain", "does not apply"),
    ({"kind": "taylor", "degree": 40}, "basis.degree", "between 0 and 12"),
    ({"kind": "hermite"}, "basis.kind", "must be one of"),
])
def test_bad_global_bases_name_the_field(basis, field, message):
    with pytest.raises(SpecError, match=message) as error:
        load_spec({"model": {"layers": [2, 1]}, "basis": basis})
    assert error.value.path == field


def test_a_layer_may_switch_to_a_global_kind_under_a_bspline_default():
    spec = load_spec({"model": {"layers": [2, 3, 1]}, "basis": {"grid": 7, "domain": [0, 1]},
                      "layers": [{}, {"kind": "taylor", "degree": 2}]})
    assert spec.layers[0].grid == 7 and spec.layers[1].n_basis == 3
    with pytest.raises(SpecError) as error:
        load_spec({"model": {"layers": [2, 1]}, "layers": [{"kind": "taylor", "grid": 3}]})
    assert error.value.path == "layers[0].grid"


def test_global_bases_refuse_what_needs_a_grid():
    spec = {"model": {"layers": [2, 1]}, "basis": {"kind": "chebyshev"}}
    for train, field in [({"multilevel": {"epochs": [2, 2]}}, "train.multilevel"),
                         ({"geometry": "relu"}, "train.geometry")]:
        with pytest.raises(SpecError) as error:
            load_spec({**spec, "train": train})
        assert error.value.path == field


def test_a_chebyshev_kan_trains_and_round_trips_its_checkpoint(tmp_path):
    spec = {"model": {"layers": [2, 6, 1], "dtype": "float64"},
            "basis": {"kind": "chebyshev", "degree": 5},
            "train": {"steps": 150, "lr": 0.02}, "data": {"source": "sin_sin", "n": 300}}
    result = kancc.train(spec, checkpoint=tmp_path / "c.ckpt.npz", log=None)
    assert result.history[-1, 1] < 0.2 * result.history[0, 1]
    loaded = kancc.load_checkpoint(tmp_path / "c.ckpt.npz", load_spec(spec))
    assert loaded.spec.layers == load_spec(spec).layers


@pytest.mark.skipif(not triton_installed(), reason="needs torch and triton")
@pytest.mark.parametrize("kind", ["legendre", "fourier"])
def test_tucker_layers_of_a_global_kind_agree_across_backends(kind):
    spec = {"model": {"layers": [3, 4, 2], "dtype": "float64"},
            "basis": {"kind": kind, "degree": 2, "tucker": 0.5}}
    numpy_program = kancc.compile(spec, training=True, passes=EXACT)
    triton_program = kancc.compile(spec, "triton", training=True, passes=EXACT)
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(v.shape) for k, v in numpy_program.init_params(0).items()}
    x, y = rng.uniform(-2, 2, (9, 3)), rng.standard_normal((9, 2))
    loss, grads = numpy_program.value_and_grad(params, x, y)
    t_loss, t_grads = triton_program.value_and_grad(params, x, y)
    assert t_loss == pytest.approx(loss, rel=1e-12)
    for name, grad in grads.items():
        np.testing.assert_allclose(t_grads[name], grad, rtol=1e-10, atol=1e-12)
