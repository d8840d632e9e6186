"""Seed 001 benchmarks: Newton-Kaczmarz training of piecewise-linear KANs on one CPU thread,
against a torch MLP (Adam) trained to the same validation accuracy.

- polar5: Polar's 5-input formula (kancc.data "polar5"), 10 000 records, ~62% training;
  [5, 11, 1] (11 addends), piecewise linear from 2 to 10 inner / 14 outer nodes (one node per
  epoch from epoch 1), 40 epochs, then 50 cubic epochs; records with |residual| < 1% of the
  target range are skipped in the middle cubic epochs, as in Polar's KANPro.
- triangle: the area of three random points in the unit square (6 inputs), 10 000 training
  and 2 000 validation records, [6, 13, 1] with 7 inner and 7 outer nodes, alpha 0.5,
  100 epochs, intermediate ranges renormalized.

Training seconds cover the record loop, node growth, renormalization, the cubic conversion
and the final validation pass (the C++ reference times the same, after generating the data);
numba's one-time compilation is reported apart. Accuracy: validation RMSE / (max y - min y)
of the trained model as the compiled NumPy program evaluates it. The MLP is timed until its
validation error first reaches the KAN's median error (checked every epoch), at most
--mlp-seconds. The last line of output is one JSON object.

    python benchmarks/kaczmarz.py            # about a minute (MLPs capped at 60 s each)
    python benchmarks/kaczmarz.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import kancc  # noqa: E402
from kancc.data import synthetic  # noqa: E402
from kancc.training.kaczmarz import fit_newton_kaczmarz  # noqa: E402

POLAR5 = {"layers": [5, 11, 1], "epochs": 40, "cells": [9, 13], "spline_epochs": 50,
          "alpha": 0.5, "skip_below": 0.01, "grid": 1}
TRIANGLE = {"layers": [6, 13, 1], "epochs": 100, "cells": [6, 6], "spline_epochs": 0,
            "alpha": 0.5, "skip_below": 0, "grid": 6}
C_PLUS_PLUS = {"polar5": {"seconds": [0.38, 0.56], "pl_seconds": [0.12, 0.18],
                          "val_rel_rmse": [0.0065, 0.0072]}}


def split_polar5(seed: int) -> tuple[np.ndarray, ...]:
    data = synthetic("polar5", 10000, seed)
    train = np.random.default_rng(seed + 1000).random(10000) < 0.62
    return data.x[train], data.y[train, 0], data.x[~train], data.y[~train, 0]


def split_triangle(seed: int) -> tuple[np.ndarray, ...]:
    data = synthetic("triangle", 12000, seed)
    return data.x[:10000], data.y[:10000, 0], data.x[10000:], data.y[10000:, 0]


def kan_spec(setting: dict, seed: int) -> kancc.Spec:
    kaczmarz = {k: setting[k] for k in ("epochs", "cells", "spline_epochs", "alpha",
                                        "skip_below")}
    return kancc.load_spec({
        "model": {"name": "nk", "layers": setting["layers"], "dtype": "float64"},
        "basis": {"degree": 1, "grid": setting["grid"], "domain": [0, 1]},
        "train": {"method": "newton-kaczmarz", "seed": seed, "kaczmarz": kaczmarz}})


def relative_rmse(prediction: np.ndarray, y: np.ndarray, y_range: float) -> float:
    return float(np.sqrt(np.mean((prediction - y) ** 2)) / y_range)


def run_kan(name: str, setting: dict, split, runs: int) -> dict:
    x, y, xv, yv = split(0)
    start = time.perf_counter()
    fit_newton_kaczmarz(kan_spec(setting, 0), x[:50], y[:50], xv[:5], yv[:5])
    compile_seconds = time.perf_counter() - start
    seconds, pl_seconds, errors = [], [], []
    for seed in range(runs):
        x, y, xv, yv = split(seed)
        y_range = float(max(y.max(), yv.max()) - min(y.min(), yv.min()))
        fit = fit_newton_kaczmarz(kan_spec(setting, seed), x, y, xv, yv)
        prediction = kancc.compile(fit.spec).forward(fit.params, xv)[:, 0]
        seconds.append(fit.seconds)
        pl_seconds.append(fit.phase_seconds[0])
        errors.append(relative_rmse(prediction, yv, y_range))
        print(f"{name} run {seed}: {fit.seconds:.3f} s (piecewise linear "
              f"{fit.phase_seconds[0]:.3f} s), validation relative RMSE {errors[-1]:.5f}",
              flush=True)
    return {"train_seconds": float(np.median(seconds)), "pl_seconds": float(np.median(pl_seconds)),
            "val_rel_rmse": float(np.median(errors)), "val_rel_rmse_max": float(max(errors)),
            "runs": runs, "jit_compile_seconds": compile_seconds}


def run_mlp(name: str, split, target: float, limit: float, seed: int = 0) -> dict:
    """A [n, 64, 64, 1] tanh MLP, Adam (lr 1e-3, batch 64), until the validation error
    reaches ``target`` or ``limit`` seconds pass (training time only)."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y, xv, yv = (torch.tensor(a, dtype=torch.float32) for a in split(seed))
    y_range = float(max(y.max(), yv.max()) - min(y.min(), yv.min()))
    width = x.shape[1]
    model = torch.nn.Sequential(torch.nn.Linear(width, 64), torch.nn.Tanh(),
                                torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    elapsed, epochs, error = 0.0, 0, float("inf")
    while elapsed < limit:
        start = time.perf_counter()
        for batch in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            loss = torch.mean((model(x[batch])[:, 0] - y[batch]) ** 2)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            error = relative_rmse(model(xv)[:, 0].numpy(), yv.numpy(), y_range)
        elapsed += time.perf_counter() - start
        epochs += 1
        if error <= target:
            break
    reached = error <= target
    print(f"{name} MLP: {'reached' if reached else 'did not reach'} {target:.5f} "
          f"(error {error:.5f}) after {epochs} epochs, {elapsed:.2f} s", flush=True)
    return {"seconds": elapsed, "epochs": epochs, "val_rel_rmse": error, "target": target,
            "reached": reached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, short MLP budget")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mlp-seconds", type=float, default=60.0)
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    limit = 2.0 if args.quick else args.mlp_seconds
    results: dict = {"machine": f"{os.cpu_count()} CPUs, one thread", "dtype": "float64"}
    for name, setting, split in (("polar5", POLAR5, split_polar5),
                                 ("triangle", TRIANGLE, split_triangle)):
        kan = run_kan(name, setting, split, runs)
        mlp = run_mlp(name, split, kan["val_rel_rmse"], limit)
        kan["mlp"] = mlp
        if mlp["reached"]:
            kan["mlp_over_kan_seconds"] = mlp["seconds"] / kan["train_seconds"]
        results[name] = kan
    results["polar5"]["cpp_reference"] = C_PLUS_PLUS["polar5"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
