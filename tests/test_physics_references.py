"""Reference solutions (kancc.physics.references) and ``pde.reference`` files: the Cole-Hopf
Burgers solution against the published steepest slope, and the relative L2 error measured
against a reference file equal to one computed here from the trained model."""

import numpy as np
import pytest

import kancc
from kancc.errors import SpecError
from kancc.physics.problem import solution_grid
from kancc.physics.references import burgers_cole_hopf
from kancc.spec import load_spec

NU = 0.01 / np.pi

SPEC = """
[model]
layers = [2, 3, 1]
dtype = "float64"
[basis]
degree = 3
grid = 4
domain = [-1, 1]
[pde]
variables = ["x", "y"]
box = [[-1, 1], [-1, 1]]
residual = "lap(u) + 2*pi**2*sin(pi*x)*sin(pi*y)"
reference = "ref.npz"
points = 64
[[pde.condition]]
kind = "dirichlet"
value = "0"
points = 32
[train]
optimizer = "adam"
steps = 5
"""


def test_the_cole_hopf_burgers_solution():
    """Basdevant et al. (1986): max |du/dx| = 152.00516 at x = 0, t = 0.5103 (nu = 0.01/pi);
    u(x, 0) = -sin(pi x), u(+-1, t) = 0, and u is odd in x."""
    h = 1e-5
    slope = (burgers_cole_hopf(0.5103, h, NU) - burgers_cole_hopf(0.5103, -h, NU)) / (2 * h)
    assert slope == pytest.approx(-152.00516, abs=2e-3)
    x = np.linspace(-1, 1, 41)
    np.testing.assert_array_equal(burgers_cole_hopf(np.zeros_like(x), x, NU), -np.sin(np.pi * x))
    t = np.linspace(0.05, 1, 20)
    assert np.abs(burgers_cole_hopf(t, np.ones_like(t), NU)).max() < 1e-12
    u = burgers_cole_hopf(0.3, x, NU)
    np.testing.assert_allclose(u, -u[::-1], atol=1e-12)


def test_the_relative_error_is_measured_against_the_reference_file(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (50, 2))
    exact = np.sin(np.pi * points[:, 0]) * np.sin(np.pi * points[:, 1])
    np.savez(tmp_path / "ref.npz", points=points, u=exact)
    (tmp_path / "p.toml").write_text(SPEC)
    spec = load_spec(tmp_path / "p.toml")
    test_points, values = solution_grid(spec)
    np.testing.assert_array_equal(test_points, points)
    result = kancc.train(spec, log=None)
    predicted = kancc.compile(spec).forward(result.params, points)[:, 0]
    expected = np.linalg.norm(predicted - exact) / np.linalg.norm(exact)
    assert result.physics["rel_l2"][-1] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("arrays, message", [
    (None, "no such file"),
    ("npy", r"is not an .npz archive"),
    ({"points": np.zeros((3, 2))}, "must hold the arrays points and u"),
    ({"points": np.zeros((3, 3)), "u": np.zeros(3)}, r"points must have shape \(N > 0, 2\)"),
    ({"points": np.zeros((3, 2)), "u": np.zeros(4)}, r"u must have shape \(3,\)"),
    ({"points": np.zeros((3, 2)), "u": np.array([0, np.nan, 1])}, "u must be finite"),
    ({"points": np.zeros((3, 2)), "u": np.array([{}, {}, {}], dtype=object)},
     "cannot be read as an .npz without pickles"),
])
def test_bad_reference_files_name_the_field(tmp_path, arrays, message):
    if arrays == "npy":
        with open(tmp_path / "ref.npz", "wb") as f:
            np.save(f, np.zeros(3))
    elif arrays is not None:
        np.savez(tmp_path / "ref.npz", **arrays)
    (tmp_path / "p.toml").write_text(SPEC)
    with pytest.raises(SpecError, match=f"pde.reference: .*ref.npz: {message}"):
        solution_grid(load_spec(tmp_path / "p.toml"))


def test_a_reference_and_a_solution_are_not_both_given(tmp_path):
    text = SPEC.replace('reference = "ref.npz"', 'reference = "ref.npz"\nsolution = "x*y"')
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(SpecError, match="pde.reference: give a solution or a reference"):
        load_spec(tmp_path / "p.toml")
