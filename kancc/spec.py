"""Model specs: TOML text or a dict -> a validated, typed, exact Spec.

    [model]
    layers = [2, 5, 1]        # widths; one KAN layer between each neighbouring pair
    dtype = "float32"         # or "float64"
    [basis]                   # default for every layer
    kind = "bspline"          # or "chebyshev", "legendre", "taylor", "fourier" (seed 004):
                              # T_k, P_k, t^k (k <= degree) or 1, cos(j pi t), sin(j pi t)
                              # (j <= degree) of t = tanh(x); no grid, domain or knots
    degree = 3                # order r = degree + 1
    grid = 8                  # intervals n
    domain = [-1.0, 1.0]
    knots = "uniform"         # or the n+1 grid points
    [[layers]]                # optional: one table per layer overriding [basis] keys
    [[layers]]
    degree = 1
    tucker = 0.5              # a Tucker (Slim) layer: ranks ceil(cr * (in, out, n_b)), or
                              # [r1, r2, r3]; its parameters are the factors (seed 004)
    [train] and [data]        # how and on what (spec_train.py)
    [finetune]                # start from a pretrained checkpoint: LoTRA or full (spec_finetune.py)

Numbers are kept exact: TOML floats are read as decimals (``0.1`` is 1/10), and domain and
knot entries may also be strings ``"p/q"``. Every unknown key is an error; every error
names its field path, e.g. ``layers[1].grid: must be a positive integer, got -3``.
"""

from __future__ import annotations

import decimal
import difflib
import numbers
import os
import re
import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np

from kancc.ir.dialect import MAX_ORDER, grid_points
from kancc.symbolic.global_bases import GLOBAL_KINDS, n_functions
from kancc.symbolic.global_bases import MAX_DEGREE as MAX_GLOBAL_DEGREE

from .errors import SpecError
from .tucker import ranks_for
from .spec_finetune import FinetuneSpec, finetune_to_dict, parse_finetune
from .spec_train import DataSpec, TrainSpec, check_kaczmarz_model, parse_data, parse_train

MAX_DEGREE = MAX_ORDER - 1
MAX_GRID = 4096
MAX_WIDTH = 1 << 24
DTYPES = ("float32", "float64")
BASIS_KINDS = ("bspline",) + GLOBAL_KINDS  # the IR's "relu" kind is made by to-relu-basis
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_KEYS = ("model", "basis", "layers", "train", "data", "finetune")
MODEL_KEYS = ("name", "layers", "dtype")
BASIS_KEYS = ("kind", "degree", "grid", "domain", "knots")
LAYER_KEYS = BASIS_KEYS + ("tucker",)
DEFAULT_BASIS = {"kind": "bspline", "degree": 3, "grid": 5, "domain": [-1, 1],
                 "knots": "uniform"}


@dataclass(frozen=True)
class BasisSpec:
    """The spline family of one layer (numbers exact) and how its coefficients are held:
    ``tucker`` None for the full (in, out, n_b) tensor, else the Tucker ranks (r1, r2, r3)
    of a factorized layer (core and three factors, kancc.tucker)."""

    kind: str
    degree: int
    grid: int
    domain: tuple[Fraction, Fraction]
    knots: Union[str, tuple[Fraction, ...]]  # "uniform" or the grid+1 points
    tucker: tuple[int, int, int] | None = None

    @property
    def order(self) -> int:
        """r = degree + 1 for B-splines; for a global kind, its number of functions."""
        if self.kind in GLOBAL_KINDS:
            return n_functions(self.kind, self.degree)
        return self.degree + 1

    @property
    def n_basis(self) -> int:
        return self.grid + self.order - 1

    @property
    def points(self) -> tuple[Fraction, ...]:
        """The grid points t_0 = a < ... < t_n = b (the IR's rule, ``ir.grid_points``)."""
        return grid_points({"knots": self.knots, "domain": self.domain, "grid": self.grid})


@dataclass(frozen=True)
class Spec:
    name: str
    widths: tuple[int, ...]
    dtype: str
    layers: tuple[BasisSpec, ...]
    train: TrainSpec
    origin: str | None = None  # the file it came from: messages, relative paths
    data: DataSpec | None = None
    finetune: FinetuneSpec | None = None

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1


SpecSource = Union[str, os.PathLike, Mapping[str, Any], Spec]


def load_spec(source: SpecSource) -> Spec:
    """Load and validate a spec from a TOML file path, a dict, or pass a Spec through."""
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        return _build(source, origin=None, default_name="model")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError("", f"cannot read spec: {exc.strerror or exc}", str(path)) from None
    except UnicodeDecodeError:
        raise SpecError("", "spec is not UTF-8 text", str(path)) from None
    return loads_spec(text, origin=str(path), default_name=path.stem)


