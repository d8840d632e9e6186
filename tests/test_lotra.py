"""LoTRA (the LoTRA paper): frozen pretrained layers plus Tucker adapters, trained by gradient.

Oracles: the plain model with W = W_pt + Delta W formed (forward and, by the chain rule,
gradients), central differences, and the Triton module in the interpreter."""

import random
import shutil

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.cli import main
from kancc.errors import KanccError, SpecError
from kancc.frontend import lotra_params as lotra
from kancc.frontend.param_names import FACTORS, adapter_name
from kancc.ir import parse, to_text, verify
from kancc.ir.verifier import VerifyError
from kancc.numerics.hosvd import Tucker
from kancc.spec import load_spec
from kancc.storage.checkpoints import load_checkpoint
from kancc.tools.differential_check import sample_inputs
from kancc.tools.random_specs import random_spec

EXACT_TRAINING = "expand-layers,derive-stencils,lower-basis,fuse,autodiff{wrt=params+input}," \
                 "dce,canonicalize"


def lotra_spec(seed: int, dtype: str = "float64") -> dict:
    spec = random_spec(seed, dtype=dtype, max_width=7, max_grid=7)
    cr = random.Random(seed).choice(["1/8", "1/4", "1/2", "1"])
    spec["finetune"] = {"pretrained": "unused.ckpt.npz", "tucker": cr}
    spec["train"] = {"l2": 0}
    return spec


def plain(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "finetune"}


def random_params(program: kancc.Program, seed: int) -> dict[str, np.ndarray]:
    """Every parameter random and nonzero (LoTRA starts with core = 0)."""
    rng = np.random.default_rng(seed)
    dtype = kancc.frontend.initialization.NP_DTYPES[program.spec.dtype]
    return {name: (rng.standard_normal(v.shape) / np.sqrt(v.shape[0])).astype(dtype)
            for name, v in program.init_params(seed).items()}


def adapter_grads_from_full(params: dict, dw: np.ndarray, index: int) -> dict:
    """dL/d adapter by the chain rule through Delta W = core x1 U1 x2 U2 x3 U3."""
    core, u1, u2, u3 = (params[adapter_name(index, f)] for f in FACTORS)
    return {"core": np.einsum("pqi,pa,qb,ic->abc", dw, u1, u2, u3),
            "u1": np.einsum("pqi,abc,qb,ic->pa", dw, core, u2, u3),
            "u2": np.einsum("pqi,abc,pa,ic->qb", dw, core, u1, u3),
            "u3": np.einsum("pqi,abc,pa,qb->ic", dw, core, u1, u2)}


# -- IR ------------------------------------------------------------------------------------

def test_the_lotra_ir_has_frozen_params_and_reads_back():
    program = kancc.compile(lotra_spec(1), training=True)
    for graph in (program.input_ir, program.ir):
        assert parse(to_text(graph)) == graph
    frozen = [p.name for p in program.ir.params if p.frozen]
    assert frozen == [f"layers.{i}.coef" for i in range(len(frozen))] and frozen
    assert "frozen" in to_text(program.ir)
    # the training graph returns no gradient for a frozen parameter
    assert not any(op.name == "kan.vjp_coef" for op in program.ir.ops)
    assert len(program.ir.outputs) == 1 + len(program.ir.trainable_params)


def test_the_verifier_refuses_to_differentiate_a_frozen_param():
    text = to_text(kancc.compile(plain(lotra_spec(2)), training=True).ir)
    frozen = text.replace("param @layers.0.coef: f64", "param @layers.0.coef: f64", 1)
    frozen = frozen.replace("\n", " frozen\n", 2).replace(" frozen\n", "\n", 1)
    with pytest.raises(VerifyError, match="frozen"):
        verify(parse(frozen))


