"""Importing pykan and efficient-kan models: outputs equal inside the grid (float64), what
cannot be represented refused by name, the CLI writing a spec and a checkpoint."""

import dataclasses
import os
import sys

import numpy as np
import pytest
from scipy.interpolate import BSpline

import kancc
from kancc.cli import main
from kancc.interop import from_efficient_kan, from_pykan
from kancc.spec.toml_text import spec_to_toml
from kancc.tools.random_specs import random_spec

torch = pytest.importorskip("torch")


@pytest.fixture
def float64_torch():
    """Peers built in float64 (``.double()`` after construction keeps float32 knots)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def efficient_kan_state(widths, n, k, seed, scaler=True):
    """A state_dict in efficient-kan's layout (see kancc/interop/efficient_kan.py), built by
    hand: this suite does not install efficient-kan (it is not on PyPI)."""
    rng = np.random.default_rng(seed)
    state = {}
    h = 2.0 / n
    row = np.arange(-k, n + k + 1) * h - 1.0
    for index, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        prefix = f"layers.{index}."
        state[prefix + "grid"] = torch.tensor(np.tile(row, (n_in, 1)))
        state[prefix + "base_weight"] = torch.tensor(rng.normal(size=(n_out, n_in)))
        state[prefix + "spline_weight"] = torch.tensor(rng.normal(size=(n_out, n_in, n + k)))
        if scaler:
            state[prefix + "spline_scaler"] = torch.tensor(rng.normal(size=(n_out, n_in)))
    return state


def efficient_kan_oracle(state, x, k):
    """efficient-kan's documented forward, by scipy's BSpline on its extended grid (zero
    beyond it) and silu."""
    h = x
    index = 0
    while f"layers.{index}.grid" in state:
        prefix = f"layers.{index}."
        grid = state[prefix + "grid"].numpy()
        spline = state[prefix + "spline_weight"].numpy()
        if prefix + "spline_scaler" in state:
            spline = spline * state[prefix + "spline_scaler"].numpy()[..., None]
        out = (h / (1 + np.exp(-h))) @ state[prefix + "base_weight"].numpy().T
        for p in range(h.shape[1]):
            out += BSpline(grid[p], spline[:, p, :].T, k, extrapolate=False)(h[:, p]).reshape(
                len(h), -1)
        h = out
        index += 1
    return h


@pytest.mark.parametrize("widths, n, k, scaler", [([3, 4, 2], 5, 3, True), ([1, 2], 3, 1, False),
                                                  ([2, 5, 3, 1], 7, 2, True)])
def test_an_efficient_kan_state_dict_imports_exactly(widths, n, k, scaler):
    state = efficient_kan_state(widths, n, k, seed=n, scaler=scaler)
    for key in state:  # small weights: hidden values stay inside the next layer's grid
        if not key.endswith("grid"):
            state[key] = state[key] * 0.1
    spec, params = from_efficient_kan(state)
    assert spec.dtype == "float64" and all(b.base == "silu" for b in spec.layers)
    program = kancc.compile(spec)
    x = np.random.default_rng(1).uniform(-0.99, 0.99, (300, widths[0]))
    values = program.module.trace(params, x)
    layer_inputs = [values[op.operands[0].name] for op in program.ir.ops
                    if op.name == "kan.fused_layer"]
    assert all(np.abs(h).max() < 1 for h in layer_inputs)
    expected = efficient_kan_oracle(state, x, k)
    assert np.abs(program.forward(params, x) - expected).max() <= \
        1e-12 * np.abs(expected).max()


def test_efficient_kan_with_per_input_grids_imports_exactly():
    """As after update_grid: every input its own non-uniform grid, exterior knots by the
    mean cell width (the peers' rule), taken over as they are."""
    state = efficient_kan_state([3, 2], 4, 3, seed=0)
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(3):
        inner = np.sort(np.r_[-1.0, rng.uniform(-1, 1, 3), 1.0]) * rng.uniform(0.5, 1.5)
        h = (inner[-1] - inner[0]) / 4
        rows.append(np.r_[inner[0] - h * np.arange(3, 0, -1), inner,
                          inner[-1] + h * np.arange(1, 4)])
    state["layers.0.grid"] = torch.tensor(np.array(rows))
    spec, params = from_efficient_kan(state)
    assert spec.layers[0].per_input
    x = np.random.default_rng(4).uniform(-0.45, 0.45, (200, 3))  # inside every grid
    expected = efficient_kan_oracle(state, x, 3)
    got = kancc.compile(spec).forward(params, x)
    assert np.abs(got - expected).max() <= 1e-12 * np.abs(expected).max()


@pytest.mark.skipif(not os.environ.get("EFFICIENT_KAN_PATH"),
                    reason="set EFFICIENT_KAN_PATH to an efficient-kan checkout's src/")
def test_real_efficient_kan_imports_exactly(float64_torch):
    sys.path.insert(0, os.environ["EFFICIENT_KAN_PATH"])
    from efficient_kan import KAN

    torch.manual_seed(0)
    model = KAN([3, 4, 2], grid_size=5, spline_order=3)
    x = torch.rand(200, 3) * 2 - 1
    spec, params = from_efficient_kan(model)
    expected = model(x).detach().numpy()
    got = kancc.compile(spec).forward(params, x.numpy())
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()
    model(x, update_grid=True)
    spec, params = from_efficient_kan(model)
    assert all(basis.per_input for basis in spec.layers)
    expected = model(x).detach().numpy()
    got = kancc.compile(spec).forward(params, x.numpy())
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def pykan_model(**options):
    kan = pytest.importorskip("kan", reason="pykan is not installed")
    return kan.KAN(width=[3, 4, 2], grid=5, k=3, seed=0, auto_save=False, **options)


def test_pykan_imports_exactly_with_its_affine_terms(float64_torch):
    model = pykan_model()
    with torch.no_grad():
        model.node_bias_0 += 0.3
        model.node_scale_1 *= 1.7
        model.subnode_bias_1 -= 0.2
        model.act_fun[0].mask[1, 2] = 0.0
    x = torch.rand(300, 3) * 2 - 1
    spec, params = from_pykan(model)
    expected = model(x).detach().numpy()
    hidden = kancc.compile(spec).module.trace(params, x.numpy())["2"]
    inside = np.all(np.abs(hidden) < 1, axis=1)  # pykan's splines vanish beyond the grid
    got = kancc.compile(spec).forward(params, x.numpy())
    assert inside.sum() > 50
    assert np.abs(got[inside] - expected[inside]).max() <= 1e-6 * np.abs(expected).max()


def test_pykan_with_an_active_symbolic_branch_is_refused(float64_torch):
    symbolic = pykan_model()
    symbolic.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    with pytest.raises(kancc.KanccError, match="layer 0: its symbolic branch is active"):
        from_pykan(symbolic)


def test_pykan_after_update_grid_imports_exactly(float64_torch):
    adapted = pykan_model(symbolic_enabled=False)
    x = torch.rand(300, 3) * 4 - 2
    adapted.update_grid_from_samples(x)
    spec, params = from_pykan(adapted)
    assert all(basis.per_input for basis in spec.layers)
    expected = adapted(x).detach().numpy()
    got = kancc.compile(spec).forward(params, x.numpy())
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def test_kancc_import_pykan_writes_a_spec_and_a_checkpoint(tmp_path, float64_torch, capsys):
    pytest.importorskip("yaml")
    model = pykan_model()
    (tmp_path / "pk").mkdir()
    model.saveckpt(str(tmp_path / "pk" / "mark"))
    out = tmp_path / "imported.npz"
    assert main(["import", "pykan", str(tmp_path / "pk"), "-o", str(out)]) == 0
    checkpoint = kancc.load_checkpoint(out)
    written = kancc.load_spec(tmp_path / "imported.toml")
    assert dataclasses.replace(written, origin=None) == checkpoint.spec
    x = (torch.rand(40, 3) * 0.2).numpy()
    expected = model(torch.tensor(x)).detach().numpy()
    got = kancc.compile(checkpoint.spec).forward(checkpoint.params, x)
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def test_kancc_import_refuses_a_pickled_module(tmp_path, capsys):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    out = tmp_path / "x.npz"
    assert main(["import", "efficient-kan", str(tmp_path / "module.pt"), "-o", str(out)]) == 2
    assert "not a state_dict" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "x.toml").exists()