def loads_spec(text: str, origin: str | None = None, default_name: str = "model") -> Spec:
    """Validate a spec given as TOML text."""
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("", f"invalid TOML: {exc}", origin) from None
    return _build(raw, origin, default_name)


# -- validation helpers --------------------------------------------------------------------

def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return str(value)


class _Checker:
    """Validates raw values; every error carries the spec's origin."""

    def __init__(self, origin: str | None) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(path, message, self.origin)

    def table(self, value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a table, got {_describe(value)}")
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else \
                    f" (allowed: {', '.join(allowed)})"
                where = f"{path}.{key}" if path else str(key)
                raise self.fail(where, f"unknown key{extra}")
        return value

    def integer(self, value: object, path: str, lo: int, hi: int | None = None) -> int:
        if _is_bool(value) or not isinstance(value, numbers.Integral):
            raise self.fail(path, f"must be an integer, got {_describe(value)}")
        value = int(value)
        if value < lo or (hi is not None and value > hi):
            if lo == 1 and value < lo:
                raise self.fail(path, f"must be a positive integer, got {value}")
            bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
            raise self.fail(path, f"must be {bound}, got {value}")
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in options:
            quoted = ", ".join(f'"{o}"' for o in options)
            raise self.fail(path, f"must be one of {quoted}, got {_describe(value)}")
        return value

    def number(self, value: object, path: str) -> Fraction:
        """An exact rational from an int, a decimal, a float (read as the shortest decimal
        that rounds to it: 0.1 is 1/10), or a string such as "1/3", "-2" or "0.25"."""
        if _is_bool(value):
            raise self.fail(path, f"must be a number, got {_describe(value)}")
        if isinstance(value, (str, numbers.Rational, Decimal)):
            source: Any = value
        elif isinstance(value, numbers.Real):
            source = repr(float(value))
        else:
            raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                  f"{_describe(value)}")
        try:
            exact = Fraction(source)
        except ZeroDivisionError:
            raise self.fail(path, f"has a zero denominator: {value!r}") from None
        except (ValueError, TypeError, OverflowError, decimal.InvalidOperation):
            if isinstance(value, str):
                raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                      f"{_describe(value)}") from None
            raise self.fail(path, f"must be a finite number, got {value}") from None
        return exact

    def array(self, value: object, path: str) -> list:
        if not isinstance(value, (list, tuple)):
            raise self.fail(path, f"must be an array, got {_describe(value)}")
        return list(value)


