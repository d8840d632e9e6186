"""The two contraction strategies of the Triton kernels (gather, and dense tiles on tensor
cores), forced by the schedule pass and as its cost model chooses, against the NumPy
reference; the schedule attributes in the IR; the cost model's predictions.

The interpreter runs tl.dot in float32 without TF32 rounding: these tests check the dot
kernels' indexing and sums, not tf32x3's accuracy (DESIGN.md 5 states that bound)."""

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed
from kancc.errors import KanccError
from kancc.ir import VerifyError, parse, to_text, verify
from kancc.passes.cost_model import GPUS, Layer, choose, dense_gemm_seconds, estimate
from kancc.tools.differential_check import sample_inputs
from kancc.tools.random_specs import random_spec

triton_missing = pytest.mark.skipif(not triton_installed(), reason="needs torch and triton")


def pipeline(strategy):
    schedule = "schedule" if strategy == "chosen" else f"schedule{{strategy={strategy}}}"
    return ("expand-layers,derive-stencils,lower-basis,fuse,autodiff{wrt=params+input},"
            f"{schedule},dce,canonicalize")


def case(seed, dtype):
    spec = random_spec(seed, dtype=dtype, max_width=21, max_grid=12)
    spec["train"] = {"l2": 0}
    loaded = kancc.load_spec(spec)
    batch = (1, 17, 70, 129)[seed % 4]
    x = sample_inputs(loaded, batch, seed)
    y = np.random.default_rng(seed).standard_normal((batch, loaded.widths[-1]))
    numpy_dtype = np.float32 if dtype == "float32" else np.float64
    return spec, x.astype(numpy_dtype), y.astype(numpy_dtype)


def relative(got, expected):
    return float(np.max(np.abs(got - expected)) / max(np.max(np.abs(expected)), 1e-30))


@triton_missing
@pytest.mark.parametrize("strategy", ["gather", "dot", "chosen"])
@pytest.mark.parametrize("seed,dtype,tolerance", [(s, "float32", 1e-4) for s in range(8)]
                         + [(s, "float64", 1e-10) for s in range(100, 104)])
def test_forward_and_gradients_equal_numpy(strategy, seed, dtype, tolerance):
    spec, x, y = case(seed, dtype)
    reference = kancc.compile(spec, "numpy", training=True, passes=pipeline("gather"))
    program = kancc.compile(spec, "triton", training=True, passes=pipeline(strategy))
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(v.shape).astype(v.dtype)
              for k, v in reference.init_params(seed).items()}
    assert relative(program.forward(params, x), reference.forward(params, x)) <= tolerance
    loss, grads = reference.value_and_grad(params, x, y)
    got_loss, got = program.value_and_grad(params, x, y)
    assert got_loss == pytest.approx(loss, rel=tolerance)
    for name in grads:
        assert relative(got[name], grads[name]) <= tolerance, name


