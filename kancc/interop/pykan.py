"""Import a pykan model (pykan 0.2.x ``KAN`` / ``MultKAN``), as a module or as the files
its ``saveckpt(path)`` writes (``path_config.yml`` and ``path_state``).

Per layer l: ``act_fun.{l}.grid`` (in, n + 2k + 1), ``.coef`` (in, out, n + k), ``.mask``,
``.scale_base`` and ``.scale_sp`` (in, out); then ``subnode_scale_{l}``/``subnode_bias_{l}``
and ``node_scale_{l}``/``node_bias_{l}`` (out,). A layer computes, per output q,

    s_q * sum_p mask[p, q] (scale_base[p, q] silu(x_p) + scale_sp[p, q] spline_pq(x_p)) + b_q

with s = node_scale * subnode_scale and b = node_scale * subnode_bias + node_bias: kancc's
coef is s * mask * scale_sp * coef, its base weights s * mask * scale_base, and b is
absorbed into the coefficients (peer_layers). Refused: an active symbolic branch (a
nonzero ``symbolic_fun.{l}.mask`` with symbolic_enabled), multiplication nodes, a base
function other than silu or zero, permuted inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kancc.errors import KanccError
from kancc.spec import Spec

from .peer_layers import PeerLayer, dtype_of, numpy_of, read_state_dict, spec_and_params

SOURCE = "pykan"
BASES = {"silu": True, "zero": False}  # base_fun_name -> has a base branch


def _array(state: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in state:
        raise KanccError(f"{SOURCE}: the state has no {key}")
    return numpy_of(state[key])


def _layer(state: Mapping[str, Any], index: int, base: bool, symbolic: bool) -> PeerLayer:
    prefix = f"act_fun.{index}."
    coef = _array(state, prefix + "coef")
    mask = _array(state, prefix + "mask")
    if coef.ndim != 3 or mask.shape != coef.shape[:2]:
        raise KanccError(f"{SOURCE} layer {index}: coef of shape {coef.shape} and mask of "
                         f"shape {mask.shape} are not (in, out, n_b) and (in, out)")
    if symbolic and np.any(numpy_of(state.get(f"symbolic_fun.{index}.mask", 0.0)) != 0):
        raise KanccError(f"{SOURCE} layer {index}: its symbolic branch is active "
                         f"(symbolic_fun.{index}.mask is not zero); kancc has no symbolic "
                         "functions")
    out = coef.shape[1]
    scale = np.ones(out)
    bias = np.zeros(out)
    for kind in ("subnode", "node"):
        node_scale = numpy_of(state.get(f"{kind}_scale_{index}", np.ones(out)))
        node_bias = numpy_of(state.get(f"{kind}_bias_{index}", np.zeros(out)))
        if node_scale.shape != (out,):
            raise KanccError(f"{SOURCE} layer {index}: {kind}_scale_{index} has "
                             f"{node_scale.size} entries for {out} outputs (multiplication "
                             "nodes are not supported)")
        scale, bias = scale * node_scale, bias * node_scale + node_bias
    scale_sp, scale_base = (_array(state, prefix + key) for key in ("scale_sp", "scale_base"))
    for key, array in (("scale_sp", scale_sp), ("scale_base", scale_base)):
        if array.shape != mask.shape:
            raise KanccError(f"{SOURCE} layer {index}: {key} of shape {array.shape}, expected "
                             f"{mask.shape}")
    spline = coef * (mask * scale_sp * scale)[..., None]
    base_weights = mask * scale_base * scale if base else None
    return PeerLayer(grid=_array(state, prefix + "grid"), coef=spline, base=base_weights,
                     bias=bias if np.any(bias != 0) else None)


def _depth(state: Mapping[str, Any]) -> int:
    depth = 0
    while f"act_fun.{depth}.coef" in state:
        depth += 1
    if depth == 0:
        raise KanccError(f"{SOURCE}: not a pykan state (no act_fun.0.coef)")
    return depth


def pykan_state(state: Mapping[str, Any], base_fun: str = "silu", symbolic: bool = True,
                name: str = "pykan") -> tuple[Spec, dict[str, np.ndarray]]:
    """(spec, params) from a MultKAN state_dict and its config's base_fun_name and
    symbolic_enabled."""
    if base_fun not in BASES:
        raise KanccError(f"{SOURCE}: base function {base_fun!r}; kancc's base branch is "
                         "silu (or none: pykan's 'zero')")
    layers = [_layer(state, index, BASES[base_fun], symbolic) for index in range(_depth(state))]
    return spec_and_params(name, layers, dtype_of(state["act_fun.0.coef"]), SOURCE)


def from_pykan(model: Any, name: str = "pykan") -> tuple[Spec, dict[str, np.ndarray]]:
    """(spec, params) of kancc computing the pykan model's function inside its grids."""
    input_id = numpy_of(getattr(model, "input_id", np.arange(1)))
    if not np.array_equal(input_id, np.arange(input_id.size)):
        raise KanccError(f"{SOURCE}: the model permutes its inputs (input_id); not supported")
    if any(isinstance(w, list) and len(w) > 1 and w[1] > 0 for w in getattr(model, "width", [])):
        raise KanccError(f"{SOURCE}: the model has multiplication nodes; not supported")
    return pykan_state(model.state_dict(), getattr(model, "base_fun_name", "silu"),
                       bool(getattr(model, "symbolic_enabled", True)), name)


def read_pykan_checkpoint(path: str | os.PathLike[str]) -> tuple[Spec, dict[str, np.ndarray]]:
    """The files ``saveckpt(path)`` wrote (``path`` may also be a folder holding one such
    checkpoint): the config with yaml.safe_load, the state with torch.load(weights_only=True)."""
    prefix = _checkpoint_prefix(Path(path))
    try:
        import yaml
    except ImportError:
        raise KanccError("importing a pykan checkpoint needs pyyaml (pip install pyyaml)") \
            from None
    config_path = f"{prefix}_config.yml"
    try:
        config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KanccError(f"{config_path}: not a readable pykan config "
                         f"({type(exc).__name__})") from None
    width = config.get("width", []) if isinstance(config, dict) else None
    if not isinstance(width, list):
        raise KanccError(f"{config_path}: not a pykan config (no width list)")
    if any(isinstance(w, list) and len(w) > 1 and w[1] > 0 for w in width):
        raise KanccError(f"{config_path}: the model has multiplication nodes; not supported")
    state = read_state_dict(f"{prefix}_state", "a pykan state saved by saveckpt")
    return pykan_state(state, str(config.get("base_fun_name", "silu")),
                       bool(config.get("symbolic_enabled", True)), _name(prefix))


def _checkpoint_prefix(path: Path) -> Path:
    if path.is_dir():
        configs = sorted(path.glob("*_config.yml"))
        if len(configs) != 1:
            raise KanccError(f"{path}: expected one pykan checkpoint (*_config.yml) in the "
                             f"folder, found {len(configs)}; name its path prefix instead")
        return configs[0].with_name(configs[0].name.removesuffix("_config.yml"))
    for suffix in ("_config.yml", "_state"):
        if not Path(f"{path}{suffix}").is_file():
            raise KanccError(f"{path}: no pykan checkpoint there ({path}{suffix} is missing)")
    return path


def _name(prefix: Path) -> str:
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in prefix.name)
    return stem if stem[:1].isalpha() else f"pykan_{stem}"
