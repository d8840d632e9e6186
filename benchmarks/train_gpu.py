"""One training step (forward + backward) on a CUDA GPU: kancc's Triton kernels vs the dense
GEMM limit and efficient-kan, with peak memory.

Contenders, float32, grid 5, cubic B-splines, MSE loss:
  kancc        Model (autograd.Function per layer: fused forward, vjp_input and vjp_coef
               kernels that recompute the basis) + torch MSE + backward
  kancc det    the same with deterministic d(coef) reductions
  limit        the three dense GEMMs per layer (B @ W, B^T @ g, g @ W^T) on prebuilt
               operands, TF32 off
  efficient-kan  if importable (EFFICIENT_KAN_PATH=checkout/src); forward + MSE + backward
Peak memory: torch.cuda.max_memory_allocated during one step, minus what was allocated
before it (parameters, inputs).

    python benchmarks/train_gpu.py                 # needs a CUDA device
    python benchmarks/train_gpu.py --interpret     # tiny shapes in Triton's interpreter:
                                                   # checks the script, times nothing useful

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

CASES = [((1000, 1000, 1), 100), ((1000, 1000, 1), 4096), ((2, 5, 1), 20000),
         ((256, 256, 256), 4096)]
SMOKE_CASES = [((8, 8, 1), 16), ((2, 5, 1), 64)]
GRID, DEGREE = 5, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--interpret", action="store_true",
                        help="run tiny shapes on the CPU in Triton's interpreter")
    args = parser.parse_args()
    if args.interpret:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
    import numpy as np
    import torch

    import kancc

    if not args.interpret and not torch.cuda.is_available():
        print("no CUDA device: nothing to time (use --interpret to check the script on CPU)")
        sys.exit(1)
    cuda = not args.interpret
    device = "cuda" if cuda else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    repeat = 2 if args.interpret else args.repeat

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def measure(fn):
        """(min ms, median ms, peak extra MiB) of fn()."""
        fn()
        sync()
        peak = float("nan")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            fn()
            sync()
            peak = (torch.cuda.max_memory_allocated() - before) / 2**20
        times = []
        for _ in range(repeat):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append((time.perf_counter() - start) * 1e3)
        return min(times), float(np.median(times)), peak

    def torch_step(model, x, y):
        def step():
            model.zero_grad(set_to_none=True)
            torch.mean((model(x) - y) ** 2).backward()

        return step

    def contenders(widths, batch):
        program = kancc.compile({"model": {"layers": list(widths)},
                                 "basis": {"degree": DEGREE, "grid": GRID}},
                                target="triton", training=True)
        x = torch.rand(batch, widths[0], device=device) * 2 - 1
        y = torch.randn(batch, widths[-1], device=device)
        state = {k: torch.tensor(v) for k, v in program.init_params(0).items()}
        for label, deterministic in (("kancc", False), ("kancc det", True)):
            model = program.module.Model(device=device, deterministic=deterministic)
            model.load_state_dict(state)
            yield label, torch_step(model, x, y)
        nb = GRID + DEGREE
        layers = [(torch.randn(batch, a * nb, device=device), torch.randn(a * nb, b, device=device),
                   torch.randn(batch, b, device=device)) for a, b in zip(widths, widths[1:])]
        yield "limit", lambda: [(m @ w, m.T @ g, g @ w.T) for m, w, g in layers]
        if os.environ.get("EFFICIENT_KAN_PATH"):
            sys.path.insert(0, os.environ["EFFICIENT_KAN_PATH"])
        try:
            from efficient_kan import KAN

            ekan = KAN(list(widths), grid_size=GRID, spline_order=DEGREE).to(device)
            yield "efficient-kan", torch_step(ekan, x, y)
        except ImportError:
            print("  efficient-kan: not importable (set EFFICIENT_KAN_PATH)")

    name = "cpu (interpreter)" if args.interpret else torch.cuda.get_device_name()
    print(f"{name}, float32, grid {GRID}, degree {DEGREE}, one training step")
    results = []
    for widths, batch in SMOKE_CASES if args.interpret else CASES:
        print(f"\n{list(widths)} batch {batch}")
        print(f"  {'contender':<14}{'min ms':>10}{'median ms':>11}{'vs kancc':>10}{'peak MiB':>10}")
        case = {"widths": list(widths), "batch": batch, "times_ms": {}, "peak_mib": {}}
        for label, fn in contenders(widths, batch):
            best, median, peak = measure(fn)
            case["times_ms"][label] = {"min": best, "median": median}
            case["peak_mib"][label] = peak
            base = case["times_ms"]["kancc"]["median"]
            print(f"  {label:<14}{best:>10.3f}{median:>11.3f}{median / base:>9.2f}x{peak:>10.1f}")
        results.append(case)
    print(json.dumps({"benchmark": "train_gpu", "device": name, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "cases": results}))


if __name__ == "__main__":
    main()
