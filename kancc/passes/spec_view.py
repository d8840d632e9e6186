"""The layers a parameterization pass rewrites: kan.layer ops of the spec view.

refine, to-relu-basis, to-spline-basis and tucker change a layer's parameter together with its
op, so they run before expand-layers, and each layer must own its coefficient parameter.
Tucker layers are left to the tucker pass (which skips them): the others refuse them.
"""

from __future__ import annotations

from kancc.errors import PassError
from kancc.ir import Graph, Op, Param, Trait, has_trait


def spec_view_layers(graph: Graph, pass_name: str) -> list[tuple[Op, Param]]:
    """Every full spec-view layer (kan.layer) with its coefficient parameter, in order."""
    expanded = [op.name for op in graph.ops
                if has_trait(op, Trait.BASIS) and not has_trait(op, Trait.SPEC_VIEW)]
    jets = [op.name for op in graph.ops if has_trait(op, Trait.JET)]
    if jets:
        raise PassError(f"{pass_name} does not apply to jet layers (found {jets[0]}): run it "
                        "before the jet pass (compile(..., jet=N) does; a [pde] spec's "
                        "physics loss has jets from the start)")
    if expanded:
        raise PassError(f"{pass_name} works on kan.layer ops (the spec view); run it before "
                        f"expand-layers (found {expanded[0]})")
    frozen = [p for p in graph.params if p.frozen]
    if frozen:
        raise PassError(f"{pass_name} does not apply to the frozen parameter @{frozen[0].name} "
                        "(a LoTRA model: rewrite the merged model, "
                        "kancc.frontend.lotra_params.merged)")
    layers: list[tuple[Op, Param]] = []
    for op in graph.ops:
        if not has_trait(op, Trait.SPEC_VIEW):
            continue
        if not has_trait(op, Trait.READS_COEF):  # a Tucker layer: its factors are its own
            if pass_name != "tucker":
                raise PassError(f"{pass_name} does not apply to Tucker layers "
                                f"({op.name} %{op.result.name})")
            continue
        coef = op.operands[1]
        if not isinstance(coef, Param) or any(coef == p for _, p in layers):
            raise PassError(f"{pass_name}: kan.layer %{op.result.name} must own its "
                            f"coefficient parameter (got {coef})")
        layers.append((op, coef))
    return layers
