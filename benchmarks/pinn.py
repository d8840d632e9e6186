"""One physics-informed training step on one CPU thread: kancc against jaxKAN and pykan on
the same problems, model widths, grid, collocation points, optimizer and step count.

Problems (float64, [-1, 1]^2, Dirichlet data from the manufactured solution):
  poisson    u_xx + u_yy = f, u = sin(pi x) sin(pi y)
  helmholtz  u_xx + u_yy + u = f, u = sin(pi x) sin(4 pi y)   (jaxKAN's setting)

Contenders, each: loss = mean(residual^2) + 10 mean(boundary error^2), Adam, full batch.
  kancc         the [pde] spec's NumPy physics program (jets forward, fused reverse sweep)
                plus kancc's Adam; cubic B-splines with the base branch (base = "silu")
  kancc-torch   the same spec on the torch target (loss ops, torch.autograd.grad)
  jaxkan        jaxkan.models.KAN, "spline" layers (cubic, base branch), jax.grad twice
                under vmap, optax.adam, jitted (benchmarks/pinn_jaxkan.py, run by the
                interpreter of --jaxkan-python: one with jax and jaxkan installed)
  pykan         kan.KAN (pykan), torch.autograd.grad twice with create_graph, torch Adam

    python benchmarks/pinn.py [--quick] [--jaxkan-python /path/to/python]

Prints a table per problem (seconds per step, ratio to kancc, relative L2 error after the
steps) and ends with one JSON line {"<problem>": {"kancc": {"step_s", "rel_l2"}, ...}}. A
peer that cannot be imported or fails gets {"error": why}.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import kancc  # noqa: E402
from kancc.data import Dataset  # noqa: E402
from kancc.physics.problem import collocation_inputs, solution_grid  # noqa: E402
from kancc.training.fitted_spec import fit_domains  # noqa: E402
from kancc.training.optim import Adam  # noqa: E402

PROBLEMS = {"poisson": ("sin(pi*x) * sin(pi*y)", 0), "helmholtz": ("sin(pi*x) * sin(4*pi*y)", 1)}
LR = 1e-3
WEIGHT = 10


def spec_of(problem: str, widths: list[int], grid: int, points: int) -> dict[str, Any]:
    solution, k2 = PROBLEMS[problem]
    return {"model": {"name": problem, "layers": widths, "dtype": "float64"},
            "basis": {"degree": 3, "grid": grid, "domain": "auto", "base": "silu"},
            "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]],
                    "parameters": {"k2": k2}, "solution": solution,
                    "residual": "u_xx + u_yy + k2*u - f", "points": points,
                    "sampler": "sobol", "test_points": 2500,
                    "condition": [{"kind": "dirichlet", "value": "solution",
                                   "points": points // 4, "weight": WEIGHT}]},
            "train": {"lr": LR}}


def relative_error(predicted: np.ndarray, solution: np.ndarray) -> float:
    return float(np.linalg.norm(predicted - solution) / np.linalg.norm(solution))


def fitted(spec: dict[str, Any]) -> kancc.Spec:
    """The spec with its "auto" domains chosen on the interior points, as kancc train does
    (the peers' grids are [-1, 1]; beyond them their splines are 0, kancc's extend)."""
    parsed = kancc.load_spec(spec)
    points = collocation_inputs(parsed, 0)["interior"]
    return fit_domains(parsed, Dataset(points, np.zeros((len(points), 1)), "points"), None)


def kancc_run(target: str) -> Callable[[dict[str, Any], int], dict[str, float]]:
    def run(raw: dict[str, Any], steps: int) -> dict[str, float]:
        spec = fitted(raw)
        program = kancc.compile(spec, target, training=True)
        inputs = collocation_inputs(program.spec, 0)
        params = program.init_params(0)
        optimizer = Adam(params)
        program.physics_loss(params, inputs)  # load the module
        start = time.perf_counter()
        for _ in range(steps):
            grads = program.physics_loss(params, inputs).grads
            optimizer.step(params, grads, LR)
        seconds = (time.perf_counter() - start) / steps
        points, solution = solution_grid(program.spec)  # type: ignore[misc]
        predicted = kancc.compile(spec, "numpy").forward(params, points)
        return {"step_s": seconds, "rel_l2": relative_error(predicted, solution)}
    return run


def pykan_run(spec: dict[str, Any], steps: int) -> dict[str, float]:
    import torch
    from kan import KAN

    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    inputs = collocation_inputs(kancc.load_spec(spec), 0)
    widths = spec["model"]["layers"]
    model = KAN(width=list(widths), grid=spec["basis"]["grid"], k=3, seed=0, auto_save=False,
                symbolic_enabled=False, save_act=False)
    interior = torch.tensor(inputs["interior"], requires_grad=True)
    forcing = torch.tensor(inputs["residual.target"])
    edge = torch.tensor(inputs["dirichlet"])
    edge_values = torch.tensor(inputs["dirichlet.target"])
    k2 = float(spec["pde"]["parameters"]["k2"])
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step() -> None:
        u = model(interior)
        (du,) = torch.autograd.grad(u.sum(), interior, create_graph=True)
        u_xx = torch.autograd.grad(du[:, 0].sum(), interior, create_graph=True)[0][:, :1]
        u_yy = torch.autograd.grad(du[:, 1].sum(), interior, create_graph=True)[0][:, 1:]
        residual = u_xx + u_yy + k2 * u - forcing
        loss = (residual ** 2).mean() + WEIGHT * ((model(edge) - edge_values) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps - 1):
        step()
    seconds = (time.perf_counter() - start) / max(1, steps - 1)
    points, solution = solution_grid(kancc.load_spec(spec))  # type: ignore[misc]
    with torch.no_grad():
        predicted = model(torch.tensor(points)).numpy()
    return {"step_s": seconds, "rel_l2": relative_error(predicted, solution)}


def jaxkan_run(python: str) -> Callable[[dict[str, Any], int], dict[str, float]]:
    def run(spec: dict[str, Any], steps: int) -> dict[str, float]:
        parsed = kancc.load_spec(spec)
        inputs = collocation_inputs(parsed, 0)
        points, solution = solution_grid(parsed)  # type: ignore[misc]
        with tempfile.TemporaryDirectory() as folder:
            problem, out = Path(folder) / "problem.npz", Path(folder) / "out.json"
            np.savez(problem, widths=spec["model"]["layers"], grid=spec["basis"]["grid"],
                     lr=LR, weight=WEIGHT, k2=float(spec["pde"]["parameters"]["k2"]),
                     interior=inputs["interior"], forcing=inputs["residual.target"],
                     boundary=inputs["dirichlet"], boundary_values=inputs["dirichlet.target"],
                     test=points, solution=solution)
            script = Path(__file__).with_name("pinn_jaxkan.py")
            done = subprocess.run([python, str(script), str(problem), str(steps), str(out)],
                                  capture_output=True, text=True, timeout=3600)
            if not out.exists():
                return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
            result: dict[str, float] = json.loads(out.read_text())
            return result
    return run


def guarded(run: Callable[[dict[str, Any], int], dict[str, float]], spec: dict[str, Any],
            steps: int) -> dict[str, Any]:
    try:
        return run(spec, steps)
    except Exception as error:  # a peer that is missing or fails: its row says why
        return {"error": f"{type(error).__name__}: {error}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, few steps")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--jaxkan-python", default=sys.executable,
                        help="an interpreter with jax and jaxkan installed")
    args = parser.parse_args()
    widths, grid, points = ([2, 4, 1], 5, 256) if args.quick else ([2, 8, 8, 1], 8, 2500)
    steps = args.steps or (5 if args.quick else 200)
    contenders = [("kancc", kancc_run("numpy")), ("kancc-torch", kancc_run("torch")),
                  ("jaxkan", jaxkan_run(args.jaxkan_python)), ("pykan", pykan_run)]
    print(f"physics-informed training step, one thread, float64, widths {widths}, grid "
          f"{grid}, {points} interior points, Adam, {steps} steps")
    results: dict[str, dict[str, Any]] = {}
    for problem in PROBLEMS:
        spec = spec_of(problem, widths, grid, points)
        print(f"\n{problem}\n  {'contender':<12}{'s / step':>11}{'vs kancc':>10}{'rel L2':>10}")
        results[problem] = {}
        for name, run in contenders:
            row = results[problem][name] = guarded(run, spec, steps)
            if "error" in row:
                print(f"  {name:<12}{'-':>11}{'-':>10}{'-':>10}  {row['error']}")
                continue
            base = results[problem].get("kancc", {}).get("step_s", math.nan)
            print(f"  {name:<12}{row['step_s']:>11.4f}{row['step_s'] / base:>9.1f}x"
                  f"{row['rel_l2']:>10.3g}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
