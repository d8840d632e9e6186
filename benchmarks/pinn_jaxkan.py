"""The jaxKAN side of benchmarks/pinn.py, run in an interpreter that has jax and jaxkan:

    python benchmarks/pinn_jaxkan.py PROBLEM.npz STEPS OUT.json

PROBLEM.npz (written by pinn.py) holds the widths, grid, learning rate, boundary weight,
the collocation points, the forcing and boundary values, and the test points with the
solution. The model is jaxkan.models.KAN with "spline" layers (cubic, its base branch), the
residual u_xx + u_yy + k^2 u - f by jax.grad twice under vmap, as jaxkan/pikan/pde.py does,
optax.adam, the step jitted; one CPU thread (XLA flags). Writes {"step_s", "rel_l2"} or
{"error"}.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def main() -> None:
    problem, steps, out = np.load(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    try:
        result = run(problem, steps)
    except Exception as error:  # reported in the table, not raised: a peer may fail
        result = {"error": f"{type(error).__name__}: {error}"}
    with open(out, "w") as f:
        json.dump(result, f)


def run(problem: np.lib.npyio.NpzFile, steps: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from jaxkan.models.KAN import KAN

    widths = [int(w) for w in problem["widths"]]
    model = KAN(widths, "spline", {"k": 3, "G": int(problem["grid"])}, seed=0)
    optimizer = nnx.Optimizer(model, optax.adam(float(problem["lr"])), wrt=nnx.Param)
    interior, forcing = jnp.asarray(problem["interior"]), jnp.asarray(problem["forcing"])
    edge, edge_values = jnp.asarray(problem["boundary"]), jnp.asarray(problem["boundary_values"])
    k2, weight = float(problem["k2"]), float(problem["weight"])

    def residual(model: KAN) -> jax.Array:
        def u(x: jax.Array, y: jax.Array) -> jax.Array:
            return model(jnp.stack([x, y])[None, :])[0, 0]

        u_xx = jax.grad(jax.grad(u, argnums=0), argnums=0)
        u_yy = jax.grad(jax.grad(u, argnums=1), argnums=1)

        def point(x: jax.Array, y: jax.Array) -> jax.Array:
            return u_xx(x, y) + u_yy(x, y) + k2 * u(x, y)

        return jax.vmap(point)(interior[:, 0], interior[:, 1]) - forcing[:, 0]

    def loss_fn(model: KAN) -> jax.Array:
        boundary = model(edge) - edge_values
        return jnp.mean(residual(model) ** 2) + weight * jnp.mean(boundary ** 2)

    @nnx.jit
    def step(model: KAN, optimizer: nnx.Optimizer) -> jax.Array:
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    step(model, optimizer).block_until_ready()  # compile
    start = time.perf_counter()
    for _ in range(steps - 1):
        loss = step(model, optimizer)
    loss.block_until_ready()
    seconds = (time.perf_counter() - start) / max(1, steps - 1)
    predicted = np.asarray(model(jnp.asarray(problem["test"])))
    solution = problem["solution"]
    return {"step_s": seconds, "rel_l2": float(np.linalg.norm(predicted - solution)
                                               / np.linalg.norm(solution))}


if __name__ == "__main__":
    main()
