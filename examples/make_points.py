"""Write examples/points_2d.npy, the inputs `make demo` runs the [2, 5, 1] example on:
a few points of [-1, 1]^2, including the corners and one just outside the domain."""

import sys
from pathlib import Path

import numpy as np

points = np.array([
    [-1.0, -1.0], [-0.5, 0.25], [0.0, 0.0], [0.3, -0.7], [0.75, 0.5], [1.0, 1.0], [1.1, -1.05],
], dtype=np.float32)

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("points_2d.npy")
    np.save(target, points)
    print(f"wrote {target}: {points.shape[0]} points")
