"""Seeded random physics losses for differential testing: a random model (degrees 2-5, a
base branch on odd seeds) with one output, loss terms that read every jet channel kind,
random inputs for their point sets and data columns, and the module of a target that
computes such a loss."""

from __future__ import annotations

import random
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np

from kancc.backends import TARGETS
from kancc.passes import PassManager, parse_pipeline
from kancc.physics import LossTerm, Monomial, physics_loss_graph
from kancc.spec import Spec
from kancc.storage import load_module

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


def physics_module(spec: Spec, terms: list[LossTerm], target: str) -> ModuleType:
    """The ``target`` module of the physics loss of ``terms`` (the training pipeline, the IR
    checked to parse back after every pass)."""
    graph = physics_loss_graph(spec, terms)
    result = PassManager(parse_pipeline("training"), check_roundtrip=True).run(graph)
    return load_module(TARGETS[target].emit(result.graph), f"physics_{target}")
