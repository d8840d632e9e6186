"""The optional ``[train]`` and ``[data]`` tables of a spec: how a model is trained, on what.

    [train]
    loss = "mse"              # or "cross_entropy" (integer class labels; last width = classes)
    l2 = 0.0                  # weight of the penalty l2 * sum(coef^2) over every layer
    optimizer = "adam"        # or "lbfgs" (full batch)
    steps = 500               # optimizer steps (adam: minibatch steps; lbfgs: iterations)
    lr = 0.01                 # adam only (default 0.01); L-BFGS steps by line search
    batch_size = 256          # adam only; default: the whole training set
    warmup = 0                # steps of linear learning-rate warmup
    schedule = "constant"     # or "cosine" (decay to 0 over the steps)
    seed = 0                  # parameter initialization and minibatch order
    deterministic = false     # triton: fixed-order d(coef) sums (run-to-run identical)
    geometry = "spline"       # or "relu": iterate on w = A^T u (seed 000 Table 1; numpy)
    method = "gradient"       # or "newton-kaczmarz" (seed 001: record by record, degree-1
                              # layers, one output; configured by [train.kaczmarz])
    [train.multilevel]        # Algorithm 1 of seed 000 (replaces train.steps)
    epochs = [32, 16, 8, 4]   # per level, coarsest (the spec's grids) first
    factor = 2                # each level splits every grid cell into `factor` cells
    steps_per_epoch = 20      # default: lbfgs 1 iteration; adam one pass over the data
    [train.kaczmarz]          # Newton-Kaczmarz (train.method = "newton-kaczmarz")
    epochs = 40               # passes over the training records, piecewise linear
    alpha = 0.5               # relaxation of the projection, in (0, 2)
    cells = [9, 13]           # per layer: grow to this many cells, one per epoch from epoch 1
    spline_epochs = 0         # then convert to cubic splines and train this many epochs more
    renormalize = true        # refit hidden layers' input ranges after every epoch
    skip_below = 0.0          # cubic phase, middle epochs: skip records whose last |residual|
                              # was < skip_below * (y range), as Polar's KANPro does
    [data]
    source = "exp_sin"        # a built-in synthetic target (kancc.data.SYNTHETIC) or a file
                              # (.npz / .npy / .csv), relative to the spec's folder
    n = 2000                  # rows of a synthetic target
    seed = 0                  # synthetic sampling and the validation split
    validation = 0.2          # fraction held out for validation

The checker passed in is spec.py's (it names the field in every error).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Optional

LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "lbfgs")
SCHEDULES = ("constant", "cosine")
GEOMETRIES = ("spline", "relu")
TRAIN_KEYS = ("loss", "l2", "optimizer", "steps", "lr", "batch_size", "warmup", "schedule",
              "seed", "deterministic", "geometry", "multilevel", "method", "kaczmarz")
MULTILEVEL_KEYS = ("epochs", "factor", "steps_per_epoch")
METHODS = ("gradient", "newton-kaczmarz")
GRADIENT_ONLY_KEYS = ("l2", "optimizer", "steps", "lr", "batch_size", "warmup", "schedule",
                      "deterministic", "geometry")
KACZMARZ_KEYS = ("epochs", "alpha", "cells", "spline_epochs", "renormalize", "skip_below")
MAX_CELLS = 4096
MAX_LEVELS = 12
DATA_KEYS = ("source", "n", "seed", "validation")
DEFAULT_LR = {"adam": Fraction(1, 100), "lbfgs": Fraction(1)}
MAX_STEPS = 10**9


@dataclass(frozen=True)
class MultilevelSpec:
    """Epochs per level, coarsest first; level k has every cell split into factor^k."""

    epochs: tuple[int, ...]
    factor: int = 2
    steps_per_epoch: Optional[int] = None  # None: lbfgs 1, adam ceil(n_train / batch)


@dataclass(frozen=True)
class KaczmarzSpec:
    """Seed 001's record-by-record training; ``cells`` None keeps the spec's grids."""

    epochs: int = 40
    alpha: Fraction = Fraction(1, 2)
    cells: Optional[tuple[int, ...]] = None
    spline_epochs: int = 0
    renormalize: bool = True
    skip_below: Fraction = Fraction(0)


@dataclass(frozen=True)
class TrainSpec:
    loss: str = "mse"
    l2: Fraction = Fraction(0)
    optimizer: str = "adam"
    steps: int = 500
    lr: Optional[Fraction] = None  # None: DEFAULT_LR of the optimizer
    batch_size: Optional[int] = None  # None: full batch
    warmup: int = 0
    schedule: str = "constant"
    seed: int = 0
    deterministic: bool = False
    geometry: str = "spline"
    multilevel: Optional[MultilevelSpec] = None
    method: str = "gradient"
    kaczmarz: Optional[KaczmarzSpec] = None  # set when method is "newton-kaczmarz"

    @property
    def learning_rate(self) -> float:
        return float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer])


@dataclass(frozen=True)
class DataSpec:
    source: str
    n: Optional[int] = None
    seed: int = 0
    validation: Fraction = Fraction(0)


def parse_train(check: Any, raw: object) -> TrainSpec:
    table: Mapping[str, Any] = check.table(raw, "train", TRAIN_KEYS)
    optimizer = check.choice(table.get("optimizer", "adam"), "train.optimizer", OPTIMIZERS)
    lr = None
    if "lr" in table:
        if optimizer == "lbfgs":
            raise check.fail("train.lr", "L-BFGS chooses its step by line search; remove lr "
                                         "or use optimizer = \"adam\"")
        lr = check.number(table["lr"], "train.lr")
        if lr <= 0:
            raise check.fail("train.lr", f"must be positive, got {float(lr):g}")
    l2 = check.number(table.get("l2", 0), "train.l2")
    if l2 < 0:
        raise check.fail("train.l2", f"must be >= 0, got {float(l2):g}")
    batch_size = None
    if "batch_size" in table:
        if optimizer == "lbfgs":
            raise check.fail("train.batch_size", "L-BFGS trains on the full batch; remove "
                                                 "batch_size or use optimizer = \"adam\"")
        batch_size = check.integer(table["batch_size"], "train.batch_size", 1)
    multilevel = None
    if "multilevel" in table:
        if "steps" in table:
            raise check.fail("train.steps", "[train.multilevel] epochs give the steps of every "
                                            "level; remove train.steps")
        multilevel = _parse_multilevel(check, table["multilevel"])
    steps = check.integer(table.get("steps", 500), "train.steps", 1, MAX_STEPS)
    warmup = check.integer(table.get("warmup", 0), "train.warmup", 0,
                           None if multilevel else steps)
    deterministic = table.get("deterministic", False)
    if not isinstance(deterministic, bool):
        raise check.fail("train.deterministic", f"must be true or false, got {deterministic!r}")
    method = check.choice(table.get("method", "gradient"), "train.method", METHODS)
    kaczmarz = None
    if method == "newton-kaczmarz":
        for key in GRADIENT_ONLY_KEYS:
            if key in table:
                raise check.fail(f"train.{key}", "applies to gradient training; "
                                                 "newton-kaczmarz is set by [train.kaczmarz]")
        if multilevel is not None:
            raise check.fail("train.multilevel", "newton-kaczmarz grows its grids itself "
                                                 "([train.kaczmarz] cells); remove it")
        kaczmarz = _parse_kaczmarz(check, table.get("kaczmarz", {}))
    elif "kaczmarz" in table:
        raise check.fail("train.kaczmarz", 'applies only with train.method = "newton-kaczmarz"')
    return TrainSpec(
        loss=check.choice(table.get("loss", "mse"), "train.loss", LOSSES),
        l2=l2, optimizer=optimizer, steps=steps, lr=lr, batch_size=batch_size, warmup=warmup,
        schedule=check.choice(table.get("schedule", "constant"), "train.schedule", SCHEDULES),
        seed=check.integer(table.get("seed", 0), "train.seed", 0), deterministic=deterministic,
        geometry=check.choice(table.get("geometry", "spline"), "train.geometry", GEOMETRIES),
        multilevel=multilevel, method=method, kaczmarz=kaczmarz)


def _parse_kaczmarz(check: Any, raw: object) -> KaczmarzSpec:
    table: Mapping[str, Any] = check.table(raw, "train.kaczmarz", KACZMARZ_KEYS)
    alpha = check.number(table.get("alpha", Fraction(1, 2)), "train.kaczmarz.alpha")
    if not 0 < alpha < 2:
        raise check.fail("train.kaczmarz.alpha", f"must be in (0, 2) (a relaxed projection), "
                                                 f"got {float(alpha):g}")
    cells = None
    if "cells" in table:
        entries = check.array(table["cells"], "train.kaczmarz.cells")
        cells = tuple(check.integer(c, f"train.kaczmarz.cells[{i}]", 1, MAX_CELLS)
                      for i, c in enumerate(entries))
    renormalize = table.get("renormalize", True)
    if not isinstance(renormalize, bool):
        raise check.fail("train.kaczmarz.renormalize", f"must be true or false, got "
                                                       f"{renormalize!r}")
    skip_below = check.number(table.get("skip_below", 0), "train.kaczmarz.skip_below")
    if skip_below < 0:
        raise check.fail("train.kaczmarz.skip_below", f"must be >= 0, got {float(skip_below):g}")
    return KaczmarzSpec(
        epochs=check.integer(table.get("epochs", 40), "train.kaczmarz.epochs", 1, MAX_STEPS),
        alpha=alpha, cells=cells,
        spline_epochs=check.integer(table.get("spline_epochs", 0),
                                    "train.kaczmarz.spline_epochs", 0, MAX_STEPS),
        renormalize=renormalize, skip_below=skip_below)


def check_kaczmarz_model(check: Any, widths: tuple[int, ...], layers: tuple, loss: str,
                         kaczmarz: KaczmarzSpec) -> None:
    """What newton-kaczmarz needs of the model: one output, mse, uniform degree-1 B-splines,
    one ``cells`` entry per layer, never fewer cells than the spec's grid."""
    if widths[-1] != 1:
        raise check.fail("model.layers", f"newton-kaczmarz trains one output; the model ends "
                                         f"with {widths[-1]}")
    if loss != "mse":
        raise check.fail("train.loss", f'newton-kaczmarz fits by least squares: use "mse", '
                                        f"not {loss!r}")
    for index, basis in enumerate(layers):
        if basis.kind != "bspline" or basis.degree != 1 or basis.knots != "uniform":
            raise check.fail(f"layers[{index}]", "newton-kaczmarz trains piecewise-linear "
                                                 "layers: kind bspline, degree 1, uniform knots")
    if kaczmarz.cells is not None:
        if len(kaczmarz.cells) != len(layers):
            raise check.fail("train.kaczmarz.cells", f"has {len(kaczmarz.cells)} entries; the "
                                                     f"model has {len(layers)} layers")
        for index, (cells, basis) in enumerate(zip(kaczmarz.cells, layers)):
            where = f"train.kaczmarz.cells[{index}]"
            if cells < basis.grid:
                raise check.fail(where, f"is {cells}, fewer than the layer's {basis.grid}")
            reachable = basis.grid + kaczmarz.epochs - 1  # one cell per epoch from epoch 1
            if cells > reachable:
                raise check.fail(where, f"is {cells}, but growing one cell per epoch from "
                                        f"epoch 1 reaches at most {reachable} in "
                                        f"{kaczmarz.epochs} epochs")


