"""What the pykan and efficient-kan importers share: a peer's layer as plain arrays, and the
kancc spec and parameters that compute the same function.

Both peers hold, per layer, a grid buffer (in, n + 2k + 1) -- the n + 1 grid points of each
input extended by k points each side -- and B-spline coefficients on it with the same index
convention as kancc (basis 0 starts at the first extended point), plus a base branch
w_b silu(x). Their effective spline coefficients (after scalers and masks) become kancc's
``layers.{l}.coef`` (in, out, n_b), their base weights ``layers.{l}.base`` (in, out).

A per-output bias (pykan's node and subnode affine terms) is absorbed exactly: the B-splines
of a point sum to one, so adding b_q to every coefficient of input 0's edge to output q adds
b_q to the output (kancc extends the edge polynomials beyond the domain, where the sum
stays one).

Grids: a uniform grid shared by the inputs (a fresh model) becomes a uniform spec grid;
otherwise (after the peers' ``update_grid``) each input's full knot vector is taken as it
is, exterior knots included (``knots = [[...], ...]``), so the import stays exact. What
kancc cannot represent is refused, naming the layer: other base functions, NaN or Inf,
shapes that do not chain. Inputs outside the grid: kancc extends the edge cells'
polynomials; the peers' B-splines vanish beyond the extended grid, so the two agree inside
the grid only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from kancc.errors import KanccError
from kancc.frontend.param_names import base_name, coef_name
from kancc.spec import Spec, load_spec

UNIFORM_TOLERANCE = 1e-6  # of a cell width: float32 grids built by arange carry rounding


@dataclass(frozen=True)
class PeerLayer:
    """One layer of a peer model, in float64 and kancc's layouts."""

    grid: np.ndarray  # (in, n + 2k + 1) extended grid points
    coef: np.ndarray  # (in, out, n + k) effective spline coefficients
    base: np.ndarray | None  # (in, out) base weights of silu, or None: no base branch
    bias: np.ndarray | None = None  # (out,) added to every output, or None


def layer_table(layer: PeerLayer, index: int, source: str) -> dict[str, Any]:
    """The [[layers]] keys of the layer's grid: degree k, and a uniform grid shared by its
    inputs when it is one (a fresh model), else each input's full knot vector exactly as
    the peer holds it (after update_grid; the peers extend by the mean cell width, and the
    exterior knots come along)."""
    n_in, width = layer.grid.shape
    n_b = layer.coef.shape[2]
    k = width - n_b - 1
    n = n_b - k
    if k < 0 or n < 1:
        raise KanccError(f"{source} layer {index}: grid of {width} points does not fit "
                         f"{n_b} coefficients per edge")
    rows = layer.grid
    a, b = float(rows[0, k]), float(rows[0, k + n])
    h = (b - a) / n
    expected = a + h * (np.arange(width) - k)
    if np.all(rows == rows[0]) and b > a and \
            np.abs(rows[0] - expected).max() <= UNIFORM_TOLERANCE * h:
        return {"degree": k, "grid": n, "domain": [str(Fraction(a)), str(Fraction(b))],
                "knots": "uniform"}
    return {"degree": k, "knots": [[str(Fraction(float(t))) for t in row] for row in rows]}


def check_layers(layers: list[PeerLayer], source: str) -> None:
    """Shapes that chain layer to layer and finite values, or one KanccError naming the
    layer and the array: nothing damaged reaches a checkpoint."""
    for index, layer in enumerate(layers):
        where = f"{source} layer {index}"
        arrays = {"spline coefficients": layer.coef, "grid": layer.grid,
                  "base weights": layer.base, "node bias": layer.bias}
        for what, array in arrays.items():
            if array is not None and not np.all(np.isfinite(array)):
                raise KanccError(f"{where}: its {what} hold NaN or Inf")
        if layer.coef.ndim != 3 or layer.grid.ndim != 2:
            raise KanccError(f"{where}: spline coefficients of shape {layer.coef.shape} and "
                             f"grid of shape {layer.grid.shape} are not (in, out, n_b) and "
                             "(in, points)")
        n_in, n_out = layer.coef.shape[:2]
        if layer.grid.shape[0] != n_in:
            raise KanccError(f"{where}: grid has {layer.grid.shape[0]} rows for {n_in} inputs")
        if layer.base is not None and layer.base.shape != (n_in, n_out):
            raise KanccError(f"{where}: base weights of shape {layer.base.shape}, expected "
                             f"{(n_in, n_out)} for its {n_in} inputs and {n_out} outputs")
        if index and n_in != layers[index - 1].coef.shape[1]:
            raise KanccError(f"{where}: takes {n_in} inputs but layer {index - 1} gives "
                             f"{layers[index - 1].coef.shape[1]}")


def spec_and_params(name: str, layers: list[PeerLayer], dtype: str, source: str
                    ) -> tuple[Spec, dict[str, np.ndarray]]:
    """The kancc model computing what ``layers`` compute (inside their grids)."""
    check_layers(layers, source)
    widths = [layers[0].coef.shape[0]] + [layer.coef.shape[1] for layer in layers]
    tables: list[dict[str, Any]] = []
    params: dict[str, np.ndarray] = {}
    for index, layer in enumerate(layers):
        tables.append({"kind": "bspline", **layer_table(layer, index, source),
                       "base": "none" if layer.base is None else "silu"})
        coef = np.array(layer.coef, dtype=np.float64)
        if layer.bias is not None:
            coef[0] += np.asarray(layer.bias, np.float64)[:, None]  # partition of unity
        params[coef_name(index)] = coef.astype(dtype)
        if layer.base is not None:
            params[base_name(index)] = np.asarray(layer.base, np.float64).astype(dtype)
    spec = load_spec({"model": {"name": name, "layers": widths, "dtype": dtype},
                      "layers": tables})
    return spec, params


def read_state_dict(path: str | os.PathLike[str], what: str) -> Mapping[str, Any]:
    """A state_dict file read with ``torch.load(weights_only=True)`` (no pickled code runs);
    ``what`` names what it should hold, for the message when it does not."""
    try:
        import torch
    except ImportError:
        raise KanccError(f"reading {what} needs torch") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise KanccError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # torch's unpickler refuses anything but tensors and containers
        raise KanccError(f"{path}: not {what} ({type(exc).__name__})") from None
    if not isinstance(state, Mapping):
        raise KanccError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    return state


def numpy_of(tensor: Any) -> np.ndarray:
    """A torch tensor (or array) as a float64 NumPy array."""
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor, dtype=np.float64)


def dtype_of(tensor: Any) -> str:
    text = str(getattr(tensor, "dtype", "float32"))
    return "float64" if "float64" in text or "double" in text else "float32"
