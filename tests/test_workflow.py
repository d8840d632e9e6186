"""From data to predictions: metrics (against scikit-learn), kancc eval, keep/patience,
[data] standardize compiled into the model, and the out-of-domain warning."""

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.exceptions import UndefinedMetricWarning

import kancc
from kancc.backends import run_anywhere
from kancc.cli import main
from kancc.data.metrics import classification_metrics, metrics, regression_metrics
from kancc.errors import KanccWarning, SpecError
from kancc.spec.toml_text import spec_to_toml
from kancc.storage import load_checkpoint
from kancc.tools.domain_check import outside_domain
from kancc.training.training_data import resolve_data

ROOT = Path(__file__).resolve().parents[1]


def small_spec(**train):
    return {"model": {"name": "small", "layers": [2, 3, 1], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 4, "domain": ["-3", "3"]},
            "train": {"optimizer": "adam", "lr": "0.02", "steps": 60, "seed": 0, **train}}


def shifted_data(n=300, seed=0):
    """Inputs far from [-1, 1] and an output of mean 50: what standardization is for."""
    rng = np.random.default_rng(seed)
    x = rng.normal([10.0, -4.0], [3.0, 0.5], (n, 2))
    y = 50 + 8 * np.sin((x[:, :1] - 10) / 3) + 5 * (x[:, 1:] + 4)
    return x, y


def test_regression_metrics_equal_sklearn():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    got = regression_metrics(p, y)
    assert got["mse"] == pytest.approx(sk.mean_squared_error(y, p), rel=1e-12)
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(y, p), rel=1e-12)
    assert got["rmse"] != pytest.approx(np.sqrt(sk.mean_squared_error(y, p)), rel=1e-6)
    assert got["r2"] == pytest.approx(sk.r2_score(y, p), rel=1e-12)
    constant = np.ones((5, 1))
    assert regression_metrics(constant, constant)["r2"] == sk.r2_score(constant, constant)
    assert regression_metrics(constant + 1, constant)["r2"] == sk.r2_score(constant,
                                                                             constant + 1)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(sk.r2_score(constant[:1], constant[:1] + 1))
    assert np.isnan(regression_metrics(constant[:1] + 1, constant[:1])["r2"])


