"""Seed 000 Figure 3 on CPU: one KAN layer's training step (forward + backward) with the
basis evaluated by Cox-de Boor, by the local truncated powers (relu-local: the r ReLU^(r-1)
of the cell and the stencil A), by the horner pieces (kancc's default) and by the dense
truncated powers of the to-relu-basis form, across orders 1-6 and grid sizes.

NumPy backend, one thread, float32, a [64 -> 64] layer (the paper's width), batch 1024,
minimum of repeated runs. Prints a markdown table and, with --out, writes it there.

    OMP_NUM_THREADS=1 python benchmarks/basis_eval_cpu.py [--out docs/multilevel/figure3.md]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import kancc  # noqa: E402
from kancc.passes import PIPELINES  # noqa: E402

MODES = {
    "cox-de-boor": PIPELINES["training-reference"],
    "relu-local": PIPELINES["training"].replace("lower-basis", "lower-basis{eval=relu-local}"),
    "horner": PIPELINES["training"],
    "dense relu": "to-relu-basis," + PIPELINES["training"],
}


def step_time(order: int, grid: int, passes: str, batch: int, repeats: int) -> float:
    spec = {"model": {"layers": [64, 64], "dtype": "float32"},
            "basis": {"degree": order - 1, "grid": grid}, "train": {"loss": "mse"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the float32 ReLU-basis hazard warning
        program = kancc.compile(spec, training=True, passes=passes)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, 64)).astype(np.float32)
    y = rng.normal(size=(batch, 64)).astype(np.float32)
    params = program.init_params(0)
    program.value_and_grad(params, x, y)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        program.value_and_grad(params, x, y)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="8,32,128")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    header = ["| order r | grid n | " + " | ".join(f"{m} ms" for m in MODES) +
              " | cox-de-boor / relu-local | cox-de-boor / horner |",
              "|---|---|" + "---|" * (len(MODES) + 2)]
    lines = list(header)
    print("\n".join(header), flush=True)
    for grid in (int(g) for g in args.grids.split(",")):
        for order in range(1, 7):
            ms = {m: 1e3 * step_time(order, grid, p, args.batch, args.repeats)
                  for m, p in MODES.items()}
            line = (f"| {order} | {grid} | " + " | ".join(f"{ms[m]:.2f}" for m in MODES) +
                    f" | {ms['cox-de-boor'] / ms['relu-local']:.2f}x"
                    f" | {ms['cox-de-boor'] / ms['horner']:.2f}x |")
            lines.append(line)
            print(line, flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
