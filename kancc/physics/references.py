"""Reference solutions of problems without a closed form, for ``pde.reference`` files.

Viscous Burgers, u_t + u u_x = nu u_xx, u(x, 0) = -sin(pi x) on x in [-1, 1] (u(+-1, t) = 0
follows from the odd, 2-periodic start), has the Cole-Hopf solution

    u(x, t) = - int sin(pi (x - e)) F(x - e) G(e) de / int F(x - e) G(e) de,
    F(y) = exp(-cos(pi y) / (2 pi nu)),  G(e) = exp(-e^2 / (4 nu t)).

With e = sqrt(4 nu t) z both integrals are Gaussian-weighted in z; they are summed on a
uniform z grid (the trapezoid rule on a rapidly decaying integrand converges spectrally) in
log space, since F spans exp(+-1 / (2 pi nu)), about e^(+-50) at nu = 0.01 / pi.
"""

from __future__ import annotations

import numpy as np

Z_POINTS = 4001  # z in [-Z_MAX, Z_MAX]: enough for the front at nu = 0.01 / pi
Z_MAX = 10.0


def burgers_cole_hopf(t: np.ndarray, x: np.ndarray, nu: float) -> np.ndarray:
    """u(x, t) of viscous Burgers from u(x, 0) = -sin(pi x), at matching arrays t >= 0 and
    x (any shape; float64)."""
    t, x = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(x, dtype=np.float64))
    if np.any(t < 0) or nu <= 0:
        raise ValueError("burgers_cole_hopf needs t >= 0 and nu > 0")
    flat_t, flat_x = t.reshape(-1), x.reshape(-1)
    u = -np.sin(np.pi * flat_x)  # t = 0
    z = np.linspace(-Z_MAX, Z_MAX, Z_POINTS)
    later = np.flatnonzero(flat_t > 0)
    for chunk in np.array_split(later, max(1, len(later) // 512)):
        y = flat_x[chunk, None] - np.sqrt(4.0 * nu * flat_t[chunk, None]) * z[None, :]
        log_weight = -np.cos(np.pi * y) / (2.0 * np.pi * nu) - z[None, :] ** 2
        weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
        u[chunk] = -np.sum(np.sin(np.pi * y) * weight, axis=1) / np.sum(weight, axis=1)
    return u.reshape(t.shape)
