"""How examples/diabetes.toml was chosen: a small grid of models, judged on the validation
split only (the last 25% of the training file's rows by data.seed 0; the test file is never
read here).

    python examples/diabetes_search.py          # about a minute on one core

Each configuration trains with Adam, keeps its lowest-validation-loss parameters
(train.keep = "best") and is ranked by that validation mse; the winner's settings are the
example spec's. Evaluate the chosen spec on the test file afterwards, once:
    kancc train examples/diabetes.toml -o diabetes.ckpt.npz
    kancc eval diabetes.ckpt.npz --data examples/diabetes_test.csv
"""

from __future__ import annotations

import itertools
from pathlib import Path

import kancc

HERE = Path(__file__).parent
WIDTHS = (1, 2, 4)
GRIDS = (2, 3, 5)
DEGREES = (1, 3)
L2 = ("0", "0.01", "0.1")


def spec(width: int, grid: int, degree: int, l2: str) -> dict[str, object]:
    return {
        "model": {"name": "diabetes", "layers": [10, width, 1], "dtype": "float64"},
        "basis": {"degree": degree, "grid": grid, "domain": ["-3", "3"]},
        "train": {"loss": "mse", "optimizer": "adam", "lr": "0.01", "steps": 2000, "l2": l2,
                  "keep": "best", "validate_every": 20, "seed": 0},
        "data": {"source": str(HERE / "diabetes_train.csv"), "validation": "0.25", "seed": 0,
                 "standardize": "both"},
    }


def main() -> None:
    rows = []
    for width, grid, degree, l2 in itertools.product(WIDTHS, GRIDS, DEGREES, L2):
        result = kancc.train(spec(width, grid, degree, l2), log=None)
        score = result.validation_metrics
        rows.append((score["mse"], width, grid, degree, l2, score["r2"]))
        print(f"[10,{width},1] grid {grid} degree {degree} l2 {l2:<5}: validation mse "
              f"{score['mse']:8.1f}, r2 {score['r2']:.3f}", flush=True)
    best = min(rows)
    print(f"chosen by validation mse: [10,{best[1]},1] grid {best[2]} degree {best[3]} "
          f"l2 {best[4]} (validation mse {best[0]:.1f}, r2 {best[5]:.3f})")


if __name__ == "__main__":
    main()
