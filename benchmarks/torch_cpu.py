"""One training step on one CPU thread inside a torch training loop: kancc's torch target
against efficient-kan, side by side.

Contenders, all float32, grid 5, cubic B-splines, MSE loss, batch as listed:
  kancc        the torch target's Model (program.torch_module()): forward + MSE +
               loss.backward() under torch autograd, exactly as the peers are timed
  kancc+base   the same with base = "silu" on every layer: the computation efficient-kan
               does (spline + SiLU base branch)
  efficient-kan  efficient_kan.KAN (set EFFICIENT_KAN_PATH to a checkout's src/ folder), with
               its base branch
  kancc-numpy  value_and_grad() of kancc's NumPy training module, for reference
  mlp          torch Linear-SiLU-Linear of the same widths

    EFFICIENT_KAN_PATH=/path/to/efficient-kan/src python benchmarks/torch_cpu.py [--repeat 20]

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

from forward_cpu import DEGREE, GRID, efficient_kan_model, mlp_model, run_cases  # noqa: E402
from train_cpu import kancc_step, torch_step  # noqa: E402

import kancc  # noqa: E402

CASES = [((64, 16, 10), 128), ((2, 5, 1), 20000)]


def kancc_torch_model(widths, base="none"):
    spec = {"model": {"layers": list(widths)},
            "basis": {"degree": DEGREE, "grid": GRID, "base": base}}
    return kancc.compile(spec, "torch").torch_module(), ""


CONTENDERS = [("kancc", torch_step(kancc_torch_model)),
              ("kancc+base", torch_step(lambda widths: kancc_torch_model(widths, "silu"))),
              ("efficient-kan", torch_step(efficient_kan_model)),
              ("kancc-numpy", kancc_step), ("mlp", torch_step(mlp_model))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"one training step in a torch loop, one thread, float32, grid {GRID}, degree "
          f"{DEGREE}; torch {torch.__version__}; {platform.processor() or platform.machine()}")
    results = run_cases(CONTENDERS, args.repeat, CASES)
    print(json.dumps({"benchmark": "torch_cpu", "threads": 1, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "machine": platform.machine(),
                      "cases": results}))


if __name__ == "__main__":
    main()
