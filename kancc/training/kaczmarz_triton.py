"""The Newton-Kaczmarz record loop as one Triton program (the GPU path).

The method is sequential in the records, so the kernel is a single program that walks the
records in order and spreads each record's work over its threads: layer 0's (in x out)
edges as one tile, the outer layer's functions as a vector. It covers the models the paper
trains: one layer ([n, 1]: one function or a GAM) and two layers ([n, m, 1]: the classic
Kolmogorov-Arnold model), degree 1 or 3, and computes exactly what
``kaczmarz_kernel.epoch_kernel`` computes (same update, skipping, ``seen`` and ``last``),
which the tests check in Triton's interpreter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kancc.errors import KanccError

try:
    import triton
    import triton.language as tl
except ImportError:  # the numba path needs neither
    triton = None


def _require_triton() -> None:
    if triton is None:
        raise KanccError("the triton target needs torch and triton (pip install "
                         "'kancc[triton]')")


if triton is not None:
    @triton.jit
    def _pieces(s, R: tl.constexpr):  # type: ignore[no-untyped-def]
        """B-spline pieces on a cell at s, and their s-derivatives (zeros past order R)."""
        if R == 2:
            zero = s * 0.0
            return 1.0 - s, s, zero, zero, zero - 1.0, zero + 1.0, zero, zero
        else:
            t = 1.0 - s
            s2 = s * s
            return (t * t * t / 6.0, (3.0 * s2 * s - 6.0 * s2 + 4.0) / 6.0,
                    (-3.0 * s2 * s + 3.0 * s2 + 3.0 * s + 1.0) / 6.0, s2 * s / 6.0,
                    -0.5 * t * t, 1.5 * s2 - 2.0 * s, -1.5 * s2 + s + 0.5, 0.5 * s2)

    @triton.jit
    def _cell(v, lo, inv_h, n_cells):  # type: ignore[no-untyped-def]
        t = (v - lo) * inv_h  # NaN fails both comparisons and lands in cell 0
        k = tl.where(t >= n_cells - 1.0, n_cells - 1.0, tl.where(t >= 0.0, tl.floor(t), 0.0))
        return k.to(tl.int32), t - k

    # Long by design: one Triton program walks the records in order (the method is
    # sequential), so a record's forward pass, projection and update share one kernel body.
    @triton.jit
    def _epoch(x_ptr, y_ptr, last_ptr, c0_ptr, c1_ptr, seen_ptr, total_ptr,  # type: ignore[no-untyped-def]
               n_rows, P, Q, NB0, NB1, lo0, inv_h0, n0, lo1, inv_h1, n1, alpha, skip_below,
               R: tl.constexpr, TWO: tl.constexpr, BLOCK_P: tl.constexpr,
               BLOCK_Q: tl.constexpr):
        offs_p = tl.arange(0, BLOCK_P)
        offs_q = tl.arange(0, BLOCK_Q)
        mp = offs_p < P
        mq = offs_q < Q
        m2 = mp[:, None] & mq[None, :]
        seen_lo = tl.full((BLOCK_Q,), float("inf"), tl.float64)
        seen_hi = tl.full((BLOCK_Q,), float("-inf"), tl.float64)
        total = tl.zeros((1,), tl.float64)
        for row in range(n_rows):
            previous = tl.load(last_ptr + row + tl.zeros((1,), tl.int32))
            active = tl.abs(previous) >= skip_below  # (1,): evaluate and update this record
            # layer 0: every (input, output) edge of the record at once
            xs = tl.load(x_ptr + row * P + offs_p, mask=mp, other=0.0)
            k0, s0 = _cell(xs, lo0, inv_h0, n0)
            b0, b1, b2, b3, d0, d1, d2, d3 = _pieces(s0, R)
            at0 = offs_p[:, None] * (Q * NB0) + offs_q[None, :] * NB0 + k0[:, None]
            c00 = tl.load(c0_ptr + at0, mask=m2, other=0.0)
            c01 = tl.load(c0_ptr + at0 + 1, mask=m2, other=0.0)
            tile = c00 * b0[:, None] + c01 * b1[:, None]
            if R == 4:
                c02 = tl.load(c0_ptr + at0 + 2, mask=m2, other=0.0)
                c03 = tl.load(c0_ptr + at0 + 3, mask=m2, other=0.0)
                tile += c02 * b2[:, None] + c03 * b3[:, None]
            z = tl.sum(tile, axis=0)
            squares0 = b0 * b0 + b1 * b1 + b2 * b2 + b3 * b3
            bb0 = tl.sum(tl.where(mp, squares0, 0.0), axis=0)
            if TWO:
                # layer 1: the outer functions of the hidden sums z, one output
                k1, s1 = _cell(z, lo1, inv_h1, n1)
                e0, e1, e2, e3, f0, f1, f2, f3 = _pieces(s1, R)
                at1 = offs_q * NB1 + k1
                c10 = tl.load(c1_ptr + at1, mask=mq, other=0.0)
                c11 = tl.load(c1_ptr + at1 + 1, mask=mq, other=0.0)
                value = c10 * e0 + c11 * e1
                slope = c10 * f0 + c11 * f1
                if R == 4:
                    c12 = tl.load(c1_ptr + at1 + 2, mask=mq, other=0.0)
                    c13 = tl.load(c1_ptr + at1 + 3, mask=mq, other=0.0)
                    value += c12 * e2 + c13 * e3
                    slope += c12 * f2 + c13 * f3
                yhat = tl.sum(tl.where(mq, value, 0.0), axis=0)
                g = tl.where(mq, slope * inv_h1, 0.0)
                squares1 = e0 * e0 + e1 * e1 + e2 * e2 + e3 * e3
                norm = tl.sum(tl.where(mq, squares1, 0.0), axis=0) + tl.sum(g * g, axis=0) * bb0
                seen_lo = tl.where(mq & active, tl.minimum(seen_lo, z), seen_lo)
                seen_hi = tl.where(mq & active, tl.maximum(seen_hi, z), seen_hi)
            else:
                yhat = tl.sum(tl.where(offs_q == 0, z, 0.0), axis=0)
                g = tl.where(offs_q == 0, 1.0, 0.0).to(tl.float64)
                norm = bb0
            residual = tl.load(y_ptr + row + tl.zeros((1,), tl.int32)) - yhat
            total += tl.where(active, residual * residual, previous * previous)
            tl.store(last_ptr + row + tl.zeros((1,), tl.int32), residual, mask=active)
            safe = tl.where(norm > 0.0, norm, 1.0)
            step = tl.where(active, tl.where(norm > 0.0, alpha * residual / safe, 0.0), 0.0)
            tl.store(c0_ptr + at0, c00 + step * g[None, :] * b0[:, None], mask=m2)
            tl.store(c0_ptr + at0 + 1, c01 + step * g[None, :] * b1[:, None], mask=m2)
            if R == 4:
                tl.store(c0_ptr + at0 + 2, c02 + step * g[None, :] * b2[:, None], mask=m2)
                tl.store(c0_ptr + at0 + 3, c03 + step * g[None, :] * b3[:, None], mask=m2)
            if TWO:
                tl.store(c1_ptr + at1, c10 + step * e0, mask=mq)
                tl.store(c1_ptr + at1 + 1, c11 + step * e1, mask=mq)
                if R == 4:
                    tl.store(c1_ptr + at1 + 2, c12 + step * e2, mask=mq)
                    tl.store(c1_ptr + at1 + 3, c13 + step * e3, mask=mq)
            tl.debug_barrier()  # the next record reads what this one wrote
        tl.store(total_ptr + tl.arange(0, 1), total)
        tl.store(seen_ptr + offs_q * 2, seen_lo, mask=mq)
        tl.store(seen_ptr + offs_q * 2 + 1, seen_hi, mask=mq)


def triton_epoch(coefs: tuple[np.ndarray, ...], lo: np.ndarray, inv_h: np.ndarray,
                 n_cells: np.ndarray, x: np.ndarray, y: np.ndarray, alpha: float,
                 skip_below: float, seen: np.ndarray, last: np.ndarray, *,
                 order: int, device: Any = None) -> float:
    """The numba epoch's contract on the GPU (or Triton's interpreter): updates ``coefs``,
    ``seen`` and ``last`` in place and returns the sum of squared residuals."""
    _require_triton()
    import torch

    if len(coefs) not in (1, 2) or coefs[-1].shape[1] != 1:
        raise KanccError("the Triton Kaczmarz kernel takes [n, 1] and [n, m, 1] models; use "
                         "the numpy target for deeper chains")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"

    def tensor(a: np.ndarray) -> Any:
        return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)

    c0 = tensor(coefs[0])
    c1 = tensor(coefs[1]) if len(coefs) == 2 else torch.zeros(1, dtype=torch.float64,
                                                               device=device)
    x_t, y_t, last_t = tensor(x), tensor(y), tensor(last)
    p, q = coefs[0].shape[0], coefs[0].shape[1]
    seen_t = torch.empty((q, 2), dtype=torch.float64, device=device)
    total = torch.zeros(1, dtype=torch.float64, device=device)
    two = len(coefs) == 2
    _epoch[(1,)](x_t, y_t, last_t, c0, c1, seen_t, total, x.shape[0], p, q,
                 coefs[0].shape[2], coefs[1].shape[2] if two else 1,
                 float(lo[0]), float(inv_h[0]), float(n_cells[0]),
                 float(lo[1]) if two else 0.0, float(inv_h[1]) if two else 1.0,
                 float(n_cells[1]) if two else 1.0, float(alpha), float(skip_below),
                 R=order, TWO=two, BLOCK_P=triton.next_power_of_2(p),
                 BLOCK_Q=triton.next_power_of_2(q))
    coefs[0][...] = c0.cpu().numpy()
    if two:
        coefs[1][...] = c1.cpu().numpy()
        got = seen_t.cpu().numpy()
        seen[1, :q, 0] = np.minimum(seen[1, :q, 0], got[:, 0])
        seen[1, :q, 1] = np.maximum(seen[1, :q, 1], got[:, 1])
    last[...] = last_t.cpu().numpy()
    return float(total.cpu().numpy()[0])
