"""How examples/diabetes.toml was chosen: a grid of models judged by cross-validation on the
training file alone (the test file is never read here).

    python examples/diabetes_search.py            # about eight minutes on one core
    python examples/diabetes_search.py --quick    # four configurations, seconds

Protocol. Each configuration trains with full-batch Adam for up to 2000 steps on five
random 80/20 splits of the training file (data.seed 0..4), and its validation mse is
recorded every 20 steps. The score of a (configuration, step count) pair is the mean of
those five validation mses; the pair with the lowest score wins. The example spec is that
configuration trained for that many steps on the whole training file (no validation split,
train.keep = "last"). One 20% split of 353 rows holds 71 rows, too few to choose by: the
mean over five splits is what makes the choice stable. Evaluate the chosen spec on the test
file afterwards, once:
    kancc train examples/diabetes.toml -o diabetes.ckpt.npz
    kancc eval diabetes.ckpt.npz --data examples/diabetes_test.csv
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import kancc

HERE = Path(__file__).parent
SPLITS = (0, 1, 2, 3, 4)
MAX_STEPS = 2000
EVERY = 20


@dataclass(frozen=True)
class Config:
    hidden: int  # 0: the additive model [10, 1]
    degree: int
    grid: int
    l2: str

    @property
    def layers(self) -> list[int]:
        return [10, 1] if self.hidden == 0 else [10, self.hidden, 1]

    def describe(self) -> str:
        return f"{self.layers} degree {self.degree} grid {self.grid} l2 {self.l2}"


FULL_GRID = [Config(*values) for values in itertools.product(
    (0, 2, 4), (1, 3), (1, 2, 4), ("0", "1", "10", "100", "1000"))]
QUICK_GRID = [Config(0, 1, 1, "10"), Config(0, 3, 2, "10"), Config(2, 1, 2, "0"),
              Config(2, 3, 2, "100")]


def spec(config: Config, steps: int, split_seed: int | None) -> dict[str, object]:
    """The spec of ``config``; ``split_seed`` None trains on the whole training file."""
    data: dict[str, object] = {"source": str(HERE / "diabetes_train.csv"),
                               "standardize": "both"}
    train: dict[str, object] = {"loss": "mse", "optimizer": "adam", "lr": "0.01",
                                "steps": steps, "l2": config.l2, "seed": 0}
    if split_seed is not None:
        data.update(validation="0.2", seed=split_seed)
        train["validate_every"] = EVERY
    return {"model": {"name": "diabetes", "layers": config.layers, "dtype": "float64"},
            "basis": {"degree": config.degree, "grid": config.grid, "domain": ["-3", "3"]},
            "train": train, "data": data}


def validation_curve(config: Config, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean validation mse over the splits at those steps)."""
    curves = []
    for seed in SPLITS:
        history = kancc.train(spec(config, max_steps, seed), log=None).history
        measured = history[(history[:, 0] > 0) & ~np.isnan(history[:, 2])]
        curves.append(measured[:, 2])
    return measured[:, 0].astype(int), np.mean(curves, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four configurations, 200 steps")
    args = parser.parse_args()
    grid, max_steps = (QUICK_GRID, 200) if args.quick else (FULL_GRID, MAX_STEPS)
    scores = []
    for config in grid:
        steps, mean_mse = validation_curve(config, max_steps)
        best = int(np.argmin(mean_mse))
        scores.append((float(mean_mse[best]), int(steps[best]), config))
        print(f"{config.describe():<36}: mean validation mse {mean_mse[best]:8.1f} "
              f"at step {steps[best]}", flush=True)
    mse, steps, config = min(scores, key=lambda score: score[0])
    print(f"chosen: {config.describe()}, {steps} steps (mean validation mse {mse:.1f}); "
          "train it on the whole training file:")
    print(spec(config, steps, None))


if __name__ == "__main__":
    main()
