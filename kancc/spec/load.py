"""Model specs: TOML text or a dict -> a validated, typed, exact Spec, and back.

    [model]
    layers = [2, 5, 1]        # widths; one KAN layer between each neighbouring pair
    dtype = "float32"         # or "float64"
    [basis]                   # default for every layer (basis_table.py)
    kind = "bspline"          # or "chebyshev", "legendre", "taylor", "fourier": T_k, P_k,
                              # t^k (k <= degree) or 1, cos(j pi t), sin(j pi t) (j <= degree)
                              # of t = tanh(x); no grid, domain or knots
    degree = 3                # order r = degree + 1
    grid = 8                  # intervals n
    domain = [-1.0, 1.0]
    knots = "uniform"         # or the n+1 grid points
    [[layers]]                # optional: one table per layer overriding [basis] keys
    [[layers]]
    degree = 1
    tucker = 0.5              # a Tucker (Slim) layer: ranks ceil(cr * (in, out, n_b)), or
                              # [r1, r2, r3]; its parameters are the factors
    base = "silu"             # or "none": add sum_p w_b[p, q] silu(x_p), weights
                              # layers.{l}.base (in, out), as pykan and efficient-kan do
    [train]                   # how (train_table.py)
    [data]                    # on what (data_table.py)
    [finetune]                # start from a pretrained checkpoint: LoTRA or full
                              # (finetune_table.py)
    [scaling]                 # affine maps around the model: fitted by [data] standardize
                              # (scaling_table.py)
    [pde]                     # a physics-informed problem: the model is trained on its
                              # residual and conditions (pde_table.py)

Numbers are kept exact: TOML floats are read as decimals (``0.1`` is 1/10), and domain and
knot entries may also be strings ``"p/q"``. Every unknown key is an error; every error
names its field path, e.g. ``layers[1].grid: must be a positive integer, got -3``.
``spec_to_dict`` writes a Spec as a dict that ``load_spec`` reads back to an equal Spec
(how checkpoints store their model).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from kancc.errors import SpecError
from kancc.symbolic.global_bases import GLOBAL_KINDS

from .basis_table import (
    DEFAULT_BASIS,
    LAYER_KEYS,
    BasisSpec,
    layer_basis,
    layer_to_dict,
    with_base,
    with_input_count,
    with_tucker,
)
from .checker import Checker, describe, is_list
from .data_table import DataSpec, data_to_dict, parse_data
from .finetune_table import FinetuneSpec, finetune_to_dict, parse_finetune
from .pde_equations import pde_equations
from .pde_table import PdeSpec, parse_pde, pde_to_dict
from .scaling_table import ScalingSpec, parse_scaling, scaling_to_dict
from .train_table import TrainSpec, check_kaczmarz_model, parse_train, train_to_dict

MAX_WIDTH = 1 << 24
MAX_LAYERS = 1000  # layers of a model (a longer list only costs time to check)
MAX_SPEC_BYTES = 4 << 20
DTYPES = ("float32", "float64")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_KEYS = ("model", "basis", "layers", "train", "data", "finetune", "scaling", "pde")
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
    scaling: ScalingSpec | None = None
    pde: PdeSpec | None = None

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1


SpecSource = str | os.PathLike[str] | Mapping[str, Any] | Spec


def load_spec(source: SpecSource) -> Spec:
    """Load and validate a spec from a TOML file path, a dict, or pass a Spec through."""
    if isinstance(source, Spec):
        return source
    if isinstance(source, Mapping):
        return _build(source, origin=None, default_name="model")
    if not isinstance(source, (str, os.PathLike)):
        raise SpecError("", f"a spec is a TOML file's path, a dict or a Spec, got "
                            f"{type(source).__name__}")
    path = Path(source)
    try:
        _check_spec_file(path)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError("", f"cannot read spec: {exc.strerror or exc}", str(path)) from None
    except UnicodeDecodeError:
        raise SpecError("", "spec is not UTF-8 text", str(path)) from None
    return loads_spec(text, origin=str(path), default_name=path.stem)


def _check_spec_file(path: Path) -> None:
    """A spec is a regular file of at most MAX_SPEC_BYTES: a FIFO would block, a device
    never end."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SpecError("", "cannot read spec: not a regular file", str(path))
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError("", f"cannot read spec: larger than {MAX_SPEC_BYTES >> 20} MiB",
                        str(path))


