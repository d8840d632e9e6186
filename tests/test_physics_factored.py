"""Physics-informed training of Tucker (Slim) layers and of fine-tuning ([finetune]): the
physics program runs on the unfactorized model and the optimizer moves the factors or the
LoTRA adapter (kancc.training.factored_layers). Oracles: central differences of the loss as
a function of the factors, the pretrained model's loss on the new problem (where a LoTRA or
full fine-tuning run starts), and the checkpoint read back."""

import numpy as np
import pytest
from central_differences import assert_gradient_matches

import kancc
from kancc.errors import KanccError
from kancc.frontend.param_names import adapter_names, coef_name, tucker_names
from kancc.physics.problem import collocation_inputs
from kancc.spec import load_spec
from kancc.storage import load_checkpoint
from kancc.tools.unfactorized import unfactorized_spec
from kancc.training.factored_layers import FactoredLayers, factored_start

POISSON = {
    "model": {"layers": [2, 4, 1], "dtype": "float64"},
    "basis": {"kind": "chebyshev", "degree": 3},
    "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]], "parameters": {"lam": 0},
            "solution": "(1 + lam*x)*sin(pi*x)*sin(pi*y)", "residual": "lap(u) - f",
            "points": 48,
            "condition": [{"kind": "dirichlet", "value": "solution", "points": 16}]},
    "train": {"lr": "0.01", "steps": 30},
}


def _with_lam(lam, **tables):
    return {**POISSON, "pde": {**POISSON["pde"], "parameters": {"lam": lam}}, **tables}


@pytest.mark.parametrize("factored", ["tucker", "lotra"])
def test_the_gradient_in_the_factors_equals_central_differences(factored, tmp_path):
    rng = np.random.default_rng(5)
    if factored == "tucker":
        spec = load_spec({**POISSON, "layers": [{"tucker": [2, 3, 3]}, {}]})
        frozen = {}
        names = tucker_names(0)
    else:
        pretrained = tmp_path / "pre.ckpt.npz"
        kancc.train(POISSON, checkpoint=pretrained, log=None)
        spec = load_spec(_with_lam(1, finetune={"pretrained": str(pretrained),
                                                "tucker": 0.5}))
        frozen = dict(load_checkpoint(pretrained).params)
        names = adapter_names(0) + adapter_names(1)
    program = kancc.compile(unfactorized_spec(spec), training=True)
    inputs = collocation_inputs(spec, 0)
    factored = FactoredLayers(spec, frozen)
    shapes = {d.name: d.shape for d in kancc.frontend.spec_parameters(spec)}
    variables = {name: rng.standard_normal(shape) * 0.5 for name, shape in shapes.items()
                 if name not in frozen}
    assert set(names) <= set(variables)

    def loss(current):
        return program.physics_loss(factored.coefficients(current), inputs).loss

    result = program.physics_loss(factored.coefficients(variables), inputs)
    assert_gradient_matches(loss, variables, factored.gradient(result.grads, variables))


def test_a_slim_pde_model_trains_and_its_checkpoint_holds_the_factors(tmp_path):
    spec = {**POISSON, "layers": [{}, {"tucker": [2, 1, 2]}], "train": {"lr": "0.01",
                                                                        "steps": 40}}
    with pytest.raises(KanccError, match=r"layers\[1\] is a Tucker .*unfactorized_spec"):
        kancc.compile(spec, training=True)  # the loss is the unfactorized model's
    path = tmp_path / "slim.ckpt.npz"
    result = kancc.train(spec, checkpoint=path, log=None)
    assert result.status == "done"
    assert result.history[-1, 1] < 0.5 * result.history[0, 1]
    assert set(tucker_names(1)) <= set(result.params) and coef_name(1) not in result.params
    stored = load_checkpoint(path)
    x = np.random.default_rng(0).uniform(-1, 1, (7, 2))
    np.testing.assert_allclose(result.program.forward(stored.params, x),
                               result.program.forward(result.params, x), rtol=0, atol=0)


