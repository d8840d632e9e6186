"""Write examples/burgers_reference.npz, the reference solution examples/burgers.toml measures
its relative L2 error against: the Cole-Hopf solution of viscous Burgers (nu = 0.01 / pi,
u(x, 0) = -sin(pi x)) on a 101 x 256 grid of t in [0, 1] and x in [-1, 1]
(kancc.physics.references; about 5 s).

    python examples/make_burgers_reference.py [OUT.npz]
"""

import sys
from pathlib import Path

import numpy as np

from kancc.physics.references import burgers_cole_hopf

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).with_name("burgers_reference.npz")
    t, x = np.meshgrid(np.linspace(0, 1, 101), np.linspace(-1, 1, 256), indexing="ij")
    points = np.stack([t.ravel(), x.ravel()], axis=1)  # the spec's variables: t, x
    u = burgers_cole_hopf(points[:, 0], points[:, 1], 0.01 / np.pi)
    np.savez_compressed(target, points=points, u=u)
    print(f"wrote {target}: u at {len(points)} points (t, x)")
