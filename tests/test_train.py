"""Trainers, checkpoints and the `kancc train` / `kancc plot` commands."""

import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.cli import main
from kancc.data import synthetic
from kancc.spec import load_spec, spec_to_dict
from kancc.storage.checkpoints import load_checkpoint, save_checkpoint
from kancc.training.optim import learning_rate

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"model": {"layers": [2, 3, 1], "dtype": "float64"}, "basis": {"grid": 4},
         "train": {"optimizer": "adam", "steps": 60, "lr": "0.05", "batch_size": 64},
         "data": {"source": "sin_sin", "n": 256, "validation": "0.25"}}


def test_learning_rate_warmup_and_cosine():
    assert learning_rate(0, 1.0, 4, 100, "constant") == 0.25
    assert learning_rate(3, 1.0, 4, 100, "constant") == 1.0
    assert learning_rate(50, 1.0, 0, 100, "constant") == 1.0
    assert learning_rate(50, 1.0, 0, 100, "cosine") == pytest.approx(0.5)
    assert learning_rate(100, 1.0, 0, 100, "cosine") == pytest.approx(0.0)


def test_adam_reduces_the_loss_and_is_reproducible():
    first = kancc.train(SMALL, log=None)
    second = kancc.train(SMALL, log=None)
    assert first.status == "done" and list(first.history[:, 0]) == list(range(61))
    assert first.history[-1, 1] < 0.3 * first.history[0, 1]
    assert not math.isnan(first.validation_loss)
    for name in first.params:
        assert np.array_equal(first.params[name], second.params[name])


def test_lbfgs_reaches_the_acceptance_target():
    """The README's demo: [2,5,1] cubic, smooth 2-D target, L-BFGS, < 200 iterations."""
    result = kancc.train(ROOT / "examples" / "train_2_5_1.toml", log=None)
    assert result.status == "done" and result.history[-1, 0] <= 200
    assert result.loss < 1e-4


def test_nan_stops_early_and_keeps_the_last_good_parameters(tmp_path):
    spec = {**SMALL, "model": {"layers": [2, 3, 1], "dtype": "float32"},
            "train": {**SMALL["train"], "lr": "1e30", "steps": 50}}
    out = tmp_path / "run.ckpt.npz"
    stream = io.StringIO()
    result = kancc.train(spec, checkpoint=out, log=stream)
    assert result.status == "diverged"
    assert "last finite step" in result.message and "became nan" in result.message
    assert "last finite step" not in stream.getvalue()  # the summary is the caller's to print
    assert all(np.isfinite(v).all() for v in result.params.values())
    stored = load_checkpoint(out)
    for name in result.params:
        assert np.array_equal(stored.params[name], result.params[name])
    assert np.isfinite(stored.history[:, 1]).all()


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    spec = load_spec(SMALL)
    params = kancc.compile(spec).init_params(3)
    path = tmp_path / "a.npz"
    save_checkpoint(path, spec, params, np.array([[1, 0.5, np.nan]]))
    loaded = load_checkpoint(path, spec)
    assert loaded.version == kancc.__version__ and loaded.spec.widths == (2, 3, 1)
    for name in params:
        assert np.array_equal(loaded.params[name], params[name])
    with np.load(path, allow_pickle=False) as archive:  # readable without pickle
        assert "spec" in archive.files
    other = spec_to_dict(spec)
    other["layers"][1]["grid"] = 7
    with pytest.raises(kancc.KanccError, match=r"layers\[1\]\.grid is 4 in the checkpoint but 7"):
        load_checkpoint(path, load_spec(other))
    with pytest.raises(kancc.KanccError, match="not a kancc checkpoint"):
        np.savez(tmp_path / "plain.npz", a=np.zeros(2))
        load_checkpoint(tmp_path / "plain.npz")


def test_training_data_errors_are_clear():
    x = np.zeros((10, 3))
    with pytest.raises(kancc.KanccError, match="3"):
        kancc.train(SMALL, (x, np.zeros((10, 1))), log=None)
    bad = np.zeros((10, 2))
    bad[4, 1] = np.nan
    with pytest.raises(kancc.KanccError, match="(?i)nan at row 4, column 1"):
        kancc.train(SMALL, (bad, np.zeros((10, 1))), log=None)
    with pytest.raises(kancc.KanccError, match="no training data"):
        kancc.train({"model": {"layers": [2, 1]}}, log=None)


