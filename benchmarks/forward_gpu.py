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

from gpu_common import (
    DEGREE,
    GRID,
    STRATEGIES,
    peers,
    pipeline,
    run_benchmark,
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
    run_benchmark("forward_gpu", __doc__.splitlines()[0], contenders, "forward_us", repeat=50,
                  what="", no_grad=True)


if __name__ == "__main__":
    main()
