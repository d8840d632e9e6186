"""Import an efficient-kan model (github.com/Blealtan/efficient-kan): ``KAN`` or one
``KANLinear``, as a module or its state_dict.

Per layer (``layers.{l}.`` prefix in a KAN): ``spline_weight`` (out, in, n + k),
``spline_scaler`` (out, in) when standalone scaling is on, ``base_weight`` (out, in) and the
``grid`` buffer (in, n + 2k + 1). Output = silu(x) @ base_weight.T + B(x) @ (spline_weight *
spline_scaler).T, so kancc's coef is the scaled spline weight permuted to (in, out, n + k)
and its base weights base_weight.T. A state_dict does not say the base activation: it is
taken to be SiLU (efficient-kan's default); a module with another is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from kancc.errors import KanccError
from kancc.spec import Spec

from .peer_layers import PeerLayer, dtype_of, numpy_of, read_state_dict, spec_and_params

SOURCE = "efficient-kan"
KEYS = ("base_weight", "spline_weight", "grid")


def _layer_prefixes(state: Mapping[str, Any]) -> list[str]:
    """"layers.0.", "layers.1.", ... of a KAN, or "" for one KANLinear."""
    if all(key in state for key in KEYS):
        return [""]
    indices = sorted({int(m.group(1)) for key in state
                      if (m := re.fullmatch(r"layers\.(\d+)\.spline_weight", key))})
    if not indices or indices != list(range(len(indices))):
        raise KanccError(f"{SOURCE}: not a KAN or KANLinear state_dict (no layers.<l>."
                         "spline_weight keys)")
    return [f"layers.{i}." for i in indices]


def _check_activations(model: Any) -> None:
    layers = getattr(model, "layers", [model])
    for index, layer in enumerate(layers):
        activation = type(getattr(layer, "base_activation", None)).__name__
        if activation != "SiLU":
            raise KanccError(f"{SOURCE} layer {index}: base activation {activation}; kancc's "
                             "base branch is SiLU")


def from_efficient_kan(model_or_state_dict: Any, name: str = "efficient_kan"
                       ) -> tuple[Spec, dict[str, np.ndarray]]:
    """(spec, params) of kancc computing the efficient-kan model's function inside its grid."""
    if hasattr(model_or_state_dict, "state_dict"):
        _check_activations(model_or_state_dict)
        state = model_or_state_dict.state_dict()
    else:
        state = model_or_state_dict
    layers = []
    prefixes = _layer_prefixes(state)
    for index, prefix in enumerate(prefixes):
        missing = [key for key in KEYS if prefix + key not in state]
        if missing:
            raise KanccError(f"{SOURCE} layer {index}: no {prefix}{missing[0]} in the state_dict")
        spline = numpy_of(state[prefix + "spline_weight"])
        if prefix + "spline_scaler" in state:
            scaler = numpy_of(state[prefix + "spline_scaler"])
            if spline.ndim != 3 or scaler.shape != spline.shape[:2]:
                raise KanccError(f"{SOURCE} layer {index}: spline_scaler of shape "
                                 f"{scaler.shape} does not scale spline_weight of shape "
                                 f"{spline.shape}")
            spline = spline * scaler[..., None]
        if spline.ndim != 3:
            raise KanccError(f"{SOURCE} layer {index}: spline_weight of shape {spline.shape} "
                             "is not (out, in, n_b)")
        layers.append(PeerLayer(grid=numpy_of(state[prefix + "grid"]),
                                coef=spline.transpose(1, 0, 2),
                                base=numpy_of(state[prefix + "base_weight"]).T))
    dtype = dtype_of(state[prefixes[0] + "spline_weight"])
    return spec_and_params(name, layers, dtype, SOURCE)


def read_efficient_kan_state(path: str) -> Mapping[str, Any]:
    """A state_dict saved by ``torch.save(model.state_dict(), path)``."""
    return read_state_dict(path, "a state_dict saved with torch.save(model.state_dict())")
