"""The public contract of docs/DESIGN.md section 6, one assertion per promise."""

import numpy as np
import sympy

import kancc
from kancc.ir import Graph, parse, to_text
from kancc.symbolic import relu_change_of_basis, uniform_knots

MINIMAL = {
    "model": {"layers": [2, 5, 1], "dtype": "float32"},
    "basis": {"kind": "bspline", "degree": 3, "grid": 8, "domain": [-1.0, 1.0],
              "knots": "uniform"},
    "train": {"loss": "mse"},
}


def test_load_spec_and_spec_error():
    assert isinstance(kancc.load_spec(MINIMAL), kancc.Spec)
    try:
        kancc.load_spec({"model": {"layers": [2, 0]}})
    except kancc.SpecError as error:
        assert error.path == "model.layers[1]"
    else:
        raise AssertionError("SpecError expected")


def test_compile_and_program_attributes():
    for target in ("numpy", "triton"):
        program = kancc.compile(MINIMAL, target=target, training=False, passes=None)
        assert isinstance(program.ir, Graph)
        assert isinstance(program.source, str) and "def forward" in program.source
        names = [name for name, _ in program.stages]
        assert names[0] == "input" and names[-1] == "canonicalize"
        assert all(isinstance(text, str) for _, text in program.stages)
        params = program.init_params(0)
        y = program.forward(params, np.zeros((3, 2), np.float32))
        assert isinstance(y, np.ndarray) and y.shape == (3, 1) and y.dtype == np.float32


def test_parameter_naming_and_layout():
    program = kancc.compile(MINIMAL)
    params = program.init_params(1)
    assert {k: v.shape for k, v in params.items()} == {
        "layers.0.coef": (2, 5, 11), "layers.1.coef": (5, 1, 11)}
    # y[:, q] = sum_p sum_i coef[p, q, i] B_i(x[:, p]); basis index 0 is B_{1-r}: a coef
    # vector that is one only at index 0 gives B_{1-r}(x) = (1 - s)^3 / 6 on the first cell.
    one_edge = kancc.compile({"model": {"layers": [1, 1], "dtype": "float64"},
                              "basis": MINIMAL["basis"]})
    coef = np.zeros((1, 1, 11))
    coef[0, 0, 0] = 1.0
    x = np.array([[-1.0], [-0.9], [-0.75]])
    s = (x[:, 0] + 1.0) * 4
    expected = np.where(s < 1, (1 - s) ** 3 / 6, 0.0)
    np.testing.assert_allclose(one_edge.forward({"layers.0.coef": coef}, x)[:, 0], expected,
                               rtol=0, atol=1e-15)


def test_ir_text_round_trip():
    graph = kancc.compile(MINIMAL).ir
    assert parse(to_text(graph)) == graph


def test_relu_change_of_basis_is_exact_and_square():
    matrix = relu_change_of_basis(4, uniform_knots(4, -1, 1, 8))
    assert isinstance(matrix, sympy.MatrixBase) and matrix.shape == (11, 11)
    assert matrix[0, 0] == sympy.Rational(32, 3)


def test_value_and_grad_contract():
    for target in ("numpy", "triton"):
        program = kancc.compile(MINIMAL, target=target, training=True)
        params = program.init_params(0)
        x = np.zeros((3, 2), np.float32)
        loss, grads = program.value_and_grad(params, x, np.ones((3, 1), np.float32))
        assert isinstance(loss, float) and loss > 0
        assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in params.items()}
        assert program.forward(params, x).shape == (3, 1)


def test_value_and_grad_needs_a_training_program():
    try:
        kancc.compile(MINIMAL).value_and_grad({}, np.zeros((1, 2)), np.zeros((1, 1)))
    except kancc.KanccError as error:
        assert "training=True" in str(error)
    else:
        raise AssertionError("KanccError expected")