def test_cross_entropy_training_learns_classes():
    data = synthetic("sin_sin", 400, 1)
    labels = (data.y[:, 0] > 0).astype(np.int64)
    spec = {"model": {"layers": [2, 4, 2], "dtype": "float64"}, "basis": {"grid": 5},
            "train": {"loss": "cross_entropy", "optimizer": "lbfgs", "steps": 60}}
    result = kancc.train(spec, (data.x, labels), log=None)
    logits = result.program.forward(result.params, data.x)
    assert np.mean(np.argmax(logits, axis=1) == labels) > 0.9


@pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")
def test_triton_target_trains_like_numpy():
    spec = {**SMALL, "train": {**SMALL["train"], "steps": 8}}
    on_numpy = kancc.train(spec, log=None)
    on_triton = kancc.train(spec, target="triton", log=None)
    np.testing.assert_allclose(on_triton.history[:, 1], on_numpy.history[:, 1], rtol=1e-9)
    for name in on_numpy.params:
        np.testing.assert_allclose(on_triton.params[name], on_numpy.params[name], rtol=1e-8,
                                   atol=1e-10)


def test_cli_train_and_plot(tmp_path, capsys):
    spec = tmp_path / "small.toml"
    spec.write_text('[model]\nlayers = [2, 3, 1]\n[basis]\ngrid = 4\n'
                    '[train]\nsteps = 20\nlr = 0.05\n[data]\nsource = "sin_sin"\nn = 200\n')
    out = tmp_path / "small.ckpt.npz"
    assert main(["train", str(spec), "-o", str(out), "--quiet", "--steps", "10"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "trained" in summary[0] and "; loss " in summary[0]
    assert load_checkpoint(out).history[-1, 0] == 10
    pytest.importorskip("matplotlib")
    assert main(["plot", str(out), "-o", str(tmp_path / "plots")]) == 0
    for name in ("layer0.png", "layer1.png", "loss.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (["--steps", "-3"], "train.steps"),
    (["--lr", "abc"], "train.lr"),
    (["--data", "missing.npz"], "missing.npz"),
    (["--data", "polar5"], "5"),
    (["--init", "nothing.npz"], "no such file"),
])
def test_cli_train_bad_input_exits_2(tmp_path, args, message):
    spec = tmp_path / "s.toml"
    spec.write_text('[model]\nlayers = [2, 1]\n[data]\nsource = "sin_sin"\n')
    run = subprocess.run([sys.executable, "-m", "kancc.cli", "train", str(spec), "--quiet",
                          "-o", str(tmp_path / "o.npz"), *args], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists()


def _write(tmp_path, name, make):
    path = tmp_path / name
    make(path)
    return str(path)


BAD_FILES = [
    ("wrong width", "w.npy", lambda p: np.save(p, np.zeros((5, 4))), "3 columns"),
    ("nan", "n.csv", lambda p: p.write_text("x,y,z\n0,0,1\n0,nan,2\n"), "line 3, column 2"),
    ("empty", "e.csv", lambda p: p.write_text(""), "empty"),
    ("strings", "s.npy", lambda p: np.save(p, np.array([["a", "b", "c"]])), "<U1"),
    ("rows differ", "r.npz", lambda p: np.savez(p, x=np.zeros((4, 2)), y=np.zeros((3, 1))),
     "4"),
]


@pytest.mark.parametrize("case, name, make, message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_cli_train_bad_data_file_exits_2(tmp_path, case, name, make, message):
    spec = tmp_path / "s.toml"
    spec.write_text('[model]\nlayers = [2, 1]\n')
    data = _write(tmp_path, name, make)
    run = subprocess.run([sys.executable, "-m", "kancc.cli", "train", str(spec), "--quiet",
                          "--data", data, "-o", str(tmp_path / "o.npz")], capture_output=True,
                         text=True)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and name in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert not (tmp_path / "o.npz").exists()


def test_cli_compile_training_ir(capsys):
    spec = str(ROOT / "examples" / "cubic_2_5_1.toml")
    assert main(["compile", spec, "--training", "--emit", "ir"]) == 0
    text = capsys.readouterr().out
    assert "kan.vjp_coef" in text and "kan.loss" in text


def test_cli_plot_needs_a_checkpoint(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    run = subprocess.run([sys.executable, "-m", "kancc.cli", "plot", str(tmp_path / "x.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "not a kancc checkpoint" in run.stderr


def _checkpoint_with(tmp_path, name, **changes):
    spec = load_spec(SMALL)
    path = tmp_path / "good.npz"
    save_checkpoint(path, spec, kancc.compile(spec).init_params(0), np.zeros((1, 3)))
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@pytest.mark.parametrize("changes, message", [
    ({"param:layers.0.coef": None}, "parameters"),
    ({"param:layers.0.coef": np.zeros((2, 2, 7))}, "shape"),
    ({"param:layers.1.coef": np.full((3, 1, 7), np.nan)}, "NaN or Inf"),
    ({"history": np.array(["a", "b"])}, "history"),
    ({"spec": np.array("[1, 2]")}, "damaged"),
])
def test_damaged_checkpoints_are_refused_before_anything_is_written(tmp_path, changes, message):
    path = _checkpoint_with(tmp_path, "bad.npz", **changes)
    with pytest.raises(kancc.KanccError, match=message):
        load_checkpoint(path)
    run = subprocess.run([sys.executable, "-m", "kancc.cli", "plot", str(path), "-o",
                          str(tmp_path / "plots")], capture_output=True, text=True)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "plots").exists()


def test_uniform_knots_match_the_same_points_listed():
    spec = load_spec(SMALL)
    listed = spec_to_dict(spec)
    listed["layers"][0] = {"degree": 3, "knots": ["-1", "-1/2", "0", "1/2", "1"]}
    assert load_spec(listed).layers[0].knots != "uniform"
    from kancc.storage.checkpoints import Checkpoint, check_matches

    check_matches(Checkpoint(spec, {}, "", np.zeros((0, 3))), load_spec(listed))


def test_a_last_step_that_overflows_is_not_reported_done():
    spec = {**SMALL, "model": {"layers": [2, 3, 1], "dtype": "float32"},
            "train": {"steps": 1, "lr": "1e30"}}
    result = kancc.train(spec, log=None)
    assert result.status == "diverged"
    assert all(np.isfinite(v).all() for v in result.params.values())
    assert list(result.history[:, 0]) == [0]


def test_data_beyond_the_model_dtype_is_refused():
    x = np.full((8, 2), 1e300)
    with pytest.raises(kancc.KanccError, match="beyond float32's range"):
        kancc.train({**SMALL, "model": {"layers": [2, 3, 1]}}, (x, np.zeros((8, 1))), log=None)


@pytest.mark.parametrize("table, path", [
    ({"optimizer": "lbfgs", "lr": "0.1"}, "train.lr"),
    ({"steps": 5, "warmup": 6}, "train.warmup"),
    ({"deterministic": "yes"}, "train.deterministic"),
])
def test_train_table_conflicts(table, path):
    with pytest.raises(kancc.SpecError) as error:
        load_spec({"model": {"layers": [2, 1]}, "train": table})
    assert error.value.path == path


def test_atomic_outputs_get_the_usual_file_mode(tmp_path):
    import os

    out = tmp_path / "c.npz"
    save_checkpoint(out, load_spec(SMALL), kancc.compile(SMALL).init_params(0))
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)


@pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")
def test_triton_lbfgs_counts_iterations_and_learns():
    spec = {**SMALL, "train": {"optimizer": "lbfgs", "steps": 6}}
    result = kancc.train(spec, target="triton", log=None)
    assert result.status == "done" and list(result.history[:, 0]) == list(range(7))
    assert result.history[-1, 1] < 0.5 * result.history[0, 1]


def test_empty_batch_is_a_clear_error():
    program = kancc.compile(SMALL, training=True)
    with pytest.raises(ValueError, match="no rows"):
        program.value_and_grad(program.init_params(0), np.zeros((0, 2)), np.zeros((0, 1)))
