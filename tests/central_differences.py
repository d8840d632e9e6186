"""The finite-difference oracle of the gradient tests: central differences of a scalar loss
in every entry of every parameter."""

from collections.abc import Callable

import numpy as np


def assert_gradient_matches(loss: Callable[[dict], float], params: dict, grads: dict,
                            step: float = 1e-6, tolerance: float = 1e-6) -> None:
    """grads[name] equals the central differences of ``loss`` around ``params`` to
    ``tolerance`` times the largest of them (at least 1e-3), for every name."""
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][index] += step
            up = loss(shifted)
            shifted[name][index] -= 2 * step
            numeric[index] = (up - loss(shifted)) / (2 * step)
        scale = max(float(np.abs(numeric).max()), 1e-3)
        np.testing.assert_allclose(grads[name], numeric, rtol=0, atol=tolerance * scale,
                                   err_msg=name)
