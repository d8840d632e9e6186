"""Forward time on a CUDA GPU: kancc's fused Triton kernels vs the dense GEMM limit and peers.

Contenders, float32, grid 5, cubic B-splines:
  kancc        the emitted Triton module's forward (one fused kernel per layer)
  limit        torch.matmul of the equivalent dense contraction, batch x (in*n_b) x out per
               layer, on prebuilt operands (TF32 off, so the same arithmetic as kancc)
  efficient-kan  if importable (EFFICIENT_KAN_PATH=checkout/src); includes its SiLU branch
  mlp          torch Linear-SiLU-Linear of the same widths

    python benchmarks/forward_gpu.py                 # needs a CUDA device
    python benchmarks/forward_gpu.py --interpret     # tiny shapes in Triton's interpreter:
                                                     # checks the script, times nothing useful

Prints a table (min and median over the repeats, ratio of medians to kancc) and one JSON line.
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
    parser.add_argument("--repeat", type=int, default=50)
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
    device = "cpu" if args.interpret else "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    repeat = 2 if args.interpret else args.repeat

    def timed(fn):
        fn()
        times = []
        for _ in range(repeat):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
        return min(times), float(np.median(times))

    def contenders(widths, batch):
        program = kancc.compile({"model": {"layers": list(widths)},
                                 "basis": {"degree": DEGREE, "grid": GRID}}, target="triton")
        params = {k: torch.tensor(v, device=device)
                  for k, v in program.init_params(0).items()}
        x = torch.rand(batch, widths[0], device=device) * 2 - 1
        module = program.module
        yield "kancc", lambda: module.forward(params, x)
        nb = GRID + DEGREE
        operands = [(torch.randn(batch, a * nb, device=device),
                     torch.randn(a * nb, b, device=device)) for a, b in zip(widths, widths[1:])]
        yield "limit", lambda: [a @ w for a, w in operands]
        if os.environ.get("EFFICIENT_KAN_PATH"):
            sys.path.insert(0, os.environ["EFFICIENT_KAN_PATH"])
        try:
            from efficient_kan import KAN

            ekan = KAN(list(widths), grid_size=GRID, spline_order=DEGREE).to(device)
            yield "efficient-kan", lambda: ekan(x)
        except ImportError:
            print("  efficient-kan: not importable (set EFFICIENT_KAN_PATH)")
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.SiLU()]
        mlp = torch.nn.Sequential(*layers[:-1]).to(device)
        yield "mlp", lambda: mlp(x)

    name = "cpu (interpreter)" if args.interpret else torch.cuda.get_device_name()
    print(f"{name}, float32, grid {GRID}, degree {DEGREE}")
    results = []
    for widths, batch in SMOKE_CASES if args.interpret else CASES:
        print(f"\n{list(widths)} batch {batch}")
        case = {"widths": list(widths), "batch": batch, "times_ms": {}}
        with torch.no_grad():
            for label, fn in contenders(widths, batch):
                best, median = timed(fn)
                case["times_ms"][label] = {"min": best, "median": median}
                base = case["times_ms"]["kancc"]["median"]
                print(f"  {label:<14}{best:>10.3f}{median:>11.3f}{median / base:>9.2f}x")
        results.append(case)
    print(json.dumps({"benchmark": "forward_gpu", "device": name, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "cases": results}))


if __name__ == "__main__":
    main()
