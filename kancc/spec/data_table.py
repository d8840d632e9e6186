"""The optional ``[data]`` table of a spec: what a model is trained on.

    [data]
    source = "exp_sin"        # a built-in synthetic target (kancc.data.SYNTHETIC) or a file
                              # (.npz / .npy / .csv), relative to the spec's folder
    n = 2000                  # rows of a synthetic target
    seed = 0                  # synthetic sampling and the validation split
    validation = 0.2          # fraction held out for validation
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .checker import Checker
from .keys import MAX_ROWS, SEED, Integer, Number, Text, key, read_table, table_to_dict


@dataclass(frozen=True)
class DataSpec:
    source: str = key("", Text(), "a built-in synthetic target or a data file (.npz, .npy, "
                                  ".csv), relative to the spec's folder",
                      required="missing: name a synthetic target or a data file")
    n: int | None = key(None, Integer(1, MAX_ROWS), "rows of a synthetic target (default 2000)")
    seed: int = key(0, SEED, "synthetic sampling and the validation split")
    validation: Fraction = key(Fraction(0), Number(Fraction(0), Fraction(1), high_open=True),
                               "fraction held out for validation")


def parse_data(check: Checker, raw: object) -> DataSpec:
    return DataSpec(**read_table(check, raw, "data", DataSpec))


def data_to_dict(data: DataSpec) -> dict[str, Any]:
    return table_to_dict(data)
