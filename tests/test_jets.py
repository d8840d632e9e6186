"""Jets: a program's input derivatives (y, dy/dx_k, d2y/dx_k2) through the jet pass.

Oracles: scipy's BSpline derivatives per edge and numpy.polynomial's derivative routines
for the global bases, composed layer by layer by the chain rule in this file (independent of
the emitted code); exact sympy identities for the derivative pieces; central differences for
standardization; the unfactorized twin for Tucker and LoTRA layers; NumPy vs torch.
"""

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial import chebyshev, legendre, polynomial
from scipy.interpolate import BSpline

import kancc
from kancc import symbolic
from kancc.backends import triton_installed
from kancc.errors import KanccError, PassError
from kancc.ir import extended_knots, grid_points
from kancc.spec import load_spec
from kancc.tools.random_specs import random_spec, random_tucker_spec
from kancc.tools.unfactorized import unfactorized_model

ROWS = 23


def silu_jet(x: np.ndarray) -> tuple[np.ndarray, ...]:
    s = 1.0 / (1.0 + np.exp(-x))
    return x * s, s * (1 + x * (1 - s)), s * (1 - s) * (2 + x * (1 - 2 * s))


def bspline_edges(layer, coef: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(f, f', f'') [B, in, out] of every edge, by scipy's BSpline on the extended knots."""
    attrs = {"grid": layer.grid, "domain": layer.domain, "knots": layer.knots}
    knots = np.array([float(t) for t in extended_knots(grid_points(attrs), layer.order)])
    n, n_in, n_out = x.shape[0], coef.shape[0], coef.shape[1]
    out = np.zeros((3, n, n_in, n_out))
    for p in range(n_in):
        for q in range(n_out):
            spline = BSpline(knots, coef[p, q], layer.degree, extrapolate=True)
            for nu in range(3):
                out[nu, :, p, q] = spline(x[:, p], nu=nu) if nu <= layer.degree else 0.0
    return tuple(out)


def global_edges(layer, coef: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(f, f', f'') of every edge of a global-basis layer: numpy's polynomial routines in
    t = tanh(x), then d/dx = t' d/dt with t' = 1 - t^2, t'' = -2 t t'."""
    t = np.tanh(x)[..., None]
    count = coef.shape[2]
    if layer.kind == "fourier":
        j = np.arange(1, (count - 1) // 2 + 1) * np.pi
        cos, sin = np.cos(j * t), np.sin(j * t)
        zero = np.zeros_like(t)
        interleave = lambda a, b: np.stack([a, b], axis=-1).reshape(*a.shape[:-1], -1)  # noqa
        per_t = [np.concatenate([zero + 1, interleave(cos, sin)], axis=-1),
                 np.concatenate([zero, interleave(-j * sin, j * cos)], axis=-1),
                 np.concatenate([zero, interleave(-j * j * cos, -j * j * sin)], axis=-1)]
    else:
        value, der = {"chebyshev": (chebyshev.chebval, chebyshev.chebder),
                      "legendre": (legendre.legval, legendre.legder),
                      "taylor": (polynomial.polyval, polynomial.polyder)}[layer.kind]
        units = np.eye(count)
        per_t = [np.stack([value(t[..., 0], der(u, m) if m else u) for u in units], axis=-1)
                 for m in range(3)]
    dt = 1 - t * t
    per_x = [per_t[0], per_t[1] * dt, per_t[2] * dt * dt + per_t[1] * (-2 * t * dt)]
    return tuple(np.einsum("bpi,pqi->bpq", basis, coef) for basis in per_x)


def oracle_jet(spec, params: dict, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(y, dy, d2y) composed layer by layer: h_q = sum_p f_qp(x_p) (+ the base branch),
    dh = sum_p f' dx_p, d2h = sum_p f'' dx_p^2 + f' d2x_p."""
    n, d = x.shape
    value, dx, d2x = x, np.broadcast_to(np.eye(d), (n, d, d)), np.zeros((n, d, d))
    for index, layer in enumerate(spec.layers):
        coef = params[f"layers.{index}.coef"]
        edges = bspline_edges if layer.kind == "bspline" else global_edges
        f, f1, f2 = edges(layer, coef, value)
        if layer.base == "silu":
            w = params[f"layers.{index}.base"]
            s0, s1, s2 = (s[:, :, None] * w for s in silu_jet(value))
            f, f1, f2 = f + s0, f1 + s1, f2 + s2
        value, dx, d2x = (f.sum(axis=1), np.einsum("bpq,bpk->bqk", f1, dx),
                          np.einsum("bpq,bpk->bqk", f2, dx * dx)
                          + np.einsum("bpq,bpk->bqk", f1, d2x))
    return value, dx, d2x


def close(actual: np.ndarray, expected: np.ndarray, rtol: float) -> None:
    """Equal to rtol relative to the largest entry of the oracle's channel."""
    scale = max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


def inputs_of(spec, seed: int) -> np.ndarray:
    """Rows inside the first layer's domain (later layers may extrapolate: both sides use
    the edge cell's polynomial)."""
    a, b = (float(v) for v in spec.layers[0].domain)
    return np.random.default_rng(seed).uniform(a, b, (ROWS, spec.widths[0]))


def spline_spec(seed: int) -> dict:
    """A random float64 spec of 1-3 layers with degrees 2-5, uniform or non-uniform knots."""
    spec = random_spec(seed, dtype="float64", max_width=5, max_grid=7)
    rng = random.Random(seed)
    for layer in spec["layers"]:
        layer["degree"] = rng.randint(2, 5)
    return spec


def test_second_and_third_derivative_pieces_equal_scipy():
    knots = [Fraction(v) for v in (-5, -4, -3, -2, -1, 0, Fraction(1, 3), 1, 2, 3, 4, 5, 6)]
    for order in range(1, 7):
        t = knots[6 - order:len(knots) - 6 + order]
        floats = np.array([float(v) for v in t])
        for level in (2, 3):
            tables = symbolic.local_derivative_pieces(order, t, level)
            for k, table in enumerate(tables):
                start, h = floats[order - 1 + k], floats[order + k] - floats[order - 1 + k]
                s = np.linspace(0.05, 0.95, 5)
                for m, row in enumerate(table):
                    unit = np.eye(len(t) - order)[k + m]
                    expected = BSpline(floats, unit, order - 1)(start + h * s, nu=level) \
                        if level < order else 0.0 * s
                    got = sum(float(c) * s ** j for j, c in enumerate(row))
                    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_spline_jets_equal_scipy_composed_by_the_chain_rule(seed):
    spec_dict = spline_spec(seed)
    spec = load_spec(spec_dict)
    program = kancc.compile(spec, "numpy", jet=2, check_roundtrip=True)
    params = program.init_params(seed)
    x = inputs_of(spec, seed)
    y, dy, d2y = program.jet(params, x)
    expected = oracle_jet(spec, params, x)
    for got, want in zip((y, dy, d2y), expected):
        close(got, want, 1e-9)
    np.testing.assert_array_equal(y, kancc.compile(spec, "numpy").forward(params, x))
    assert dy.shape == d2y.shape == (ROWS, spec.widths[-1], spec.widths[0])


@pytest.mark.parametrize("kind", ["chebyshev", "legendre", "taylor", "fourier"])
def test_global_basis_jets_equal_numpys_derivatives(kind):
    spec = load_spec({"model": {"layers": [2, 3, 2], "dtype": "float64"},
                      "basis": {"kind": kind, "degree": 3 if kind == "fourier" else 6}})
    program = kancc.compile(spec, "numpy", jet=2)
    params = program.init_params(3)
    x = np.random.default_rng(1).uniform(-2, 2, (ROWS, 2))
    for got, want in zip(program.jet(params, x), oracle_jet(spec, params, x)):
        close(got, want, 1e-9)


def test_the_base_branch_is_carried():
    spec = load_spec({"model": {"layers": [3, 4, 1], "dtype": "float64"},
                      "basis": {"degree": 3, "grid": 5, "domain": [-2, 2], "base": "silu"}})
    program = kancc.compile(spec, "numpy", jet=2)
    params = program.init_params(0)
    x = inputs_of(spec, 2)
    for got, want in zip(program.jet(params, x), oracle_jet(spec, params, x)):
        close(got, want, 1e-9)


def test_jet_1_gives_the_gradient_only():
    spec = load_spec(spline_spec(4))
    program = kancc.compile(spec, "numpy", jet=1)
    params = program.init_params(0)
    x = inputs_of(spec, 0)
    y, dy = program.jet(params, x)
    _, want_dy, _ = oracle_jet(spec, params, x)
    close(dy, want_dy, 1e-9)
    assert "d2pieces" not in kancc.ir.to_text(program.ir)


def test_degree_0_and_1_have_zero_second_derivatives():
    """Piecewise constant and linear splines: d2y is 0 (the kinks at knots are not carried)."""
    for degree, zero_first in ((0, True), (1, False)):
        spec = {"model": {"layers": [1, 1], "dtype": "float64"},
                "basis": {"degree": degree, "grid": 4, "domain": [-1, 1]}}
        program = kancc.compile(spec, "numpy", jet=2)
        params = program.init_params(0)
        _, dy, d2y = program.jet(params, np.linspace(-0.9, 0.9, 11)[:, None])
        assert not d2y.any()
        assert (not dy.any()) == zero_first


@pytest.mark.parametrize("seed", range(4))
def test_tucker_jets_equal_their_unfactorized_twin(seed):
    spec = load_spec(random_tucker_spec(seed))
    program = kancc.compile(spec, "numpy", jet=2)
    params = program.spec_init_params(seed)
    twin_spec, twin_params = unfactorized_model(spec, params)
    twin = kancc.compile(twin_spec, "numpy", jet=2)
    x = inputs_of(spec, seed)
    for got, want in zip(program.jet(params, x), twin.jet(twin_params, x)):
        close(got, want, 1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_lotra_jets_equal_the_merged_model(seed):
    spec_dict = random_spec(seed, dtype="float64", max_width=5, max_grid=6)
    spec_dict["finetune"] = {"pretrained": "unused.ckpt.npz", "tucker": "1/2"}
    spec = load_spec(spec_dict)
    program = kancc.compile(spec, "numpy", jet=2)
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(v.shape) for k, v in program.init_params(0).items()}
    merged_spec, merged = unfactorized_model(spec, params)
    assert "kan.jet_tucker_layer" in kancc.ir.to_text(program.ir)
    x = inputs_of(spec, seed)
    for got, want in zip(program.jet(params, x),
                         kancc.compile(merged_spec, "numpy", jet=2).jet(merged, x)):
        close(got, want, 1e-10)


def test_the_tucker_pass_runs_before_the_jet_pass():
    spec = spline_spec(1)
    program = kancc.compile(spec, "numpy", jet=2, passes="tucker{cr=1},inference")
    labels = [label for label, _ in program.stages]
    assert labels.index("tucker") < labels.index("jet") < labels.index("expand-layers")
    params = program.init_params(0)  # the HOSVD of the spec-level coefficients
    x = inputs_of(load_spec(spec), 0)
    reference = kancc.compile(spec, "numpy", jet=2).jet(program.spec_init_params(0), x)
    for got, want in zip(program.jet(params, x), reference):
        close(got, want, 1e-9)


def test_standardized_models_carry_the_maps():
    spec = {"model": {"layers": [2, 3, 1], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 4, "domain": [-2, 2]},
            "scaling": {"input_mean": [1, -2], "input_std": [2, "1/2"],
                        "output_mean": [3], "output_std": [4]}}
    program = kancc.compile(spec, "numpy", jet=2)
    plain = kancc.compile(spec, "numpy")
    params = program.init_params(0)
    x = np.random.default_rng(0).uniform(-1, 1, (ROWS, 2)) * [2, 0.5] + [1, -2]
    _, dy, d2y = program.jet(params, x)
    h = 1e-4
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        up, mid, down = (plain.forward(params, x + s * e) for s in (1, 0, -1))
        close(dy[:, :, k], (up - down) / (2 * h), 1e-7)
        close(d2y[:, :, k], (up - 2 * mid + down) / h ** 2, 1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_torch_jets_equal_numpys(seed):
    pytest.importorskip("torch")
    spec = spline_spec(seed)
    spec["layers"][0]["base"] = "silu"
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-5)):
        spec["model"]["dtype"] = dtype
        reference = kancc.compile(spec, "numpy", jet=2)
        params = reference.init_params(seed)
        x = inputs_of(load_spec(spec), seed)
        got = kancc.compile(spec, "torch", jet=2).jet(params, x)
        for a, b in zip(got, reference.jet(params, x)):
            assert a.dtype == np.dtype(dtype)
            close(a, b, rtol)


def test_what_jets_cannot_do_is_refused():
    spec = {"model": {"layers": [2, 1]}, "basis": {"degree": 3, "grid": 4, "domain": [-1, 1]}}
    with pytest.raises(KanccError, match="jet and training"):
        kancc.compile({**spec, "train": {"loss": "mse"}}, "numpy", jet=2, training=True)
    with pytest.raises(KanccError, match="jet must be"):
        kancc.compile(spec, "numpy", jet=3)
    with pytest.raises(PassError, match="evaluated by exact horner pieces"):
        kancc.compile(spec, "numpy", jet=2, passes="reference")
    with pytest.raises(KanccError, match="jet needs a program compiled with jet"):
        kancc.compile(spec, "numpy").jet({}, np.zeros((1, 2)))


def test_the_cli_compiles_jets(capsys, tmp_path):
    from kancc.cli import main

    spec = str(Path(__file__).parents[1] / "examples" / "cubic_2_5_1.toml")
    assert main(["compile", spec, "--jet", "2", "--emit", "ir", "--print-ir-after", "jet"]) == 0
    captured = capsys.readouterr()
    assert "kan.jet_layer" in captured.out and "d2pieces" in captured.out
    assert "kan.jet_seed" in captured.err  # the dump after the jet pass
    output = tmp_path / "m.py"
    assert main(["compile", spec, "--jet", "1", "--target", "triton", "-o", str(output)]) == 0
    assert "def jet_layer_1_kernel(" in output.read_text()
    output.unlink()
    capsys.readouterr()
    assert main(["compile", spec, "--jet", "1", "--training", "-o", str(output)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "jet and training cannot be combined" in err[0]
    assert not output.exists()


needs_triton = pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")


@needs_triton
@pytest.mark.parametrize("seed", range(5))
def test_triton_jets_equal_numpys(seed):
    spec = spline_spec(seed)
    spec["layers"][0]["base"] = "silu"
    order = 1 + seed % 2
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-4)):
        spec["model"]["dtype"] = dtype
        reference = kancc.compile(spec, "numpy", jet=order)
        params = reference.init_params(seed)
        x = inputs_of(load_spec(spec), seed)
        got = kancc.compile(spec, "triton", jet=order).jet(params, x)
        expected = reference.jet(params, x)
        assert len(got) == order + 1
        for a, b in zip(got, expected):
            assert a.dtype == np.dtype(dtype)
            close(a, b, rtol)


@needs_triton
@pytest.mark.parametrize("kind", ["chebyshev", "fourier"])
def test_triton_jets_of_global_bases(kind):
    spec = {"model": {"layers": [3, 5, 2], "dtype": "float64"},
            "basis": {"kind": kind, "degree": 4}}
    reference = kancc.compile(spec, "numpy", jet=2)
    params = reference.init_params(1)
    x = np.random.default_rng(1).uniform(-1, 1, (17, 3))
    for a, b in zip(kancc.compile(spec, "triton", jet=2).jet(params, x),
                    reference.jet(params, x)):
        close(a, b, 1e-12)


@needs_triton
def test_triton_jets_of_tucker_layers():
    spec = random_tucker_spec(2, dtype="float64")
    reference = kancc.compile(spec, "numpy", jet=2)
    params = reference.init_params(2)
    x = inputs_of(load_spec(spec), 2)
    for a, b in zip(kancc.compile(spec, "triton", jet=2).jet(params, x),
                    reference.jet(params, x)):
        close(a, b, 1e-12)
