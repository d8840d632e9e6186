"""The LoTRA paper, Sec. VI-B (MNIST there): Slim KANs on scikit-learn's bundled 8x8 digits.

1797 images of 64 pixels (0..16, scaled to [-1, 1]); a stratified 80/20 split. The KAN is
[64, 64, 10] with n_d = 4 basis functions per edge (quadratic B-splines on 2 cells), trained
with cross-entropy by Adam on the full batch. As in the seed, the input layer is the Tucker
layer (ranks ceil(cr * (64, 64, 4))) and the output layer stays full. Baseline: an MLP
[64, h, 10] (ReLU) with h chosen for about the parameter count of each Slim KAN.

    python docs/lotra/slim_digits.py [--steps 400] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import kancc

CRS = ["1/16", "1/8", "1/4", "1/2"]


def digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x / 8.0 - 1.0
    return train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)


def kan_spec(cr: str | None, steps: int, seed: int) -> dict:
    first = {} if cr is None else {"tucker": cr}
    return {"model": {"name": "slim_digits", "layers": [64, 64, 10], "dtype": "float32"},
            "basis": {"degree": 2, "grid": 2, "domain": [-1, 1]},
            "layers": [first, {}],
            "train": {"loss": "cross_entropy", "optimizer": "adam", "lr": "1/100",
                      "steps": steps, "seed": seed, "schedule": "cosine"}}


def mlp_accuracy(hidden: int, data, steps: int, seed: int) -> tuple[int, float]:
    import torch

    x_train, x_test, y_train, y_test = data
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    x, y = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        predicted = net(torch.tensor(x_test, dtype=torch.float32)).argmax(1).numpy()
    return sum(p.numel() for p in net.parameters()), float(np.mean(predicted == y_test))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    results: dict[str, list[tuple[int, float]]] = {}
    programs = kancc.training.ProgramCache()  # seeds share compiled programs
    for seed in args.seeds:
        data = digits(seed)
        x_train, x_test, y_train, y_test = data
        for cr in CRS + [None]:
            spec = kan_spec(cr, args.steps, seed)
            trained = kancc.train(spec, (x_train, y_train), log=None, programs=programs)
            logits = kancc.compile(spec).forward(trained.params, x_test)
            accuracy = float(np.mean(logits.argmax(1) == y_test))
            count = int(sum(v.size for v in trained.params.values()))
            name = f"Slim KAN cr={cr}" if cr else "KAN (full)"
            results.setdefault(name, []).append((count, accuracy))
            hidden = max(1, round((count - 10) / (64 + 1 + 10)))
            mlp = mlp_accuracy(hidden, data, args.steps, seed)
            results.setdefault(f"MLP ~ {name}", []).append(mlp)
            print(f"seed {seed} {name:>18}: {count:6d} params, accuracy {accuracy:.4f}; "
                  f"MLP [64,{hidden},10] {mlp[0]:6d} params, accuracy {mlp[1]:.4f}", flush=True)
    print(f"\n{'model':>26} {'params':>7} {'test accuracy (mean over seeds)':>32}")
    for name, rows in results.items():
        print(f"{name:>26} {rows[0][0]:7d} {np.mean([a for _, a in rows]):32.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