# -- numerics against the merged model ----------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_forward_and_gradients_equal_the_merged_model(seed):
    spec = lotra_spec(seed)
    program = kancc.compile(spec, training=True, passes=EXACT_TRAINING)
    params = random_params(program, seed)
    merged = lotra.merged(load_spec(spec), params)
    full_program = kancc.compile(plain(spec), training=True, passes=EXACT_TRAINING)
    x = sample_inputs(load_spec(spec), 19, seed)
    y = np.random.default_rng(seed).standard_normal((19, spec["model"]["layers"][-1]))
    np.testing.assert_allclose(kancc.compile(spec).forward(params, x),
                               kancc.compile(plain(spec)).forward(merged, x), rtol=1e-10,
                               atol=1e-10)
    loss, grads = program.value_and_grad(params, x, y)
    full_loss, full_grads = full_program.value_and_grad(merged, x, y)
    assert loss == pytest.approx(full_loss, rel=1e-10)
    assert set(grads) == {p.name for p in program.ir.trainable_params} | {"x"}
    scale = max(np.abs(g).max() for g in full_grads.values())
    np.testing.assert_allclose(grads["x"], full_grads["x"], atol=1e-10 * scale)
    for index in range(len(spec["model"]["layers"]) - 1):
        expected = adapter_grads_from_full(params, full_grads[f"layers.{index}.coef"], index)
        for factor in FACTORS:
            np.testing.assert_allclose(grads[adapter_name(index, factor)],
                                       expected[factor], atol=1e-9 * scale)


@pytest.mark.parametrize("seed", range(3))
def test_gradients_equal_central_differences(seed):
    spec = lotra_spec(seed + 30)
    program = kancc.compile(spec, training=True)
    params = random_params(program, seed)
    x = sample_inputs(load_spec(spec), 9, seed)
    y = np.random.default_rng(seed).standard_normal((9, spec["model"]["layers"][-1]))
    _, grads = program.value_and_grad(params, x, y)
    rng = np.random.default_rng(seed)
    for name in grads:
        value = params[name]
        at = tuple(int(rng.integers(0, d)) for d in value.shape)
        shifted = [{**params, name: value.copy()} for _ in range(2)]
        shifted[0][name][at] += 1e-6
        shifted[1][name][at] -= 1e-6
        difference = (program.value_and_grad(shifted[0], x, y)[0] -
                      program.value_and_grad(shifted[1], x, y)[0]) / 2e-6
        assert grads[name][at] == pytest.approx(difference, rel=1e-5, abs=1e-7), name


@pytest.mark.skipif(not triton_installed(), reason="needs torch and triton")
@pytest.mark.parametrize("seed", range(2))
def test_triton_equals_numpy(seed):
    spec = lotra_spec(seed + 40)
    numpy_program = kancc.compile(spec, training=True)
    triton_program = kancc.compile(spec, "triton", training=True)
    params = random_params(numpy_program, seed)
    x = sample_inputs(load_spec(spec), 13, seed)
    y = np.random.default_rng(seed).standard_normal((13, spec["model"]["layers"][-1]))
    loss, grads = numpy_program.value_and_grad(params, x, y)
    t_loss, t_grads = triton_program.value_and_grad(params, x, y)
    assert t_loss == pytest.approx(loss, rel=1e-10)
    assert set(t_grads) == set(grads)
    for name in grads:
        np.testing.assert_allclose(t_grads[name], grads[name], rtol=1e-9, atol=1e-11)


# -- initialization and rates --------------------------------------------------------------

def test_u2_is_the_seeds_v0_for_one_sample_and_orthonormal_for_a_batch():
    spec = load_spec({"model": {"layers": [3, 4], "dtype": "float64"},
                      "finetune": {"pretrained": "p.npz", "tucker": "1/2"}})
    rng = np.random.default_rng(0)
    v0, basis = rng.standard_normal(4), rng.standard_normal((3, 8))
    one_sample = np.einsum("q,pi->pqi", v0, basis)  # dL/dW_pt of one sample
    adapter = lotra.initial_adapter(spec, {"layers.0.coef": one_sample}, seed=0)
    u2 = adapter["layers.0.lotra.u2"]
    assert abs(abs(u2[:, 0] @ v0) - np.linalg.norm(v0)) < 1e-12  # +-v0/|v0|
    np.testing.assert_allclose(u2.T @ u2, np.eye(2), atol=1e-12)
    assert not adapter["layers.0.lotra.core"].any()
    batch = lotra.initial_adapter(spec, {"layers.0.coef": rng.standard_normal((3, 4, 8))}, 0)
    np.testing.assert_allclose(batch["layers.0.lotra.u2"].T @ batch["layers.0.lotra.u2"],
                               np.eye(2), atol=1e-12)


