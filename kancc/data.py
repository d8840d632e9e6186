"""Training data from a .npz, .npy or .csv file, or a built-in synthetic target.

Every bad input raises one DataError naming the source and what is wrong where (array, row
and column; for CSV, line and column): numpy's and the OS's exceptions never reach the user.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import DataError

DEFAULT_ROWS = 2000
ROTATION = 0.175  # radians, counter-clockwise: seed 000's rotated target (Sec. 5.1)
Read = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # x, y, each row's CSV line


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
        return (_dataset(self.x[train], self.y[train], self.name),
                _dataset(self.x[val], self.y[val], self.name))

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


def _dataset(x: np.ndarray, y: np.ndarray, name: str) -> Dataset:
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    for a in (x, y):
        a.setflags(write=False)
    return Dataset(x, y, name)


@dataclass(frozen=True)
class SyntheticTarget:
    """A closed-form regression target. Points are drawn uniformly from ``sample``^n_in,
    which lies inside the natural ``domain`` a spec's basis domain should match."""

    n_in: int
    n_out: int
    domain: tuple[float, float]
    sample: tuple[float, float]
    description: str
    function: Callable[[np.ndarray], np.ndarray]  # (n, n_in) -> (n, n_out)


def _rotated(x: np.ndarray) -> np.ndarray:
    """Seed 000, Sec. 5.1, eq. (26): "a 0.175 radian counterclockwise (~10.03 deg) coordinate
    rotation of the nonsmooth function f(x,y) = cos(4 pi x) + sin(pi y) + sin(2 pi y)
    + |sin(3 pi y^2)|", points uniform on [0.0001, 0.9999]^2 (App. D.1). Turning f (or the
    axes) counter-clockwise gives g(p) = f(R(-theta) p), so g(R(theta) q) = f(q); no center is
    named, so it is the origin. The paper's [0, 1] output scaling is not part of the target."""
    c, s = math.cos(ROTATION), math.sin(ROTATION)
    u = c * x[:, 0] + s * x[:, 1]
    v = -s * x[:, 0] + c * x[:, 1]
    f = (np.cos(4 * np.pi * u) + np.sin(np.pi * v) + np.sin(2 * np.pi * v)
         + np.abs(np.sin(3 * np.pi * v ** 2)))
    return f[:, None]


def _polar5(x: np.ndarray) -> np.ndarray:
    """Polar and Poluektov's 5-input benchmark. Seed 001's text only names it ("5 inputs,
    10 000 records"); the formula is their published code's (Formula::GetTarget), which draws
    inputs on a 1/1000 grid of [0, 1): uniform on [0, 1) here."""
    x1, x2, x3, x4, x5 = x.T
    steep = 20.0 * np.exp(x5)
    plus = (2 + 2 * x3) / (3 * np.pi) * (np.arctan(steep * (x1 - 0.5 + x2 / 6)) + np.pi / 2)
    minus = (2 + 2 * x4) / (3 * np.pi) * (np.arctan(steep * (x1 - 0.5 - x2 / 6)) + np.pi / 2)
    return (plus + minus)[:, None]


def _triangle(x: np.ndarray) -> np.ndarray:
    """The area of the triangle with corners (x1, y1), (x2, y2), (x3, y3): Polar and
    Poluektov's 6-input benchmark (Newton-Kaczmarz paper, 2021)."""
    x1, y1, x2, y2, x3, y3 = x.T
    return (0.5 * np.abs((x2 - x1) * (y3 - y1) - (x3 - x1) * (y2 - y1)))[:, None]


def disk_bump(x: np.ndarray) -> np.ndarray:
    """Seed 004's pretraining solution u = sin(pi/2 (1 - |x|)^2.5) on the unit disk (0
    outside it, where the samples of the square reach)."""
    r = np.minimum(np.linalg.norm(x, axis=1), 1.0)
    return np.sin(np.pi / 2 * (1 - r) ** 2.5)[:, None]


def disk_bump_shifted(x: np.ndarray) -> np.ndarray:
    """Seed 004's fine-tuning target u + sin(pi/2 (1 - |x|))."""
    r = np.minimum(np.linalg.norm(x, axis=1), 1.0)
    return disk_bump(x) + np.sin(np.pi / 2 * (1 - r))[:, None]


SYNTHETIC: dict[str, SyntheticTarget] = {
    "exp_sin": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0), "exp(sin(pi x) + y^2), pykan's",
                               lambda x: np.exp(np.sin(np.pi * x[:, :1]) + x[:, 1:] ** 2)),
    "sin_sin": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0), "sin(pi x) sin(pi y)",
                               lambda x: np.sin(np.pi * x[:, :1]) * np.sin(np.pi * x[:, 1:])),
    "rotated": SyntheticTarget(2, 1, (0.0, 1.0), (0.0001, 0.9999),
                               "seed 000's nonsmooth target rotated 0.175 rad", _rotated),
    "polar5": SyntheticTarget(5, 1, (0.0, 1.0), (0.0, 1.0),
                              "Polar and Poluektov's 5-input atan benchmark", _polar5),
    "triangle": SyntheticTarget(6, 1, (0.0, 1.0), (0.0, 1.0),
                                "area of a triangle of three points in the unit square",
                                _triangle),
    "disk_bump": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0),
                                 "sin(pi/2 (1 - |x|)^2.5) on the unit disk", disk_bump),
    "disk_bump_shifted": SyntheticTarget(2, 1, (-1.0, 1.0), (-1.0, 1.0),
                                         "disk_bump + sin(pi/2 (1 - |x|))", disk_bump_shifted),
}


def synthetic(name: str, n: int, seed: int = 0) -> Dataset:
    """n points of a built-in target, drawn with np.random.default_rng(seed)."""
    if name not in SYNTHETIC:
        raise DataError(name, f"unknown synthetic target; known: {', '.join(sorted(SYNTHETIC))}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise DataError(name, f"number of rows must be a positive integer, got {n!r}")
    target = SYNTHETIC[name]
    x = np.random.default_rng(seed).uniform(*target.sample, size=(int(n), target.n_in))
    return _dataset(x, target.function(x), name)


def load_data(source: str | os.PathLike, n_in: int, n_out: int, *, labels: bool = False,
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
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(name, "file is empty")
    return _assemble(name, read(name, path, n_in, 1 if labels else n_out), n_in, n_out, labels)


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
            return loaded
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
    return _dataset(x, _labels(name, y[:, 0], n_out, lines) if labels else y, name)


def _labels(name: str, y: np.ndarray, n_classes: int, lines: np.ndarray | None) -> np.ndarray:
    """Integer-valued floats in 0..n_classes-1 -> int64; the first bad one is reported."""
    bad = np.flatnonzero((y != np.floor(y)) | (y < 0) | (y >= n_classes))
    if bad.size:
        i = int(bad[0])
        where = f"line {lines[i]}" if lines is not None else f"row {i}"
        raise DataError(name, f"{where}: label {float(y[i])!r} is not an integer class in "
                              f"0..{n_classes - 1}")
    return y.astype(np.int64)
