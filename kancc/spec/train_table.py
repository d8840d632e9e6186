"""The optional ``[train]`` table of a spec: how a model is trained.

    [train]
    loss = "mse"              # or "cross_entropy" (integer class labels; last width = classes)
    l2 = 0.0                  # weight of the penalty l2 * sum(coef^2) over every layer
    optimizer = "adam"        # or "lbfgs" (full batch)
    steps = 500               # optimizer steps (adam: minibatch steps; lbfgs: iterations)
    lr = 0.01                 # adam only (default 0.01); L-BFGS steps by line search
    batch_size = 256          # adam only; default: the whole training set
    warmup = 0                # steps of linear learning-rate warmup
    schedule = "constant"     # or "cosine" (decay to 0 over the steps), or "exp-cyclic"
    cycle = 100               # exp-cyclic: lr / 10 -> lr -> lr / 10 every cycle steps,
    gamma = 0.9995            #   the height above lr / 10 times gamma^step
    seed = 0                  # parameter initialization and minibatch order
    deterministic = false     # triton: fixed-order d(coef) sums (run-to-run identical)
    geometry = "spline"       # or "relu": iterate on w = A^T u (the multilevel paper's
                              # Table 1; numpy)
    method = "gradient"       # or "newton-kaczmarz" (record by record, degree-1 layers, one
                              # output; configured by [train.kaczmarz])
    keep = "last"             # or "best": return the parameters of the lowest validation loss
    patience = 200            # stop when this many steps pass without a better validation
                              # loss (default: never)
    validate_every = 25       # steps between validation measurements (default steps / 20)
    [train.multilevel]        # multilevel training, Algorithm 1 (replaces train.steps)
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

Every key is declared once below (``kancc.spec.keys``); the rules between keys follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .basis_table import BasisSpec
from .checker import Checker
from .keys import (
    MAX_ROWS,
    SEED,
    ArrayOf,
    Boolean,
    Choice,
    Integer,
    Number,
    Subtable,
    key,
    read_table,
    table_to_dict,
)

LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "lbfgs")
SCHEDULES = ("constant", "cosine", "exp-cyclic")
GEOMETRIES = ("spline", "relu")
TRAIN_METHODS = ("gradient", "newton-kaczmarz")
KEEPS = ("last", "best")
GRADIENT_ONLY_KEYS = ("l2", "optimizer", "steps", "lr", "batch_size", "warmup", "schedule",
                      "cycle", "gamma",
                      "deterministic", "geometry", "keep", "patience", "validate_every")
MAX_CELLS = 4096
MAX_LEVELS = 12
DEFAULT_LR = {"adam": Fraction(1, 100), "lbfgs": Fraction(1)}
MAX_STEPS = 10**9
STEPS = Integer(1, MAX_STEPS)
COUNT = Integer(0, MAX_STEPS)


@dataclass(frozen=True)
class MultilevelSpec:
    """Epochs per level, coarsest first; level k has every cell split into factor^k."""

    epochs: tuple[int, ...] = key(
        (), ArrayOf(COUNT, "levels", max_length=MAX_LEVELS,
                    empty="is empty: give at least one level"),
        "epochs per level, coarsest (the spec's grids) first",
        required="missing: give the epochs of every level, coarsest first, e.g. [32, 16, 8, 4]")
    factor: int = key(2, Integer(2, 16), "each level splits every grid cell into factor cells")
    steps_per_epoch: int | None = key(None, STEPS, "default: lbfgs 1 iteration; adam one "
                                                      "pass over the data")


@dataclass(frozen=True)
class KaczmarzSpec:
    """Record-by-record training (Newton-Kaczmarz); ``cells`` None keeps the spec's grids."""

    epochs: int = key(40, STEPS, "passes over the training records, piecewise linear")
    alpha: Fraction = key(Fraction(1, 2), Number(Fraction(0), Fraction(2), True, True,
                                                 " (a relaxed projection)"),
                          "relaxation of the projection")
    cells: tuple[int, ...] | None = key(None, ArrayOf(Integer(1, MAX_CELLS)),
                                           "per layer: grow to this many cells, one per epoch "
                                           "from epoch 1")
    spline_epochs: int = key(0, COUNT, "then convert to cubic splines and train this many "
                                       "epochs more")
    renormalize: bool = key(True, Boolean(), "refit hidden layers' input ranges after every "
                                             "epoch")
    skip_below: Fraction = key(Fraction(0), Number(Fraction(0)),
                               "cubic phase, middle epochs: skip records whose last |residual| "
                               "was below skip_below * (y range)")


