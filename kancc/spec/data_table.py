"""The optional ``[data]`` table of a spec: what a model is trained on.

    [data]
    source = "exp_sin"        # a built-in synthetic target (kancc.data.SYNTHETIC) or a file
                              # (.npz / .npy / .csv), relative to the spec's folder
    n = 2000                  # rows of a synthetic target
    seed = 0                  # synthetic sampling and the validation split
    validation = 0.2          # fraction held out for validation
    standardize = "both"      # or "inputs", "outputs", "none" (true: "both"; false: "none"):
                              # fit mean and std on the training split into [scaling]
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .checker import Checker
from .keys import MAX_ROWS, SEED, Choice, Integer, Number, Text, key, read_table, table_to_dict

STANDARDIZE = ("none", "inputs", "outputs", "both")


class Standardize(Choice):
    """One of STANDARDIZE, or a boolean: true is "both", false "none"."""

    def read(self, check: Checker, value: object, path: str) -> str:
        if isinstance(value, bool):
            return "both" if value else "none"
        return super().read(check, value, path)


@dataclass(frozen=True)
class DataSpec:
    source: str = key("", Text(), "a built-in synthetic target or a data file (.npz, .npy, "
                                  ".csv), relative to the spec's folder",
                      required="missing: name a synthetic target or a data file")
    n: int | None = key(None, Integer(1, MAX_ROWS), "rows of a synthetic target (default 2000)")
    seed: int = key(0, SEED, "synthetic sampling and the validation split")
    validation: Fraction = key(Fraction(0), Number(Fraction(0), Fraction(1), high_open=True),
                               "fraction held out for validation")
    standardize: str = key("none", Standardize(STANDARDIZE),
                           "fit mean and std of the inputs, outputs or both on the training "
                           "split ([scaling]); true means both")


def parse_data(check: Checker, raw: object) -> DataSpec:
    return DataSpec(**read_table(check, raw, "data", DataSpec))


def data_to_dict(data: DataSpec) -> dict[str, Any]:
    return table_to_dict(data)
