"""One training step (forward + backward) on a CUDA GPU: kancc's Triton kernels (as chosen
by the cost model, and each strategy forced) vs the dense GEMM limit and peers, with peak
memory and the cost model's prediction beside the measurement.

Contenders, float32, grid 5, cubic B-splines, MSE loss:
  kancc         Model (autograd.Function per layer: forward, vjp_input and vjp_coef kernels
                that recompute the basis) + torch MSE + backward; strategies chosen
  kancc det     the same with deterministic (fixed-order) d(coef) reductions
  kancc gather / kancc dot   every layer forced to one strategy
  limit         the three dense GEMMs per layer (B @ W, B^T @ g, g @ W^T) on prebuilt
                operands, TF32 off
  efficient-kan, inkan, mlp   forward + MSE + backward (see gpu_common.py)
Peak memory: torch.cuda.max_memory_allocated during one step, minus what was allocated
before it (parameters, inputs).

    python benchmarks/train_gpu.py                  # needs a CUDA device
    python benchmarks/train_gpu.py --predict H100   # no GPU: the cost model's predictions
    python benchmarks/train_gpu.py --interpret      # tiny shapes in Triton's interpreter

Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gpu_common import (
    CASES,
    DEGREE,
    GRID,
    SMOKE_CASES,
    check_gpu,
    gpu_key,
    measure,
    peers,
    pipeline,
    predicted,
    print_predictions,
    spec_of,
)

KANCC = (("kancc", "chosen", False), ("kancc det", "chosen", True),
         ("kancc gather", "gather", False), ("kancc dot", "dot", False))


def torch_step(model, x, y):
    import torch

    def step():
        model.zero_grad(set_to_none=True)
        torch.mean((model(x) - y) ** 2).backward()

    return step


def contenders(widths, batch, device, gpu):
    import torch

    import kancc

    x = torch.rand(batch, widths[0], device=device) * 2 - 1
    y = torch.randn(batch, widths[-1], device=device)
    for label, strategy, deterministic in KANCC:
        program = kancc.compile(spec_of(widths), "triton", training=True,
                                passes=pipeline(strategy, True, batch, gpu))
        model = program.module.Model(device=device, deterministic=deterministic)
        model.load_state_dict({k: torch.tensor(v) for k, v in program.init_params(0).items()})
        yield label, torch_step(model, x, y)
    nb = GRID + DEGREE
    layers = [(torch.randn(batch, a * nb, device=device), torch.randn(a * nb, b, device=device),
               torch.randn(batch, b, device=device)) for a, b in zip(widths, widths[1:])]
    yield "limit", lambda: [(m @ w, m.T @ g, g @ w.T) for m, w, g in layers]
    for name, model in peers(widths, device):
        if isinstance(model, str):
            print(f"  {name}: {model}")
        else:
            yield name, torch_step(model, x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--interpret", action="store_true",
                        help="run tiny shapes on the CPU in Triton's interpreter")
    parser.add_argument("--predict", metavar="GPU", help="print the cost model's predictions "
                        "for this GPU (H100, H200, A100) and exit; needs no GPU")
    args = parser.parse_args()
    if args.predict:
        cases = print_predictions(check_gpu(args.predict), CASES)
        print(json.dumps({"benchmark": "train_gpu", "predicted_on": args.predict,
                          "cases": cases}))
        return
    if args.interpret:
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported
    import torch

    if not args.interpret and not torch.cuda.is_available():
        print("no CUDA device: nothing to time (--predict GPU prints the cost model's "
              "predictions; --interpret checks the script on CPU)")
        sys.exit(1)
    device = "cpu" if args.interpret else "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    repeat = 2 if args.interpret else args.repeat
    name = "cpu (interpreter)" if args.interpret else torch.cuda.get_device_name()
    model_gpu = None if args.interpret else gpu_key(name)
    print(f"{name}, float32, grid {GRID}, degree {DEGREE}, one training step")
    results = []
    for widths, batch in SMOKE_CASES if args.interpret else CASES:
        case = {"widths": list(widths), "batch": batch, "times_ms": {}, "peak_mib": {}}
        if model_gpu:
            case["predicted_us"] = predicted(widths, batch, model_gpu)["step_us"]
        print(f"\n{list(widths)} batch {batch}"
              + (f" (predicted {case['predicted_us']:.1f} us)" if model_gpu else ""))
        print(f"  {'contender':<14}{'min ms':>10}{'median ms':>11}{'vs kancc':>10}{'peak MiB':>10}")
        for label, fn in contenders(widths, batch, device, model_gpu or "H100"):
            best, median, peak = measure(fn, repeat, not args.interpret)
            case["times_ms"][label] = {"min": best, "median": median}
            case["peak_mib"][label] = peak
            base = case["times_ms"]["kancc"]["median"]
            print(f"  {label:<14}{best:>10.3f}{median:>11.3f}{median / base:>9.2f}x{peak:>10.1f}")
        results.append(case)
    print(json.dumps({"benchmark": "train_gpu", "device": name, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "cases": results}))


if __name__ == "__main__":
    main()