def _build(raw: Mapping[str, Any], origin: str | None, default_name: str) -> Spec:
    check = _Checker(origin)
    check.table(raw, "", TOP_KEYS)
    if "model" not in raw:
        raise check.fail("model", "missing required table [model]")
    model = check.table(raw["model"], "model", MODEL_KEYS)
    if "layers" not in model:
        raise check.fail("model.layers", "missing: give the layer widths, e.g. [2, 5, 1]")
    widths = check.array(model["layers"], "model.layers")
    if len(widths) < 2:
        raise check.fail("model.layers", f"needs at least 2 widths (input and output), "
                                         f"got {len(widths)}")
    widths = [check.integer(w, f"model.layers[{i}]", 1, MAX_WIDTH) for i, w in enumerate(widths)]
    dtype = check.choice(model.get("dtype", "float32"), "model.dtype", DTYPES)
    name = model.get("name", _sanitize(default_name))
    if not isinstance(name, str) or not NAME.match(name):
        raise check.fail("model.name", f"must be an identifier (letters, digits, _), got "
                                       f"{_describe(name)}")
    default = dict(DEFAULT_BASIS)
    if "basis" in raw:
        given = check.table(raw["basis"], "basis", LAYER_KEYS)
        if _is_list(given.get("knots")):
            for key in ("grid", "domain"):
                default.pop(key)
        default.update(given)
    n_layers = len(widths) - 1
    overrides: list[Mapping[str, Any]] = [{} for _ in range(n_layers)]
    if "layers" in raw:
        entries = check.array(raw["layers"], "layers")
        if len(entries) != n_layers:
            raise check.fail("layers", f"has {len(entries)} entries but model.layers describes "
                                       f"{n_layers} layer(s); give one [[layers]] table per layer")
        overrides = [check.table(e, f"layers[{i}]", LAYER_KEYS) for i, e in enumerate(entries)]
    basis_keys = set(raw["basis"]) if "basis" in raw else set()
    layers = tuple(_layer_basis(check, default, o, i, dtype, basis_keys)
                   for i, o in enumerate(overrides))
    tucker_given = [o.get("tucker", default.get("tucker")) for o in overrides]
    layers = tuple(_with_tucker(check, basis, value, (widths[i], widths[i + 1]), i,
                                "tucker" in overrides[i])
                   for i, (basis, value) in enumerate(zip(layers, tucker_given)))
    train = parse_train(check, raw["train"]) if "train" in raw else TrainSpec()
    if train.loss == "cross_entropy" and widths[-1] < 2:
        raise check.fail("train.loss", "cross_entropy needs at least 2 outputs (one per class); "
                                       f"model.layers ends with {widths[-1]}")
    if train.kaczmarz is not None:
        check_kaczmarz_model(check, tuple(widths), layers, train.loss, train.kaczmarz)
    global_layers = [i for i, basis in enumerate(layers) if basis.kind in GLOBAL_KINDS]
    if global_layers and (train.multilevel is not None or train.geometry != "spline"):
        what = "train.multilevel" if train.multilevel is not None else "train.geometry"
        raise check.fail(what, f"does not apply to layers[{global_layers[0]}], kind "
                               f"{layers[global_layers[0]].kind}: it needs a B-spline grid")
    factorized = [i for i, basis in enumerate(layers) if basis.tucker is not None]
    if factorized and (train.multilevel is not None or train.kaczmarz is not None or
                       train.geometry != "spline"):
        what = "train.multilevel" if train.multilevel is not None else \
            ("train.method" if train.kaczmarz is not None else "train.geometry")
        raise check.fail(what, f"does not apply to Tucker layers (layers[{factorized[0]}] has "
                               "tucker); train them by gradient in the spline geometry")
    data = parse_data(check, raw["data"]) if "data" in raw else None
    finetune = parse_finetune(check, raw["finetune"]) if "finetune" in raw else None
    if finetune is not None:
        _check_finetune(check, finetune, layers, train)
    return Spec(name, tuple(widths), dtype, layers, train, origin, data, finetune)


def _check_finetune(check: _Checker, finetune: FinetuneSpec, layers: tuple[BasisSpec, ...],
                    train: TrainSpec) -> None:
    """Fine-tuning is gradient training in the spline geometry; LoTRA adapts full layers."""
    if train.multilevel is not None or train.kaczmarz is not None or \
            train.geometry != "spline":
        what = "train.multilevel" if train.multilevel is not None else \
            ("train.method" if train.kaczmarz is not None else "train.geometry")
        raise check.fail(what, "does not apply to fine-tuning ([finetune]); fine-tune by "
                               "gradient in the spline geometry")
    factorized = [i for i, basis in enumerate(layers) if basis.tucker is not None]
    if finetune.lotra and factorized:
        raise check.fail(f"layers[{factorized[0]}].tucker", "LoTRA adapts full layers; this "
                                                            "layer is a Tucker layer")


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_list(value: object) -> bool:
    return isinstance(value, (list, tuple))


