"""Forward time on a CUDA GPU: kancc's Triton kernels (as chosen by the cost model, and each
strategy forced) vs the dense GEMM limit and peers, with peak memory and the cost model's
prediction beside the measurement.

Contenders, float32, grid 5, cubic B-splines:
  kancc         the emitted Triton module's forward, strategies chosen by the cost model
  kancc gather  every layer forced to the gather kernels (schedule{strategy=gather})
  kancc dot     every layer forced to the dense tiles on tensor cores (schedule{strategy=dot})
  limit         torch.matmul of the equivalent dense contraction, batch x (in*n_b) x out per
                layer, on prebuilt operands (TF32 off: float32 arithmetic, as kancc keeps)
  efficient-kan, inkan, mlp   see gpu_common.py (peers when importable)

    python benchmarks/forward_gpu.py                  # needs a CUDA device
    python benchmarks/forward_gpu.py --predict H100   # no GPU: the cost model's predictions
    python benchmarks/forward_gpu.py --interpret      # tiny shapes in Triton's interpreter:
                                                      # checks the script, times nothing useful

Prints a table (min and median over the repeats, ratio of medians to kancc, peak MiB) and one
JSON line.
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
    STRATEGIES,
    check_gpu,
    gpu_key,
    measure,
    peers,
    pipeline,
    predicted,
    print_predictions,
    spec_of,
)


def contenders(widths, batch, device, gpu):
    import torch

    import kancc

    x = torch.rand(batch, widths[0], device=device) * 2 - 1
    for strategy in STRATEGIES:
        passes = pipeline(strategy, False, batch, gpu)
        program = kancc.compile(spec_of(widths), "triton", passes=passes)
        params = {k: torch.tensor(v, device=device) for k, v in program.init_params(0).items()}
        module = program.module
        label = "kancc" if strategy == "chosen" else f"kancc {strategy}"
        yield label, lambda module=module, params=params: module.forward(params, x)
    nb = GRID + DEGREE
    operands = [(torch.randn(batch, a * nb, device=device), torch.randn(a * nb, b, device=device))
                for a, b in zip(widths, widths[1:])]
    yield "limit", lambda: [a @ w for a, w in operands]
    for name, model in peers(widths, device):
        if isinstance(model, str):
            print(f"  {name}: {model}")
        else:
            yield name, lambda model=model: model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--interpret", action="store_true",
                        help="run tiny shapes on the CPU in Triton's interpreter")
    parser.add_argument("--predict", metavar="GPU", help="print the cost model's predictions "
                        "for this GPU (H100, H200, A100) and exit; needs no GPU")
    args = parser.parse_args()
    if args.predict:
        cases = print_predictions(check_gpu(args.predict), CASES)
        print(json.dumps({"benchmark": "forward_gpu", "predicted_on": args.predict,
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
    print(f"{name}, float32, grid {GRID}, degree {DEGREE}")
    results = []
    for widths, batch in SMOKE_CASES if args.interpret else CASES:
        case = {"widths": list(widths), "batch": batch, "times_ms": {}, "peak_mib": {}}
        if model_gpu:
            case["predicted_us"] = predicted(widths, batch, model_gpu)["forward_us"]
        print(f"\n{list(widths)} batch {batch}"
              + (f" (predicted {case['predicted_us']:.1f} us)" if model_gpu else ""))
        with torch.no_grad():
            for label, fn in contenders(widths, batch, device, model_gpu or "H100"):
                best, median, peak = measure(fn, repeat, not args.interpret)
                case["times_ms"][label] = {"min": best, "median": median}
                case["peak_mib"][label] = peak
                base = case["times_ms"]["kancc"]["median"]
                print(f"  {label:<14}{best:>10.3f}{median:>11.3f}{median / base:>9.2f}x"
                      f"{peak:>10.1f}")
        results.append(case)
    print(json.dumps({"benchmark": "forward_gpu", "device": name, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "cases": results}))


if __name__ == "__main__":
    main()