@pytest.mark.parametrize("seed", range(10))
def test_spec_to_toml_reads_back(seed):
    spec = kancc.load_spec(random_spec(seed))
    assert kancc.loads_spec(spec_to_toml(spec)) == spec


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.update({"layers.1.spline_weight": torch.zeros(2, 5, 8),
                         "layers.1.spline_scaler": torch.ones(2, 5),
                         "layers.1.base_weight": torch.zeros(2, 5),
                         "layers.1.grid": s["layers.0.grid"][:1].repeat(5, 1)}),
     "takes 5 inputs but layer 0 gives 4"),
    (lambda s: s.update({"layers.0.base_weight": s["layers.0.base_weight"].T}),
     "base weights of shape"),
    (lambda s: s["layers.0.spline_weight"].__setitem__((0, 0, 0), float("inf")), "NaN or Inf"),
    (lambda s: s.update({"layers.0.spline_scaler": torch.ones(3)}), "spline_scaler of shape"),
])
def test_a_damaged_efficient_kan_state_is_refused_before_anything_is_written(
        tmp_path, capsys, damage, message):
    state = efficient_kan_state([3, 4, 2], 5, 3, seed=1)
    damage(state)
    torch.save(state, tmp_path / "state.pt")
    out = tmp_path / "x.npz"
    assert main(["import", "efficient-kan", str(tmp_path / "state.pt"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists() and not (tmp_path / "x.toml").exists()


@pytest.mark.parametrize("config, state, message", [
    ("width: [3, 2\n", None, "not a readable pykan config"),
    ("width: 5\n", None, "no width list"),
    ("width: [[3, 0], [2, 0]]\n", b"not a tensor file", "not a pykan state"),
])
def test_a_damaged_pykan_checkpoint_is_refused_by_name(tmp_path, capsys, config, state,
                                                       message):
    pytest.importorskip("yaml")
    (tmp_path / "m_config.yml").write_text(config)
    (tmp_path / "m_state").write_bytes(state or b"")
    assert main(["import", "pykan", str(tmp_path / "m"), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x.npz").exists()