def test_component_rates_follow_theorem_2_unless_given():
    base = {"model": {"layers": [6, 3, 1]}, "basis": {"grid": 7},
            "finetune": {"pretrained": "p.npz", "tucker": 0.5}, "train": {"lr": 0.01}}
    rates = lotra.component_rates(load_spec(base))
    assert rates["layers.0.lotra.core"] == rates["layers.0.lotra.u2"] == 0.01
    assert rates["layers.0.lotra.u1"] == pytest.approx(0.01 / 6)
    assert rates["layers.1.lotra.u1"] == pytest.approx(0.01 / 3)
    assert rates["layers.1.lotra.u3"] == pytest.approx(0.01 / 10)  # n_b = 7 + 3
    given = {**base, "finetune": {**base["finetune"], "lr": [1e-2, 2e-4, 1e-2, 1e-3]}}
    rates = lotra.component_rates(load_spec(given))
    assert rates["layers.1.lotra.u1"] == pytest.approx(2e-4)
    assert rates["layers.0.lotra.u3"] == pytest.approx(1e-3)


# -- training, checkpoints and their errors ------------------------------------------------

def write_pretrained(folder) -> None:
    pre = {"model": {"name": "pre", "layers": [2, 5, 1], "dtype": "float64"},
           "basis": {"grid": 4}, "train": {"steps": 30, "lr": 0.02},
           "data": {"source": "sin_sin", "n": 200}}
    kancc.train(pre, checkpoint=folder / "pre.ckpt.npz", log=None)


def finetune_spec(folder, **finetune) -> dict:
    table = {"pretrained": str(folder / "pre.ckpt.npz"), "tucker": 0.5, **finetune}
    return {"model": {"name": "ft", "layers": [2, 5, 1], "dtype": "float64"},
            "basis": {"grid": 4}, "train": {"steps": 40, "lr": 0.02},
            "data": {"source": "exp_sin", "n": 200}, "finetune": table}


def test_lotra_trains_only_the_adapter_and_checkpoints_it_alone(tmp_path):
    write_pretrained(tmp_path)
    pretrained = load_checkpoint(tmp_path / "pre.ckpt.npz").params
    result = kancc.train(finetune_spec(tmp_path), checkpoint=tmp_path / "ft.ckpt.npz",
                         log=None)
    assert result.status == "done"
    assert result.history[-1, 1] < 0.5 * result.history[0, 1]
    for name, value in pretrained.items():
        np.testing.assert_array_equal(result.params[name], value)  # frozen
    assert "adapter stores" in result.message
    with np.load(tmp_path / "ft.ckpt.npz") as archive:
        stored = [k for k in archive.files if k.startswith("param:")]
    assert stored and all(".lotra." in k for k in stored)
    loaded = load_checkpoint(tmp_path / "ft.ckpt.npz")
    for name, value in result.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    # the adapter finds its pretrained checkpoint relative to itself
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(tmp_path / "ft.ckpt.npz", moved)
    with pytest.raises(KanccError, match="no such file"):
        load_checkpoint(moved / "ft.ckpt.npz")
    shutil.copy(tmp_path / "pre.ckpt.npz", moved)
    load_checkpoint(moved / "ft.ckpt.npz")
    # other pretrained contents are refused
    (moved / "pre.ckpt.npz").write_bytes((tmp_path / "pre.ckpt.npz").read_bytes() + b"\0")
    with pytest.raises(KanccError, match="other contents"):
        load_checkpoint(moved / "ft.ckpt.npz")


