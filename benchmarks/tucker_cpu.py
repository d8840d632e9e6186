"""Tucker (Slim) layer vs full layer on one CPU thread: time and parameter count (the LoTRA paper).

One KAN layer width x width, n_b = 8 (cubic B-splines, grid 5), batch 4096, float32, in the
emitted NumPy module: forward (packed parameters) and value_and_grad (mse loss, full batch).
The Tucker layer has ranks ceil(cr * (width, width, 8)) and is evaluated in the cheap order
basis -> U3 -> U1 -> core -> U2; the full layer is one GEMM on the dense basis. ``limit`` is
the full layer's GEMM alone (batch x (width * n_b) x width) on prebuilt operands, and the
GEMM rate measured here is the CPU limit both are compared with. Both modules build the dense
[batch, width, n_b] basis (the NumPy reference does); the Triton module does not.

    python benchmarks/tucker_cpu.py [--repeat 10] [--widths 128 256]

Prints a table (median ms, ratio of the full layer's time to each row), then one JSON line.
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

BATCH, GRID, DEGREE, NB = 4096, 5, 3, 8
CRS = ["1/8", "1/4", "1/2", "1"]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def layer_spec(width: int, cr: str | None) -> dict:
    layer = {} if cr is None else {"tucker": cr}
    return {"model": {"name": "bench", "layers": [width, width]},
            "basis": {"degree": DEGREE, "grid": GRID, **layer}, "train": {"l2": 0}}


def measure(width: int, cr: str | None, repeat: int, rng: np.random.Generator) -> dict:
    spec = layer_spec(width, cr)
    program = kancc.compile(spec)
    training = kancc.compile(spec, training=True)
    params = {k: rng.standard_normal(v.shape).astype(np.float32) / np.sqrt(v.shape[0])
              for k, v in program.init_params(0).items()}
    x = rng.uniform(-1, 1, (BATCH, width)).astype(np.float32)
    y = rng.standard_normal((BATCH, width)).astype(np.float32)
    module = program.module
    packed = module.pack_params(params)
    return {"width": width, "cr": cr or "full", "params": int(sum(v.size for v in
                                                                   params.values())),
            "forward_ms": median_ms(lambda: module.forward_packed(packed, x), repeat),
            "value_and_grad_ms": median_ms(lambda: training.value_and_grad(params, x, y),
                                           repeat)}


def gemm_limit(width: int, repeat: int, rng: np.random.Generator) -> tuple[float, float]:
    """(ms, GFLOP/s) of the full layer's GEMM alone."""
    a = rng.standard_normal((BATCH, width * NB)).astype(np.float32)
    b = rng.standard_normal((width * NB, width)).astype(np.float32)
    ms = median_ms(lambda: a @ b, repeat)
    return ms, 2 * BATCH * width * NB * width / ms / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, limits = [], {}
    print(f"{platform.processor() or platform.machine()}, 1 thread, float32, batch {BATCH}, "
          f"n_b {NB}; median of {args.repeat}")
    print(f"{'width':>5} {'layer':>8} {'params':>8} {'forward ms':>11} {'x full':>7} "
          f"{'v&g ms':>9} {'x full':>7}")
    for width in args.widths:
        ms, rate = gemm_limit(width, args.repeat, rng)
        limits[width] = {"gemm_ms": ms, "gemm_gflops": rate}
        full = measure(width, None, args.repeat, rng)
        for row in [full] + [measure(width, cr, args.repeat, rng) for cr in CRS]:
            row["forward_speedup"] = full["forward_ms"] / row["forward_ms"]
            row["value_and_grad_speedup"] = full["value_and_grad_ms"] / row["value_and_grad_ms"]
            rows.append(row)
            print(f"{width:5d} {row['cr']:>8} {row['params']:8d} {row['forward_ms']:11.1f} "
                  f"{row['forward_speedup']:7.2f} {row['value_and_grad_ms']:9.1f} "
                  f"{row['value_and_grad_speedup']:7.2f}")
        print(f"{width:5d} {'limit':>8} {'':>8} {ms:11.1f} {full['forward_ms'] / ms:7.2f}   "
              f"(full layer's GEMM alone: {rate:.1f} GFLOP/s)")
    print(json.dumps({"benchmark": "tucker_cpu", "batch": BATCH, "n_b": NB, "rows": rows,
                      "limits": limits}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
