"""Seeded random physics losses for differential testing: a random model (degrees 2-5, a
base branch on odd seeds) with one output, loss terms that read every jet channel kind, and
random inputs for their point sets and data columns."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import numpy as np

from kancc.physics import LossTerm, Monomial
from kancc.spec import Spec

from .random_specs import random_spec


def random_terms(rng: random.Random, width: int) -> list[LossTerm]:
    """A residual with products, constants and a varying coefficient on jets of order 2, a
    first-order term and a value term on other point sets."""
    second = 1 + width + rng.randrange(width)
    first = 1 + rng.randrange(width)
    return [
        LossTerm("residual", "interior", (Monomial((second,)), Monomial((0, first), Fraction(3, 2)),
                                          Monomial((0, 0, 0), Fraction(-1), "c0")), width),
        LossTerm("flux", "side", (Monomial((first,), Fraction(1, 3)),), width, Fraction(2)),
        LossTerm("dirichlet", "edge", (Monomial((0,)),), width, Fraction(10)),
    ]


def random_inputs(spec: Spec, terms: list[LossTerm], rows: int, seed: int
                  ) -> dict[str, np.ndarray]:
    """Rows in the first layer's domain for each point set, and standard normal targets
    and data columns."""
    rng = np.random.default_rng(seed)
    a, b = (float(v) for v in spec.layers[0].domain)
    inputs: dict[str, np.ndarray] = {}
    for term in terms:
        inputs.setdefault(term.points, rng.uniform(a, b, (rows, spec.widths[0])))
        inputs[f"{term.name}.target"] = rng.standard_normal((rows, 1))
        for column in term.columns:
            inputs[f"{term.name}.{column}"] = rng.standard_normal((rows, 1))
    return inputs


def physics_spec(seed: int) -> dict[str, Any]:
    """A random float64 spec of 1-2 layers, widths up to 4 and one output."""
    spec = random_spec(seed, dtype="float64", max_width=4, max_grid=5, max_layers=2)
    spec["model"]["layers"][-1] = 1
    rng = random.Random(seed)
    for layer in spec["layers"]:
        layer["degree"] = rng.randint(2, 5)
    if seed % 2:
        spec["layers"][0]["base"] = "silu"
    return spec
