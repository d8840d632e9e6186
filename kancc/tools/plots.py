"""``kancc plot CHECKPOINT``: PNGs of the learned edge functions and of the loss curve.

Each layer gets one figure, a grid of its edge functions phi_pq(x) = sum_i coef[p, q, i]
B_i(x) (+ w_b[p, q] silu(x) with a base branch) over the layer's domain (like pykan's plots;
in standardized units when the model has [scaling]), evaluated by the compiled NumPy
module of that layer alone with one input switched on at a time. Large layers show their
first MAX_EDGES x MAX_EDGES edges. Needs matplotlib (``pip install 'kancc[plot]'``).
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kancc.errors import KanccError
from kancc.frontend.param_names import base_name, coef_name
from kancc.program import Program, compile
from kancc.spec import BasisSpec
from kancc.storage import Checkpoint, write_bytes_atomic

from .unfactorized import unfactorized_model

MAX_EDGES = 8
POINTS = 201


def _pyplot() -> Any:  # matplotlib.pyplot, imported only when plotting
    try:
        import matplotlib
    except ImportError:
        raise KanccError("kancc plot needs matplotlib: pip install 'kancc[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def edge_functions(checkpoint: Checkpoint, layer: int, shown: int = MAX_EDGES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(x of shape (POINTS,), phi of shape (in', out', POINTS)) for the first ``shown``
    inputs and outputs of ``layer``."""
    spec, params = unfactorized_model(checkpoint.spec, checkpoint.params)
    basis = spec.layers[layer]
    n_in, n_out = spec.widths[layer], spec.widths[layer + 1]
    p_shown, q_shown = min(n_in, shown), min(n_out, shown)
    a, b = (float(v) for v in basis.domain)
    x = np.linspace(a, b, POINTS)
    coef = np.asarray(params[coef_name(layer)], dtype=np.float64)
    phi = np.empty((p_shown, q_shown, POINTS))
    programs: dict[BasisSpec, Program] = {}  # one for the layer, or one per input's knots
    for p in range(p_shown):
        own = basis
        if basis.per_input:  # the input's own knot vector, as a one-input layer
            row = basis.input_knots[p]
            own = replace(basis, knots=(row,), domain=(row[basis.degree],
                                                       row[basis.degree + basis.grid]))
        if own not in programs:
            programs[own] = compile(replace(spec, name=f"{spec.name}_layer{layer}",
                                            widths=(1, q_shown), layers=(own,),
                                            dtype="float64", scaling=None), "numpy")
        edge = {coef_name(0): coef[p:p + 1, :q_shown, :]}
        if basis.base != "none":
            edge[base_name(0)] = np.asarray(params[base_name(layer)])[p:p + 1, :q_shown]
        phi[p] = programs[own].forward(edge, x[:, None]).T
    return x, phi


def _save(figure: object, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)  # type: ignore[attr-defined]
    write_bytes_atomic(path, buffer.getvalue())


def plot_checkpoint(checkpoint: Checkpoint, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write layer{l}.png for every layer and loss.png (when there is a history)."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    spec = checkpoint.spec
    for layer in range(spec.n_layers):
        x, phi = edge_functions(checkpoint, layer)
        rows, cols = phi.shape[0], phi.shape[1]
        figure, axes = plt.subplots(rows, cols, figsize=(1.8 * cols + 1, 1.4 * rows + 1),
                                    squeeze=False, sharex=True)
        for p in range(rows):
            for q in range(cols):
                axes[p][q].plot(x, phi[p, q], lw=1.2)
                axes[p][q].set_title(f"phi[{p},{q}]", fontsize=7)
                axes[p][q].tick_params(labelsize=6)
        more = "" if (rows, cols) == tuple(spec.widths[layer:layer + 2]) else \
            f" (first {rows}x{cols} of {spec.widths[layer]}x{spec.widths[layer + 1]})"
        figure.suptitle(f"{spec.name}: layer {layer} edge functions{more}", fontsize=9)
        figure.tight_layout()
        path = out / f"layer{layer}.png"
        _save(figure, path)
        plt.close(figure)
        written.append(path)
    if len(checkpoint.history):
        path = out / "loss.png"
        _plot_history(plt, checkpoint.history, f"{spec.name}: loss", path)
        written.append(path)
    return written


def _plot_history(plt: Any, history: np.ndarray, title: str, path: Path) -> None:
    """Training and validation loss on a log axis. Only positive finite losses can sit on
    it: the title counts the others (a zero loss, a diverged Inf) instead of plotting them."""
    steps, training, validation = history[:, 0], history[:, 1], history[:, 2]
    figure, axis = plt.subplots(figsize=(5, 3.5))
    hidden = 0
    with np.errstate(over="ignore", under="ignore"):  # losses near the float64 limits
        for losses, label, style in ((training, "training", "-"),
                                     (validation, "validation", "o-")):
            measured = ~np.isnan(losses)
            shown = measured & np.isfinite(losses) & (losses > 0)
            hidden += int(np.count_nonzero(measured & ~shown))
            if shown.any():
                axis.semilogy(steps[shown], losses[shown], style, ms=3, label=label)
        axis.set_xlabel("step")
        axis.set_ylabel("loss")
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
        more = f" ({hidden} zero or infinite losses not shown)" if hidden else ""
        axis.set_title(title + more, fontsize=9)
        figure.tight_layout()
        _save(figure, path)
    plt.close(figure)


def plot_eigen(matrix: np.ndarray, path: Path, title: str) -> None:
    """The multilevel paper's Figure 1: the eigenvalues of A^T A (smallest to largest) and
    the first and last five eigenvectors."""
    plt = _pyplot()
    values, vectors = np.linalg.eigh(matrix.T @ matrix)
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].semilogy(values, ".-")
    axes[0].set_title("eigenvalues of A^T A")
    for k in range(min(5, len(values))):
        axes[1].plot(vectors[:, k], label=f"{k}")
        axes[2].plot(vectors[:, -1 - k], label=f"{len(values) - 1 - k}")
    axes[1].set_title("first five eigenvectors")
    axes[2].set_title("last five eigenvectors")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(figure, path)
    plt.close(figure)