def loads_spec(text: str, origin: str | None = None, default_name: str = "model") -> Spec:
    """Validate a spec given as TOML text."""
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError("", f"invalid TOML: {exc}", origin) from None
    except ValueError:  # an integer literal of more digits than Python converts
        raise SpecError("", "invalid TOML: an integer of more than "
                            f"{sys.get_int_max_str_digits()} digits"
                            f"{_long_integer_place(text)}", origin) from None
    except RecursionError:
        raise SpecError("", "invalid TOML: arrays or tables nested too deeply", origin) \
            from None
    return _build(raw, origin, default_name)


def _build(raw: Mapping[str, Any], origin: str | None, default_name: str) -> Spec:
    check = Checker(origin)
    check.table(raw, "", TOP_KEYS)
    name, widths, dtype = _model_table(check, raw, default_name)
    layers = _layers(check, raw, widths, dtype)
    train = parse_train(check, raw["train"]) if "train" in raw else TrainSpec()
    _check_training(check, widths, layers, train)
    data = parse_data(check, raw["data"]) if "data" in raw else None
    finetune = parse_finetune(check, raw["finetune"]) if "finetune" in raw else None
    if finetune is not None:
        _check_finetune(check, finetune, layers, train)
    scaling = parse_scaling(check, raw["scaling"], widths) if "scaling" in raw else None
    if data is not None and data.standardize != "none":
        _check_standardize(check, train, finetune, data.standardize)
    pde = parse_pde(check, raw["pde"], widths) if "pde" in raw else None
    if pde is not None:
        _check_pde(check, pde, data, train, layers)
    return Spec(name, widths, dtype, layers, train, origin, data, finetune, scaling, pde)


def _check_pde(check: Checker, pde: PdeSpec, data: DataSpec | None, train: TrainSpec,
               layers: tuple[BasisSpec, ...]) -> None:
    """A [pde] model trains on its collocation points with a gradient method, full batch,
    on B-spline or global layers (full, Tucker or LoTRA) with one knot vector per layer;
    every expression of the table parses and means something."""
    for index, basis in enumerate(layers):
        if basis.per_input:
            raise check.fail(f"layers[{index}].knots", "physics losses are not built for "
                                                       "per-input knots")
    ignored = {"l2": train.l2 != 0, "batch_size": train.batch_size is not None,
               "keep": train.keep != "last", "patience": train.patience is not None}
    for name, given in ignored.items():
        if given:
            raise check.fail(f"train.{name}", "does not apply to a [pde] model (full batch, "
                                              "no penalty, no validation split)")
    try:
        pde_equations(pde)
    except SpecError as error:
        raise check.fail(error.path, error.message) from None
    if data is not None:
        raise check.fail("data", "a [pde] model trains on its collocation points; remove "
                                 "[data]")
    if train.method != "gradient":
        raise check.fail("train.method", "a [pde] model trains with the gradient method")
    if pde.resample_every is not None and train.optimizer == "lbfgs":
        raise check.fail("pde.resample_every", "L-BFGS needs one fixed loss: resampling "
                                               "needs train.optimizer = \"adam\"")
    if pde.rba and train.optimizer == "lbfgs":
        raise check.fail("pde.rba", "residual-based attention reweights after each step: "
                                    "it needs train.optimizer = \"adam\"")
    if train.loss != "mse":
        raise check.fail("train.loss", "a [pde] model's loss is the mean square of its "
                                       "residual and conditions")


