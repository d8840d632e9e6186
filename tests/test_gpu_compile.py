"""The compile check: every Triton kernel kancc emits, as launched, compiles for sm_80 and
sm_90a with Triton's real compiler (no GPU needed) and spills nothing to local memory; the
chosen kernels of wide layers use tensor cores.

Launches are recorded under the interpreter (kancc.tools.gpu_compile) over a table of
specs: every example, orders 1-6 on uniform and non-uniform knots, the global bases, Tucker
and LoTRA models, float64, input gradients, the Newton-Kaczmarz program, and the shapes KANs
are benchmarked at ([1000,1000,1], [512,512,1]; a degree-5 grid-200 layer). Those large
ones are recorded without running their kernels (execute=False). About 3.5 minutes on two
cores with an empty Triton cache (~/.triton/cache), under a minute with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.backends import triton_installed

pytestmark = pytest.mark.skipif(not triton_installed(), reason="needs torch and triton")

ROOT = Path(__file__).resolve().parents[1]
BATCH = 37
FLOAT64_SPILL_BYTES = 16
WITH_INPUT_GRAD = "expand-layers,derive-stencils,lower-basis,fuse,autodiff{wrt=params+input}," \
                  "schedule,dce,canonicalize"


def spec(name, widths, dtype="float32", **basis):
    return {"model": {"name": name, "layers": widths, "dtype": dtype},
            "basis": {"degree": 3, "grid": 5, "domain": [-1, 1], **basis}, "train": {"l2": 0}}


NONUNIFORM = ["-1", "-0.8", "-0.3", "0", "0.1", "0.5", "1"]


def per_input_knots(inputs, degree=3):
    """One full knot vector per input (exterior knots included), each a little different."""
    return [[f"{t + p / 100:g}" for t in (-1.6, -1.4, -1.2, *map(float, NONUNIFORM), 1.3,
                                           1.6, 1.9)[3 - degree:len(NONUNIFORM) + 3 + degree]]
            for p in range(inputs)]


def table():
    """(label, spec, pipeline, run the kernels?) of the compile check."""
    rows = [(path.stem, str(path), "training", True)
            for path in sorted((ROOT / "examples").glob("*.toml"))
            if path.stem not in ("kaczmarz_polar5", "lotra_transfer")
            and "[pde]" not in path.read_text()]  # physics losses: physics_table()
    for degree in range(6):
        rows.append((f"degree{degree}", spec(f"d{degree}", [3, 9, 2], degree=degree, grid=7),
                     "training", True))
        rows.append((f"degree{degree}-nonuniform",
                     spec(f"n{degree}", [3, 9, 2], degree=degree, grid=6, knots=NONUNIFORM),
                     "training", True))
    for kind in ("chebyshev", "legendre", "taylor", "fourier"):
        rows.append((kind, {**spec(kind, [3, 9, 2]), "basis": {"kind": kind, "degree": 3}},
                     "training", True))
    lotra = spec("lotra", [3, 9, 2])
    lotra["finetune"] = {"pretrained": "unused.ckpt.npz", "tucker": "1/2"}
    rows += [
        ("lotra", lotra, "training", True),
        ("float64", spec("f64", [7, 20, 3], "float64"), "training", True),
        ("input-grad", spec("dx", [4, 24, 3]), WITH_INPUT_GRAD, True),
        ("1000-1000-1", spec("w1000", [1000, 1000, 1]), WITH_INPUT_GRAD, False),
        ("512-512-1", spec("w512", [512, 512, 1]), WITH_INPUT_GRAD, False),
        ("64-64-1-grid200", spec("g200", [64, 64, 1], degree=5, grid=200), "training", False),
    ]
    per_input = {"model": {"name": "per_input", "layers": [3, 9, 2]}, "train": {"l2": 0},
                 "layers": [{"degree": 3, "knots": per_input_knots(3)},
                            {"degree": 2, "knots": per_input_knots(9, 2)}]}
    gather = WITH_INPUT_GRAD.replace("schedule", "schedule{strategy=gather}")
    rows += [("per-input-knots", per_input, WITH_INPUT_GRAD, True),
             ("per-input-knots-gather", per_input, gather, True)]
    return rows


def physics_table():
    """(label, spec) of the physics rows: each [pde] example with few collocation points,
    and Poisson in float32, with a base branch and with jets of order 1."""
    import tomllib

    rows = []
    for path in sorted((ROOT / "examples").glob("*.toml")):
        if "[pde]" in path.read_text():
            with open(path, "rb") as f:
                source = tomllib.load(f)
            source["pde"]["points"] = 36  # a 6 x 6 grid has no point on x = 0
            source.pop("finetune", None)  # trained through the unfactorized model's kernels
            source["pde"].pop("reference", None)
            for condition in source["pde"].get("condition", []):
                condition["points"] = 8
            rows.append((path.stem, source))
    poisson = dict(rows)["poisson"]
    rows.append(("poisson-float32", {**poisson, "model": {**poisson["model"],
                                                           "dtype": "float32"}}))
    rows.append(("poisson-silu", {**poisson, "layers": [{**layer, "base": "silu"}
                                                        for layer in poisson["layers"]]}))
    first_order = {**poisson, "pde": {**poisson["pde"], "residual": "u_x + u_y - f"}}
    rows.append(("poisson-first-order", first_order))
    return rows


def record_physics(label, source):
    """The launches of one physics loss evaluation (its jet kernels and their backward)."""
    from kancc.physics.problem import collocation_inputs
    from kancc.tools.gpu_compile import record_launches

    program = kancc.compile(source, "triton", training=True)
    inputs = collocation_inputs(program.spec, 0)
    with record_launches(program.module) as launches:
        program.physics_loss(program.init_params(0), inputs)
    return [(label, launch) for launch in launches]


def record(label, source, pipeline, execute):
    from kancc.tools.gpu_compile import record_launches

    program = kancc.compile(source, "triton", training=True, passes=pipeline)
    params = program.init_params(0)
    graph = program.ir
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (BATCH, graph.inputs[0].type.shape[1]))
    target = graph.inputs[1].type
    if target.dtype.startswith("f"):
        y = rng.standard_normal((BATCH, target.shape[1]))
    else:
        y = rng.integers(0, 2, BATCH)
    with record_launches(program.module, execute=execute) as launches:
        program.value_and_grad(params, x, y)
    return [(label, launch) for launch in launches]


def record_kaczmarz():
    from kancc.tools.gpu_compile import record_launches
    from kancc.training import kaczmarz_triton

    rng = np.random.default_rng(1)
    coefs = (rng.uniform(-0.5, 0.5, (3, 5, 6)), rng.uniform(-0.5, 0.5, (5, 1, 7)))
    lo, n = np.full(2, -1.0), np.array([3, 4])
    seen = np.full((2, 5, 2), [np.inf, -np.inf])
    with record_launches(kaczmarz_triton, source="kancc.training.kaczmarz_triton") as launches:
        kaczmarz_triton.triton_epoch(coefs, lo, n / 2.0, n, rng.uniform(-1, 1, (12, 3)),
                                     rng.normal(size=12), 0.7, 0.0, seen, np.full(12, np.inf),
                                     order=4)
    return [("newton-kaczmarz", launch) for launch in launches]


@pytest.fixture(scope="module")
def compiled():
    from kancc.tools.gpu_compile import compile_launches

    labelled = record_kaczmarz()
    for label, source, pipeline, execute in table():
        labelled += record(label, source, pipeline, execute)
    for label, source in physics_table():
        labelled += record_physics(label, source)
    labels = {}
    for label, launch in labelled:
        labels.setdefault(launch, label)
    return [(labels[result.launch], result) for result in compile_launches(list(labels))]


def test_every_kernel_compiles_for_sm80_and_sm90a_without_spills(compiled):
    assert {result.arch for _, result in compiled} == {80, 90}
    assert len(compiled) > 150  # the table is not vacuous
    failed = [f"{label}: {r.launch.label} sm_{r.arch}: {r.error}" for label, r in compiled
              if r.error]
    assert not failed, "\n".join(failed)
    spilled = [f"{label}: {r.launch.label} sm_{r.arch}: REG {r.registers} STACK {r.stack} "
               f"spill stores {r.spill_stores} B, loads {r.spill_loads} B"
               for label, r in compiled if r.spills and not small_float64_spill(r)]
    assert not spilled, "\n".join(spilled)


def small_float64_spill(result) -> bool:
    """float64 kernels (physics losses) may spill a few bytes: ptxas spills 4-8 B of some
    at the halved float64 row blocks (72-780 B at the float32 blocks), and smaller blocks
    do not remove them all. float32 kernels spill nothing."""
    float64 = any(kind == "*fp64" for _, kind in result.launch.signature)
    return float64 and max(result.spill_stores, result.spill_loads) <= FLOAT64_SPILL_BYTES


@pytest.mark.parametrize("label", ["1000-1000-1", "512-512-1"])
def test_the_wide_layer_kernels_chosen_use_tensor_cores(compiled, label):
    """Layer 0's forward, vjp_coef and vjp_input (input gradients on) are scheduled as dot
    tiles, and their PTX has mma.sync on sm_80 and Hopper's wgmma on sm_90a."""
    wide = {(r.launch.kernel, r.arch): r for lab, r in compiled
            if lab == label and r.launch.kernel.endswith("_kernel")
            and dict(r.launch.constexprs).get("IN") == int(label.split("-")[0])
            and dict(r.launch.constexprs).get("OUT") == int(label.split("-")[1])}
    kinds = {name.rsplit("_", 2)[0] for name, _ in wide}
    assert kinds == {"layer", "vjp_coef", "vjp_input"}, kinds
    for (name, arch), result in wide.items():
        assert "PRECISION" in dict(result.launch.constexprs), f"{name} is not a dot kernel"
        expected = "wgmma" if arch == 90 else "mma"
        assert result.tensor_cores == expected, f"{name} sm_{arch}: {result.tensor_cores!r}"


def test_gather_kernels_do_not_use_tensor_cores(compiled):
    """The PTX scan can fail: the gather kernels have no mma."""
    gather = [r for _, r in compiled if r.launch.kernel.startswith("layer_")
              and "PRECISION" not in dict(r.launch.constexprs)]
    assert gather and not any(r.tensor_cores for r in gather)
