"""The Python API in one page: spec -> IR stages -> emitted code -> forward -> checks.

    .venv/bin/python examples/quickstart.py
"""

from pathlib import Path

import numpy as np

import kancc
from kancc.symbolic import relu_change_of_basis, uniform_knots
from kancc.tools.differential_check import differential_check

HERE = Path(__file__).parent

# Without a CUDA device, Triton kernels run in Triton's interpreter: a choice made once, before
# anything imports triton (the kancc command makes it by itself).
if kancc.backends.triton_installed() and not kancc.backends.cuda_available():
    kancc.use_triton_interpreter()

# 1. A spec (TOML file or dict) becomes a validated, exact Spec.
spec = kancc.load_spec(HERE / "cubic_2_5_1.toml")
print(f"model @{spec.name}: widths {spec.widths}, {spec.layers[0].n_basis} B-splines per edge")

# 2. Compiling runs the pass pipeline; every stage's IR is kept.
program = kancc.compile(spec, target="numpy")
for name, text in program.stages:
    print(f"  stage {name:<16} {len(text.splitlines()):3d} lines of IR")
print(program.stages[-1][1])

# 3. The exact change of basis the derive-stencils pass attached (Lemma 2 of the multilevel
#    paper).
A = relu_change_of_basis(4, uniform_knots(4, -1, 1, 8))
print("A^[4] row 0 (cubic, h = 1/4):", list(A[0, :5]))

# 4. Run the emitted module: parameters are named layers.{l}.coef, shape (in, out, n_b).
params = program.init_params(seed=0)
x = np.load(HERE / "points_2d.npy")
print("numpy  :", program.forward(params, x).ravel())

# 5. The same model through the fused Triton kernels (interpreter when there is no GPU).
try:
    triton_program = kancc.compile(spec, target="triton")
    print("triton :", triton_program.forward(params, x).ravel())
except kancc.KanccError as error:
    print("triton : not available:", error)

# 6. Differential check: scipy oracle, passes on/off, float32, Triton vs NumPy.
print("\n".join(differential_check(spec, samples=65).lines()))