def _model_table(check: Checker, raw: Mapping[str, Any], default_name: str
                 ) -> tuple[str, tuple[int, ...], str]:
    """[model]: the name, the widths and the dtype."""
    if "model" not in raw:
        raise check.fail("model", "missing required table [model]")
    model = check.table(raw["model"], "model", MODEL_KEYS)
    if "layers" not in model:
        raise check.fail("model.layers", "missing: give the layer widths, e.g. [2, 5, 1]")
    widths = check.array(model["layers"], "model.layers")
    if len(widths) < 2:
        raise check.fail("model.layers", f"needs at least 2 widths (input and output), "
                                         f"got {len(widths)}")
    if len(widths) > MAX_LAYERS + 1:
        raise check.fail("model.layers", f"has {len(widths)} widths: at most {MAX_LAYERS} "
                                         "layers are supported")
    widths = [check.integer(w, f"model.layers[{i}]", 1, MAX_WIDTH) for i, w in enumerate(widths)]
    dtype = check.choice(model.get("dtype", "float32"), "model.dtype", DTYPES)
    name: object = model.get("name", _sanitize(default_name))
    if not isinstance(name, str) or not NAME.match(name):
        raise check.fail("model.name", f"must be an identifier (letters, digits, _), got "
                                       f"{describe(name)}")
    return name, tuple(widths), dtype


def _layers(check: Checker, raw: Mapping[str, Any], widths: tuple[int, ...],
            dtype: str) -> tuple[BasisSpec, ...]:
    """[basis] overlaid by each [[layers]] table, then each layer's Tucker ranks."""
    default: dict[str, Any] = dict(DEFAULT_BASIS)
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
    base_given = [o.get("base", default.get("base", "none")) for o in overrides]
    return tuple(with_input_count(check, with_base(check, basis, value, i,
                                                   "base" in overrides[i]), widths[i], i)
                 for i, (basis, value) in enumerate(zip(layers, base_given)))


def _check_training(check: Checker, widths: tuple[int, ...], layers: tuple[BasisSpec, ...],
                    train: TrainSpec) -> None:
    """What the [train] table asks of the model."""
    if train.loss == "cross_entropy" and widths[-1] < 2:
        raise check.fail("train.loss", "cross_entropy needs at least 2 outputs (one per class); "
                                       f"model.layers ends with {widths[-1]}")
    if train.kaczmarz is not None:
        check_kaczmarz_model(check, widths, layers, train.loss, train.kaczmarz)
    per_input = [i for i, basis in enumerate(layers) if basis.per_input]
    if per_input and train.geometry != "spline":
        raise check.fail("train.geometry", f"does not apply to layers[{per_input[0]}], which "
                                           "has one knot vector per input")
    based = [i for i, basis in enumerate(layers) if basis.base != "none"]
    if based and (train.kaczmarz is not None or train.geometry != "spline"):
        key = "train.method" if train.kaczmarz is not None else "train.geometry"
        raise check.fail(key, f"does not apply to layers[{based[0]}], which has a base "
                               "branch (base = \"silu\"); train it by gradient in the spline "
                               "geometry")
    global_layers = [i for i, basis in enumerate(layers) if basis.kind in GLOBAL_KINDS]
    if global_layers and (train.multilevel is not None or train.geometry != "spline"):
        grid_key = "train.multilevel" if train.multilevel is not None else "train.geometry"
        raise check.fail(grid_key, f"does not apply to layers[{global_layers[0]}], kind "
                                   f"{layers[global_layers[0]].kind}: it needs a B-spline grid")
    factorized = [i for i, basis in enumerate(layers) if basis.tucker is not None]
    what = _not_plain_gradient(train)
    if factorized and what is not None:
        raise check.fail(what, f"does not apply to Tucker layers (layers[{factorized[0]}] has "
                               "tucker); train them by gradient in the spline geometry")


def _not_plain_gradient(train: TrainSpec) -> str | None:
    """The [train] key that makes this more than gradient training in the spline geometry."""
    if train.multilevel is not None:
        return "train.multilevel"
    if train.kaczmarz is not None:
        return "train.method"
    if train.geometry != "spline":
        return "train.geometry"
    return None


