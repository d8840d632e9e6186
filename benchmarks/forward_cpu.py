"""Forward time on one CPU thread: kancc's NumPy backend vs peers and vs the GEMM limit.

Contenders, all float32, grid 5, cubic B-splines, batch as listed:
  kancc        the emitted NumPy module's forward (local basis, scatter, one GEMM per layer),
               including the per-call repacking of coef (in, out, n_b) into GEMM layout
  kancc packed forward_packed() on parameters packed once by pack_params()
  limit        the dense GEMMs of the equivalent contraction alone, batch x (in*n_b) x out per
               layer, on prebuilt operands: what any B-spline KAN forward must at least do
               when it contracts a dense basis
  efficient-kan  KAN([...], grid_size=5, spline_order=3), if importable: set
               EFFICIENT_KAN_PATH to a checkout's src/ folder (it also computes a SiLU base
               branch, which kancc's spec does not have)
  pykan        kan.KAN(width, grid=5, k=3), if installed (pip install pykan; symbolic
               branch off, no activation saving)
  mlp          torch Linear-SiLU-Linear of the same widths

    OMP_NUM_THREADS=1 python benchmarks/forward_cpu.py [--repeat 20]

Prints a table (min and median of the repeats, ratio of medians to kancc), then one JSON
line. Thread counts are forced to 1 before numpy and torch load.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import kancc  # noqa: E402

CASES = [((1000, 1000, 1), 100), ((2, 5, 1), 20000)]
GRID, DEGREE = 5, 3


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(min, median) wall time in ms over ``repeat`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times), float(np.median(times))


def kancc_forward(widths, batch, rng, packed=False):
    program = kancc.compile({"model": {"layers": list(widths)},
                             "basis": {"degree": DEGREE, "grid": GRID}})
    params = program.init_params(0)
    x = rng.uniform(-1, 1, (batch, widths[0])).astype(np.float32)
    module = program.module
    if packed:
        weights = module.pack_params(params)
        return (lambda: module.forward_packed(weights, x)), ""
    return (lambda: module.forward(params, x)), ""


def gemm_limit(widths, batch, rng):
    nb = GRID + DEGREE
    operands = [(rng.standard_normal((batch, n_in * nb)).astype(np.float32),
                 rng.standard_normal((n_in * nb, n_out)).astype(np.float32))
                for n_in, n_out in zip(widths, widths[1:])]
    return (lambda: [a @ w for a, w in operands]), ""


def torch_forward(model, widths, batch, rng):
    import torch

    x = torch.tensor(rng.uniform(-1, 1, (batch, widths[0])), dtype=torch.float32)

    def run():
        with torch.no_grad():
            return model(x)

    return run


def efficient_kan_model(widths):
    """(model, note): efficient-kan's KAN, or None and why not."""
    path = os.environ.get("EFFICIENT_KAN_PATH")
    if path:
        sys.path.insert(0, path)
    try:
        from efficient_kan import KAN
    except ImportError:
        return None, "not importable (set EFFICIENT_KAN_PATH to a checkout's src/ folder)"
    return KAN(list(widths), grid_size=GRID, spline_order=DEGREE), ""


def pykan_model(widths):
    try:
        from kan import KAN
    except ImportError:
        return None, "not installed (pip install pykan)"
    return KAN(width=list(widths), grid=GRID, k=DEGREE, symbolic_enabled=False, save_act=False,
               auto_save=False, device="cpu"), ""


def mlp_model(widths):
    import torch

    layers = []
    for n_in, n_out in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.SiLU()]
    return torch.nn.Sequential(*layers[:-1]), ""


def peer(make_model):
    def contender(widths, batch, rng):
        model, note = make_model(widths)
        return (None, note) if model is None else (torch_forward(model, widths, batch, rng), "")

    return contender


efficient_kan, pykan, mlp = peer(efficient_kan_model), peer(pykan_model), peer(mlp_model)


def kancc_packed(widths, batch, rng):
    return kancc_forward(widths, batch, rng, packed=True)


CONTENDERS = [("kancc", kancc_forward), ("kancc packed", kancc_packed), ("limit", gemm_limit),
              ("efficient-kan", efficient_kan), ("pykan", pykan), ("mlp", mlp)]
TORCH_ONLY = ("efficient-kan", "pykan", "mlp")


def run_cases(contenders, repeat: int, cases=CASES) -> list[dict]:
    """Time every contender on every case; print a table per case; return the JSON cases."""
    rng = np.random.default_rng(0)
    results = []
    for widths, batch in cases:
        print(f"\n{list(widths)} batch {batch}")
        print(f"  {'contender':<14}{'min ms':>10}{'median ms':>11}{'vs kancc':>10}")
        case = {"widths": list(widths), "batch": batch, "times_ms": {}, "notes": {}}
        base = None
        for name, make in contenders:
            fn, note = make(widths, batch, rng)
            if fn is None:
                print(f"  {name:<14}{'-':>10}{'-':>11}{'':>10}  {note}")
                case["notes"][name] = note
                continue
            best, median = timed(fn, repeat if name != "pykan" else max(3, repeat // 5))
            base = base or median
            case["times_ms"][name] = {"min": best, "median": median}
            print(f"  {name:<14}{best:>10.2f}{median:>11.2f}{median / base:>9.2f}x")
        times = case["times_ms"]
        case["ratios"] = {name: t["median"] / times["kancc"]["median"]
                          for name, t in times.items() if name != "kancc"}
        results.append(case)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    contenders = CONTENDERS
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        contenders = [c for c in CONTENDERS if c[0] not in TORCH_ONLY]
    print(f"one thread, float32, grid {GRID}, degree {DEGREE}; "
          f"{platform.processor() or platform.machine()}")
    results = run_cases(contenders, args.repeat)
    print(json.dumps({"benchmark": "forward_cpu", "threads": 1, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "machine": platform.machine(),
                      "cases": results}))


if __name__ == "__main__":
    main()
