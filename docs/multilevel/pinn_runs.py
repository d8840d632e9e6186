"""What the physics-informed reproductions (burgers_table3.py, poisson_figure6.py) share: the
MLP baselines in torch, trained by Adam on the same points and loss as the KANs, and the
bookkeeping of a sweep (thinned histories, spreads over seeds, resuming from the JSON)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kancc.storage import write_text_atomic


def thinned(history: np.ndarray, every: int = 20) -> list[list[float]]:
    """Every ``every``-th row of a history (step, loss[, measured errors...]), every row
    where errors were measured, and the last, for the JSON."""
    history = np.asarray(history)
    keep = np.arange(len(history)) % every == 0
    keep[-1] = True
    if history.shape[1] > 2:
        keep |= ~np.isnan(history[:, 2])
    return [[int(row[0]), *(float(v) for v in row[1:])] for row in history[keep]]


def spread(values: np.ndarray) -> float:
    """The sample standard deviation (0 for a single run)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def mlp(widths: list[int], activation: str, seed: int) -> Any:
    """A float64 torch MLP with torch's default initialization under ``seed``."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[activation]
    layers: list[torch.nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b, dtype=torch.float64), act()]
    return torch.nn.Sequential(*layers[:-1])


def train_mlp(model: Any, loss_of: Callable[[], Any], steps: int,
              rate: Callable[[int], float],
              measure: Callable[[], tuple[float, float]] | None = None,
              every: int = 50) -> tuple[np.ndarray, float]:
    """Adam on ``loss_of()`` with the rate ``rate(step)``; returns the history (step, loss,
    relative L2, absolute max error: NaN where ``measure`` was not called) and the seconds."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=rate(0))
    rows, start = [], time.perf_counter()
    for step in range(steps + 1):
        loss = loss_of()
        errors = measure() if measure is not None and (step % every == 0 or step == steps) \
            else (np.nan, np.nan)
        rows.append([step, float(loss.detach()), *errors])
        if step == steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = rate(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return np.array(rows), time.perf_counter() - start


def load_runs(path: Path) -> list[dict]:
    """The runs already in a results file (none when it does not exist yet)."""
    return list(json.loads(path.read_text())["runs"]) if path.exists() else []


def run_jobs(jobs: Sequence[tuple[Callable[[Any], Any], Any]], processes: int,
             finished: Callable[[Any], None]) -> None:
    """Run each (function, argument) in a pool of ``processes`` and hand each result to
    ``finished`` in submission order, as soon as it and those before it are done."""
    with ProcessPoolExecutor(processes) as pool:
        futures = [pool.submit(function, argument) for function, argument in jobs]
        for future in futures:
            finished(future.result())


def level_ends(levels: Sequence[Any]) -> list[int]:
    """The step at which each level of a multilevel result ends, counted across levels."""
    return [int(end) for end in np.cumsum([level.history[-1, 0] for level in levels])]


def sweep_parser(description: str, quick_help: str, out: Path) -> argparse.ArgumentParser:
    """The options every reproduction takes: --quick, --jobs, --out, --render."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    parser.add_argument("--out", type=Path, default=out, help="folder of the results")
    parser.add_argument("--render", action="store_true", help="train nothing; re-render")
    return parser


def write_results(path: Path, payload: dict, table: str, plot: Callable[[Path], None]) -> None:
    """``payload`` as JSON at ``path``, the table beside it (.md) and the figure (.png)."""
    write_text_atomic(path, json.dumps(payload) + "\n")
    write_text_atomic(path.with_suffix(".md"), table)
    plot(path.with_suffix(".png"))
