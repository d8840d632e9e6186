"""The spec reference (docs/spec_reference.md), generated from the key declarations.

Tables declared with ``keys.key`` ([train], [data], [finetune], [scaling], [pde] and their
subtables) are rendered from their readers and defaults, so a new key appears here without
anyone writing it down; [model] and [basis]/[[layers]] are checked by hand-written code and
described in ``HAND_WRITTEN`` below. A test checks the committed file equals ``reference()``
and names every key the loader accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .data_table import DataSpec, Standardize
from .finetune_table import FinetuneSpec
from .keys import (
    ArrayOf,
    Boolean,
    Choice,
    HexDigest,
    Integer,
    Number,
    Reader,
    Subtable,
    Text,
    keys_of,
)
from .pde_table import Parameters, PdeSpec
from .scaling_table import ScalingSpec
from .train_table import TrainSpec

Row = tuple[str, str, str, str]  # key, type, default, meaning

HAND_WRITTEN: dict[str, tuple[str, list[Row]]] = {
    "model": ("The model: required.", [
        ("name", "identifier", "the file's stem", "the model's name (generated code, "
                                                  "checkpoints)"),
        ("layers", "array of integers in [1, 2^24]", "required", "widths: one KAN layer "
                                                                 "between each neighbouring pair"),
        ("dtype", 'one of "float32", "float64"', '"float32"', "of parameters and arithmetic"),
    ]),
    "basis": ("The default basis of every layer; each `[[layers]]` table (one per layer, in "
              "order, or none) overrides keys of it for its layer.", [
        ("kind", 'one of "bspline", "chebyshev", "legendre", "taylor", "fourier"',
         '"bspline"', "B-splines on a grid, or a global basis of t = tanh(x) (degree only)"),
        ("degree", "integer", "3", "B-spline order r = degree + 1 (0 to 5 is tested); global "
                                   "kinds: the highest degree or frequency"),
        ("grid", "integer in [1, 4096]", "5", "B-spline cells n"),
        ("domain", 'array of 2 numbers, or "auto"', "[-1, 1]",
         "the interval the grid covers; inputs beyond use the edge cells' polynomials. "
         '"auto" (uniform knots): chosen when training starts, from the range of the '
         "layer's inputs on the training split (the layers before it at their starting "
         "parameters) widened by 10% each side and rounded outward to 3 digits"),
        ("knots", '"uniform", array of grid+1 increasing numbers, or one array per input',
         '"uniform"', "the grid points (a list replaces grid and domain); or per input its "
                      "full knot vector, grid + 2 degree + 1 numbers with the exterior knots, "
                      "as pykan and efficient-kan hold grids after update_grid"),
        ("tucker", "number in (0, 1], array of 3 ranks, or false", "false",
         "a Tucker (Slim) layer: ranks ceil(cr * (in, out, n_b)) or [r1, r2, r3]"),
        ("base", 'one of "none", "silu"', '"none"', "the base branch: adds sum_p w_b[p, q] "
                                                      "silu(x_p), weights layers.{l}.base "
                                                      "(in, out), as pykan and efficient-kan"),
    ]),
}
DECLARED: tuple[tuple[str, type, str], ...] = (
    ("train", TrainSpec, "How the model is trained (optional)."),
    ("data", DataSpec, "What it is trained on (optional)."),
    ("finetune", FinetuneSpec, "Start from a pretrained checkpoint (optional)."),
    ("scaling", ScalingSpec, "Fixed affine maps around the model, compiled into it as "
                             "`kan.affine` ops (written by `[data] standardize`)."),
    ("pde", PdeSpec, "A physics-informed problem (optional): the model u(x) is trained on "
                     "the mean square of its residual on collocation points plus its "
                     "conditions. Expressions are text in quotes: numbers, the variables, "
                     "the parameters, pi, e, + - * / **, sin cos tan exp log sqrt tanh sinh "
                     "cosh; in the residual u, u_v, u_vv (v a variable: du/dv, "
                     "d2u/dv2; mixed and third derivatives are not supported), lap(u) (over "
                     "the space variables) and f (the forcing derived from the solution). "
                     "The residual must be a polynomial in u and its derivatives"),
)


def _numbers(reader: Number) -> str:
    if reader.low is None and reader.high is None:
        return "number"
    requirement = reader.requirement()
    return "positive number" if requirement == "positive" else f"number {requirement}"


def _integers(reader: Integer) -> str:
    return f"integer >= {reader.lo}" if reader.hi is None else \
        f"integer in [{reader.lo}, {reader.hi}]"


def _choices(reader: Choice) -> str:
    text = "one of " + ", ".join(f'"{option}"' for option in reader.options)
    return text + (", or true / false" if isinstance(reader, Standardize) else "")


def _array(reader: ArrayOf) -> str:
    count = f"{reader.length} " if reader.length is not None else ""
    return f"array of {count}{reader_type(reader.item)}"


TYPE_NAMES: tuple[tuple[type, Callable[[Any], str]], ...] = (
    (Integer, _integers),
    (Number, _numbers),
    (Choice, _choices),
    (Boolean, lambda r: "true / false"),
    (Text, lambda r: "string"),
    (HexDigest, lambda r: f"{r.digits} hex digits"),
    (ArrayOf, _array),
    (Subtable, lambda r: "table"),
    (Parameters, lambda r: "table of name = number"),
)


def reader_type(reader: Reader) -> str:
    for kind, name in TYPE_NAMES:
        if isinstance(reader, kind):
            return name(reader)
    raise TypeError(f"no type name for {type(reader).__name__}")


def _default(value: object, required: bool) -> str:
    if required:
        return "required"
    if value is None:
        return "unset"
    if value == ():
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)  # ints, and Fractions as p/q


def declared_tables() -> list[tuple[str, type, str]]:
    """(path, table class, intro) of every key-declared table, subtables after their parent."""
    tables = []
    for path, table, intro in DECLARED:
        tables.append((path, table, intro))
        for name, key in keys_of(table):
            if isinstance(key.reader, Subtable):
                tables.append((f"{path}.{name}", key.reader.table, key.doc))
            elif isinstance(key.reader, ArrayOf) and isinstance(key.reader.item, Subtable):
                tables.append((f"{path}.{name}", key.reader.item.table,
                               f"{key.doc}: one `[[{path}.{name}]]` table each"))
    return tables


def _is_table_array(reader: Reader) -> bool:
    return isinstance(reader, ArrayOf) and isinstance(reader.item, Subtable)


def _table(path: str, intro: str, rows: list[Row]) -> list[str]:
    repeated = f"`[[{path}]]`" in intro  # an array of tables
    lines = [f"## [[{path}]]" if repeated else f"## [{path}]", ""]
    if intro:
        lines += [intro[0].upper() + intro[1:] + ("" if intro.endswith(".") else "."), ""]
    lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in (f"`{key}`", *rest)) + " |"
              for key, *rest in rows]
    return lines + [""]


def reference() -> str:
    """docs/spec_reference.md."""
    lines = [
        "# Spec reference",
        "",
        "Generated by `python -m kancc.spec.reference > docs/spec_reference.md` from the key",
        "declarations (kancc/spec/*_table.py); a test keeps it current. Specs are TOML; numbers",
        'stay exact (0.1 is 1/10; strings such as "1/3" are accepted where a number is). An',
        "unknown key, a wrong type or a value out of range is one error naming the key's path.",
        "",
    ]
    for path, (intro, rows) in HAND_WRITTEN.items():
        lines += _table(path, intro, rows)
    for path, table, intro in declared_tables():
        rows = [(name, reader_type(key.reader),
                 _default(getattr(table, name, None), key.required is not None), key.doc)
                for name, key in keys_of(table)
                if not (isinstance(key.reader, Subtable) or _is_table_array(key.reader))]
        lines += _table(path, intro, rows)
    return "\n".join(lines + DATA_FILES)


DATA_FILES = [
    "## Data files",
    "",
    "`[data] source`, `kancc train --data` and `kancc eval --data` read:",
    "",
    "- **.csv**: one row per example: the model's inputs, then its outputs (or, for",
    "  `loss = \"cross_entropy\"`, one column of integer class labels 0 .. classes-1).",
    "  Comma-separated; one non-numeric header row is allowed. A bad cell is an error",
    "  naming the file, line and column.",
    "- **.npz**: arrays `x` (rows, inputs) and `y` (rows, outputs), or `y` (rows,) labels.",
    "- **.npy**: one array laid out as the CSV rows.",
    "- a built-in synthetic target by name (`sin_sin`, `exp_sin`, `rotated`, `polar5`,",
    "  `triangle`, `disk_bump`, `disk_bump_shifted`), sampled with `[data] n` and `seed`.",
    "",
    "`kancc run --input` takes a .npy of inputs only, shape (rows, inputs).",
    "",
]


if __name__ == "__main__":
    print(reference(), end="")