def test_classification_metrics_equal_sklearn():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(size=(50, 4)), rng.integers(0, 4, 50)
    got = classification_metrics(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert got["accuracy"] == sk.accuracy_score(labels, logits.argmax(axis=1))
    assert got["cross_entropy"] == pytest.approx(sk.log_loss(labels, probs, labels=range(4)),
                                                 rel=1e-10)
    assert metrics("cross_entropy", logits, labels) == got


def test_train_run_eval_from_the_command_line(tmp_path, capsys):
    x, y = shifted_data()
    spec = tmp_path / "s.toml"
    spec.write_text("""
[model]
layers = [2, 3, 1]
dtype = "float64"
[basis]
grid = 4
domain = [-3, 3]
[train]
steps = 40
lr = 0.02
[data]
source = "train.csv"
validation = 0.25
standardize = true
""")
    np.savetxt(tmp_path / "train.csv", np.c_[x[:200], y[:200]], delimiter=",")
    np.savetxt(tmp_path / "test.csv", np.c_[x[200:], y[200:]], delimiter=",")
    np.save(tmp_path / "x.npy", x[200:])
    ckpt, out = str(tmp_path / "c.npz"), str(tmp_path / "y.npy")
    assert main(["train", str(spec), "-o", ckpt, "--quiet"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "trained 40 steps" in summary[0]
    assert "validation mse" in summary[0] and "r2" in summary[0]
    assert main(["run", ckpt, "--input", str(tmp_path / "x.npy"), "-o", out]) == 0
    assert main(["eval", ckpt, "--data", str(tmp_path / "test.csv"), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    predicted = np.load(out)
    assert set(reported) == {"mse", "rmse", "r2"}
    assert reported["mse"] == pytest.approx(sk.mean_squared_error(y[200:], predicted), 1e-12)
    assert reported["r2"] == pytest.approx(sk.r2_score(y[200:], predicted), rel=1e-12)
    assert reported["r2"] > 0.5  # standardized: the raw data trains


@pytest.mark.filterwarnings("ignore::kancc.errors.KanccWarning")  # raw data, on purpose
def test_eval_refuses_bad_data_with_one_line(tmp_path, capsys):
    x, y = shifted_data(50)
    result = kancc.train(small_spec(), (x, y), log=None, checkpoint=tmp_path / "c.npz")
    assert result.status == "done"
    assert main(["eval", str(ROOT / "examples" / "cubic_2_5_1.toml"), "--data", "x.csv"]) == 2
    assert "eval takes a checkpoint" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("1,2\n3,oops\n")
    assert main(["eval", str(tmp_path / "c.npz"), "--data", str(tmp_path / "bad.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv" in err[0]


def test_keep_best_returns_the_lowest_validation_row():
    x, y = shifted_data()
    spec = {**small_spec(keep="best", validate_every=5, lr="0.2", batch_size=50),
            "data": {"source": "unused.csv", "validation": "0.3", "standardize": "both"}}
    result = kancc.train(spec, (x, y), log=None)
    rows = result.history
    measured = ~np.isnan(rows[:, 2])
    best = np.flatnonzero(measured)[np.argmin(rows[measured, 2])]
    assert result.kept == best
    assert result.loss == rows[best, 1] and result.validation_loss == rows[best, 2]
    train_set, _ = resolve_data(kancc.load_spec(spec), (x, y))
    full = kancc.compile(result.program.spec, training=True).value_and_grad(
        kancc.compile(result.program.spec).pipeline.map_params(result.params), train_set.x,
        train_set.y)[0]
    assert result.loss == pytest.approx(full, rel=1e-12)
    program = kancc.compile(result.program.spec, training=True)
    _, val_set = resolve_data(kancc.load_spec(spec), (x, y))
    loss = program.value_and_grad(program.pipeline.map_params(result.params), val_set.x,
                                  val_set.y)[0]
    assert loss == pytest.approx(rows[best, 2], rel=1e-12)


def test_keep_best_and_patience_need_a_validation_split():
    x, y = shifted_data(60)
    for train in ({"keep": "best"}, {"patience": 5}):
        with pytest.raises(kancc.KanccError, match="needs a validation split"):
            kancc.train(small_spec(**train), (x, y), log=None)


def test_patience_counts_only_before_the_last_step():
    x, y = shifted_data()
    spec = {**small_spec(patience=1, validate_every=30, steps=60),
            "data": {"source": "unused.csv", "validation": "0.3", "standardize": "both"}}
    result = kancc.train(spec, (x, y), log=None)
    assert int(result.history[-1, 0]) == 60 or "stopped early after 30" in result.message
    assert "stopped early after 60" not in result.message


def test_patience_stops_early():
    x, y = shifted_data()
    spec = {**small_spec(patience=10, validate_every=5, steps=2000, lr="0.05",
                         batch_size=64),
            "data": {"source": "unused.csv", "validation": "0.3", "standardize": "both"}}
    result = kancc.train(spec, (x, y), log=None)
    assert result.status == "done" and "stopped early" in result.message
    last = int(result.history[-1, 0])
    assert last < 2000
    program = kancc.compile(result.program.spec, training=True)
    train_set, _ = resolve_data(kancc.load_spec(spec), (x, y))
    full = program.value_and_grad(program.pipeline.map_params(result.params), train_set.x,
                                  train_set.y)[0]
    assert result.loss == pytest.approx(full, rel=1e-12)  # not a minibatch's loss
    measured = result.history[~np.isnan(result.history[:, 2])]
    best_step = int(measured[np.argmin(measured[:, 2]), 0])
    assert last - best_step >= 10


def test_standardize_is_compiled_into_the_model():
    x, y = shifted_data()
    spec = {**small_spec(), "data": {"source": "unused.csv", "standardize": "both"}}
    result = kancc.train(spec, (x, y), log=None)
    fitted = result.program.spec
    scaling = fitted.scaling
    assert scaling is not None
    np.testing.assert_allclose([float(v) for v in scaling.input_mean], x.mean(axis=0),
                               rtol=1e-5)
    np.testing.assert_allclose([float(v) for v in scaling.output_std], y.std(axis=0),
                               rtol=1e-5)
    program = kancc.compile(fitted, check_roundtrip=True)
    affines = [i for i, op in enumerate(program.ir.ops) if op.name == "kan.affine"]
    assert affines == [0, len(program.ir.ops) - 1]
    # the same model without [scaling], on data standardized by hand
    plain = kancc.compile({**small_spec()})
    mean_x = np.array([float(v) for v in scaling.input_mean])
    std_x = np.array([float(v) for v in scaling.input_std])
    inner = plain.forward(plain.pipeline.map_params(result.params), (x - mean_x) / std_x)
    expected = inner * float(scaling.output_std[0]) + float(scaling.output_mean[0])
    np.testing.assert_allclose(program.forward(program.pipeline.map_params(result.params), x),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("target", ["numpy", "triton"])
def test_standardized_gradients_match_finite_differences(target):
    run_anywhere(target)
    spec = {**small_spec(), "scaling": {"input_mean": ["10", "-4"], "input_std": ["3", "1/2"],
                                        "output_mean": ["50"], "output_std": ["8"]}}
    program = kancc.compile(spec, target, training=True)
    params = program.init_params(3)
    x, y = shifted_data(30)
    _, grads = program.value_and_grad(params, x, y)
    eps = 1e-6
    for name in params:
        index = tuple(s // 2 for s in params[name].shape)
        step = np.zeros_like(params[name])
        step[index] = eps
        up = program.value_and_grad({**params, name: params[name] + step}, x, y)[0]
        down = program.value_and_grad({**params, name: params[name] - step}, x, y)[0]
        assert grads[name][index] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_run_with_a_checkpoint_takes_its_scaling(tmp_path):
    x, y = shifted_data(80)
    spec = {**small_spec(), "data": {"source": "unused.csv", "standardize": "inputs"}}
    kancc.train(spec, (x, y), log=None, checkpoint=tmp_path / "c.npz")
    checkpoint = load_checkpoint(tmp_path / "c.npz")
    assert checkpoint.spec.scaling is not None and checkpoint.spec.scaling.output_mean is None
    (tmp_path / "s.toml").write_text("""
[model]
layers = [2, 3, 1]
dtype = "float64"
[basis]
grid = 4
domain = [-3, 3]
""")
    np.save(tmp_path / "x.npy", x)
    for model in (["run", str(tmp_path / "c.npz")],
                  ["run", str(tmp_path / "s.toml"), "--params", str(tmp_path / "c.npz")]):
        assert main([*model, "--input", str(tmp_path / "x.npy"), "-o",
                     str(tmp_path / "y.npy")]) == 0
        expected = kancc.compile(checkpoint.spec).forward(checkpoint.params, x)
        np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_out_of_domain_warning_names_the_layer():
    x, y = shifted_data()
    with pytest.warns(KanccWarning, match=r"training data, layer 0: 9\d\.\d% of its inputs "
                                          r"outside \[-3, 3\]; layer 1: "):
        kancc.train(small_spec(), (x, y), log=None)
    standardized = {**small_spec(), "data": {"source": "unused.csv", "standardize": "both"}}
    result = kancc.train(standardized, (x, y), log=None)
    report = outside_domain(result.program.spec, result.params, x)
    assert report[0].fraction < 0.01  # standardized inputs within 3 std
    with warnings.catch_warnings():
        warnings.simplefilter("error", KanccWarning)
        kancc.train({**small_spec(), "basis": {"grid": 4, "domain": ["-30", "30"]}},
                    (x, y), log=None)


@pytest.mark.parametrize("change, field", [
    ({"train": {"method": "newton-kaczmarz"}, "data": {"source": "s", "standardize": True}},
     "data.standardize"),
    ({"data": {"source": "s", "standardize": "sideways"}}, "data.standardize"),
    ({"train": {"loss": "cross_entropy"}, "model": {"layers": [2, 3]},
      "data": {"source": "s", "standardize": "outputs"}}, "data.standardize"),
    ({"scaling": {"input_mean": ["1", "2"]}}, "scaling.input_std"),
    ({"scaling": {"input_mean": ["1"], "input_std": ["1"]}}, "scaling.input_mean"),
    ({"scaling": {"output_mean": ["1"], "output_std": ["0"]}}, "scaling.output_std[0]"),
    ({"train": {"keep": "best", "multilevel": {"epochs": [1, 1]}}}, "train.keep"),
    ({"train": {"patience": 0}}, "train.patience"),
])
def test_bad_workflow_keys_name_their_field(change, field):
    spec = {"model": {"name": "m", "layers": [2, 3, 1]}, "basis": {"degree": 1}}
    for table, values in change.items():
        spec[table] = {**spec.get(table, {}), **values}
    with pytest.raises(SpecError) as info:
        kancc.load_spec(spec)
    assert info.value.path == field


def test_knots_at_quantiles_keep_the_function_and_training_continues(tmp_path, capsys):
    spec = {"model": {"name": "q", "layers": [2, 3, 1], "dtype": "float64"},
            "basis": {"degree": 3, "grid": 4, "knots": [-1, "-3/10", 0, "1/2", 1]},
            "train": {"steps": 20, "lr": "0.05"},
            "data": {"source": "sin_sin", "n": 300}}
    kancc.train(spec, log=None, checkpoint=tmp_path / "c.npz")
    rng = np.random.default_rng(5)
    x = np.c_[rng.beta(2, 5, 400) * 2 - 1, rng.uniform(-1, 1, 400)]  # skewed first input
    np.savetxt(tmp_path / "d.csv", np.c_[x, np.zeros(400)], delimiter=",")
    refined = str(tmp_path / "r.npz")
    assert main(["refine", str(tmp_path / "c.npz"), "--at", "quantiles", "--data",
                 str(tmp_path / "d.csv"), "-o", refined]) == 0
    coarse, fine = load_checkpoint(tmp_path / "c.npz"), load_checkpoint(refined)
    for before, after in zip(coarse.spec.layers, fine.spec.layers):
        assert set(before.points) < set(after.points)
        # an end cell is only ever halved: its exterior knots stay nested
        for end in (slice(0, 2), slice(-2, None)):
            inside = [p for p in after.points if before.points[end][0] < p < before.points[end][1]]
            assert inside in ([], [sum(before.points[end]) / 2])
    probe = np.random.default_rng(6).uniform(-1.4, 1.4, (500, 2))  # beyond the domain too
    y_coarse = kancc.compile(coarse.spec).forward(coarse.params, probe)
    y_fine = kancc.compile(fine.spec).forward(fine.params, probe)
    assert np.abs(y_fine - y_coarse).max() <= 1e-12 * np.abs(y_coarse).max()
    assert main(["train", refined, "--steps", "5", "-o", str(tmp_path / "n.npz"),
                 "--quiet"]) == 0
    assert "trained 5 steps" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "n.npz").spec.layers == fine.spec.layers


def test_refine_at_quantiles_needs_data(tmp_path, capsys):
    kancc.train(small_spec(steps=1), shifted_data(20), log=None, checkpoint=tmp_path / "c.npz")
    assert main(["refine", str(tmp_path / "c.npz"), "--at", "quantiles", "-o",
                 str(tmp_path / "r.npz")]) == 2
    assert "--at quantiles needs --data" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_domain_auto_is_chosen_from_the_training_data(tmp_path):
    x, y = shifted_data()
    spec = {"model": {"name": "auto", "layers": [2, 3, 1], "dtype": "float64"},
            "basis": {"grid": 4, "domain": "auto"}, "train": {"steps": 5, "seed": 3}}
    with pytest.raises(SpecError) as info:
        kancc.compile(spec)
    assert info.value.path == "layers[0].domain"
    assert kancc.loads_spec(spec_to_toml(kancc.load_spec(spec))) == kancc.load_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KanccWarning)
        result = kancc.train(spec, (x, y), log=None, checkpoint=tmp_path / "c.npz")
    fitted = load_checkpoint(tmp_path / "c.npz").spec
    (low, high), (hidden_low, hidden_high) = (b.domain for b in fitted.layers)
    span = x.max() - x.min()
    assert float(low) <= x.min() - 0.09 * span and float(high) >= x.max() + 0.09 * span
    assert float(low) >= x.min() - 0.11 * span - 0.1 and float(high) <= x.max() + 0.11 * span + 0.1
    assert all(len(str(abs(v.numerator))) <= 4 for v in (low, high))  # 3 significant digits
    start = kancc.compile(dataclasses.replace(fitted, layers=fitted.layers[:1],
                                              widths=fitted.widths[:2]))
    hidden = start.forward({"layers.0.coef": start.spec_init_params(3)["layers.0.coef"]}, x)
    assert float(hidden_low) < hidden.min() and hidden.max() < float(hidden_high)
    assert result.program.spec.layers == fitted.layers
    (tmp_path / "s.toml").write_text(spec_to_toml(kancc.load_spec(spec)))
    np.save(tmp_path / "x.npy", x[:7])
    assert main(["run", str(tmp_path / "s.toml"), "--params", str(tmp_path / "c.npz"),
                 "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 0
    expected = kancc.compile(fitted).forward(load_checkpoint(tmp_path / "c.npz").params, x[:7])
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_domain_auto_after_standardization_sees_standardized_inputs():
    x, y = shifted_data()
    spec = {**small_spec(steps=3), "basis": {"grid": 4, "domain": "auto"},
            "data": {"source": "unused.csv", "standardize": "inputs"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KanccWarning)
        fitted = kancc.train(spec, (x, y), log=None).program.spec
    low, high = fitted.layers[0].domain
    assert -6 < float(low) < -1 and 1 < float(high) < 6


def test_knots_at_quantiles_near_a_knot(tmp_path):
    spec = {"model": {"name": "q", "layers": [1, 1], "dtype": "float64"},
            "basis": {"degree": 1, "knots": ["1/3", "2/3", 1, "4/3"]}}
    params = kancc.compile(spec).spec_init_params(0)
    kancc.save_checkpoint(tmp_path / "c.npz", kancc.load_spec(spec), params)
    np.savetxt(tmp_path / "d.csv", np.c_[np.full(20, 0.6666667), np.zeros(20)], delimiter=",")
    assert main(["refine", str(tmp_path / "c.npz"), "--at", "quantiles", "--data",
                 str(tmp_path / "d.csv"), "-o", str(tmp_path / "r.npz")]) == 0


def test_scaling_the_checkpoint_was_trained_without_is_refused(tmp_path, capsys):
    kancc.train(small_spec(steps=2), shifted_data(40), log=None, checkpoint=tmp_path / "c.npz")
    (tmp_path / "s.toml").write_text(spec_to_toml(kancc.load_spec(
        {**small_spec(), "scaling": {"output_mean": ["150"], "output_std": ["70"]}})))
    np.save(tmp_path / "x.npy", shifted_data(5)[0])
    assert main(["run", str(tmp_path / "s.toml"), "--params", str(tmp_path / "c.npz"),
                 "--input", str(tmp_path / "x.npy")]) == 2
    assert "trained with no [scaling] maps" in capsys.readouterr().err
    standardized = {**small_spec(), "data": {"source": "unused.csv", "standardize": "both"}}
    with pytest.raises(kancc.KanccError, match="would fit new \\[scaling\\] maps"):
        kancc.train(standardized, shifted_data(40), log=None,
                    params=load_checkpoint(tmp_path / "c.npz").params)


def test_the_validation_loss_is_unpenalized():
    x, y = shifted_data()
    spec = {**small_spec(l2="0.5", steps=10),
            "data": {"source": "unused.csv", "validation": "0.3", "standardize": "both"}}
    result = kancc.train(spec, (x, y), log=None)
    _, val_set = resolve_data(kancc.load_spec(spec), (x, y))
    prediction = kancc.compile(result.program.spec).forward(result.params, val_set.x)
    assert result.validation_loss == pytest.approx(sk.mean_squared_error(val_set.y, prediction),
                                                   rel=1e-12)
    assert result.validation_loss == result.validation_metrics["mse"]
