"""What forward_gpu.py and train_gpu.py share: the cases (the KAN-benchmarking shapes), the
cost model's predictions, the peers, and timing with peak memory.

Peers, each if importable: efficient-kan (EFFICIENT_KAN_PATH=checkout/src) and inkan
(pip install inkan; cubic splines only, grid range [-1, 1], its torch.compile'd basis off so
that it runs everywhere). Neither is a kancc dependency.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np

GRID, DEGREE = 5, 3
CASES = [((1000, 1000, 1), 100), ((1000, 1000, 1), 4096), ((512, 512, 1), 64),
         ((2, 5, 1), 20000), ((256, 256, 256), 4096)]
SMOKE_CASES = [((8, 8, 1), 16), ((2, 5, 1), 64)]
STRATEGIES = ("chosen", "gather", "dot")


def spec_of(widths: tuple[int, ...]) -> dict:
    return {"model": {"name": "w" + "_".join(map(str, widths)), "layers": list(widths)},
            "basis": {"degree": DEGREE, "grid": GRID}}


def pipeline(strategy: str, training: bool, batch: int, gpu: str) -> str:
    """The standard pipeline, scheduled for this case's batch and GPU (so that the kernels
    timed are the ones predicted), or with a strategy forced."""
    how = "auto" if strategy == "chosen" else strategy
    schedule = f"schedule{{strategy={how},gpu={gpu},batch={batch}}}"
    autodiff = "autodiff," if training else ""
    return f"expand-layers,derive-stencils,lower-basis,fuse,{autodiff}{schedule},dce,canonicalize"


def check_gpu(name: str) -> str:
    from kancc.passes.cost_model import GPUS

    if name.upper() not in GPUS:
        raise SystemExit(f"--predict: unknown GPU {name!r}; choose one of {', '.join(GPUS)}")
    return name.upper()


def gpu_key(device_name: str) -> str | None:
    """The cost model's name for a CUDA device name, if it has one."""
    for key in ("H200", "H100", "A100"):
        if key in device_name:
            return key
    return None


def predicted(widths: tuple[int, ...], batch: int, gpu: str) -> dict[str, float]:
    """Predicted microseconds (cost model, chosen strategies) of a forward and a training
    step, and of their dense GEMMs."""
    from kancc.spec import load_spec
    from kancc.tools.gpu_report import kernel_rows, totals

    rows, _ = kernel_rows(load_spec(spec_of(widths)), gpu, batch)
    total = totals(rows)
    return {"forward_us": total.forward, "step_us": total.step,
            "gemm_forward_us": total.gemm_forward, "gemm_step_us": total.gemm_step}


def print_predictions(gpu: str, cases: list) -> list[dict]:
    print(f"predicted on {gpu} (kancc's roofline cost model, float32, grid {GRID}, degree "
          f"{DEGREE}; predictions, not measurements; GEMM: the dense contraction's roofline "
          "at the TF32 rate, stricter than the measured 'limit', which runs TF32 off)")
    print(f"  {'widths':<18}{'batch':>7}{'fwd us':>9}{'GEMM':>8}{'ratio':>7}"
          f"{'step us':>10}{'GEMM':>8}{'ratio':>7}")
    out = []
    for widths, batch in cases:
        p = predicted(widths, batch, gpu)
        print(f"  {str(list(widths)):<18}{batch:>7}{p['forward_us']:>9.2f}"
              f"{p['gemm_forward_us']:>8.2f}{p['forward_us'] / p['gemm_forward_us']:>7.2f}"
              f"{p['step_us']:>10.2f}{p['gemm_step_us']:>8.2f}"
              f"{p['step_us'] / p['gemm_step_us']:>7.2f}")
        out.append({"widths": list(widths), "batch": batch, **p})
    return out


def peers(widths: tuple[int, ...], device: str):
    """(name, module) of each importable peer, or (name, reason) where it is not."""
    import torch

    if os.environ.get("EFFICIENT_KAN_PATH"):
        sys.path.insert(0, os.environ["EFFICIENT_KAN_PATH"])
    try:
        from efficient_kan import KAN

        yield "efficient-kan", KAN(list(widths), grid_size=GRID, spline_order=DEGREE).to(device)
    except ImportError:
        yield "efficient-kan", "not importable (set EFFICIENT_KAN_PATH=checkout/src)"
    try:
        from inkan import KANNetwork

        yield "inkan", KANNetwork(list(widths), grid_size=GRID, spline_order=DEGREE,
                                  compile_basis=False).to(device)
    except ImportError:
        yield "inkan", "not importable (pip install inkan)"
    layers: list = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.SiLU()]
    yield "mlp", torch.nn.Sequential(*layers[:-1]).to(device)


def measure(fn, repeat: int, cuda: bool) -> tuple[float, float, float]:
    """(min ms, median ms, peak MiB allocated during one call beyond what was there)."""
    import torch

    def sync():
        if cuda:
            torch.cuda.synchronize()

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


Contenders = Callable[[tuple[int, ...], int, str, str], Iterator[tuple[str, Callable[[], object]]]]


def run_benchmark(benchmark: str, description: str, contenders: Contenders, predicted_key: str,
                  repeat: int, what: str, no_grad: bool) -> None:
    """The command line both GPU benchmarks share: --predict prints the cost model's
    predictions; otherwise every case's contenders (``contenders(widths, batch, device,
    gpu)`` yields (label, fn)) are timed on CUDA, or in the interpreter with --interpret,
    beside the prediction for this GPU (``predicted_key`` of ``predicted``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--interpret", action="store_true",
                        help="run tiny shapes on the CPU in Triton's interpreter")
    parser.add_argument("--predict", metavar="GPU", help="print the cost model's predictions "
                        "for this GPU (H100, H200, A100) and exit; needs no GPU")
    args = parser.parse_args()
    if args.predict:
        cases = print_predictions(check_gpu(args.predict), CASES)
        print(json.dumps({"benchmark": benchmark, "predicted_on": args.predict,
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
    print(f"{name}, float32, grid {GRID}, degree {DEGREE}{what}")
    results = []
    for widths, batch in SMOKE_CASES if args.interpret else CASES:
        case: dict = {"widths": list(widths), "batch": batch, "times_ms": {}, "peak_mib": {}}
        if model_gpu:
            case["predicted_us"] = predicted(widths, batch, model_gpu)[predicted_key]
        print(f"\n{list(widths)} batch {batch}"
              + (f" (predicted {case['predicted_us']:.1f} us)" if model_gpu else ""))
        print(f"  {'contender':<14}{'min ms':>10}{'median ms':>11}{'vs kancc':>10}{'peak MiB':>10}")
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            for label, fn in contenders(widths, batch, device, model_gpu or "H100"):
                best, median, peak = measure(fn, repeat, not args.interpret)
                case["times_ms"][label] = {"min": best, "median": median}
                case["peak_mib"][label] = peak
                base = case["times_ms"]["kancc"]["median"]
                print(f"  {label:<14}{best:>10.3f}{median:>11.3f}{median / base:>9.2f}x"
                      f"{peak:>10.1f}")
        results.append(case)
    print(json.dumps({"benchmark": benchmark, "device": name, "dtype": "float32",
                      "grid": GRID, "degree": DEGREE, "cases": results}))
