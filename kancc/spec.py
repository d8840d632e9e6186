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
                              # ([basis] and [[layers]] are parsed by spec_layers.py)
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
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np

from kancc.symbolic.global_bases import GLOBAL_KINDS

from .errors import SpecError
from .spec_layers import (DEFAULT_BASIS, LAYER_KEYS, BasisSpec, describe, is_list,
                          layer_basis, with_tucker)
from .spec_finetune import FinetuneSpec, finetune_to_dict, parse_finetune
from .spec_train import DataSpec, TrainSpec, check_kaczmarz_model, parse_data, parse_train

MAX_WIDTH = 1 << 24
DTYPES = ("float32", "float64")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_KEYS = ("model", "basis", "layers", "train", "data", "finetune")
MODEL_KEYS = ("name", "layers", "dtype")


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

class _Checker:
    """Validates raw values; every error carries the spec's origin."""

    def __init__(self, origin: str | None) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(path, message, self.origin)

    def table(self, value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a table, got {describe(value)}")
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
            raise self.fail(path, f"must be an integer, got {describe(value)}")
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
            raise self.fail(path, f"must be one of {quoted}, got {describe(value)}")
        return value

    def number(self, value: object, path: str) -> Fraction:
        """An exact rational from an int, a decimal, a float (read as the shortest decimal
        that rounds to it: 0.1 is 1/10), or a string such as "1/3", "-2" or "0.25"."""
        if _is_bool(value):
            raise self.fail(path, f"must be a number, got {describe(value)}")
        if isinstance(value, (str, numbers.Rational, Decimal)):
            source: Any = value
        elif isinstance(value, numbers.Real):
            source = repr(float(value))
        else:
            raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                  f"{describe(value)}")
        try:
            exact = Fraction(source)
        except ZeroDivisionError:
            raise self.fail(path, f"has a zero denominator: {value!r}") from None
        except (ValueError, TypeError, OverflowError, decimal.InvalidOperation):
            if isinstance(value, str):
                raise self.fail(path, f"must be a number (or a string like \"1/3\"), got "
                                      f"{describe(value)}") from None
            raise self.fail(path, f"must be a finite number, got {value}") from None
        return exact

    def array(self, value: object, path: str) -> list:
        if not isinstance(value, (list, tuple)):
            raise self.fail(path, f"must be an array, got {describe(value)}")
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
                                       f"{describe(name)}")
    default = dict(DEFAULT_BASIS)
    if "basis" in raw:
        given = check.table(raw["basis"], "basis", LAYER_KEYS)
        if is_list(given.get("knots")):
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
    layers = tuple(layer_basis(check, default, o, i, dtype, basis_keys)
                   for i, o in enumerate(overrides))
    tucker_given = [o.get("tucker", default.get("tucker")) for o in overrides]
    layers = tuple(with_tucker(check, basis, value, (widths[i], widths[i + 1]), i,
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


def _sanitize(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return name if NAME.match(name) else f"model_{name}"


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
