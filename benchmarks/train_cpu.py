"""One training step (forward + backward) on one CPU thread: kancc's NumPy backend vs peers
and vs the GEMM limit.

Contenders, all float32, grid 5, cubic B-splines, MSE loss, batch as listed:
  kancc        value_and_grad() of the emitted NumPy training module (the autodiff pass's
               graph: local basis and its derivative, scatter, GEMMs), parameters repacked
               per call as a user would call it
  limit        the three dense GEMMs per layer a dense-basis KAN step must do at least:
               forward B @ W, then B^T @ g (d coef) and g @ W^T (d basis), on prebuilt operands
  efficient-kan, pykan, mlp   forward + MSE + loss.backward() under torch autograd (see
               forward_cpu.py for what each computes)

    python benchmarks/train_cpu.py [--repeat 20]

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

import numpy as np  # noqa: E402
from forward_cpu import DEGREE, GRID, efficient_kan_model, mlp_model, pykan_model, run_cases  # noqa: E402

import kancc  # noqa: E402


def kancc_step(widths, batch, rng):
    program = kancc.compile({"model": {"layers": list(widths)},
                             "basis": {"degree": DEGREE, "grid": GRID}}, training=True)
    params = program.init_params(0)
    x = rng.uniform(-1, 1, (batch, widths[0])).astype(np.float32)
    y = rng.standard_normal((batch, widths[-1])).astype(np.float32)
    module = program.module
    return (lambda: module.value_and_grad(params, x, y)), ""


def gemm_limit(widths, batch, rng):
    nb = GRID + DEGREE
    layers = []
    for n_in, n_out in zip(widths, widths[1:]):
        basis = rng.standard_normal((batch, n_in * nb)).astype(np.float32)
        weights = rng.standard_normal((n_in * nb, n_out)).astype(np.float32)
        grad = rng.standard_normal((batch, n_out)).astype(np.float32)
        layers.append((basis, weights, grad))

    def step():
        return [(b @ w, b.T @ g, g @ w.T) for b, w, g in layers]

    return step, ""


def torch_step(make_model):
    def contender(widths, batch, rng):
        import torch

        model, note = make_model(widths)
        if model is None:
            return None, note
        x = torch.tensor(rng.uniform(-1, 1, (batch, widths[0])), dtype=torch.float32)
        y = torch.tensor(rng.standard_normal((batch, widths[-1])), dtype=torch.float32)

        def step():
            model.zero_grad(set_to_none=True)
            loss = torch.mean((model(x) - y) ** 2)
            loss.backward()
            return loss

        return step, ""

    return contender


CONTENDERS = [("kancc", kancc_step), ("limit", gemm_limit),
              ("efficient-kan", torch_step(efficient_kan_model)),
              ("pykan", torch_step(pykan_model)), ("mlp", torch_step(mlp_model))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"one training step, one thread, float32, grid {GRID}, degree {DEGREE}; "
          f"{platform.processor() or platform.machine()}")
    results = run_cases(CONTENDERS, args.repeat)
    print(json.dumps({"benchmark": "train_cpu", "threads": 1, "dtype": "float32", "grid": GRID,
                      "degree": DEGREE, "machine": platform.machine(), "cases": results}))


if __name__ == "__main__":
    main()
