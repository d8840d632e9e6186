"""A loaded data set: rows of inputs and targets, checked and read-only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kancc.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """Rows of inputs and targets. The loaders below establish the invariants noted on the
    fields and make both arrays read-only, so a Dataset cannot change after loading."""

    x: np.ndarray  # (n, n_in) float64, C-contiguous, finite
    y: np.ndarray  # (n, n_out) float64, or (n,) int64 class labels
    name: str  # the file path or synthetic name it came from, for messages

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def split(self, validation: float, seed: int) -> tuple[Dataset, Dataset]:
        """(training, validation): round(validation * n) random rows, at most n - 1, go to
        the second set; each set keeps the original row order. Deterministic for a seed."""
        if not 0.0 <= validation < 1.0:
            raise DataError(self.name, f"validation fraction must be in [0, 1), got {validation}")
        n_val = min(round(validation * self.n), max(self.n - 1, 0))
        order = np.random.default_rng(seed).permutation(self.n)
        train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
        return (make_dataset(self.x[train], self.y[train], self.name),
                make_dataset(self.x[val], self.y[val], self.name))

    def batches(self, batch_size: int,
                rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of shuffled (x, y) minibatches; the last may be smaller. A batch_size of
        n or more gives the whole set once, unshuffled, so full-batch training is
        deterministic and order-stable (and rng is not consumed)."""
        if batch_size <= 0:
            raise DataError(self.name, f"batch size must be positive, got {batch_size}")
        if batch_size >= self.n:
            return iter([(self.x, self.y)] if self.n else [])
        order = rng.permutation(self.n)
        return ((self.x[rows], self.y[rows])
                for rows in (order[i:i + batch_size] for i in range(0, self.n, batch_size)))


def make_dataset(x: np.ndarray, y: np.ndarray, name: str) -> Dataset:
    """A Dataset of x and y made contiguous and read-only (the caller checked them)."""
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    for a in (x, y):
        a.setflags(write=False)
    return Dataset(x, y, name)