def test_lotra_on_chosen_layers_trains_the_others_in_full(tmp_path):
    write_pretrained(tmp_path)
    pretrained = load_checkpoint(tmp_path / "pre.ckpt.npz").params
    result = kancc.train(finetune_spec(tmp_path, layers=[1]),
                         checkpoint=tmp_path / "ft.ckpt.npz", log=None)
    assert result.status == "done"
    assert result.history[-1, 1] < 0.5 * result.history[0, 1]
    np.testing.assert_array_equal(result.params["layers.1.coef"], pretrained["layers.1.coef"])
    assert not np.array_equal(result.params["layers.0.coef"], pretrained["layers.0.coef"])
    assert "layers.0.lotra.core" not in result.params
    with np.load(tmp_path / "ft.ckpt.npz") as archive:
        stored = {k.removeprefix("param:") for k in archive.files if k.startswith("param:")}
    assert stored == {"layers.0.coef", "layers.1.lotra.core", "layers.1.lotra.u1",
                      "layers.1.lotra.u2", "layers.1.lotra.u3"}
    loaded = load_checkpoint(tmp_path / "ft.ckpt.npz")
    x = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    np.testing.assert_array_equal(result.program.forward(loaded.params, x),
                                  result.program.forward(result.params, x))


def test_full_finetuning_starts_from_the_pretrained_model(tmp_path):
    write_pretrained(tmp_path)
    pretrained = load_checkpoint(tmp_path / "pre.ckpt.npz").params
    spec = finetune_spec(tmp_path, method="full")
    del spec["finetune"]["tucker"]
    spec["train"]["steps"] = 1
    result = kancc.train(spec, log=None)
    plain_spec = {k: v for k, v in spec.items() if k != "finetune"}
    program = kancc.compile(plain_spec, training=True)
    data = kancc.training.training_data.resolve_data(load_spec(plain_spec), None)[0]
    start_loss = program.value_and_grad(pretrained, data.x, data.y)[0]
    assert result.history[0, 1] == pytest.approx(start_loss, rel=1e-12)


def test_a_mismatched_pretrained_model_is_refused(tmp_path):
    write_pretrained(tmp_path)
    spec = finetune_spec(tmp_path)
    spec["model"]["layers"] = [2, 4, 1]
    with pytest.raises(KanccError, match="model.layers is \\[2, 5, 1\\] in the checkpoint"):
        kancc.train(spec, log=None)
    spec = finetune_spec(tmp_path, sha256="0" * 64)
    with pytest.raises(KanccError, match="other contents"):
        kancc.train(spec, log=None)


