"""``kancc analyze``: what the change of basis does to training, per layer (the multilevel
paper, sections 2-3).

For each layer: the exact stencil A^[r] (B = A psi), the eigenvalue range of A^T A and its
ratio, and that ratio on coarser and finer grids of the same family with the fitted
exponent p of ratio ~ n^p (Lemma 4 predicts p = 2r: A^T A acts like a finite-difference
stencil of the 2r-th derivative). Gradient descent in the ReLU basis w = A^T u is gradient
descent in u preconditioned by (A^T A)^-1 (the multilevel paper's Table 1), so this ratio is
how strongly the ReLU geometry favours smooth modes.

Numerics: A is exact; the spectrum is computed in float64 as lambda_max = sigma_max(A)^2
and lambda_min = 1 / sigma_max(A^-1)^2 (A^-1 by a triangular solve), which keeps the
small end accurate where eigvalsh of A^T A would lose it below eps * lambda_max.

With trained coefficients (``--params CKPT``) it also prints each layer's mode-wise
singular values (``kancc.numerics.hosvd``), the evidence of low Tucker rank of the LoTRA
paper; of a LoTRA checkpoint, those of the fine-tuned tensor and of the update W_ft - W_pt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular

from kancc import symbolic
from kancc.frontend import lotra_params
from kancc.frontend.param_names import coef_name
from kancc.ir import GLOBAL_KINDS, extended_knots
from kancc.numerics.basis_matrices import relu_change_of_basis_float
from kancc.numerics.hosvd import MODES, energy_rank, mode_singular_values
from kancc.spec import BasisSpec, Spec

from .unfactorized import unfactorized_model

MAX_SWEEP = 1024


@dataclass(frozen=True)
class Spectrum:
    grid: int
    lambda_min: float
    lambda_max: float

    @property
    def ratio(self) -> float:
        return self.lambda_max / self.lambda_min


def spectrum(order: int, points: tuple[Fraction, ...]) -> Spectrum:
    """The extreme eigenvalues of A^T A for the grid ``points``."""
    a = relu_change_of_basis_float(order, extended_knots(points, order))
    inverse = solve_triangular(a, np.eye(len(a)), lower=False)
    top = float(np.linalg.norm(a, 2))
    return Spectrum(len(points) - 1, 1.0 / float(np.linalg.norm(inverse, 2)) ** 2, top * top)


def grid_family(basis: BasisSpec) -> list[tuple[Fraction, ...]]:
    """Coarser and finer grids of the layer's family: uniform grids of n/4 .. 8n cells, or
    the listed points refined by 2, 4 and 8 (and the layer itself); at most MAX_SWEEP cells."""
    a, b = basis.domain
    if basis.knots == "uniform":
        sizes = sorted({max(1, basis.grid // 4), max(1, basis.grid // 2), basis.grid,
                        2 * basis.grid, 4 * basis.grid, 8 * basis.grid})
        return [tuple(a + (b - a) * Fraction(i, n) for i in range(n + 1)) for n in sizes
                if n == basis.grid or n <= MAX_SWEEP]
    return [basis.points] + [symbolic.refine_points(basis.points, f) for f in (2, 4, 8)
                             if f * basis.grid <= MAX_SWEEP]


def fitted_exponent(spectra: list[Spectrum]) -> float:
    """Least-squares slope of log(ratio) against log(n) (grids of at least 2 cells)."""
    usable = [s for s in spectra if s.grid >= 2 and math.isfinite(s.ratio)]
    if len(usable) < 2:
        return math.nan
    logs_n = np.log([s.grid for s in usable])
    logs_ratio = np.log([s.ratio for s in usable])
    return float(np.polyfit(logs_n, logs_ratio, 1)[0])


def describe_stencil(order: int, points: tuple[Fraction, ...]) -> list[str]:
    bands = symbolic.relu_stencil_bands(order, extended_knots(points, order))
    rows = [tuple(symbolic.as_fraction(v) for v in band) for band in bands]
    if all(row == rows[0] for row in rows):
        scale = rows[0][0]
        band = ", ".join(str(v / scale) for v in rows[0])
        return [f"stencil A[i, i..i+{order}] = {scale} * [{band}] (every row)"]
    lines = [f"stencil: one band A[i, i..i+{order}] per row ({len(rows)} rows), e.g."]
    for i in sorted({0, len(rows) // 2, len(rows) - 1}):
        lines.append(f"  row {i}: [{', '.join(str(v) for v in rows[i])}]")
    return lines


def tucker_report(spec: Spec, params: Mapping[str, np.ndarray]) -> list[str]:
    """Per layer: the singular values of each mode of the coefficient tensor (relative to
    the largest of that mode) and the ranks keeping 99% of each mode's energy, the
    evidence of low Tucker rank (the LoTRA paper's Figure 1). A LoTRA model shows the fine-tuned
    W_ft = W_pt + Delta W and the update Delta W = W_ft - W_pt."""
    lines = []
    if spec.finetune is not None and spec.finetune.lotra:
        lines.append(f"LoTRA: {lotra_params.storage_note(spec)}")
    for index in range(spec.n_layers):
        coef = coef_name(index)
        if spec.finetune is not None and spec.finetune.adapts(index):
            delta = lotra_params.update(params, index)
            ranks = lotra_params.adapter_ranks(spec, index)
            lines += _mode_lines(f"layer {index}: fine-tuned W_ft", delta + params[coef])
            lines += _mode_lines(f"layer {index}: LoTRA update W_ft - W_pt (adapter ranks "
                                 f"{list(ranks)})", delta)
            continue
        tucker = spec.layers[index].tucker
        if tucker is None:
            lines += _mode_lines(f"layer {index}: coefficients", params[coef])
        else:  # a Tucker layer: its W formed here, once, to show what its ranks allow
            formed = unfactorized_model(spec, params)[1][coef]
            lines += _mode_lines(f"layer {index}: Tucker layer, ranks {list(tucker)}, W", formed)
    return lines


def _mode_lines(title: str, tensor: np.ndarray, shown: int = 8) -> list[str]:
    tensor = np.asarray(tensor, dtype=np.float64)
    values = mode_singular_values(tensor)
    ranks = ", ".join(f"{mode} {energy_rank(s)}/{len(s)}" for mode, s in zip(MODES, values))
    lines = [f"{title} {tensor.shape}; ranks for 99% of the energy: {ranks}"]
    for mode, s in zip(MODES, values):
        relative = s / s[0] if s[0] > 0 else s
        head = " ".join(f"{v:.3g}" for v in relative[:shown])
        more = f" ... ({len(s)} in all)" if len(s) > shown else ""
        lines.append(f"  sigma_{mode} / sigma_max: {head}{more}")
    return lines


def analyze(spec: Spec, plot_dir: str | Path | None = None,
            params: Mapping[str, np.ndarray] | None = None) -> tuple[str, list[Path]]:
    """The report text and the paths of any plots written; with ``params`` (the spec's
    coefficients) also each layer's mode-wise singular values."""
    lines: list[str] = []
    written: list[Path] = []
    for index, basis in enumerate(spec.layers):
        r = basis.order
        if basis.kind in GLOBAL_KINDS:
            lines.append(f"layer {index}: {basis.kind} of degree {basis.degree} in t = tanh(x), "
                         f"n_b = {basis.n_basis}: a global basis, no change of basis to analyze")
            continue
        if basis.per_input:
            lines.append(f"layer {index}: {basis.kind} order {r} (degree {basis.degree}), "
                         f"{basis.grid} cells per input, one knot vector each: one change of "
                         "basis per input, not analyzed")
            continue
        spacing = "uniform" if basis.knots == "uniform" else "non-uniform"
        lines.append(f"layer {index}: {basis.kind} order {r} (degree {basis.degree}), "
                     f"{basis.grid} {spacing} cells on [{basis.domain[0]}, {basis.domain[1]}]"
                     f", n_b = {basis.n_basis}")
        lines += ["  " + line for line in describe_stencil(r, basis.points)]
        if basis.grid > MAX_SWEEP:
            lines.append(f"  (grid {basis.grid} > {MAX_SWEEP}: spectrum not computed)")
            continue
        own = spectrum(r, basis.points)
        lines.append(f"  eigenvalues of A^T A: min {own.lambda_min:.4e}, max "
                     f"{own.lambda_max:.4e}, ratio {own.ratio:.4e}")
        family = [spectrum(r, points) for points in grid_family(basis)]
        sweep = ", ".join(f"n={s.grid}: {s.ratio:.3e}" for s in family)
        lines.append(f"  ratio vs grid: {sweep}")
        local = f", n^{fitted_exponent(family[-2:]):.2f} between the two finest grids" \
            if len(family) > 2 else ""
        lines.append(f"  fitted: ratio ~ n^{fitted_exponent(family):.2f} over the sweep{local} "
                     f"(the multilevel paper's Lemma 4, asymptotically: n^(2r) = "
                     f"n^{2 * r})")
        if plot_dir is not None:
            from .plots import plot_eigen  # matplotlib only when plotting

            path = Path(plot_dir) / f"{spec.name}_layer{index}_eigen.png"
            plot_eigen(relu_change_of_basis_float(r, extended_knots(basis.points, r)), path,
                       f"{spec.name} layer {index}: order {r}, n = {basis.grid}")
            written.append(path)
    if params is not None:
        lines += ["", "Tucker structure of the coefficient tensors (in, out, n_b):"]
        lines += tucker_report(spec, params)
    return "\n".join(lines) + "\n", written
