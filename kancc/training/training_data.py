"""The data a training run uses: the request's, or the spec's [data] table, split into
training and validation sets and checked against the model's dtype."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kancc.data import Dataset, from_arrays, load_data
from kancc.errors import DataError, KanccError
from kancc.spec import Spec

DataSource = Dataset | tuple[np.ndarray, np.ndarray] | str | os.PathLike[str] | None


def resolve_data(spec: Spec, data: DataSource) -> tuple[Dataset, Dataset]:
    """(training, validation) sets from the argument or, by default, the spec's [data]."""
    n_in, n_out = spec.widths[0], spec.widths[-1]
    labels = spec.train.loss == "cross_entropy"
    validation, seed = 0.0, 0
    if spec.data is not None:
        validation, seed = float(spec.data.validation), spec.data.seed
    if data is None:
        if spec.data is None:
            raise KanccError("no training data: give data, or a [data] table in the spec "
                             "(source = a file or a synthetic target)")
        source: Any = spec.data.source
        if spec.origin is not None and Path(source).suffix:  # a file next to the spec
            source = Path(spec.origin).parent / source
        dataset = load_data(source, n_in, n_out, labels=labels, n=spec.data.n, seed=seed)
    elif isinstance(data, Dataset):
        dataset = from_arrays(data.x, data.y, n_in, n_out, labels=labels, name=data.name)
    elif isinstance(data, tuple):
        if len(data) != 2:
            raise KanccError(f"data must be an (x, y) pair, got a tuple of {len(data)}")
        dataset = from_arrays(data[0], data[1], n_in, n_out, labels=labels, name="arrays")
    else:
        dataset = load_data(data, n_in, n_out, labels=labels, n=None, seed=seed)
    _check_range(dataset, spec.dtype)
    return dataset.split(validation, seed)


def _check_range(dataset: Dataset, dtype: str) -> None:
    """Finite float64 data may still overflow the model's dtype: refuse it, naming where."""
    limit = float(np.finfo(dtype).max)
    arrays = [("x", dataset.x)] + ([("y", dataset.y)] if dataset.y.dtype.kind == "f" else [])
    for what, array in arrays:
        beyond = np.argwhere(np.abs(array) > limit)
        if len(beyond):
            row, column = (int(v) for v in beyond[0])
            raise DataError(dataset.name, f"{what} at row {row}, column {column} is "
                            f"{array[row, column]:g}, beyond {dtype}'s range")
