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

from gpu_common import (
    DEGREE,
    GRID,
    peers,
    pipeline,
    run_benchmark,
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
    run_benchmark("train_gpu", __doc__.splitlines()[0], contenders, "step_us", repeat=30,
                  what=", one training step", no_grad=False)


if __name__ == "__main__":
    main()
