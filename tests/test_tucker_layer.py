"""Tucker (Slim) layers of the LoTRA paper: the spec key, the kan.tucker_layer op, its gradients and
its parameters, checked against the full model with W = core x1 U1 x2 U2 x3 U3 formed
(the independent oracle), central differences, and the spec's error rules."""

import re

import numpy as np
import pytest

import kancc
from kancc.errors import KanccError, SpecError
from kancc.ir import parse, to_text, verify
from kancc.ir.verifier import VerifyError
from kancc.numerics.hosvd import Tucker, discarded_energy
from kancc.spec import load_spec, spec_to_dict
from kancc.storage.checkpoints import load_checkpoint, save_checkpoint
from kancc.tools.differential_check import sample_inputs
from kancc.tools.random_specs import random_spec
from kancc.tools.random_specs import random_tucker_spec as tucker_spec

FACTORS = ("core", "u1", "u2", "u3")


def inputs(spec: dict, n: int, seed: int) -> np.ndarray:
    return sample_inputs(load_spec(spec), n, seed)


def random_spec_full(seed: int) -> dict:
    return random_spec(seed, dtype="float64", max_width=9, max_grid=9)


def random_params(program: kancc.Program, seed: int) -> dict[str, np.ndarray]:
    """Every parameter random and nonzero (the Slim initialization has core = 0)."""
    rng = np.random.default_rng(seed)
    dtype = kancc.frontend.initialization.NP_DTYPES[program.spec.dtype]
    return {name: (rng.standard_normal(v.shape) / np.sqrt(v.shape[0])).astype(dtype)
            for name, v in program.init_params(seed).items()}