@pytest.mark.parametrize("method, adapted", [("lotra", [0, 1]), ("lotra", [1]), ("full", [])])
def test_fine_tuning_starts_at_the_pretrained_model_and_lowers_the_new_loss(method, adapted,
                                                                            tmp_path):
    pretrained = tmp_path / "pre.ckpt.npz"
    before = kancc.train({**POISSON, "train": {"lr": "0.01", "steps": 60}},
                         checkpoint=pretrained, log=None)
    finetune = {"pretrained": str(pretrained), "method": method}
    if method == "lotra":
        finetune.update(tucker=0.5, layers=adapted)
    new = _with_lam(1, finetune=finetune, train={"lr": "0.01", "steps": 100})
    new_spec = load_spec(new)
    inputs = collocation_inputs(new_spec, 0)
    program = kancc.compile(unfactorized_spec(new_spec), training=True)
    start_loss = program.physics_loss(before.params, inputs).loss
    saved = tmp_path / "adapted.ckpt.npz"
    result = kancc.train(new, checkpoint=saved, log=None)
    assert result.status == "done"
    assert result.history[0, 1] == pytest.approx(start_loss, rel=1e-12)
    assert result.history[-1, 1] < 0.5 * start_loss
    read = load_checkpoint(saved)
    with np.load(saved) as stored:
        stored_names = {k.removeprefix("param:") for k in stored if k.startswith("param:")}
    expected = {name for i in adapted for name in adapter_names(i)}
    assert stored_names == expected | {coef_name(i) for i in range(2) if i not in adapted}
    for index in range(2):  # W_pt stays frozen where there is an adapter
        same = np.array_equal(result.params[coef_name(index)], before.params[coef_name(index)])
        assert same == (index in adapted)
    x = np.random.default_rng(1).uniform(-1, 1, (5, 2))
    np.testing.assert_allclose(result.program.forward(read.params, x),
                               result.program.forward(result.params, x), rtol=0, atol=1e-14)


def test_lotra_components_train_at_their_own_rates(tmp_path):
    pretrained = tmp_path / "pre.ckpt.npz"
    kancc.train(POISSON, checkpoint=pretrained, log=None)
    tiny = "1e-12"
    spec = load_spec(_with_lam(1, finetune={
        "pretrained": str(pretrained), "tucker": 0.5, "lr": ["0.01", tiny, tiny, tiny]},
        train={"lr": "0.01", "steps": 5}))
    program = kancc.compile(unfactorized_spec(spec), training=True)
    start, _ = factored_start(spec, program, collocation_inputs(spec, 0))
    result = kancc.train(spec, log=None)
    core, u1, u2, u3 = adapter_names(1)
    assert np.abs(start[core]).max() == 0  # eq. (8): the adapter starts at zero
    assert np.abs(result.params[core] - start[core]).max() > 1e-3
    for name in (u1, u2, u3):
        assert np.abs(result.params[name] - start[name]).max() < 1e-9


def test_the_elliptic_examples_pretrain_and_fine_tune_through_the_cli(tmp_path, capsys):
    from pathlib import Path

    from kancc.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples"
    (tmp_path / "examples").mkdir()
    for name in ("elliptic_pretrain.toml", "elliptic_lotra.toml"):
        text = (examples / name).read_text()
        text = text.replace("steps = 1000", "steps = 20").replace("steps = 300", "steps = 20")
        (tmp_path / "examples" / name).write_text(text.replace("points = 1000", "points = 64"))
    pretrained = tmp_path / "build" / "elliptic_pretrained.ckpt.npz"
    assert main(["train", str(tmp_path / "examples" / "elliptic_pretrain.toml"),
                 "-o", str(pretrained)]) == 0
    adapted = tmp_path / "build" / "elliptic_lotra.ckpt.npz"
    assert main(["train", str(tmp_path / "examples" / "elliptic_lotra.toml"),
                 "-o", str(adapted)]) == 0
    assert "the checkpoint stores (adapters and the layers fine-tuned in full)" in \
        capsys.readouterr().out
    assert load_checkpoint(adapted).spec.finetune.layers == (1,)


def test_given_params_are_checked_cast_and_resume_a_lotra_run(tmp_path):
    pretrained = tmp_path / "pre.ckpt.npz"
    kancc.train({**POISSON, "model": {"layers": [2, 4, 1], "dtype": "float32"}},
                checkpoint=pretrained, log=None)
    spec = _with_lam(1, model={"layers": [2, 4, 1], "dtype": "float32"},
                     finetune={"pretrained": str(pretrained), "tucker": 0.5, "layers": [1]},
                     train={"lr": "0.01", "steps": 10})
    first = kancc.train(spec, log=None)
    with pytest.raises(KanccError, match="params do not fit the model"):
        kancc.train(spec, params=load_checkpoint(pretrained).params, log=None)
    given = {k: v.astype(np.float64) for k, v in first.params.items()}
    resumed = kancc.train(spec, params=given, log=None)
    assert all(v.dtype == np.float32 for v in resumed.params.values())
    assert resumed.history[0, 1] == pytest.approx(first.history[-1, 1], rel=1e-5)