def _parse_multilevel(check: Any, raw: object) -> MultilevelSpec:
    table: Mapping[str, Any] = check.table(raw, "train.multilevel", MULTILEVEL_KEYS)
    if "epochs" not in table:
        raise check.fail("train.multilevel.epochs", "missing: give the epochs of every level, "
                                                    "coarsest first, e.g. [32, 16, 8, 4]")
    epochs = check.array(table["epochs"], "train.multilevel.epochs")
    if not epochs:
        raise check.fail("train.multilevel.epochs", "is empty: give at least one level")
    if len(epochs) > MAX_LEVELS:
        raise check.fail("train.multilevel.epochs", f"has {len(epochs)} levels; at most "
                                                    f"{MAX_LEVELS}")
    counts = tuple(check.integer(e, f"train.multilevel.epochs[{i}]", 0, MAX_STEPS)
                   for i, e in enumerate(epochs))
    if not any(counts):
        raise check.fail("train.multilevel.epochs", "every level has 0 epochs: nothing to train")
    steps_per_epoch = None
    if "steps_per_epoch" in table:
        steps_per_epoch = check.integer(table["steps_per_epoch"],
                                        "train.multilevel.steps_per_epoch", 1, MAX_STEPS)
    factor = check.integer(table.get("factor", 2), "train.multilevel.factor", 2, 16)
    return MultilevelSpec(counts, factor, steps_per_epoch)


def parse_data(check: Any, raw: object) -> DataSpec:
    table: Mapping[str, Any] = check.table(raw, "data", DATA_KEYS)
    if "source" not in table:
        raise check.fail("data.source", "missing: name a synthetic target or a data file")
    source = table["source"]
    if not isinstance(source, str) or not source.strip():
        raise check.fail("data.source", "must be a non-empty string")
    n = check.integer(table["n"], "data.n", 1) if "n" in table else None
    validation = check.number(table.get("validation", 0), "data.validation")
    if not 0 <= validation < 1:
        raise check.fail("data.validation", f"must be in [0, 1), got {float(validation):g}")
    return DataSpec(source, n, check.integer(table.get("seed", 0), "data.seed", 0), validation)
