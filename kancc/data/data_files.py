"""Training data from a .npz, .npy or .csv file, or a built-in synthetic target.

Every bad input raises one DataError naming the source and what is wrong where (array, row
and column; for CSV, line and column): numpy's and the OS's exceptions never reach the user.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kancc.errors import DataError

from .dataset import Dataset, make_dataset
from .synthetic import SYNTHETIC, synthetic

DEFAULT_ROWS = 2000
Read = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # x, y, each row's CSV line


def load_data(source: str | os.PathLike[str], n_in: int, n_out: int, *, labels: bool = False,
              n: int | None = None, seed: int = 0) -> Dataset:
    """A synthetic target (``source`` names one; n rows, default 2000) or a data file.

    Files: .npz with arrays ``x`` (n, n_in) and ``y`` ((n,) or (n, n_out)); .npy or .csv with
    the n_in input columns then the targets (n_out columns, or one label column). A CSV file
    may start with one non-numeric header row. With ``labels``, y holds integer class labels
    in 0..n_out-1 and comes back as (n,) int64.
    """
    if isinstance(source, str) and source in SYNTHETIC:
        return _load_synthetic(source, n_in, n_out, labels, n, seed)
    path = Path(source)
    name = str(path)
    read = READERS.get(path.suffix.lower())
    if read is None and not path.suffix:
        raise DataError(name, f"neither a synthetic target ({', '.join(sorted(SYNTHETIC))}) "
                              "nor a data file (.npz, .npy, .csv)")
    if read is None:
        raise DataError(name, f"unsupported file type {path.suffix!r}; supported: .npz, .npy, "
                              f".csv, or a synthetic target ({', '.join(sorted(SYNTHETIC))})")
    if n is not None:
        raise DataError(name, "n (number of rows) applies only to synthetic targets")
    _check_regular_file(name, path)
    return _assemble(name, read(name, path, n_in, 1 if labels else n_out), n_in, n_out, labels)


def _check_regular_file(name: str, path: Path) -> None:
    """A data file must be a non-empty regular file: a FIFO or device would block or never
    end, and the readers need to seek."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DataError(name, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(name, "not a regular file")
    if info.st_size == 0:
        raise DataError(name, "file is empty")


def from_arrays(x: np.ndarray, y: np.ndarray, n_in: int, n_out: int, *, labels: bool = False,
                name: str = "arrays") -> Dataset:
    """In-memory arrays, checked like an .npz file's x and y (and copied)."""
    return _assemble(name, _checked(name, np.asarray(x), np.asarray(y)), n_in, n_out, labels)


def _load_synthetic(name: str, n_in: int, n_out: int, labels: bool, n: int | None,
                    seed: int) -> Dataset:
    t = SYNTHETIC[name]
    if (t.n_in, t.n_out, labels) != (n_in, n_out, False):
        raise DataError(name, f"is a regression target with n_in={t.n_in}, n_out={t.n_out}; "
                              f"asked for n_in={n_in}, n_out={n_out}{', labels' if labels else ''}")
    return synthetic(name, DEFAULT_ROWS if n is None else n, seed)