@triton_missing
@pytest.mark.parametrize("strategy", ["gather", "chosen", "dot"])
@pytest.mark.parametrize("grid,degree", [(60, 3), (200, 5)])
def test_large_grids_split_the_gather_vjp_coef_into_basis_chunks(strategy, grid, degree):
    """n_b = 63 and 205: the gather vjp_coef takes 2 and 7 chunks of 32 functions (not one
    row a program); both strategies still equal NumPy."""
    spec = {"model": {"layers": [3, 5, 2], "dtype": "float64"},
            "basis": {"grid": grid, "degree": degree}, "train": {"l2": 0}}
    program = kancc.compile(spec, "triton", training=True, passes=pipeline(strategy))
    if strategy == "gather" or (strategy == "chosen" and grid == 200):  # n_b > 64: gather
        chunks = -(-(grid + degree) // 32)  # 2 for n_b = 63, 7 for n_b = 205
        assert f"CHUNKS={chunks}, BLOCK_B=" in program.source
        assert "NB_BLOCK=32" in program.source
    reference = kancc.compile(spec, "numpy", training=True, passes=pipeline("gather"))
    rng = np.random.default_rng(grid)
    params = {k: rng.standard_normal(v.shape) for k, v in reference.init_params(0).items()}
    x = rng.uniform(-1.1, 1.1, (77, 3))
    y = rng.standard_normal((77, 2))
    loss, grads = reference.value_and_grad(params, x, y)
    got_loss, got = program.value_and_grad(params, x, y)
    assert got_loss == pytest.approx(loss, rel=1e-10)
    for name in grads:
        assert relative(got[name], grads[name]) <= 1e-10, name


@triton_missing
@pytest.mark.parametrize("strategy", ["gather", "dot"])
def test_deterministic_reductions_on_both_strategies(strategy):
    """deterministic=True sums several row slices (300 rows, 32-64 a slice) in a fixed
    order through the [splits, in, out, n_b] buffer, and equals NumPy. (Bitwise run-to-run
    repeatability cannot be tested here: the interpreter runs programs one by one, so the
    atomic path repeats bitwise too.)"""
    import torch

    spec = {"model": {"layers": [5, 16, 2], "dtype": "float32"}, "basis": {"grid": 4},
            "train": {"l2": 0}}
    program = kancc.compile(spec, "triton", training=True, passes=pipeline(strategy))
    reference = kancc.compile(spec, "numpy", training=True, passes=pipeline("gather"))
    rng = np.random.default_rng(3)
    params = {k: rng.standard_normal(v.shape).astype(np.float32)
              for k, v in program.init_params(0).items()}
    x = rng.uniform(-1, 1, (300, 5)).astype(np.float32)
    y = rng.standard_normal((300, 2)).astype(np.float32)
    _, expected = reference.value_and_grad(params, x, y)
    tensors = {k: torch.tensor(v) for k, v in params.items()}
    _, got = program.module.value_and_grad(tensors, torch.tensor(x), torch.tensor(y),
                                           deterministic=True)
    for name in expected:
        assert relative(got[name].numpy(), expected[name]) <= 1e-5, name


@triton_missing
def test_the_emitted_module_follows_the_schedule():
    spec = {"model": {"layers": [3, 40, 1], "dtype": "float32"}}
    passes = "expand-layers,derive-stencils,lower-basis,fuse,schedule{strategy=%s}"
    dot = kancc.compile(spec, "triton", passes=passes % "dot").source
    gather = kancc.compile(spec, "triton", passes=passes % "gather").source
    assert "tl.dot(" in dot and "tl.dot(" not in gather
    assert "BLOCK_B=64, BLOCK_P=4, BLOCK_Q=64" in dot  # the tile attribute, [64, 4, 64, 8]


def test_the_schedule_shows_in_dumps_reads_back_and_is_checked():
    spec = {"model": {"layers": [2, 3, 1]}}
    program = kancc.compile(spec)  # the inference pipeline schedules
    assert [label for label, _ in program.stages][-3:] == ["schedule", "dce", "canonicalize"]
    text = to_text(program.ir)
    assert text.count("strategy=") == text.count("kan.fused_layer") == 2
    assert parse(text) == program.ir
    forced = to_text(kancc.compile(spec, passes="expand-layers,derive-stencils,lower-basis,"
                                   "fuse,schedule{strategy=gather}").ir)
    assert "strategy=gather, tile=[256, 1, 4, 8]" in forced
    with pytest.raises(VerifyError, match="line 4: strategy must be one of gather, dot"):
        verify(parse(forced.replace("strategy=gather", "strategy=dense", 1)))
    with pytest.raises(VerifyError, match="a dot tile needs rows, outputs and inputs"):
        verify(parse(forced.replace("strategy=gather, tile=[256, 1, 4, 8]",
                                    "strategy=dot, tile=[256, 1, 4, 8]", 1)))
    with pytest.raises(VerifyError, match="tile must be .rows, inputs, outputs, basis."):
        verify(parse(forced.replace("tile=[256, 1, 4, 8]", "tile=[256, 3, 8, 8]", 1)))
    with pytest.raises(KanccError, match="strategy"):
        kancc.compile(spec, passes="expand-layers,lower-basis,fuse,schedule{strategy=wide}")


def test_autodiff_schedules_each_kernel_on_its_own():
    """A layer scheduled before autodiff does not hand its tile to its vjp ops."""
    spec = {"model": {"layers": [2, 3, 1]}, "train": {"l2": 0}}
    graph = kancc.compile(spec, training=True, passes="expand-layers,derive-stencils,"
                          "lower-basis,fuse,schedule{strategy=dot},autodiff,canonicalize").ir
    assert all(op.has_attr("tile") == (op.name == "kan.fused_layer") for op in graph.ops
               if op.name.startswith(("kan.fused", "kan.vjp")))


H100 = GPUS["H100"]


def layers_of(widths, batch, nb=8, r=4):
    return [Layer(batch, p, q, nb, r, "f32") for p, q in zip(widths, widths[1:])]


def chosen_seconds(layer, kernel):
    return estimate(H100, layer, kernel, choose(layer, kernel, "H100")).seconds


@pytest.mark.parametrize("batch", [64, 100])
def test_predicted_h100_time_is_within_2x_of_the_dense_gemm_roofline(batch):
    """[1000,1000,1] cubic grid 5, float32: forward, and a training step (both forwards,
    both vjp_coef, the last layer's vjp_input)."""
    first, last = layers_of([1000, 1000, 1], batch)
    forward = chosen_seconds(first, "layer") + chosen_seconds(last, "layer")
    gemm_forward = dense_gemm_seconds(H100, first, "layer") + \
        dense_gemm_seconds(H100, last, "layer")
    assert forward <= 2 * gemm_forward
    backward = [(first, "vjp_coef"), (last, "vjp_coef"), (last, "vjp_input")]
    step = forward + sum(chosen_seconds(layer, kernel) for layer, kernel in backward)
    gemm_step = gemm_forward + sum(dense_gemm_seconds(H100, layer, kernel)
                                   for layer, kernel in backward)
    assert step <= 2 * gemm_step


def test_grids_of_thousands_of_cells_still_schedule():
    """The basis side of a gather tile is n_b rounded up (2048 here), beyond the 1024 a
    tile's other sides may ask."""
    graph = kancc.compile({"model": {"layers": [2, 3, 1]}, "basis": {"grid": 1100}}).ir
    assert [op.attr("tile")[3] for op in graph.ops] == [2048, 2048]
    assert parse(to_text(graph)) == graph


def test_the_cost_model_keeps_gather_where_it_is_cheaper():
    narrow = Layer(256, 5, 1, 8, 4, "f32")  # one output, 5 inputs: a dot tile is mostly padding
    costs = {s: estimate(H100, narrow, "layer", s).seconds for s in ("gather", "dot")}
    assert costs["gather"] < costs["dot"] and choose(narrow, "layer", "H100") == "gather"
    wide = Layer(256, 1000, 1000, 8, 4, "f32")
    assert {choose(wide, k, "H100") for k in ("layer", "vjp_input", "vjp_coef")} == {"dot"}
    large_grid = Layer(256, 64, 64, 205, 6, "f32")  # a 256-wide tile of 6 live values
    assert {choose(large_grid, k, "H100") for k in ("layer", "vjp_input", "vjp_coef")} == \
        {"gather"}
    gather = estimate(H100, wide, "layer", "gather")
    assert gather.bound == "loads"  # the scattered loads are what the dot tiles remove
    assert gather.seconds > 4 * estimate(H100, wide, "layer", "dot").seconds


def test_analyze_gpu_prints_every_kernel_with_its_prediction(tmp_path, capsys):
    from kancc.cli import main

    spec = tmp_path / "wide.toml"
    spec.write_text('[model]\nname = "wide"\nlayers = [1000, 1000, 1]\n[basis]\ngrid = 5\n')
    assert main(["analyze", str(spec), "--gpu", "H100", "--batch", "100"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()
            if line.startswith(("layer_", "vjp_coef_", "vjp_input_"))]
    assert [row[0].rsplit("_", 1)[0] for row in rows] == \
        ["layer", "layer", "vjp_coef", "vjp_input", "vjp_coef"]
    assert rows[0][1:3] == ["1000x1000x8", "dot"] and rows[0][7] == "tensor"
    ratio = float(out.split("training step:")[1].split("us; ")[1].split("x")[0])
    assert 1.0 <= ratio <= 2.0
    assert main(["analyze", str(spec), "--gpu", "V100"]) == 2
    assert "unknown GPU 'V100'" in capsys.readouterr().err
    assert main(["analyze", str(spec), "--batch", "8"]) == 2


@pytest.mark.gpu
@pytest.mark.parametrize("strategy", ["gather", "dot"])
def test_float32_on_a_real_gpu_meets_the_tf32x3_bound(strategy):
    """On a GPU tl.dot rounds to TF32 (the interpreter does not): the float32 forward and
    gradients of a wide layer against float64 NumPy, relative to their largest value. 1e-4
    holds for tf32x3 (about 7e-7 |a||b| a product, DESIGN.md 5) and fails for plain TF32
    (2^-11 = 4.9e-4 a product, times sum |B| |c| / max |y| of about 10 here)."""
    spec = {"model": {"layers": [256, 256, 1], "dtype": "float32"}, "train": {"l2": 0}}
    program = kancc.compile(spec, "triton", training=True, passes=pipeline(strategy))
    exact = kancc.compile({**spec, "model": {**spec["model"], "dtype": "float64"}}, "numpy",
                          training=True, passes=pipeline("gather"))
    rng = np.random.default_rng(5)
    params = {k: rng.standard_normal(v.shape).astype(np.float32)
              for k, v in program.init_params(0).items()}
    x = rng.uniform(-1, 1, (512, 256)).astype(np.float32)
    y = rng.standard_normal((512, 1)).astype(np.float32)
    wide = {k: v.astype(np.float64) for k, v in params.items()}
    assert relative(program.forward(params, x), exact.forward(wide, x)) <= 1e-4
    _, grads = program.value_and_grad(params, x, y)
    _, reference = exact.value_and_grad(wide, x.astype(np.float64), y.astype(np.float64))
    for name in reference:
        assert relative(grads[name], reference[name]) <= 1e-4, name