def _sanitize(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return name if NAME.match(name) else f"model_{name}"


def _global_basis(check: _Checker, kind: str, merged: Mapping[str, Any],
                  where: dict[str, str], given: set[str]) -> BasisSpec:
    """A Chebyshev, Legendre, Taylor or Fourier layer: only its degree (for fourier, the
    number of harmonics); the input is normalized by tanh, so it has no grid or domain."""
    for key in ("grid", "domain", "knots"):
        if key in given:
            raise check.fail(where[key], f"does not apply to kind = \"{kind}\" (a global basis "
                                         "of t = tanh(x); give its degree only)")
    degree = check.integer(merged["degree"], where["degree"], 0, MAX_GLOBAL_DEGREE[kind])
    return BasisSpec(kind, degree, 1, (Fraction(-1), Fraction(1)), "uniform")


def _layer_basis(check: _Checker, default: dict, override: Mapping[str, Any],
                 index: int, dtype: str, given: set[str]) -> BasisSpec:
    """The basis of layer ``index``: [basis] (or the defaults) overlaid with its [[layers]]
    table; errors name the table each value came from."""
    merged = dict(default)
    if _is_list(override.get("knots")):
        for key in ("grid", "domain"):  # a layer's explicit knots replace the default grid
            merged.pop(key, None)
    merged.update(override)
    where = {key: f"layers[{index}].{key}" if key in override else f"basis.{key}"
             for key in BASIS_KEYS}

    kind = check.choice(merged["kind"], where["kind"], BASIS_KINDS)
    if kind in GLOBAL_KINDS:  # [basis] grid keys are for the other layers if this one sets kind
        given_here = set(override) | (given if "kind" not in override else set())
        return _global_basis(check, kind, merged, where, given_here)
    degree = check.integer(merged["degree"], where["degree"], 0, MAX_DEGREE)
    knots = merged["knots"]
    if isinstance(knots, str):
        check.choice(knots, where["knots"], ("uniform",))
        for key in ("grid", "domain"):
            if key not in merged:
                raise check.fail(f"layers[{index}].{key}", "missing: uniform knots need a grid "
                                 "and a domain, and [basis] gives explicit knots instead")
        grid = check.integer(merged["grid"], where["grid"], 1, MAX_GRID)
        domain = _domain(check, merged["domain"], where["domain"])
        basis = BasisSpec(kind, degree, grid, domain, "uniform")
        _check_representable(check, basis.points, basis.order, dtype, where["domain"],
                             where["grid"])
        return basis
    if not _is_list(knots):
        raise check.fail(where["knots"], f"must be \"uniform\" or an array of grid points, "
                                         f"got {_describe(knots)}")
    points = tuple(check.number(v, f"{where['knots']}[{i}]") for i, v in enumerate(knots))
    if len(points) < 2:
        raise check.fail(where["knots"], f"needs at least 2 points, got {len(points)}")
    if len(points) - 1 > MAX_GRID:
        raise check.fail(where["knots"], f"has {len(points) - 1} intervals; at most {MAX_GRID}")
    for i in range(1, len(points)):
        if points[i] <= points[i - 1]:
            raise check.fail(f"{where['knots']}[{i}]", f"must be greater than the point before "
                             f"({_show(points[i - 1])}), got {_show(points[i])}: knots must be "
                             "strictly increasing")
    if "grid" in merged:
        grid = check.integer(merged["grid"], where["grid"], 1, MAX_GRID)
        if grid != len(points) - 1:
            raise check.fail(where["grid"], f"is {grid} but knots has {len(points)} points "
                                            f"({len(points) - 1} intervals)")
    if "domain" in merged:
        domain = _domain(check, merged["domain"], where["domain"])
        if domain != (points[0], points[-1]):
            raise check.fail(where["domain"], f"is [{_show(domain[0])}, {_show(domain[1])}] but "
                             f"knots run from {_show(points[0])} to {_show(points[-1])}")
    _check_representable(check, points, degree + 1, dtype, where["knots"], where["knots"])
    return BasisSpec(kind, degree, len(points) - 1, (points[0], points[-1]), points)


def _with_tucker(check: _Checker, basis: BasisSpec, value: object, widths: tuple[int, int],
                 index: int, own: bool) -> BasisSpec:
    """``basis`` with its Tucker ranks: from cr in (0, 1] (r_k = ceil(cr * dim_k)) or from
    [r1, r2, r3], each at most its mode's size (in, out, n_b); ``false`` keeps a layer full
    when [basis] makes the others Tucker layers."""
    if value is None or value is False:
        return basis
    path = f"layers[{index}].tucker" if own else "basis.tucker"
    dims = (*widths, basis.n_basis)
    if _is_list(value):
        items = check.array(value, path)
        if len(items) != 3:
            raise check.fail(path, f"must be a compression ratio or 3 ranks [in, out, basis], "
                                   f"got {len(items)} numbers")
        ranks = tuple(check.integer(v, f"{path}[{k}]", 1) for k, v in enumerate(items))
        for k, (rank, dim, mode) in enumerate(zip(ranks, dims, ("in", "out", "basis"))):
            if rank > dim:
                raise check.fail(f"{path}[{k}]", f"the {mode} rank {rank} is larger than the "
                                                 f"mode's size {dim} (layer {index} is "
                                                 f"{dims[0]} x {dims[1]} x {dims[2]})")
    else:
        cr = check.number(value, path)
        if not 0 < cr <= 1:
            raise check.fail(path, f"a compression ratio must be in (0, 1], got {_show(cr)}")
        ranks = ranks_for(dims, cr)
    return replace(basis, tucker=ranks)  # type: ignore[arg-type]


def _check_representable(check: _Checker, points: tuple[Fraction, ...], order: int, dtype: str,
                         range_path: str, resolution_path: str) -> None:
    problem = representability_problem(points, order, dtype)
    if problem is not None:
        kind, message = problem
        raise check.fail(range_path if kind == "range" else resolution_path, message)


def representability_problem(points: tuple[Fraction, ...], order: int,
                             dtype: str) -> tuple[str, str] | None:
    """Why ``dtype`` cannot hold a layer with these grid points, as ("range" | "resolution",
    message), or None. Every extended knot and 1/h must lie well inside the dtype's range,
    and no two neighbouring knots may round to the same number (the cell of an input could
    not be told apart)."""
    info = np.finfo(dtype)
    limit = Fraction(float(info.max)) / 16
    first, last = points[1] - points[0], points[-1] - points[-2]
    reach = max(abs(points[0] - (order - 1) * first), abs(points[-1] + (order - 1) * last))
    if reach > limit:
        return "range", (f"extended knots reach {_show(reach)}, beyond what {dtype} holds "
                         f"safely ({_show(limit)})")
    smallest = min(v - u for u, v in zip(points, points[1:]))
    if 1 / smallest > limit:
        return "resolution", f"cells as small as {_show(smallest)} are below {dtype}'s range"
    held = [info.dtype.type(float(t)) for t in points]
    for i in range(1, len(held)):
        if held[i] <= held[i - 1]:
            return "resolution", (f"knots {i - 1} and {i} ({_show(points[i - 1], 12)} and "
                                  f"{_show(points[i], 12)}) are the same number in {dtype}: "
                                  "cells this small this far from 0 cannot be told apart (use "
                                  "float64, fewer cells, or a domain nearer 0)")
    return None


def _domain(check: _Checker, value: object, path: str) -> tuple[Fraction, Fraction]:
    items = check.array(value, path)
    if len(items) != 2:
        raise check.fail(path, f"must be [a, b], got {len(items)} numbers")
    a, b = (check.number(v, f"{path}[{i}]") for i, v in enumerate(items))
    if not a < b:
        raise check.fail(path, f"must have a < b, got [{_show(a)}, {_show(b)}]")
    return a, b


def _show(x: Fraction, digits: int = 6) -> str:
    """A short decimal for messages, for any magnitude (floats overflow and underflow)."""
    if x.denominator == 1 and abs(x.numerator) < 10**12:
        return str(x)
    return f"{Decimal(x.numerator) / Decimal(x.denominator):.{digits}g}"


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """A plain dict that ``load_spec`` turns back into an equal Spec (exact numbers as
    strings "p/q"): how checkpoints store the spec they were trained with."""

    def exact(value: Fraction) -> str:
        return str(value)

    layers = []
    for basis in spec.layers:
        table: dict[str, Any] = {"kind": basis.kind, "degree": basis.degree}
        if basis.kind in GLOBAL_KINDS:
            pass  # degree says it all
        elif basis.knots == "uniform":
            table.update(grid=basis.grid, domain=[exact(v) for v in basis.domain],
                         knots="uniform")
        else:
            table["knots"] = [exact(Fraction(v)) for v in basis.knots]
        if basis.tucker is not None:
            table["tucker"] = list(basis.tucker)
        layers.append(table)
    train = spec.train
    train_table: dict[str, Any]
    if train.kaczmarz is not None:  # newton-kaczmarz takes none of the gradient keys
        method = train.kaczmarz
        train_table = {"loss": train.loss, "seed": train.seed, "method": train.method}
        train_table["kaczmarz"] = {
            "epochs": method.epochs, "alpha": exact(method.alpha),
            "spline_epochs": method.spline_epochs, "renormalize": method.renormalize,
            "skip_below": exact(method.skip_below)}
        if method.cells is not None:
            train_table["kaczmarz"]["cells"] = list(method.cells)
    else:
        train_table = {
            "loss": train.loss, "l2": exact(train.l2), "optimizer": train.optimizer,
            "steps": train.steps, "warmup": train.warmup, "schedule": train.schedule,
            "seed": train.seed, "deterministic": train.deterministic,
            "geometry": train.geometry}
    if train.multilevel is not None:
        del train_table["steps"]
        levels = train.multilevel
        train_table["multilevel"] = {"epochs": list(levels.epochs), "factor": levels.factor}
        if levels.steps_per_epoch is not None:
            train_table["multilevel"]["steps_per_epoch"] = levels.steps_per_epoch
    if train.lr is not None:
        train_table["lr"] = exact(train.lr)
    if train.batch_size is not None:
        train_table["batch_size"] = train.batch_size
    result: dict[str, Any] = {
        "model": {"name": spec.name, "layers": list(spec.widths), "dtype": spec.dtype},
        "layers": layers, "train": train_table}
    if spec.data is not None:
        data = spec.data
        result["data"] = {"source": data.source, "seed": data.seed,
                          "validation": exact(data.validation)}
        if data.n is not None:
            result["data"]["n"] = data.n
    if spec.finetune is not None:
        result["finetune"] = finetune_to_dict(spec.finetune)
    return result
