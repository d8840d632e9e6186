"""The LoTRA paper, Section VI-A: transfer across PDE families on the unit disk. A ChebyKAN
is pretrained on the problem with lambda = 0 and fine-tuned, through the physics loss, to
lambda = 0.1 and 1 with LoTRA (cr 1/2, 1/4, 1/8), in full, or trained from scratch ("zero");
an MLP is pretrained and fine-tuned alike. Tables I and II's "epsilon" is this lambda.
Ablation: from scratch with random coefficients instead of kancc's smooth start.

Families (eqs. 10-12; Omega the unit disk, s = sin(pi/2 (1 - |x|)^2.5) + lambda sin(pi/2
(1 - |x|)), forcing and boundary data derived from the solution by sympy):

    elliptic    -div((1 + |x|^2/2) grad u) + |grad u|^2 = f,  u = s on the circle
    allen_cahn  u_t - lap(u) - u^3 + u = f on [0, 1] x Omega,  u = e^-t s: boundary, t = 0
    hyperbolic  u_tt - lap(u) = f,  u = (e^(t^2) - 1) s: boundary, u and u_t at t = 0

Protocol (the paper gives the model, the ranks and the rates, not the points, steps or
loss weights; ours are marked *): ChebyKAN [d, 64, 64, 1], Chebyshev T_0..T_7 of tanh (n_d =
8), float64; LoTRA on the hidden layer only ([finetune] layers = [1]), the input and output
layers fine-tuned in full; *1000 Sobol interior points and 256 random points per condition,
loss weights 1; *Adam at 1e-3 for 2000 pretraining and 500 fine-tuning steps; the adapter at
the rates LR-1 (1e-2, 2e-4, 1e-2, 1e-3), LR-2 (3e-3 each), LR-3 (1e-3 each) or LR-4 (2e-4,
1e-2, 1e-3, 1e-2) for (core, U1, U2, U3), the full layers at 1e-3; the strategies compared
at cr = 1/4; *MLP [d, 64, 64, 1], tanh, same points, loss and rates; *one seed (0). The
error is the paper's rel = sum (Psi - u)^2 / sum u^2 (the square of the relative L2 error),
in %, on a grid of 4096 points of the domain.

    python docs/lotra/pde_families.py                 # about an hour on 2 cores
    python docs/lotra/pde_families.py --families elliptic
    python docs/lotra/pde_families.py --quick --out /tmp/p   # seconds: a smoke run

Finished runs are appended to pde_families.json at once (a run already there is not
repeated); the tables (pde_families.md) and the fine-tuning trajectories (pde_families.png)
are rendered from it. Pretrained checkpoints are kept in --work.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import kancc
from kancc.frontend import spec_init_params
from kancc.frontend.lotra_params import storage
from kancc.physics.problem import collocation_inputs, solution_grid
from kancc.spec import load_spec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "multilevel"))
from pde_families_report import render  # noqa: E402
from pinn_runs import load_runs, mlp, run_jobs, sweep_parser, thinned, train_mlp  # noqa: E402

R = "sqrt(x**2 + y**2)"
SHAPE = f"(sin(pi/2*(1 - {R})**2.5) + lam*sin(pi/2*(1 - {R})))"
FAMILIES = {
    "elliptic": {"variables": ["x", "y"], "solution": SHAPE,
                 "residual": "-(1 + (x**2 + y**2)/2)*lap(u) - x*u_x - y*u_y + u_x**2 + u_y**2"
                             " - f", "conditions": ["dirichlet"]},
    "allen_cahn": {"variables": ["t", "x", "y"], "solution": f"exp(-t)*{SHAPE}",
                   "residual": "u_t - lap(u) - u**3 + u - f",
                   "conditions": ["dirichlet", "initial"]},
    "hyperbolic": {"variables": ["t", "x", "y"], "solution": f"(exp(t**2) - 1)*{SHAPE}",
                   "residual": "u_tt - lap(u) - f",
                   "conditions": ["dirichlet", "initial", "initial_rate"]},
}
LAMBDAS = (0.1, 1.0)
CRS = ("1/2", "1/4", "1/8")
STRATEGIES = {"LR-1": ("1e-2", "2e-4", "1e-2", "1e-3"), "LR-2": ("3e-3",) * 4,
              "LR-3": ("1e-3",) * 4, "LR-4": ("2e-4", "1e-2", "1e-3", "1e-2")}
STRATEGY_CR = "1/4"
RATE = "1e-3"
SEED = 0


@dataclass(frozen=True)
class Setup:
    width: int
    degree: int
    points: int
    condition_points: int
    pretrain_steps: int
    steps: int
    test_points: int


FULL = Setup(64, 7, 1000, 256, 2000, 500, 4096)
QUICK = Setup(6, 3, 48, 16, 12, 6, 256)


def kan_spec(family: str, lam: float, setup: Setup, steps: int,
             finetune: dict | None = None) -> dict:
    form = FAMILIES[family]
    pde = {"variables": form["variables"], "disk": 1, "parameters": {"lam": lam},
           "solution": form["solution"], "residual": form["residual"],
           "points": setup.points, "test_points": setup.test_points,
           "condition": [{"kind": kind, "points": setup.condition_points}
                         for kind in form["conditions"]]}
    if "t" in form["variables"]:
        pde.update(time="t", interval=[0, 1])
    d = len(form["variables"])
    name = f"{family}_lam{str(lam).replace('.', '_')}"
    spec = {"model": {"name": name, "layers": [d, setup.width, setup.width, 1],
                      "dtype": "float64"},
            "basis": {"kind": "chebyshev", "degree": setup.degree}, "pde": pde,
            "train": {"lr": RATE, "steps": steps, "seed": SEED,
                      "validate_every": max(1, steps // 20)}}
    if finetune is not None:
        spec["finetune"] = finetune
    return spec


def key(run: dict) -> tuple:
    return (run["family"], run["lam"], run["method"], run.get("cr"), run.get("strategy"))


def record(family: str, lam: float, method: str, history: np.ndarray, seconds: float,
           **extra) -> dict:
    """One run for the JSON: its history (step, loss, relative L2: NaN where not measured)
    thinned, its final error (relative L2, and the paper's rel in %) and its time."""
    errors = history[:, 2]
    final = float(errors[~np.isnan(errors)][-1])
    return {"family": family, "lam": lam, "method": method, **extra,
            "loss": float(history[-1, 1]), "rel_l2": final,
            "rel_pct": 100 * final ** 2, "seconds": seconds, "history": thinned(history)}


def kan_history(result) -> np.ndarray:
    """(step, loss, relative L2) of a kancc physics run."""
    errors = np.asarray(result.physics["rel_l2"])
    return np.column_stack([result.history[:, 0], result.history[:, 1], errors])


def pretrained_path(family: str, work: Path) -> Path:
    return work / f"{family}.ckpt.npz"


def pretrain(job: tuple[str, Setup, Path]) -> list[dict]:
    family, setup, work = job
    start = time.perf_counter()
    result = kancc.train(kan_spec(family, 0.0, setup, setup.pretrain_steps),
                         checkpoint=pretrained_path(family, work), log=None)
    return [record(family, 0.0, "pretrain", kan_history(result), time.perf_counter() - start)]


def finetune(job: tuple[str, float, str, str | None, str | None, Setup, Path]) -> list[dict]:
    """One KAN run on lambda: "lotra" (cr, strategy), "full", "zero" (kancc's smooth start
    for [pde] models) or "zero-random" (random coefficients, as a ChebyKAN without kancc's
    start: the ablation of that start)."""
    family, lam, method, cr, strategy, setup, work = job
    table = None
    if method == "lotra":
        assert cr is not None and strategy is not None
        table = {"pretrained": str(pretrained_path(family, work)), "tucker": cr,
                 "lr": list(STRATEGIES[strategy]), "layers": [1]}
    elif method == "full":
        table = {"pretrained": str(pretrained_path(family, work)), "method": "full"}
    spec = kan_spec(family, lam, setup, setup.steps, table)
    params = None
    if method == "zero-random":
        without_pde = load_spec({k: v for k, v in spec.items() if k != "pde"})
        params = spec_init_params(without_pde, SEED)
    start = time.perf_counter()
    result = kancc.train(spec, params=params, log=None)
    stored = storage(load_spec(spec))[0] if method == "lotra" else \
        sum(v.size for v in result.params.values())
    return [record(family, lam, method, kan_history(result), time.perf_counter() - start,
                   cr=cr, strategy=strategy, stored=int(stored))]


def mlp_runs(job: tuple[str, Setup]) -> list[dict]:
    """The MLP: pretrained on lambda = 0, then on each lambda fine-tuned in full and trained
    from scratch, by Adam at RATE on the KAN's points and loss."""
    family, setup = job
    d = len(FAMILIES[family]["variables"])
    widths = [d, setup.width, setup.width, 1]
    pre = load_spec(kan_spec(family, 0.0, setup, setup.pretrain_steps))
    model = mlp(widths, "tanh", SEED)
    runs = [_train_mlp(model, pre, family, 0.0, "mlp-pretrain", setup.pretrain_steps)]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for lam in LAMBDAS:
        spec = load_spec(kan_spec(family, lam, setup, setup.steps))
        for method in ("mlp-full", "mlp-zero"):
            model = mlp(widths, "tanh", SEED)
            if method == "mlp-full":
                model.load_state_dict(state)
            runs.append(_train_mlp(model, spec, family, lam, method, setup.steps))
    return runs


def _train_mlp(model, spec, family: str, lam: float, method: str, steps: int) -> dict:
    import torch

    inputs = {k: torch.tensor(v) for k, v in collocation_inputs(spec, SEED).items()}
    points, values = solution_grid(spec)
    test = torch.tensor(points)

    def measure() -> tuple[float, float]:
        with torch.no_grad():
            error = model(test).numpy() - values
        return float(np.linalg.norm(error) / np.linalg.norm(values)), float(abs(error).max())

    history, seconds = train_mlp(model, lambda: mlp_loss(model, family, inputs), steps,
                                 lambda step: float(RATE), measure, every=max(1, steps // 20))
    return record(family, lam, method, history[:, :3], seconds,
                  stored=int(sum(p.numel() for p in model.parameters())))


def mlp_loss(model, family: str, inputs: dict):
    """The KAN's physics loss written for torch: the residual's mean square on the interior
    points (f is the residual's target) plus each condition's."""
    import torch

    def derivatives(points):
        points = points.clone().requires_grad_(True)
        u = model(points)[:, 0]
        first = torch.autograd.grad(u.sum(), points, create_graph=True)[0]
        second = torch.stack([torch.autograd.grad(first[:, i].sum(), points,
                                                  create_graph=True)[0][:, i]
                              for i in range(points.shape[1])], dim=1)
        return points, u, first, second

    points, u, first, second = derivatives(inputs["interior"])
    if family == "elliptic":
        x, y = points[:, 0], points[:, 1]
        lap = second[:, 0] + second[:, 1]
        value = -(1 + (x ** 2 + y ** 2) / 2) * lap - x * first[:, 0] - y * first[:, 1] \
            + first[:, 0] ** 2 + first[:, 1] ** 2
    elif family == "allen_cahn":
        value = first[:, 0] - second[:, 1] - second[:, 2] - u ** 3 + u
    else:
        value = second[:, 0] - second[:, 1] - second[:, 2]
    loss = torch.mean((value - inputs["residual.target"][:, 0]) ** 2)
    for kind in FAMILIES[family]["conditions"]:
        if kind == "initial_rate":
            at = derivatives(inputs[kind])[2][:, 0]
        else:
            at = model(inputs[kind])[:, 0]
        loss = loss + torch.mean((at - inputs[f"{kind}.target"][:, 0]) ** 2)
    return loss


def jobs(families: list[str], setup: Setup, work: Path, done: set) -> tuple[list, list]:
    """(pretraining jobs, fine-tuning jobs) not yet in the results."""
    first, second = [], []
    wanted = [("lotra", cr, "LR-1") for cr in CRS]
    wanted += [("lotra", STRATEGY_CR, s) for s in STRATEGIES if s != "LR-1"]
    wanted += [("full", None, None), ("zero", None, None), ("zero-random", None, None)]
    for family in families:
        if (family, 0.0, "pretrain", None, None) not in done or \
                not pretrained_path(family, work).exists():
            first.append((pretrain, (family, setup, work)))
        if (family, 0.0, "mlp-pretrain", None, None) not in done:
            first.append((mlp_runs, (family, setup)))
        for lam in LAMBDAS:
            for method, cr, strategy in wanted:
                if (family, lam, method, cr, strategy) not in done:
                    second.append((finetune, (family, lam, method, cr, strategy, setup, work)))
    return first, second


def main() -> None:
    parser = sweep_parser(__doc__.splitlines()[0], "a tiny model and a few steps (seconds)",
                          HERE)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--work", type=Path, default=Path("build/lotra_pde_families"),
                        help="folder of the pretrained checkpoints")
    args = parser.parse_args()
    setup = QUICK if args.quick else FULL
    path = args.out / "pde_families.json"
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(path)

    def finished(new: list[dict]) -> None:
        for run in new:
            runs[:] = [r for r in runs if key(r) != key(run)] + [run]
            print(f"{run['family']} lambda={run['lam']} {run['method']} "
                  f"{run.get('cr') or ''} {run.get('strategy') or ''}: rel "
                  f"{run['rel_pct']:.3g}% ({run['seconds']:.0f} s)", flush=True)
        render(path, runs, asdict(setup))

    if not args.render:
        first, second = jobs(args.families, setup, args.work, {key(r) for r in runs})
        for batch in (first, second):  # fine-tuning needs the pretrained checkpoints
            run_jobs(batch, args.jobs, finished)
    render(path, runs, asdict(setup))


if __name__ == "__main__":
    main()
