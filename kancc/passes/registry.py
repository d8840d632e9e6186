"""The pass registry and the named pipelines.

A pipeline is text: pass names separated by commas, each with optional ``{key=value,...}``
options, e.g. ``expand-layers,lower-basis{eval=cox-de-boor}``; a pipeline's name stands for
its passes, e.g. ``tucker{cr=1/4},inference``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.errors import KanccError

from . import (autodiff, cleanup, derive_stencils, expand_layers, fuse, lower_basis, refine,
               relu_basis, tucker)
from .pass_types import FREE, Pass

PASSES: dict[str, Pass] = {p.name: p for p in (
    refine.PASS,
    tucker.PASS,
    relu_basis.TO_RELU,
    relu_basis.TO_SPLINE,
    expand_layers.PASS,
    derive_stencils.PASS,
    lower_basis.PASS,
    fuse.PASS,
    autodiff.PASS,
    cleanup.DCE,
    cleanup.CANONICALIZE,
)}

PIPELINES: dict[str, str] = {
    # what `kancc compile` runs: exact stencils, accurate local evaluation, fused kernels
    "inference": "expand-layers,derive-stencils,lower-basis,fuse,dce,canonicalize",
    # "passes off": the plainest correct lowering, the other side of differential checks
    "reference": "expand-layers,lower-basis{eval=cox-de-boor},canonicalize",
    # training graphs (compile(training=True)): the loss graph differentiated on fused layers
    "training": "expand-layers,derive-stencils,lower-basis,fuse,autodiff,dce,canonicalize",
    "training-reference": "expand-layers,lower-basis{eval=cox-de-boor},fuse,autodiff,"
                          "canonicalize",
}


@dataclass(frozen=True)
class Step:
    pass_: Pass
    options: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        if not self.options:
            return self.pass_.name
        return self.pass_.name + "{" + ",".join(f"{k}={v}" for k, v in self.options) + "}"


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
    steps = []
    for item in items:
        name, _, rest = item.partition("{")
        name = name.strip()
        if name not in PASSES:
            known = ", ".join(sorted(PASSES))
            raise KanccError(f"unknown pass {name!r} in pipeline {text!r} (passes: {known}; "
                             f"pipelines: {', '.join(PIPELINES)})")
        pass_ = PASSES[name]
        options = dict(pass_.default_options())
        if rest:
            if not rest.endswith("}"):
                raise KanccError(f"pass options of {name!r} must end with '}}': {item!r}")
            allowed, given = dict(pass_.options), set()
            for pair in filter(None, (p.strip() for p in rest[:-1].split(","))):
                key, eq, value = (s.strip() for s in pair.partition("="))
                if not eq or key not in allowed:
                    raise KanccError(f"pass {name!r} has no option {key!r} "
                                     f"(options: {', '.join(allowed) or 'none'})")
                if key in given:
                    raise KanccError(f"{name}{{{key}=...}} is given twice in {item!r}")
                given.add(key)
                if value not in allowed[key] and FREE not in allowed[key]:
                    raise KanccError(f"{name}{{{key}=...}} must be one of "
                                     f"{', '.join(allowed[key])}, got {value!r}")
                options[key] = value
        non_default = tuple((k, v) for k, v in options.items()
                            if v != pass_.default_options()[k])
        steps.append(Step(pass_, non_default))
    return tuple(steps)
