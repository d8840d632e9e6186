"""The LoTRA paper, Sec. VI-A: transfer learning with LoTRA, as a regression on the unit disk.

Pretrain a KAN on u(x) = sin(pi/2 (1 - |x|)^2.5), then fine-tune it to
u(x) + sin(pi/2 (1 - |x|)) (the paper fine-tunes PDE solutions through a physics loss,
which pde_families.py does; here the solution values are fitted). Compared, all with Adam
and the same steps:

- LoTRA at cr = 1/2, 1/4, 1/8 with the theorem-based rates (core, U1, U2, U3) =
  (1e-2, 2e-4, 1e-2, 1e-3) ("LR-1"; Theorem 2 with constant 1e-2, in = 50, n_b = 10),
- full fine-tuning and training from scratch (Adam at 1e-3, the paper's default),
- at cr = 1/4, the four rate strategies: LR-1, uniform 3e-3 (LR-2), uniform 1e-3 (LR-3),
  inverted (2e-4, 1e-2, 1e-3, 1e-2) (LR-4); and kancc's default, Theorem 2 per layer with
  constant 1e-2: (1e-2, 1e-2/in, 1e-2, 1e-2/n_b), in = 2, 50, 50 ("per-layer").

The model is a ChebyKAN [2, 50, 50, 1] with n_b = 10 functions per edge (T_0..T_9 of
tanh(x), as the paper's Chebyshev KANs; --kind bspline: cubic B-splines on 7 cells): hidden
width 50 and n_b = 10 are the sizes for which the paper's LR-1 is Theorem 2 with constant
1e-2. Writes the loss curves (.npz), a table (.txt) and a plot (.png).

    python docs/lotra/transfer.py [--steps 1000] [--out docs/lotra/transfer]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import kancc
from kancc.data import disk_bump, disk_bump_shifted
from kancc.frontend import lotra_params as lotra
from kancc.storage import write_atomic, write_text_atomic

LR: dict[str, list[str] | None] = {
    "LR-1": ["1e-2", "2e-4", "1e-2", "1e-3"], "LR-2": ["3e-3"] * 4, "LR-3": ["1e-3"] * 4,
    "LR-4": ["2e-4", "1e-2", "1e-3", "1e-2"], "per-layer": None}  # None: kancc's default
CRS = ["1/2", "1/4", "1/8"]
STUDY_CR = "1/4"


def disk(n: int, seed: int) -> np.ndarray:
    """n points uniform on the unit disk."""
    rng = np.random.default_rng(seed)
    r, theta = np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


KIND = {"chebyshev": ({"kind": "chebyshev", "degree": 9}, [{}, {}, {}]),
        "bspline": ({"degree": 3, "grid": 7, "domain": [-1, 1]},
                    [{}, {"domain": [-2, 2]}, {"domain": [-2, 2]}])}


def model(name: str, steps: int, lr: str, seed: int, kind: str = "chebyshev") -> dict:
    basis, layers = KIND[kind]
    return {"model": {"name": name, "layers": [2, 50, 50, 1], "dtype": "float64"},
            "basis": basis, "layers": layers,
            "train": {"optimizer": "adam", "lr": lr, "steps": steps, "seed": seed},
            "data": {"source": "unused", "validation": "1/5", "seed": seed}}


def run(label: str, spec: dict, x: np.ndarray, y: np.ndarray, checkpoint: Path | None = None,
        log=None) -> dict:
    started = time.perf_counter()
    result = kancc.train(spec, (x, y), checkpoint=checkpoint, log=log)
    seconds = time.perf_counter() - started
    history = result.history
    print(f"{label:28s} {result.status}: train {result.loss:.3e}, validation "
          f"{result.validation_loss:.3e} ({seconds:.0f} s)", file=sys.stderr, flush=True)
    return {"label": label, "history": history, "train": result.loss,
            "validation": result.validation_loss, "seconds": seconds, "status": result.status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="fine-tuning steps per run")
    parser.add_argument("--pretrain-steps", type=int, default=2000)
    parser.add_argument("--kind", choices=sorted(KIND), default="chebyshev")
    parser.add_argument("--n", type=int, default=2000, help="points on the disk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/lotra/transfer")
    parser.add_argument("--summarize", metavar="NPZ", default=None,
                        help="only print the step table of curves saved by an earlier run")
    args = parser.parse_args(argv)
    if args.summarize:
        print(step_table(dict(np.load(args.summarize))))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = disk(args.n, args.seed)
    pre_checkpoint = out.with_name(out.name + "_pretrained.ckpt.npz")
    pretrain = model("pretrain", args.pretrain_steps, "1e-3", args.seed, args.kind)
    pre = run("pretrain u", pretrain, x, disk_bump(x), pre_checkpoint)
    y = disk_bump_shifted(x)
    runs = [pre]

    def lotra_spec(cr: str, rates: list[str] | None) -> dict:
        spec = model("lotra", args.steps, rates[0] if rates else "1e-2", args.seed, args.kind)
        spec["finetune"] = {"pretrained": str(pre_checkpoint.resolve()), "tucker": cr}
        if rates is not None:
            spec["finetune"]["lr"] = rates
        return spec

    for cr in CRS:
        runs.append(run(f"LoTRA cr={cr} LR-1", lotra_spec(cr, LR["LR-1"]), x, y))
    full = model("full", args.steps, "1e-3", args.seed, args.kind)
    full["finetune"] = {"pretrained": str(pre_checkpoint.resolve()), "method": "full"}
    runs.append(run("full fine-tuning", full, x, y))
    runs.append(run("from scratch", model("scratch", args.steps, "1e-3", args.seed, args.kind),
                    x, y))
    for name, rates in LR.items():
        if name != "LR-1":
            runs.append(run(f"LoTRA cr={STUDY_CR} {name}", lotra_spec(STUDY_CR, rates), x, y))
    write(out, runs, args)
    return 0


STEPS_SHOWN = (0, 50, 100, 200, 400, 700)


def step_table(curves: dict[str, np.ndarray]) -> str:
    """Training MSE of each run at a few steps, at its end, and the lowest it reached (Adam
    at a constant rate has spikes, so the last value alone misleads)."""
    head = "".join(f"{f'step {s}':>10}" for s in STEPS_SHOWN)
    lines = [f"{'run':28s}{head}{'last':>10}{'lowest':>10}"]
    for label, history in curves.items():
        at = [history[min(s, len(history) - 1), 1] for s in STEPS_SHOWN]
        lines.append(f"{label:28s}" + "".join(f"{v:10.2e}" for v in at) +
                     f"{history[-1, 1]:10.2e}{np.min(history[:, 1]):10.2e}")
    return "\n".join(lines)


def write(out: Path, runs: list[dict], args: argparse.Namespace) -> None:
    write_atomic(out.with_suffix(".npz"),
                 lambda f: np.savez(f, **{r["label"]: r["history"] for r in runs}))
    spec = kancc.spec.load_spec({**model("lotra", 1, "1e-3", 0, args.kind),
                                 "finetune": {"pretrained": "p", "tucker": "1/4"}})
    lines = [f"# the LoTRA paper's transfer (regression on the unit disk): {args.n} points "
             f"(1/5 held out), {args.kind} [2, 50, 50, 1], seed {args.seed}, pretrain "
             f"{args.pretrain_steps} steps, fine-tune {args.steps} steps, float64, this "
             "machine's CPU",
             "# run                          train MSE    validation MSE  stored numbers  s"]
    for r in runs:
        stored = ""
        if r["label"].startswith("LoTRA"):
            cr = r["label"].split()[1].split("=")[1]
            adapter = kancc.spec.load_spec({**model("lotra", 1, "1e-3", 0, args.kind),
                                            "finetune": {"pretrained": "p", "tucker": cr}})
            stored = str(lotra.storage(adapter)[0])
        elif r["label"] != "pretrain u":
            stored = str(lotra.storage(spec)[1])
        lines.append(f"{r['label']:30s} {r['train']:.3e}    {r['validation']:.3e}       "
                     f"{stored:>8s}  {r['seconds']:.0f}  {r['status']}")
    lines += ["", "# training MSE along the run", step_table({r["label"]: r["history"]
                                                          for r in runs})]
    write_text_atomic(out.with_suffix(".txt"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs[1:]:
        axis = axes[1] if r["label"].startswith(f"LoTRA cr={STUDY_CR}") else axes[0]
        if r["label"] == f"LoTRA cr={STUDY_CR} LR-1":
            axes[0].semilogy(r["history"][:, 0], r["history"][:, 1], label=r["label"])
        axis.semilogy(r["history"][:, 0], r["history"][:, 1], label=r["label"])
    axes[0].set_title("LoTRA vs full fine-tuning vs scratch")
    axes[1].set_title(f"rate strategies, LoTRA cr = {STUDY_CR}")
    for axis in axes:
        axis.set_xlabel("Adam step")
        axis.set_ylabel("training MSE")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    sys.exit(main())
