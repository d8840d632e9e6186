"""Parameter names and shapes: the one place a ``layers.{l}...`` name is made or read.

A model's parameters are named after their layer l (DESIGN.md 6):

    layers.{l}.coef                     (in, out, n_b) coefficients of a full layer
    layers.{l}.core, .u1, .u2, .u3      the factors of a Tucker (Slim) layer:
                                        core (r1, r2, r3), U1 (in, r1), U2 (out, r2),
                                        U3 (n_b, r3)
    layers.{l}.lotra.core, .u1, ...     a LoTRA layer's adapter (its coef is frozen)
    layers.{l}.base                     (in, out) weights of the base branch (base = "silu")

The names are the keys of every params dict, of checkpoints and of the emitted modules'
PARAM_SHAPES; everything else asks this module for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.numerics.hosvd import COMPONENTS, ranks_for
from kancc.spec import Spec

FACTORS = COMPONENTS  # a Tucker layer names its parameters after the components
ADAPTER = "lotra"


@dataclass(frozen=True)
class ParamDecl:
    """A parameter the model of a spec declares, in declaration order."""

    name: str
    shape: tuple[int, ...]
    frozen: bool = False


@dataclass(frozen=True)
class ParamName:
    """What a parameter name says: its layer, its role ("coef" or one of FACTORS) and
    whether it belongs to a LoTRA adapter."""

    layer: int
    role: str
    adapter: bool = False


def layer_prefix(layer: int) -> str:
    return f"layers.{layer}"


def coef_name(layer: int) -> str:
    return f"{layer_prefix(layer)}.coef"


def base_name(layer: int) -> str:
    return f"{layer_prefix(layer)}.base"


def tucker_names(layer: int) -> tuple[str, ...]:
    """core, u1, u2, u3 of a Tucker layer."""
    return factors_of_coef(coef_name(layer))


def adapter_name(layer: int, factor: str) -> str:
    """One factor ("core", "u1", "u2" or "u3") of a LoTRA layer's adapter."""
    return f"{layer_prefix(layer)}.{ADAPTER}.{factor}"


def adapter_names(layer: int) -> tuple[str, ...]:
    """core, u1, u2, u3 of a LoTRA layer's adapter."""
    return tuple(adapter_name(layer, f) for f in FACTORS)


def parse_param_name(name: str) -> ParamName:
    """The parts of a parameter name; ValueError for a name outside the convention."""
    parts = name.split(".")
    valid = len(parts) in (3, 4) and parts[0] == "layers" and parts[1].isdigit() and \
        parts[-1] in ("coef", "base") + FACTORS and (len(parts) == 3 or parts[2] == ADAPTER) \
        and not (len(parts) == 4 and parts[-1] in ("coef", "base"))
    if not valid:
        raise ValueError(f"{name!r} is not a kancc parameter name (layers.<l>.coef, "
                         f"layers.<l>.base, layers.<l>.<{'|'.join(FACTORS)}>, "
                         f"layers.<l>.{ADAPTER}.<factor>)")
    return ParamName(int(parts[1]), parts[-1], len(parts) == 4)


def factors_of_coef(name: str) -> tuple[str, ...]:
    """The Tucker factor names that replace coefficients named ``name`` (the tucker pass
    factorizes a layer in place): ``<prefix>.coef`` -> ``<prefix>.core``, ``.u1``, ...; for
    a spec's layers, ``tucker_names``."""
    prefix, dot, role = name.rpartition(".")
    if not dot or role != "coef":
        raise ValueError(f"{name!r} is not a coefficient parameter (named <prefix>.coef)")
    return tuple(f"{prefix}.{f}" for f in FACTORS)


def tucker_shapes(dims: tuple[int, int, int], ranks: tuple[int, ...]
                  ) -> tuple[tuple[int, ...], ...]:
    """Shapes of core, U1, U2, U3 for a layer of (in, out, n_b) = dims."""
    return (tuple(ranks), (dims[0], ranks[0]), (dims[1], ranks[1]), (dims[2], ranks[2]))


def layer_dims(spec: Spec, layer: int) -> tuple[int, int, int]:
    """(in, out, n_b) of a layer's coefficient tensor."""
    return (spec.widths[layer], spec.widths[layer + 1], spec.layers[layer].n_basis)


def layer_form(spec: Spec, layer: int) -> str:
    """How a layer holds its coefficients: "full", "tucker" (Slim) or "lotra" (a frozen
    pretrained tensor plus a Tucker adapter)."""
    if spec.finetune is not None and spec.finetune.adapts(layer):
        return "lotra"
    return "full" if spec.layers[layer].tucker is None else "tucker"


def adapted_layers(spec: Spec) -> tuple[int, ...]:
    """The layers holding a LoTRA adapter ([finetune] layers; none without LoTRA)."""
    return tuple(i for i in range(spec.n_layers) if layer_form(spec, i) == "lotra")


def layer_parameters(spec: Spec, layer: int) -> tuple[ParamDecl, ...]:
    """The parameters of one layer: its coef (and base weights, with a base branch); a
    Tucker layer's factors; or, with LoTRA, the frozen coef and the adapter's factors."""
    dims = layer_dims(spec, layer)
    form = layer_form(spec, layer)
    if form == "full":
        base = (ParamDecl(base_name(layer), dims[:2]),) \
            if spec.layers[layer].base != "none" else ()
        return (ParamDecl(coef_name(layer), dims),) + base
    if form == "tucker":
        ranks = spec.layers[layer].tucker
        assert ranks is not None
        shapes = tucker_shapes(dims, ranks)
        return tuple(ParamDecl(n, s) for n, s in zip(tucker_names(layer), shapes))
    assert spec.finetune is not None and spec.finetune.cr is not None
    shapes = tucker_shapes(dims, ranks_for(dims, spec.finetune.cr))
    return (ParamDecl(coef_name(layer), dims, frozen=True),) + tuple(
        ParamDecl(n, s) for n, s in zip(adapter_names(layer), shapes))


def spec_parameters(spec: Spec) -> tuple[ParamDecl, ...]:
    """Every parameter of the spec's model, in declaration order."""
    return tuple(decl for layer in range(spec.n_layers)
                 for decl in layer_parameters(spec, layer))


def stored_parameters(spec: Spec) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the parameters a checkpoint stores: the trainable ones (a LoTRA
    checkpoint keeps its adapter, not the pretrained tensor it names)."""
    return {d.name: d.shape for d in spec_parameters(spec) if not d.frozen}