def _load(name: str, path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """np.load without pickles (an .npz's x and y read at once); any failure is a DataError."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return np.asarray(loaded)
        with loaded:
            return {key: loaded[key] for key in ("x", "y") if key in loaded.files}
    except OSError as exc:
        raise DataError(name, f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # a corrupt file: numpy, zipfile and zlib raise many kinds
        raise DataError(name, f"cannot load as {path.suffix}: {exc}") from None


def _read_npy(name: str, path: Path, n_in: int, width: int) -> Read:
    table = _load(name, path)
    if isinstance(table, dict):
        raise DataError(name, "is an .npz archive, not one .npy array")
    table = _float_array(name, "array", table, (2,))
    _check_width(name, "", table.shape[1], n_in, width)
    return table[:, :n_in], table[:, n_in:], None


def _read_npz(name: str, path: Path, n_in: int, width: int) -> Read:
    """x and y as finite float64; _assemble checks their shapes against n_in and width."""
    arrays = _load(name, path)
    if not isinstance(arrays, dict):
        raise DataError(name, "holds one array, not an .npz archive of x and y")
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(name, f"missing array {key!r}; an .npz needs arrays x and y")
    return _checked(name, arrays["x"], arrays["y"])


def _checked(name: str, x: np.ndarray, y: np.ndarray) -> Read:
    return _float_array(name, "x", x, (2,)), _float_array(name, "y", y, (1, 2)), None


def _float_array(name: str, what: str, a: np.ndarray, ndims: tuple[int, ...]) -> np.ndarray:
    """Check a loaded array's dtype, rank and values; return it as float64."""
    if a.dtype.kind not in "iuf":
        raise DataError(name, f"{what} has non-numeric dtype {a.dtype}; expected ints or floats")
    if a.ndim not in ndims:
        raise DataError(name, f"{what} must be {' or '.join(map(str, ndims))}-D, got {a.shape}")
    a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        where = f"row {bad[0][0]}" + (f", column {bad[0][1]}" if a.ndim == 2 else "")
        raise DataError(name, f"{what} has {a[tuple(bad[0])]} at {where}")
    return a


def _read_csv(name: str, path: Path, n_in: int, width: int) -> Read:
    """Parse the numbers (finite float64 x and y) and keep each row's 1-based line."""
    rows = _csv_lines(name, path)
    for line, cells in rows:
        _check_width(name, f"line {line}: ", len(cells), n_in, width)
    if rows and all(_number(text) is None for text in rows[0][1]):
        rows = rows[1:]  # a header row
    if not rows:
        raise DataError(name, "no data rows")
    table = [[_cell(name, line, column, text) for column, text in enumerate(cells, 1)]
             for line, cells in rows]
    array = np.array(table, dtype=np.float64)
    return array[:, :n_in], array[:, n_in:], np.array([line for line, _ in rows])


def _csv_lines(name: str, path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file with their 1-based line numbers."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
    except OSError as exc:
        raise DataError(name, f"cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(name, f"not a UTF-8 CSV file: {exc}") from None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _cell(name: str, line: int, column: int, text: str) -> float:
    value = _number(text)
    if value is None or not math.isfinite(value):
        problem = "not a number" if value is None else "not finite"
        raise DataError(name, f"line {line}, column {column}: {text!r} is {problem}")
    return value


READERS: dict[str, Callable[[str, Path, int, int], Read]] = {
    ".npz": _read_npz, ".npy": _read_npy, ".csv": _read_csv}


def _check_width(name: str, where: str, got: int, n_in: int, width: int) -> None:
    if got != n_in + width:
        raise DataError(name, f"{where}expected {n_in + width} columns ({n_in} inputs, then "
                              f"{width} target{'s' * (width != 1)}), got {got}")


def _assemble(name: str, read: Read, n_in: int, n_out: int, labels: bool) -> Dataset:
    """Finite float64 arrays as read -> a Dataset, after the shape and label checks."""
    x, y, lines = read
    width = 1 if labels else n_out
    if x.shape[1] != n_in:
        raise DataError(name, f"x has {x.shape[1]} columns, expected {n_in}")
    if (y.shape[1] if y.ndim == 2 else 1) != width:
        expected = "(n,) or (n, 1)" if width == 1 else f"(n, {width})"
        raise DataError(name, f"y has shape {y.shape}, expected {expected}")
    y = y[:, None] if y.ndim == 1 else y
    if x.shape[0] != y.shape[0]:
        raise DataError(name, f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise DataError(name, "no data rows")
    return make_dataset(x, _labels(name, y[:, 0], n_out, lines) if labels else y, name)


def _labels(name: str, y: np.ndarray, n_classes: int, lines: np.ndarray | None) -> np.ndarray:
    """Integer-valued floats in 0..n_classes-1 -> int64; the first bad one is reported."""
    bad = np.flatnonzero((y != np.floor(y)) | (y < 0) | (y >= n_classes))
    if bad.size:
        i = int(bad[0])
        where = f"line {lines[i]}" if lines is not None else f"row {i}"
        raise DataError(name, f"{where}: label {float(y[i])!r} is not an integer class in "
                              f"0..{n_classes - 1}")
    return y.astype(np.int64)
