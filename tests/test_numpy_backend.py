"""NumPy backend against independent oracles: scipy's BSpline, float64, its own contract."""

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from scipy.interpolate import BSpline

import kancc
from kancc.ir import extended_knots
from kancc.tools.differential_check import relative_error

INTERVALS = [3, 17, 64, 256]


def exact(value):
    value = Fraction(value)
    return f"{value.numerator}/{value.denominator}"


def edge_spec(degree, n, kind, dtype="float64", seed=0):
    """A one-input, one-output model: a single spline edge on [-1, 1] (or random knots)."""
    if kind == "uniform":
        basis = {"degree": degree, "grid": n, "domain": [-1, 1], "knots": "uniform"}
        points = [Fraction(-1) + Fraction(2 * i, n) for i in range(n + 1)]
    else:
        rng = np.random.default_rng(seed)
        steps = np.cumsum(np.concatenate([[0], rng.integers(1, 7, size=n)]))
        points = [Fraction(-1) + Fraction(2 * int(s), int(steps[-1])) for s in steps]
        basis = {"degree": degree, "knots": [exact(p) for p in points]}
    spec = {"model": {"layers": [1, 1], "dtype": dtype, "name": "edge"}, "basis": basis}
    knots = np.array([float(t) for t in extended_knots(tuple(points), degree + 1)])
    return spec, np.array([float(p) for p in points]), knots


def edge_inputs(points, seed, degree=1):
    """Random points inside, the grid points themselves, and points just outside.

    Degree 0 leaves the grid points out: scipy's knots are the float64-rounded ones, and a
    step function jumps between fl(t_k) and t_k (test_cells_follow_the_exact_knots covers
    those inputs exactly)."""
    rng = np.random.default_rng(seed)
    inside = rng.uniform(points[0], points[-1], 2000)
    if degree > 0:
        inside = np.concatenate([inside, points])
    h0, h1 = points[1] - points[0], points[-1] - points[-2]
    outside = np.array([points[0] - h0 / 2, points[0] - h0 / 7, points[-1] + h1 / 3,
                        points[-1] + h1 / 2])
    return inside, outside


@pytest.mark.parametrize("degree", range(6))
@pytest.mark.parametrize("kind", ["uniform", "nonuniform"])
@pytest.mark.parametrize("n", INTERVALS)
@pytest.mark.parametrize("pipeline", ["inference", "reference"])
def test_single_edge_matches_scipy_bspline(degree, kind, n, pipeline):
    spec, points, knots = edge_spec(degree, n, kind, seed=n + degree)
    program = kancc.compile(spec, passes=pipeline, check_roundtrip=False)
    coef = np.random.default_rng(degree).standard_normal((1, 1, n + degree))
    oracle = BSpline(knots, coef[0, 0], degree, extrapolate=True)
    inside, outside = edge_inputs(points, seed=degree, degree=degree)
    for x, tolerance in ((inside, 1e-12), (outside, 1e-12)):
        y = program.forward({"layers.0.coef": coef}, x[:, None])[:, 0]
        assert relative_error(y, oracle(x)) <= tolerance