def test_the_cli_exits_2_on_a_missing_pretrained_checkpoint(tmp_path, capsys):
    (tmp_path / "ft.toml").write_text(
        '[model]\nlayers = [2, 3, 1]\n[finetune]\npretrained = "missing.ckpt.npz"\n'
        'tucker = 0.5\n[data]\nsource = "sin_sin"\nn = 50\n')
    assert main(["train", str(tmp_path / "ft.toml"), "-o", str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert "finetune.pretrained" in err and "missing.ckpt.npz" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("table,field", [
    ({"pretrained": "p.npz"}, "finetune.tucker"),
    ({"pretrained": "p.npz", "tucker": 1.5}, "finetune.tucker"),
    ({"pretrained": "p.npz", "tucker": 0}, "finetune.tucker"),
    ({"tucker": 0.5}, "finetune.pretrained"),
    ({"pretrained": "p.npz", "tucker": 0.5, "lr": [1, 2]}, "finetune.lr"),
    ({"pretrained": "p.npz", "tucker": 0.5, "lr": [1, 2, -3, 4]}, "finetune.lr[2]"),
    ({"pretrained": "p.npz", "method": "full", "tucker": 0.5}, "finetune.tucker"),
    ({"pretrained": "p.npz", "method": "half"}, "finetune.method"),
    ({"pretrained": "p.npz", "tucker": 0.5, "sha256": "abc"}, "finetune.sha256"),
    ({"pretrained": "p.npz", "tucker": 0.5, "layers": [2]}, "finetune.layers[0]"),
    ({"pretrained": "p.npz", "tucker": 0.5, "layers": [1, 1]}, "finetune.layers[1]"),
    ({"pretrained": "p.npz", "tucker": 0.5, "layers": []}, "finetune.layers"),
    ({"pretrained": "p.npz", "method": "full", "layers": [0]}, "finetune.layers"),
])
def test_bad_finetune_tables_name_the_field(table, field):
    with pytest.raises(SpecError) as error:
        load_spec({"model": {"layers": [2, 3, 1]}, "finetune": table})
    assert error.value.path == field


def test_lotra_refuses_tucker_layers_and_other_training_methods():
    base = {"model": {"layers": [2, 3, 1]},
            "finetune": {"pretrained": "p.npz", "tucker": 0.5}}
    with pytest.raises(SpecError, match="LoTRA adapts models of full layers"):
        load_spec({**base, "layers": [{"tucker": 0.5}, {}]})
    with pytest.raises(SpecError) as error:  # also where the Tucker layer has no adapter
        load_spec({**base, "finetune": {**base["finetune"], "layers": [1]},
                   "layers": [{"tucker": 0.5}, {}]})
    assert error.value.path == "layers[0].tucker"
    with pytest.raises(SpecError) as error:
        load_spec({**base, "train": {"optimizer": "lbfgs"}})
    assert error.value.path == "train.optimizer"
    with pytest.raises(SpecError) as error:
        load_spec({**base, "train": {"multilevel": {"epochs": [2, 2]}}})
    assert error.value.path == "train.multilevel"


def test_parameterization_passes_refuse_a_lotra_model():
    for passes in ("tucker{cr=1/2},inference", "refine,inference"):
        with pytest.raises(KanccError, match="frozen"):
            kancc.compile(lotra_spec(3), passes=passes)


def test_analyze_shows_the_update_of_a_lotra_checkpoint(tmp_path, capsys):
    write_pretrained(tmp_path)
    kancc.train(finetune_spec(tmp_path), checkpoint=tmp_path / "ft.ckpt.npz", log=None)
    assert main(["analyze", str(tmp_path / "ft.ckpt.npz")]) == 0
    out = capsys.readouterr().out
    assert "LoTRA update W_ft - W_pt (adapter ranks [1, 3, 4])" in out
    assert "fine-tuned W_ft" in out


def test_merged_update_is_the_tucker_product():
    rng = np.random.default_rng(0)
    params = {f"layers.0.lotra.{c}": rng.standard_normal(s) for c, s in
              zip(FACTORS, [(2, 2, 3), (4, 2), (3, 2), (6, 3)])}
    params["layers.0.coef"] = rng.standard_normal((4, 3, 6))
    spec = load_spec({"model": {"layers": [4, 3]}, "basis": {"grid": 3},
                      "finetune": {"pretrained": "p.npz", "tucker": "1/2"}})
    tucker = Tucker(params["layers.0.lotra.core"],
                    tuple(params[f"layers.0.lotra.u{k}"] for k in (1, 2, 3)))
    np.testing.assert_allclose(lotra.merged(spec, params)["layers.0.coef"],
                               params["layers.0.coef"] + tucker.full())


@pytest.mark.parametrize("which", ["lotra", "slim"])
def test_kancc_check_checks_factorized_models_against_their_formed_twin(which):
    from kancc.tools.differential_check import differential_check
    from kancc.tools.random_specs import random_tucker_spec

    spec = lotra_spec(5) if which == "lotra" else random_tucker_spec(5)
    targets = ("numpy", "triton") if triton_installed() else ("numpy",)
    report = differential_check(spec, samples=17, seed=1, targets=targets)
    assert report.ok, "\n".join(report.lines())
    names = [c.name for c in report.comparisons]
    assert "numpy f64: factorized vs W formed" in names
    assert "gradients f64 vs central differences, factorized" in names


@pytest.mark.skipif(not triton_installed(), reason="needs torch and triton")
def test_lotra_trains_on_the_triton_target_with_w_pt_frozen(tmp_path):
    write_pretrained(tmp_path)
    pretrained = load_checkpoint(tmp_path / "pre.ckpt.npz").params
    spec = finetune_spec(tmp_path)
    spec["train"]["steps"] = 3
    result = kancc.train(spec, target="triton", log=None)
    numpy_result = kancc.train(spec, log=None)
    for name, value in pretrained.items():
        np.testing.assert_array_equal(result.params[name], value)
    # the same Adam with the same per-component rates on both targets
    for name, value in numpy_result.params.items():
        np.testing.assert_allclose(result.params[name], value, rtol=1e-7, atol=1e-10)
