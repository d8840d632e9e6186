"""The pass registry and the named pipelines.

A pipeline is text: pass names separated by commas, each with optional ``{key=value,...}``
options, e.g. ``expand-layers,lower-basis{eval=cox-de-boor}``; a pipeline's name stands for
its passes, e.g. ``tucker{cr=1/4},inference``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kancc.errors import KanccError

from . import (
    autodiff,
    cleanup,
    derive_stencils,
    expand_layers,
    fuse,
    jet,
    lower_basis,
    refine,
    relu_basis,
    schedule,
    tucker,
)
from .options import format_options, parse_options
from .pass_types import Pass

PASSES: dict[str, Pass] = {p.name: p for p in (
    refine.PASS,
    tucker.PASS,
    relu_basis.TO_RELU,
    relu_basis.TO_SPLINE,
    jet.PASS,
    expand_layers.PASS,
    derive_stencils.PASS,
    lower_basis.PASS,
    fuse.PASS,
    autodiff.PASS,
    schedule.PASS,
    cleanup.DCE,
    cleanup.CANONICALIZE,
)}

PIPELINES: dict[str, str] = {
    # what `kancc compile` runs: exact stencils, accurate local evaluation, fused kernels
    "inference": "expand-layers,derive-stencils,lower-basis,fuse,schedule,dce,canonicalize",
    # "passes off": the plainest correct lowering, the other side of differential checks
    "reference": "expand-layers,lower-basis{eval=cox-de-boor},canonicalize",
    # training graphs (compile(training=True)): the loss graph differentiated on fused layers
    "training": "expand-layers,derive-stencils,lower-basis,fuse,autodiff,schedule,dce,"
                "canonicalize",
    "training-reference": "expand-layers,lower-basis{eval=cox-de-boor},fuse,autodiff,"
                          "canonicalize",
}


@dataclass(frozen=True)
class Step:
    """A pass in a pipeline with its non-default options (name, typed value), in the order
    its options class declares them."""

    pass_: Pass
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``name`` or ``name{k=v,...}``: the text that parses back to this step."""
        return self.pass_.name + format_options(self.pass_.options, self.options)

    def settings(self) -> Any:
        """The options the pass runs with: its options class with these values set."""
        return self.pass_.options(**dict(self.options))


def _split(text: str) -> list[str]:
    items, depth, current = [], 0, ""
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [item.strip() for item in items]


def parse_pipeline(text: str) -> tuple[Step, ...]:
    """Steps of a pipeline given by name (``inference``) or as a pass list (which may name
    pipelines)."""
    if not text.strip():
        raise KanccError("empty pipeline: name one (inference, reference) or list passes")
    items = []  # a named pipeline may stand for its passes anywhere in the list
    for item in _split(text):
        items += _split(PIPELINES[item]) if item in PIPELINES else [item]
    return tuple(_step(item, text) for item in items)


def _step(item: str, pipeline: str) -> Step:
    """One ``name`` or ``name{k=v,...}`` of a pipeline, its options parsed and typed."""
    name, _, rest = item.partition("{")
    name = name.strip()
    if name not in PASSES:
        known = ", ".join(sorted(PASSES))
        raise KanccError(f"unknown pass {name!r} in pipeline {pipeline!r} (passes: {known}; "
                         f"pipelines: {', '.join(PIPELINES)})")
    pass_ = PASSES[name]
    given: list[tuple[str, str]] = []
    if rest:
        if not rest.endswith("}"):
            raise KanccError(f"pass options of {name!r} must end with '}}': {item!r}")
        for pair in filter(None, (p.strip() for p in rest[:-1].split(","))):
            key, eq, value = (part.strip() for part in pair.partition("="))
            if not eq:
                raise KanccError(f"pass {name!r}: option {pair!r} needs a value (key=value)")
            given.append((key, value))
    return Step(pass_, parse_options(name, pass_.options, given, item))
