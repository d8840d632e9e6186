"""The LoTRA paper, Sec. VI-B: Slim KANs on noisy sin(pi x) sin(pi y) across compression ratios.

A [2, 32, 32, 1] KAN with n_d = 8 functions per edge: cubic B-splines on grid 5 (domain
[-1, 1] in every layer), or with --kind chebyshev T_0..T_7 of tanh(x); only the hidden layer
(32 x 32 x 8) is a Tucker layer, with ranks ceil(cr * (32, 32, 8)), as in the seed. Training
targets carry Gaussian noise of std 0.05; the validation set is noisy too (its floor is the
noise variance 0.0025). The seed expects the training loss to fall as cr grows and the
validation error to trace a U. Baselines: the full KAN, and an MLP [2, 128, 128, 1] (torch).

    python docs/lotra/slim_sin.py [--steps 4000] [--seeds 0 1 2] [--models 1/8 full mlp]
        [--kind chebyshev]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import kancc

NOISE = 0.05
CRS = ["1/32", "1/16", "1/8", "1/4", "1/2", "1"]


def target(x: np.ndarray) -> np.ndarray:
    return (np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1]))[:, None]


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    return x, target(x) + NOISE * rng.standard_normal((n, 1))


BASES = {"bspline": {"degree": 3, "grid": 5, "domain": [-1, 1]},
         "chebyshev": {"kind": "chebyshev", "degree": 7}}


def spec(cr: str | None, steps: int, seed: int, lr: str, kind: str = "bspline") -> dict:
    hidden = {} if cr is None else {"tucker": cr}
    return {"model": {"name": "slim_sin", "layers": [2, 32, 32, 1], "dtype": "float64"},
            "basis": BASES[kind],
            "layers": [{}, hidden, {}],
            "train": {"optimizer": "adam", "lr": lr, "steps": steps, "seed": seed,
                      "schedule": "cosine"}}


def n_params(params: dict[str, np.ndarray]) -> int:
    return int(sum(v.size for v in params.values()))


def mlp(train: tuple, val: tuple, steps: int, seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 128), torch.nn.Tanh(), torch.nn.Linear(128, 128),
                              torch.nn.Tanh(), torch.nn.Linear(128, 1)).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    x, y = (torch.tensor(a) for a in train)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.mean((net(x) - y) ** 2)
        loss.backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        train_mse = float(torch.mean((net(x) - y) ** 2))
        val_mse = float(torch.mean((net(torch.tensor(val[0])) - torch.tensor(val[1])) ** 2))
    return {"model": "MLP [2,128,128,1]", "params": sum(p.numel() for p in net.parameters()),
            "train_mse": train_mse, "val_mse": val_mse}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--train", type=int, default=400, help="noisy training points")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", default="0.003", help="Adam's rate (cosine schedule)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--kind", choices=sorted(BASES), default="bspline")
    parser.add_argument("--models", nargs="+", default=CRS + ["full", "mlp"],
                        help="which rows to run: crs like 1/8, 'full' (the full KAN), 'mlp'")
    args = parser.parse_args()
    rows = []
    programs = kancc.training.ProgramCache()  # seeds share compiled programs
    for seed in args.seeds:
        train, val = data(args.train, 100 + seed), data(2000, 200 + seed)
        for cr in [None if m == "full" else m for m in args.models if m != "mlp"]:
            model = spec(cr, args.steps, seed, args.lr, args.kind)
            start = time.perf_counter()
            result = kancc.train(model, train, log=None, programs=programs)
            seconds = time.perf_counter() - start
            program = kancc.compile(model)
            val_mse = float(np.mean((program.forward(result.params, val[0]) - val[1]) ** 2))
            row = {"model": f"slim cr={cr}" if cr else "full KAN", "cr": cr, "seed": seed,
                   "params": n_params(result.params), "train_mse": float(result.history[-1, 1]),
                   "val_mse": val_mse, "seconds": round(seconds, 1)}
            rows.append(row)
            print(f"seed {seed} {row['model']:>14}: {row['params']:6d} params  train "
                  f"{row['train_mse']:.2e}  val {val_mse:.2e}  ({seconds:.0f} s)", flush=True)
        if "mlp" not in args.models:
            continue
        row = {**mlp(train, val, args.steps, seed), "seed": seed, "cr": None}
        rows.append(row)
        print(f"seed {seed} {row['model']:>14}: {row['params']:6d} params  train "
              f"{row['train_mse']:.2e}  val {row['val_mse']:.2e}", flush=True)
    print(f"noise floor (variance of the noise): {NOISE ** 2:.2e}")
    summary = {}
    for row in rows:
        summary.setdefault(row["model"], []).append(row)
    print(f"\n{'model':>18} {'params':>7} {'train MSE (median)':>19} {'val MSE (median)':>17}")
    for name, group in summary.items():
        print(f"{name:>18} {group[0]['params']:7d} "
              f"{np.median([r['train_mse'] for r in group]):19.3e} "
              f"{np.median([r['val_mse'] for r in group]):17.3e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"noise_variance": NOISE ** 2, "rows": rows}, f, indent=1)
    return 0 if all(math.isfinite(r["val_mse"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