def full_model(spec: dict, params: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The same model with every Tucker layer's W formed: the oracle."""
    full = {**spec, "layers": [{k: v for k, v in layer.items() if k != "tucker"}
                               for layer in spec["layers"]]}
    coefs = {}
    for index in range(len(spec["layers"])):
        name = f"layers.{index}"
        if f"{name}.coef" in params:
            coefs[f"{name}.coef"] = params[f"{name}.coef"]
        else:
            core, u1, u2, u3 = (params[f"{name}.{f}"] for f in FACTORS)
            coefs[f"{name}.coef"] = Tucker(core, (u1, u2, u3)).full()
    return full, coefs


# -- the spec ------------------------------------------------------------------------------

def test_ranks_from_cr_or_per_mode_and_opt_out():
    spec = load_spec({"model": {"layers": [3, 16, 2]}, "basis": {"tucker": 0.5, "grid": 5},
                      "layers": [{"tucker": False}, {"tucker": [4, 1, 3]}]})
    assert spec.layers[0].tucker is None
    assert spec.layers[1].tucker == (4, 1, 3)
    spec = load_spec({"model": {"layers": [3, 16, 2]}, "basis": {"tucker": "1/3"}})
    assert [basis.tucker for basis in spec.layers] == [(1, 6, 3), (6, 1, 3)]  # ceil(n/3)
    assert load_spec(spec_to_dict(spec)) == spec


@pytest.mark.parametrize("layer, field, message", [
    ({"tucker": 0}, "layers[1].tucker", "must be in (0, 1], got 0"),
    ({"tucker": 1.5}, "layers[1].tucker", "must be in (0, 1], got 1.5"),
    ({"tucker": [4, 2, 9]}, "layers[1].tucker[2]", "basis rank 9 is larger than the mode's "
                                                   "size 8"),
    ({"tucker": [17, 1, 1]}, "layers[1].tucker[0]", "in rank 17 is larger"),
    ({"tucker": [1, 1]}, "layers[1].tucker", "3 ranks"),
    ({"tucker": [0, 1, 1]}, "layers[1].tucker[0]", "positive integer"),
    ({"tucker": "all"}, "layers[1].tucker", "must be a number"),
])
def test_bad_tucker_values_name_the_field(layer, field, message):
    with pytest.raises(SpecError) as info:
        load_spec({"model": {"layers": [3, 16, 2]}, "layers": [{}, layer]})
    assert field in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("train, field", [
    ({"multilevel": {"epochs": [1, 1]}}, "train.multilevel"),
    ({"geometry": "relu"}, "train.geometry"),
])
def test_tucker_layers_refuse_what_does_not_apply(train, field):
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        load_spec({"model": {"layers": [2, 4, 1]}, "basis": {"tucker": 0.5}, "train": train})


# -- the IR --------------------------------------------------------------------------------

def test_tucker_ir_prints_parses_back_and_is_verified():
    spec = tucker_spec(3)
    for training in (False, True):
        program = kancc.compile(spec, training=training)
        for _, text in program.stages:
            assert to_text(parse(text)) == text
    graph = kancc.compile({"model": {"layers": [2, 3]}, "basis": {"tucker": [2, 2, 4]}}).ir
    text = to_text(graph).replace("param @layers.0.core: f32[2,2,4]",
                                  "param @layers.0.core: f32[2,3,4]")
    with pytest.raises(VerifyError, match=r"@layers.0.core has shape f32\[2,3,4\] but the "
                                          r"factors' ranks are \[2, 2, 4\]"):
        verify(parse(text))


def test_the_inference_ir_has_one_tucker_op_and_no_full_tensor():
    program = kancc.compile({"model": {"layers": [4, 8, 1]}, "basis": {"tucker": 0.5}})
    names = [op.name for op in program.ir.ops]
    assert names == ["kan.tucker_layer", "kan.tucker_layer"]
    assert all(op.attr("eval") == "horner" for op in program.ir.ops)
    assert "PACKED = ()" in program.source and ".coef" not in program.source


# -- the NumPy backend against the full model -----------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_forward_equals_the_full_model(seed):
    spec = tucker_spec(seed)
    program = kancc.compile(spec)
    params = random_params(program, seed)
    full, coefs = full_model(spec, params)
    x = inputs(spec, 37, seed)
    expected = kancc.compile(full).forward(coefs, x)
    np.testing.assert_allclose(program.forward(params, x), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


def factor_grads_from_full(params: dict, full_grads: dict, index: int) -> dict:
    """dL/d factor by the chain rule through W = core x1 U1 x2 U2 x3 U3, from dL/dW."""
    core, u1, u2, u3 = (params[f"layers.{index}.{f}"] for f in FACTORS)
    dw = full_grads[f"layers.{index}.coef"]
    return {"core": np.einsum("pqi,pa,qb,ic->abc", dw, u1, u2, u3),
            "u1": np.einsum("pqi,abc,qb,ic->pa", dw, core, u2, u3),
            "u2": np.einsum("pqi,abc,pa,ic->qb", dw, core, u1, u3),
            "u3": np.einsum("pqi,abc,pa,qb->ic", dw, core, u1, u2)}


@pytest.mark.parametrize("seed", range(10))
def test_gradients_equal_the_chain_rule_through_the_full_tensor(seed):
    spec = tucker_spec(seed)
    spec["train"] = {"l2": 0}
    program = kancc.compile(spec, training=True, passes="expand-layers,derive-stencils,"
                            "lower-basis,fuse,autodiff{wrt=params+input},dce,canonicalize")
    params = random_params(program, seed)
    full, coefs = full_model(spec, params)
    full_program = kancc.compile(full, training=True, passes="expand-layers,derive-stencils,"
                                 "lower-basis,fuse,autodiff{wrt=params+input},dce,canonicalize")
    x = inputs(spec, 23, seed)
    y = np.random.default_rng(seed).standard_normal((23, spec["model"]["layers"][-1]))
    loss, grads = program.value_and_grad(params, x, y)
    full_loss, full_grads = full_program.value_and_grad(coefs, x, y)
    assert loss == pytest.approx(full_loss, rel=1e-10)
    scale = max(np.abs(g).max() for g in full_grads.values())
    np.testing.assert_allclose(grads["x"], full_grads["x"], atol=1e-10 * scale)
    for index, layer in enumerate(spec["layers"]):
        if "tucker" not in layer:
            continue
        expected = factor_grads_from_full(params, full_grads, index)
        for factor in FACTORS:
            np.testing.assert_allclose(grads[f"layers.{index}.{factor}"], expected[factor],
                                       atol=1e-9 * scale, err_msg=f"layer {index} {factor}")


@pytest.mark.parametrize("seed", range(4))
def test_gradients_equal_central_differences(seed):
    spec = tucker_spec(seed + 20)
    spec["train"] = {"l2": 0.01}
    program = kancc.compile(spec, training=True)
    params = random_params(program, seed)
    x = inputs(spec, 11, seed)
    y = np.random.default_rng(seed).standard_normal((11, spec["model"]["layers"][-1]))
    _, grads = program.value_and_grad(params, x, y)
    rng = np.random.default_rng(seed)
    step = 1e-6
    for name, value in params.items():
        for _ in range(3):
            at = tuple(int(rng.integers(0, d)) for d in value.shape)
            shifted = [{**params, name: value.copy()} for _ in range(2)]
            shifted[0][name][at] += step
            shifted[1][name][at] -= step
            difference = (program.value_and_grad(shifted[0], x, y)[0] -
                          program.value_and_grad(shifted[1], x, y)[0]) / (2 * step)
            assert grads[name][at] == pytest.approx(difference, rel=1e-5, abs=1e-7), name


def test_float32_forward_stays_near_the_float64_one():
    spec = tucker_spec(5, dtype="float32")
    program = kancc.compile(spec)
    params = random_params(program, 5)
    reference = kancc.compile({**spec, "model": {**spec["model"], "dtype": "float64"}})
    x = inputs(spec, 64, 5)
    expected = reference.forward({k: v.astype(np.float64) for k, v in params.items()}, x)
    got = program.forward(params, x)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())


# -- parameters: the Slim initialization, training, checkpoints ------------------------------

def test_slim_initialization_is_the_seeds_equation_8():
    program = kancc.compile({"model": {"layers": [64, 32, 1]}, "basis": {"tucker": 0.5}})
    params = program.spec_init_params(0)
    assert not params["layers.0.core"].any()
    assert params["layers.0.u1"].std() == pytest.approx(1 / 8, rel=0.1)  # N(0, 1/in)
    assert params["layers.0.u3"].std() == pytest.approx(1 / np.sqrt(8), rel=0.2)  # N(0, 1/n_b)
    norms = np.linalg.norm(params["layers.0.u2"], axis=0)  # columns of norm about 1
    assert 0.6 < norms.mean() < 1.4


def test_a_slim_kan_trains_and_its_checkpoint_holds_the_factors(tmp_path):
    spec = {"model": {"layers": [2, 16, 1], "dtype": "float64"},
            "layers": [{}, {"tucker": [4, 1, 8]}],
            "train": {"optimizer": "adam", "lr": 0.01, "steps": 150, "seed": 1},
            "data": {"source": "sin_sin", "n": 400}}
    path = tmp_path / "slim.npz"
    result = kancc.train(spec, checkpoint=path, log=None)
    assert result.status == "done"
    assert result.history[-1, 1] < 0.1 * result.history[0, 1]
    checkpoint = load_checkpoint(path)
    assert sorted(checkpoint.params) == ["layers.0.coef", "layers.1.core", "layers.1.u1",
                                         "layers.1.u2", "layers.1.u3"]
    assert checkpoint.params["layers.1.core"].shape == (4, 1, 8)
    other = {**spec, "layers": [{}, {"tucker": [4, 1, 7]}]}
    with pytest.raises(KanccError, match=r"layers\[1\]\.tucker is \[4, 1, 8\] in the "
                                         r"checkpoint but \[4, 1, 7\] in the spec"):
        load_checkpoint(path, load_spec(other))
    save_checkpoint(tmp_path / "again.npz", checkpoint.spec, checkpoint.params)
    assert load_checkpoint(tmp_path / "again.npz").spec == checkpoint.spec


# -- the tucker pass: a full model factorized by HOSVD --------------------------------------

def test_full_rank_tucker_pass_reproduces_the_model_and_reads_back():
    spec = random_spec_full(7)
    base = kancc.compile(spec)
    program = kancc.compile(spec, passes="tucker{cr=1},inference")
    assert {op.name for op in program.ir.ops} == {"kan.tucker_layer"}
    params = base.init_params(7)
    mapped = program.pipeline.map_params(params)
    x = inputs(spec, 50, 7)
    expected = base.forward(params, x)
    np.testing.assert_allclose(program.forward(mapped, x), expected, rtol=1e-11,
                               atol=1e-11 * np.abs(expected).max())
    back = program.pipeline.unmap_params(mapped)
    for name, value in params.items():
        np.testing.assert_allclose(back[name], value, atol=1e-12)


@pytest.mark.parametrize("cr", ["1/2", "0.3", "1/8"])
def test_truncated_tucker_pass_meets_the_hosvd_bound_per_layer(cr):
    spec = random_spec_full(11)
    program = kancc.compile(spec, passes=f"tucker{{cr={cr}}},inference")
    params = kancc.compile(spec).init_params(11)
    back = program.pipeline.unmap_params(program.pipeline.map_params(params))
    for op in program.ir.ops:
        name = op.operands[1].name.replace(".core", ".coef")
        ranks = op.operands[1].type.shape
        error = np.sum((back[name] - params[name]) ** 2)
        assert error <= discarded_energy(params[name], ranks) * (1 + 1e-9) + 1e-20


@pytest.mark.parametrize("passes, message", [
    ("tucker{cr=0},inference", r"tucker\{cr=...\} must be in \(0, 1\], got 0"),
    ("tucker{cr=one},inference", "must be a number such as 1/4"),
    ("inference,tucker", "run it before expand-layers"),
])
def test_bad_tucker_pass_options(passes, message):
    with pytest.raises(KanccError, match=message):
        kancc.compile(random_spec_full(1), passes=passes)


def test_other_parameterization_passes_refuse_tucker_layers():
    spec = {"model": {"layers": [2, 3]}, "basis": {"tucker": 0.5}}
    for name in ("refine", "to-relu-basis"):
        with pytest.raises(KanccError, match=f"{name} does not apply to Tucker layers"):
            kancc.compile(spec, passes=f"{name},inference")
    # a spec's Tucker layers are left as they are by the pass
    assert kancc.compile(spec, passes="tucker{cr=1/2},inference").ir.params == \
        kancc.compile(spec).ir.params


def test_analyze_reads_a_slim_checkpoint(tmp_path, capsys):
    from kancc.cli import main

    spec = load_spec({"model": {"layers": [3, 6, 1]}, "layers": [{}, {"tucker": [2, 1, 3]}]})
    program = kancc.compile(spec)
    params = random_params(program, 0)
    save_checkpoint(tmp_path / "slim.npz", spec, params)
    assert main(["analyze", str(tmp_path / "slim.npz")]) == 0
    out = capsys.readouterr().out
    assert "layer 1: Tucker layer, ranks [2, 1, 3], W (6, 1, 8)" in out
    found = re.search(r"layer 1: .*in (\d)/6, out 1/1, basis (\d)/\d", out)
    assert found and int(found[1]) <= 2 and int(found[2]) <= 3  # a rank-(2, 1, 3) W