def _check_finetune(check: Checker, finetune: FinetuneSpec, layers: tuple[BasisSpec, ...],
                    train: TrainSpec) -> None:
    """Fine-tuning is gradient training in the spline geometry; LoTRA adapts full layers
    without a base branch (those [finetune] layers names)."""
    chosen = finetune.layers or ()
    for position, index in enumerate(chosen):
        if index >= len(layers) or index in chosen[:position]:
            why = f"the model has layers 0..{len(layers) - 1}" if index >= len(layers) \
                else "named twice"
            raise check.fail(f"finetune.layers[{position}]", f"layer {index}: {why}")
    adapted = [i for i in range(len(layers)) if finetune.adapts(i)]
    per_input = [i for i in adapted if layers[i].per_input]
    if finetune.lotra and per_input:
        raise check.fail(f"layers[{per_input[0]}].knots", "LoTRA's adapters are Tucker layers, "
                                                          "which per-input knots do not support "
                                                          "yet")
    based = [i for i in adapted if layers[i].base != "none"]
    if finetune.lotra and based:
        raise check.fail(f"layers[{based[0]}].base", "LoTRA adapts the spline coefficients "
                                                     "only; a base branch is not supported "
                                                     "with it yet")
    what = _not_plain_gradient(train)
    if what is not None:
        raise check.fail(what, "does not apply to fine-tuning ([finetune]); fine-tune by "
                               "gradient in the spline geometry")
    if finetune.lotra and train.optimizer == "lbfgs":
        raise check.fail("train.optimizer", "LoTRA trains each adapter component at its own "
                                            "rate, which L-BFGS has no place for: use adam")
    factorized = [i for i, basis in enumerate(layers) if basis.tucker is not None]
    if finetune.lotra and factorized:
        raise check.fail(f"layers[{factorized[0]}].tucker", "LoTRA adapts models of full "
                                                            "layers; this layer is a Tucker "
                                                            "layer")


def _check_standardize(check: Checker, train: TrainSpec, finetune: FinetuneSpec | None,
                       standardize: str) -> None:
    """Standardization is fitted by gradient training's data flow: Newton-Kaczmarz fits
    its own ranges, and a fine-tuned model keeps its pretrained model's inputs."""
    if train.kaczmarz is not None:
        raise check.fail("data.standardize", "does not apply to newton-kaczmarz, which "
                                             "renormalizes its layers' ranges itself")
    if finetune is not None:
        raise check.fail("data.standardize", "does not apply to fine-tuning: the pretrained "
                                             "model's [scaling] is not carried over yet")
    if train.loss == "cross_entropy" and standardize in ("outputs", "both"):
        raise check.fail("data.standardize", f'"{standardize}" scales outputs; a classifier\'s '
                                             'outputs are logits: use "inputs"')


def _sanitize(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return name if NAME.match(name) else f"model_{name}"


def _long_integer_place(text: str) -> str:
    """' (at line L, column C)' of the first digit run tomllib cannot convert, or ''."""
    limit = sys.get_int_max_str_digits()
    for run in re.finditer(r"[0-9_]+", text):  # one pass: no backtracking on long runs
        if len(run.group().replace("_", "")) > limit:
            start = run.start()
            line = text.count("\n", 0, start) + 1
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            return f" (at line {line}, column {column})"
    return ""


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """A plain dict that ``load_spec`` turns back into an equal Spec (exact numbers as
    strings "p/q"): how checkpoints store the spec they were trained with."""
    result: dict[str, Any] = {
        "model": {"name": spec.name, "layers": list(spec.widths), "dtype": spec.dtype},
        "layers": [layer_to_dict(basis) for basis in spec.layers],
        "train": train_to_dict(spec.train)}
    if spec.data is not None:
        result["data"] = data_to_dict(spec.data)
    if spec.finetune is not None:
        result["finetune"] = finetune_to_dict(spec.finetune)
    if spec.scaling is not None:
        result["scaling"] = scaling_to_dict(spec.scaling)
    if spec.pde is not None:
        result["pde"] = pde_to_dict(spec.pde)
    return result