@pytest.mark.parametrize("degree", range(6))
def test_relu_local_evaluation_in_float64(degree):
    """The seed's truncated-power form, evaluated locally, is exact up to its cancellation."""
    spec, points, knots = edge_spec(degree, 64, "nonuniform", seed=degree)
    program = kancc.compile(spec, passes="expand-layers,derive-stencils,"
                                         "lower-basis{eval=relu-local},fuse,canonicalize")
    coef = np.random.default_rng(degree).standard_normal((1, 1, 64 + degree))
    inside, _ = edge_inputs(points, seed=1, degree=degree)
    y = program.forward({"layers.0.coef": coef}, inside[:, None])[:, 0]
    assert relative_error(y, BSpline(knots, coef[0, 0], degree)(inside)) <= 1e-11


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["numpy", "triton"])
def test_cells_follow_the_exact_knots(dtype, target):
    """Degree 0 makes the cell visible: at each rounded knot and its float neighbours the
    model must return the coefficient of the cell that the exact knot puts x in."""
    from kancc.backends import triton_installed

    if target == "triton" and not triton_installed():
        pytest.skip("torch and triton not installed")
    np_dtype = np.dtype(dtype).type
    for spec, points, _ in (edge_spec(0, 7, "uniform", dtype), edge_spec(0, 9, "nonuniform", dtype),
                            edge_spec(0, 50, "uniform", dtype)):
        exact = [Fraction(p) for p in kancc.load_spec(spec).layers[0].knots] \
            if spec["basis"]["knots"] != "uniform" else \
            [Fraction(-1) + Fraction(2 * i, len(points) - 1) for i in range(len(points))]
        xs = []
        for t in points[1:-1]:
            near = np_dtype(t)
            xs += [np.nextafter(near, np_dtype(-2)), near, np.nextafter(near, np_dtype(2))]
        x = np.array(xs, dtype=np_dtype)
        coef = np.arange(len(points) - 1, dtype=np_dtype).reshape(1, 1, -1)
        y = kancc.compile(spec, target).forward({"layers.0.coef": coef}, x[:, None])[:, 0]
        cells = [sum(Fraction(float(v)) >= t for t in exact[1:-1]) for v in x]
        assert y.tolist() == [float(c) for c in cells], spec


def float32_error(spec32, spec64, widths, seed=0, batch=4096):
    """Max error of the float32 module relative to max |y|, vs float64 on the same inputs."""
    rng = np.random.default_rng(seed)
    p32, p64 = kancc.compile(spec32), kancc.compile(spec64)
    params = {k: v.astype(np.float32) for k, v in p64.init_params(seed).items()}
    x = rng.uniform(-1, 1, size=(batch, widths[0])).astype(np.float32)
    y32 = p32.forward(params, x)
    assert y32.dtype == np.float32
    y64 = p64.forward({k: v.astype(np.float64) for k, v in params.items()}, x.astype(np.float64))
    return relative_error(y32, y64)


@pytest.mark.parametrize("widths", [[1, 1], [4, 3]])
def test_float32_cubic_256_intervals_meets_1e_5(widths):
    basis = {"degree": 3, "grid": 256, "domain": [-1, 1]}
    spec = {"model": {"layers": widths}, "basis": basis}
    spec64 = {"model": {"layers": widths, "dtype": "float64"}, "basis": basis}
    assert float32_error(spec, spec64, widths) <= 1e-5


@pytest.mark.parametrize("degree", [1, 3, 5])
def test_unrepresentable_knots_do_not_cost_accuracy(degree):
    """Knots like -1 + 2k/896 are not float32 numbers; their rounding error (eps |t|, over a
    cell of width ~2e-3) would reach 1e-5. Stored as (rounded, remainder) pairs, it does not."""
    spec, _, _ = edge_spec(degree, 256, "nonuniform", dtype="float32", seed=3)
    spec64, _, _ = edge_spec(degree, 256, "nonuniform", dtype="float64", seed=3)
    assert float32_error(spec, spec64, [1, 1], seed=degree) <= 1e-6
    uniform = {"model": {"layers": [1, 1]}, "basis": {"degree": degree, "grid": 100}}
    uniform64 = {"model": {"layers": [1, 1], "dtype": "float64"},
                 "basis": {"degree": degree, "grid": 100}}
    assert float32_error(uniform, uniform64, [1, 1], seed=degree) <= 1e-6


def relu_local(spec):
    return kancc.compile(spec, passes="expand-layers,derive-stencils,"
                                      "lower-basis{eval=relu-local},fuse")


