"""Tucker decomposition of a layer's coefficient tensor W (in, out, n_b) by HOSVD (the LoTRA
paper's Slim KANs and adapters).

HOSVD: U_k = the leading r_k left singular vectors of the mode-k unfolding of W;
G = W x1 U1^T x2 U2^T x3 U3^T; W_hat = G x1 U1 x2 U2 x3 U3. With every rank full, W_hat = W
to rounding; truncated, ||W - W_hat||_F^2 <= sum over the modes of the discarded sigma^2
(De Lathauwer et al. 2000, Property 10). The mode-wise singular values are the evidence of
low Tucker rank the LoTRA paper's Figure 1 shows.

Ranks are given per mode or by a compression ratio cr in (0, 1]: r_k = ceil(cr * dim_k).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from kancc.errors import KanccError

MODES = ("in", "out", "basis")
COMPONENTS = ("core", "u1", "u2", "u3")  # of a Tucker tensor, in the order they are stored


@dataclass(frozen=True)
class Tucker:
    """core (r1, r2, r3) and factors U1 (in, r1), U2 (out, r2), U3 (n_b, r3), orthonormal
    columns."""

    core: np.ndarray = field(repr=False)
    factors: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(self.core.shape)

    def full(self) -> np.ndarray:
        """G x1 U1 x2 U2 x3 U3 (factorized programs never form it; checks, exports and the
        physics trainer do), one mode at a time: the single four-operand sum would cost
        in*out*n_b*r1*r2*r3."""
        return self.expanded(skip=None)

    def expanded(self, skip: int | None) -> np.ndarray:
        """G multiplied by every factor but the mode ``skip``'s (None: by all three)."""
        formed = self.core
        for mode, factor in enumerate(self.factors):
            if mode != skip:
                formed = mode_product(formed, factor, mode)
        return formed

    def gradient(self, full_gradient: np.ndarray) -> tuple[np.ndarray, ...]:
        """The gradients of (core, U1, U2, U3) of a loss whose gradient in W = ``full()``
        is D = ``full_gradient`` (the chain rule through the multilinear product; exact):
        dG = D x1 U1^T x2 U2^T x3 U3^T and dU_k = D_(k) [G x_(j != k) U_j]_(k)^T."""
        core = full_gradient
        for mode, factor in enumerate(self.factors):
            core = mode_product(core, factor.T, mode)
        factors = tuple(unfold(full_gradient, mode) @ unfold(self.expanded(skip=mode), mode).T
                        for mode in range(3))
        return (core, *factors)


def mode_product(tensor: np.ndarray, matrix: np.ndarray, mode: int) -> np.ndarray:
    """tensor x_mode matrix: mode ``mode`` of ``tensor`` (size matrix.shape[1]) becomes
    matrix.shape[0]."""
    return np.moveaxis(np.tensordot(matrix, tensor, axes=(1, mode)), 0, mode)


def unfold(tensor: np.ndarray, mode: int) -> np.ndarray:
    """The mode-k unfolding: rows indexed by mode k, columns by the other modes."""
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def mode_singular_values(tensor: np.ndarray) -> tuple[np.ndarray, ...]:
    """The singular values of each mode's unfolding, largest first."""
    check_tensor(tensor)
    return tuple(np.linalg.svd(unfold(tensor, k), compute_uv=False) for k in range(3))


def tucker_ranks(shape: Sequence[int], ranks: Sequence[int] | None = None,
                 cr: float | None = None) -> tuple[int, int, int]:
    """Ranks from explicit per-mode values or from cr; KanccError naming what is wrong."""
    if (ranks is None) == (cr is None):
        raise KanccError("give the Tucker ranks per mode or a compression ratio cr, not both")
    if cr is not None:
        if isinstance(cr, bool) or not isinstance(cr, (int, float)) or not 0 < cr <= 1:
            raise KanccError(f"cr must be in (0, 1], got {cr!r}")
        return ranks_for(shape, Fraction(cr))
    assert ranks is not None
    if len(ranks) != 3:
        raise KanccError(f"give 3 ranks (in, out, basis), got {len(ranks)}")
    for mode, rank, size in zip(MODES, ranks, shape):
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise KanccError(f"the {mode} rank must be a positive integer, got {rank!r}")
        if rank > size:
            raise KanccError(f"the {mode} rank {rank} is larger than the mode's size {size}")
    return tuple(int(r) for r in ranks)  # type: ignore[return-value]


def ranks_for(dims: Sequence[int], cr: Fraction) -> tuple[int, int, int]:
    """r_k = ceil(cr * dim_k), at least 1, for an exact cr (checked by the caller)."""
    return tuple(max(1, math.ceil(cr * d)) for d in dims)  # type: ignore[return-value]


def hosvd(tensor: np.ndarray, ranks: Sequence[int]) -> Tucker:
    """The (truncated) higher-order SVD of a 3-way tensor."""
    check_tensor(tensor)
    ranks = tucker_ranks(tensor.shape, ranks)
    factors = tuple(leading_left_vectors(unfold(tensor, k), r) for k, r in enumerate(ranks))
    u1, u2, u3 = factors
    core = np.einsum("pqi,pa,qb,ic->abc", tensor, u1, u2, u3)
    return Tucker(core, (u1, u2, u3))


def leading_left_vectors(matrix: np.ndarray, rank: int) -> np.ndarray:
    """The first ``rank`` left singular vectors; past the matrix's column count (a rank the
    unfolding cannot reach) the complete orthonormal basis supplies the rest, whose core
    slices are then zero."""
    full = rank > min(matrix.shape)
    return np.linalg.svd(matrix, full_matrices=full)[0][:, :rank]


def discarded_energy(tensor: np.ndarray, ranks: Sequence[int]) -> float:
    """sum over modes of the squared singular values beyond each rank: the HOSVD bound."""
    return float(sum(np.sum(s[r:] ** 2) for s, r in zip(mode_singular_values(tensor),
                                                         tucker_ranks(tensor.shape, ranks))))


def energy_rank(singular_values: np.ndarray, fraction: float = 0.99) -> int:
    """The smallest rank that keeps ``fraction`` of the squared singular values."""
    energy = np.cumsum(singular_values ** 2)
    if energy[-1] == 0:
        return 0
    return int(np.searchsorted(energy, fraction * energy[-1]) + 1)


def check_tensor(tensor: np.ndarray) -> None:
    if np.ndim(tensor) != 3:
        raise KanccError(f"a coefficient tensor is (in, out, n_b); got shape {np.shape(tensor)}")
    if not np.isfinite(tensor).all():
        raise KanccError("the coefficient tensor holds NaN or Inf")