@dataclass(frozen=True)
class TrainSpec:
    loss: str = key("mse", Choice(LOSSES), "mse (mean over batch and outputs) or "
                                           "cross_entropy (integer class labels)")
    l2: Fraction = key(Fraction(0), Number(Fraction(0)), "weight of the penalty l2 * "
                                                         "sum(coef^2) over every layer")
    optimizer: str = key("adam", Choice(OPTIMIZERS), "adam (minibatches) or lbfgs (full "
                                                     "batch)")
    steps: int = key(500, STEPS, "optimizer steps (adam: minibatch steps; lbfgs: iterations)")
    lr: Fraction | None = key(None, Number(Fraction(0), low_open=True),
                                 "adam only (default 0.01); L-BFGS steps by line search")
    batch_size: int | None = key(None, Integer(1, MAX_ROWS), "adam only; default: the whole "
                                                      "training set")
    warmup: int = key(0, COUNT, "steps of linear learning-rate warmup")
    schedule: str = key("constant", Choice(SCHEDULES), "constant, cosine (decay to 0 over "
                                                        "the steps), or exp-cyclic (a "
                                                        "triangle between lr / 10 and lr every "
                                                        "cycle steps, its height times "
                                                        "gamma^step)")
    cycle: int = key(100, Integer(2, 10**9), "exp-cyclic: steps of one up-and-down cycle")
    gamma: Fraction = key(Fraction(1), Number(Fraction(0), Fraction(1), low_open=True),
                          "exp-cyclic: the decay of the cycles' height per step")
    seed: int = key(0, SEED, "parameter initialization and minibatch order")
    deterministic: bool = key(False, Boolean(), "triton: fixed-order d(coef) sums")
    geometry: str = key("spline", Choice(GEOMETRIES), "spline, or relu: iterate on the "
                                                      "truncated-power weights w = A^T u")
    multilevel: MultilevelSpec | None = key(None, Subtable(MultilevelSpec),
                                               "multilevel training (replaces steps)")
    method: str = key("gradient", Choice(TRAIN_METHODS), "gradient, or newton-kaczmarz (record by "
                                                   "record; [train.kaczmarz])")
    kaczmarz: KaczmarzSpec | None = key(None, Subtable(KaczmarzSpec),
                                           "Newton-Kaczmarz settings (set when method is "
                                           "newton-kaczmarz)")
    keep: str = key("last", Choice(KEEPS), "which parameters a run returns: the last, or "
                                            "those of the lowest validation loss")
    patience: int | None = key(None, STEPS, "early stopping: stop when this many steps pass "
                                            "without a lower validation loss")
    validate_every: int | None = key(None, STEPS, "steps between validation measurements "
                                                  "(default: a twentieth of the steps)")

    @property
    def learning_rate(self) -> float:
        return float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer])


def parse_train(check: Checker, raw: object) -> TrainSpec:
    values = read_table(check, raw, "train", TrainSpec)
    if values.get("optimizer") == "lbfgs":
        if "lr" in values:
            raise check.fail("train.lr", "L-BFGS chooses its step by line search; remove lr "
                                         "or use optimizer = \"adam\"")
        if "batch_size" in values:
            raise check.fail("train.batch_size", "L-BFGS trains on the full batch; remove "
                                                 "batch_size or use optimizer = \"adam\"")
    multilevel = values.get("multilevel")
    if multilevel is not None:
        if "steps" in values:
            raise check.fail("train.steps", "[train.multilevel] epochs give the steps of every "
                                            "level; remove train.steps")
        if not any(multilevel.epochs):
            raise check.fail("train.multilevel.epochs", "every level has 0 epochs: nothing "
                                                        "to train")
        if values.get("keep") == "best" or "patience" in values:
            name = "keep" if values.get("keep") == "best" else "patience"
            raise check.fail(f"train.{name}", "applies to one training run; multilevel "
                                              "training keeps each level's last parameters")
    steps, warmup = values.get("steps", 500), values.get("warmup", 0)
    if multilevel is None and warmup > steps:
        raise check.fail("train.warmup", f"must be between 0 and {steps}, got {warmup}")
    if values.get("method") == "newton-kaczmarz":
        _check_kaczmarz_keys(check, values)
        values.setdefault("kaczmarz", KaczmarzSpec())
    elif "kaczmarz" in values:
        raise check.fail("train.kaczmarz", 'applies only with train.method = "newton-kaczmarz"')
    return TrainSpec(**values)


def _check_kaczmarz_keys(check: Checker, values: dict[str, Any]) -> None:
    for name in GRADIENT_ONLY_KEYS:
        if name in values:
            raise check.fail(f"train.{name}", "applies to gradient training; "
                                              "newton-kaczmarz is set by [train.kaczmarz]")
    if "multilevel" in values:
        raise check.fail("train.multilevel", "newton-kaczmarz grows its grids itself "
                                             "([train.kaczmarz] cells); remove it")


def train_to_dict(train: TrainSpec) -> dict[str, Any]:
    """The [train] table ``parse_train`` reads back to ``train``: keys that do not apply in
    its configuration (the gradient keys of newton-kaczmarz, steps of multilevel) left out."""
    omit: tuple[str, ...] = ()
    if train.kaczmarz is not None:
        omit = GRADIENT_ONLY_KEYS
    elif train.multilevel is not None:
        omit = ("steps",)
    return table_to_dict(train, omit)


def check_kaczmarz_model(check: Checker, widths: tuple[int, ...],
                         layers: tuple[BasisSpec, ...], loss: str,
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
        _check_cells(check, layers, kaczmarz)


def _check_cells(check: Checker, layers: tuple[BasisSpec, ...], kaczmarz: KaczmarzSpec) -> None:
    assert kaczmarz.cells is not None
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