@pytest.mark.parametrize("degree", [1, 3, 5])
def test_horner_is_the_accurate_float32_form(degree):
    """DESIGN.md 5: per-cell pieces stay near float32 rounding where truncated powers cancel."""
    basis = {"degree": degree, "grid": 256, "domain": [-1, 1]}
    spec32 = {"model": {"layers": [1, 1]}, "basis": basis}
    spec64 = {"model": {"layers": [1, 1], "dtype": "float64"}, "basis": basis}
    horner = float32_error(spec32, spec64, [1, 1], seed=degree)
    assert horner <= 1e-6
    x = np.random.default_rng(0).uniform(-1, 1, (4096, 1)).astype(np.float32)
    params = kancc.compile(spec64).init_params(0)
    y64 = kancc.compile(spec64).forward(params, x.astype(np.float64))
    relu = relative_error(relu_local(spec32).forward(params, x), y64)
    if degree == 5:
        assert relu > 10 * horner


@pytest.mark.filterwarnings("error")  # the policy is documented; numpy must not warn
def test_nan_propagates_and_out_of_domain_extrapolates():
    spec, points, knots = edge_spec(3, 8, "uniform")
    spec["model"]["layers"] = [2, 3]
    program = kancc.compile(spec)
    params = program.init_params(1)
    x = np.array([[0.1, 0.2], [np.nan, 0.2], [0.3, np.inf], [-1.5, 1.25]])
    y = program.forward(params, x)
    assert np.all(np.isnan(y[1]))
    assert not np.any(np.isfinite(y[2]))
    assert np.all(np.isfinite(y[[0, 3]]))
    clean = program.forward(params, x[[0, 3]])
    assert relative_error(y[[0, 3]], clean) <= 1e-14  # the GEMM may block rows differently
    expected = sum(BSpline(knots, params["layers.0.coef"][p].T, 3)(x[3, p]) for p in range(2))
    assert relative_error(y[3], expected) <= 1e-12


def test_tables_beyond_the_dtype_are_refused():
    """relu-local on tiny cells needs stencil entries ~ 1/h^(r-1), beyond float32."""
    spec = {"model": {"layers": [1, 1]}, "basis": {"degree": 5, "knots": [0, "1/1000000000", 1]}}
    with pytest.raises(kancc.BackendError, match="STENCIL table holds values beyond float32"):
        relu_local(spec)
    program = kancc.compile(spec)  # horner works in s, whatever the cell size
    assert np.all(np.isfinite(program.forward(program.init_params(0), [[0.5], [1e-10]])))


def test_float64_and_float32_modules():
    for dtype, np_dtype in (("float32", np.float32), ("float64", np.float64)):
        program = kancc.compile({"model": {"layers": [2, 2], "dtype": dtype}})
        assert f"DTYPE = np.{dtype}" in program.source
        y = program.forward(program.init_params(0), np.zeros((3, 2)))
        assert y.dtype == np_dtype and y.shape == (3, 2)


def test_emitted_module_checks_its_inputs():
    program = kancc.compile({"model": {"layers": [2, 2]}})
    params = program.init_params(0)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2\)"):
        program.forward(params, np.zeros((3, 3)))
    with pytest.raises(KeyError, match="layers.0.coef"):
        program.forward({}, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"must have shape \(2, 2, 8\)"):
        program.forward({"layers.0.coef": np.zeros((2, 2, 7))}, np.zeros((3, 2)))
    assert program.forward(params, np.zeros((0, 2))).shape == (0, 2)


def test_emitted_module_is_standalone(tmp_path):
    """It runs in a fresh interpreter and imports numpy and nothing of kancc or sympy."""
    program = kancc.compile("examples/deep_nonuniform.toml")
    module = tmp_path / "model.py"
    module.write_text(program.source)
    script = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import model\n"
        "params = {k: np.ones(s) for k, s in model.PARAM_SHAPES.items()}\n"
        "y = model.forward(params, np.zeros((4, 3)))\n"
        "banned = {'kancc', 'sympy', 'networkx', 'torch', 'scipy', 'triton'}\n"
        "print(sorted(banned & {m.split('.')[0] for m in sys.modules}), y.shape)\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] (4, 1)"
