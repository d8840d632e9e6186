"""The multilevel paper, Figure 6: 2-D Poisson with an interface, trained multilevel by a KAN
in the spline geometry, the same KAN in the ReLU geometry, and an MLP.

Protocol (paper Sec. 5.2.1, eqs. 27-28, App. D.2): div(eps grad u) = f on [-1, 1]^2, eps =
1 for x < 0 and 1/2 for x > 0, the manufactured u = sin(pi x) sin(3 pi y) (x < 0),
sin(2 pi x) sin(3 pi y) (x > 0), u = solution on the boundary and the flux jump
eps u_x(0+) - eps u_x(0-) = 0 on the interface x = 0. The model takes |x| as a third input
(the level-set augmentation). Loss weights 1e-2 (volume), 1 (boundary), 1e-1 (interface);
residual-based attention on the volume term with rate 1e-4; Adam, rate 1e-2 ramped over 10
steps at the start of every level (kancc ramps from 1e-3, the paper from 1e-4); 200
boundary and 49 interface points on grids. KAN [3,5,1] cubic, grids 4, 8, 16, 32 in both
layers (140, 220, 380, 700 coefficients, the paper's counts), 1250 epochs per level; MLP
[3,16,16,1] (353 parameters). Seed 1234.

Where this differs from the paper, and why:
- 2500 volume points on a 50 x 50 grid, not 2401 on 49 x 49: a 49-point grid has a column
  on x = 0, where f is not defined.
- The MLP is tanh, not ReLU: a ReLU network's Laplacian is zero almost everywhere, so its
  volume residual is -f whatever the weights; the run "MLP relu" shows its loss stuck.
- The paper does not give the hidden layer's domain; it is chosen from [-2, 2], [-3, 3] and
  [-4, 4] by the spline KAN's final training loss (the solution is never consulted), and
  the ReLU-geometry run uses the same spec.
- One more ReLU-geometry run at rate 1e-3 tells whether its failure is the rate's or the
  geometry's.

    python docs/multilevel/poisson_figure6.py          # about 10 minutes on 2 cores
    python docs/multilevel/poisson_figure6.py --quick --out /tmp/p   # seconds: a smoke run

Every finished run is appended to poisson_figure6.json at once, so an interrupted sweep
resumes; poisson_figure6.md (the table) and poisson_figure6.png (the figure) are rendered
from it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

import kancc
from kancc.physics.problem import collocation_inputs, solution_grid
from kancc.spec import load_spec
from kancc.training.optim import learning_rate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pinn_runs import (  # noqa: E402
    level_ends,
    load_runs,
    mlp,
    run_jobs,
    sweep_parser,
    thinned,
    train_mlp,
    write_results,
)

HERE = Path(__file__).resolve().parent
SEED = 1234
DOMAINS = (2, 3, 4)
RATE = "0.01"
SOLUTION = ("(1 - heaviside(x)) * sin(pi*x) * sin(3*pi*y) "
            "+ heaviside(x) * sin(2*pi*x) * sin(3*pi*y)")


def spec(geometry: str, domain: int, quick: bool, rate: str = RATE) -> dict:
    """The KAN of the paper's Figure 5 on the problem of eqs. (27)-(28)."""
    side, epochs = (12, [20, 20]) if quick else (50, [1250, 1250, 1250, 1250])
    return {
        "model": {"name": "poisson_figure6", "layers": [3, 5, 1], "dtype": "float64"},
        "basis": {"degree": 3, "grid": 4},
        "layers": [{"domain": [-1, 1]}, {"domain": [-domain, domain]}],
        "pde": {"variables": ["x", "y"], "box": [[-1, 1], [-1, 1]], "level_set": "x",
                "solution": SOLUTION, "residual": "(1 - heaviside(x)/2) * lap(u) - f",
                "points": side * side, "sampler": "grid", "weight": "0.01", "rba": "1e-4",
                "condition": [
                    {"kind": "dirichlet", "value": "solution", "points": 200,
                     "sampler": "grid", "weight": 1},
                    {"kind": "interface", "left": "u_x", "right": "u_x/2", "points": 49,
                     "sampler": "grid", "weight": "0.1"}]},
        "train": {"optimizer": "adam", "lr": rate, "warmup": 10, "seed": SEED,
                  "geometry": geometry, "validate_every": 5 if quick else 25,
                  "multilevel": {"epochs": epochs}},
    }


def run_kan(job: tuple[str, int, bool, str]) -> dict:
    geometry, domain, quick, rate = job
    result = kancc.train(spec(geometry, domain, quick, rate), log=None)
    history = np.column_stack([result.history[:, :2], result.physics["rel_l2"],
                               result.physics["abs_linf"]])
    return {"model": name_of(run_kan, job), "geometry": geometry, "domain": domain,
            "params": [int(sum(v.size for v in level.params.values()))
                       for level in result.levels],
            "status": result.status, "level_ends": level_ends(result.levels),
            **finals(history), "history": thinned(history, 5)}


def finals(history: np.ndarray) -> dict[str, float]:
    """The last loss and the last measured errors of a (step, loss, rel L2, max) history."""
    measured = history[~np.isnan(history[:, 2])]
    return {"loss": float(history[-1, 1]), "rel_l2": float(measured[-1, 2]),
            "abs_linf": float(measured[-1, 3]), "best_rel_l2": float(measured[:, 2].min())}


def run_mlp(job: tuple[str, int, bool, str]) -> dict:
    """The same loss on the same points by torch autograd through an MLP of x, y, |x|."""
    import torch

    activation, _, quick, _ = job
    problem = load_spec(spec("spline", 3, quick))
    data = collocation_inputs(problem, SEED)
    model = mlp([3, 8, 1] if quick else [3, 16, 16, 1], activation, SEED)
    interior = torch.tensor(data["interior"][:, :2, 0])
    forcing = torch.tensor(data["residual.target"] / data["residual.weights"])
    eps = 1.0 - 0.5 * (interior[:, :1] > 0).double()
    boundary = torch.tensor(data["dirichlet"])
    boundary_target = torch.tensor(data["dirichlet.target"])
    interface = torch.tensor(data["interface"][:, :, 0])  # (0, y, 0)
    attention = torch.ones_like(forcing)

    def u_of(xy: torch.Tensor) -> torch.Tensor:
        return model(torch.cat([xy, xy[:, :1].abs()], dim=1))

    def loss_of() -> torch.Tensor:
        nonlocal attention
        xy = interior.clone().requires_grad_(True)
        grad = torch.autograd.grad(u_of(xy).sum(), xy, create_graph=True)[0]
        lap = sum(torch.autograd.grad(grad[:, k].sum(), xy, create_graph=True)[0][:, k:k + 1]
                  for k in range(2))
        residual = eps * lap - forcing
        error = residual.detach().abs()
        z = interface.clone().requires_grad_(True)
        dz = torch.autograd.grad(model(z).sum(), z, create_graph=True)[0]
        jump = 0.5 * (dz[:, 0] + dz[:, 2]) - (dz[:, 0] - dz[:, 2])  # |x|' = +-1
        loss = 0.01 * ((attention * residual) ** 2).mean() \
            + ((model(boundary) - boundary_target) ** 2).mean() + 0.1 * (jump ** 2).mean()
        attention = (1 - 1e-4) * attention + 1e-4 * error / error.max()
        return loss

    points, values = solution_grid(problem)

    def measure() -> tuple[float, float]:
        with torch.no_grad():
            difference = model(torch.tensor(points)).numpy() - values
        return (float(np.linalg.norm(difference) / np.linalg.norm(values)),
                float(np.abs(difference).max()))

    steps = 40 if quick else 5000
    history, _ = train_mlp(model, loss_of, steps,
                           lambda step: learning_rate(step, 1e-2, 10, steps, "constant"),
                           measure, every=5 if quick else 25)
    return {"model": f"MLP {activation}", "geometry": "-", "domain": 0,
            "params": [int(sum(p.numel() for p in model.parameters()))], "status": "done",
            "level_ends": [], **finals(history), "history": thinned(history, 5)}


def name_of(function: object, job: tuple[str, int, bool, str]) -> str:
    """The "model" a job's run will be recorded under."""
    if function is run_mlp:
        return f"MLP {job[0]}"
    return f"KAN {job[0]}" + ("" if job[3] == RATE else f", rate {job[3]}")


def chosen_domain(runs: list[dict]) -> int | None:
    """The hidden domain of the spline run with the lowest final training loss."""
    splines = [r for r in runs if r["model"] == "KAN spline" and math.isfinite(r["loss"])]
    return min(splines, key=lambda r: r["loss"])["domain"] if splines else None


def markdown(runs: list[dict]) -> str:
    lines = ["| model | hidden domain | # params per level | final loss | relative L2 | "
             "absolute max error | best relative L2 |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        domain = f"[-{run['domain']}, {run['domain']}]" if run["domain"] else "-"
        lines.append(f"| {run['model']} | {domain} | {', '.join(map(str, run['params']))} "
                     f"| {run['loss']:.2e} | {run['rel_l2']:.2e} | {run['abs_linf']:.2e} | "
                     f"{run['best_rel_l2']:.2e} |")
    domain = chosen_domain(runs)
    if domain is not None:
        lines += ["", f"Hidden domain chosen by the spline KAN's final loss: [-{domain}, "
                  f"{domain}] (the figure's KAN panels)."]
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    """The paper's Figure 6: loss and errors against epoch, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domain = chosen_domain(runs)
    panels = [r for r in runs if r["domain"] == domain and r["model"] in ("KAN spline",
                                                                          "KAN relu")]
    panels += [r for r in runs if r["model"] == "MLP tanh"]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2),
                                squeeze=False)
    for axis, run in zip(axes[0], panels):
        history = np.array(run["history"], dtype=float)
        measured = history[~np.isnan(history[:, 2])]
        axis.semilogy(history[:, 0], history[:, 1], color="black", linewidth=0.8,
                      label="loss")
        axis.semilogy(measured[:, 0], measured[:, 2], color="tab:blue", linewidth=0.8,
                      label="rel. L2 error")
        axis.semilogy(measured[:, 0], measured[:, 3], color="tab:orange", linewidth=0.8,
                      label="abs. max error")
        for end in run["level_ends"][:-1]:
            axis.axvline(end, color="grey", linewidth=0.5, linestyle="--")
        axis.set_title(f"2d Poisson: {run['model']}", fontsize=9)
        axis.set_xlabel("epoch")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(path: Path, runs: list[dict]) -> str:
    text = markdown(runs)
    write_results(path, {"seed": SEED, "runs": runs}, text, lambda png: plot(runs, png))
    return text


def main() -> None:
    parser = sweep_parser(__doc__.splitlines()[0],
                          "tiny MLP, a 12 x 12 grid, two short levels: a smoke run", HERE)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "poisson_figure6.json"
    runs = load_runs(path)
    if not args.render:
        done = {(r["model"], r["domain"]) for r in runs}
        jobs = [(run_kan, (g, d, args.quick, RATE)) for g in ("spline", "relu")
                for d in DOMAINS]
        jobs += [(run_kan, ("relu", 3, args.quick, "0.001"))]  # is it the rate or the geometry?
        jobs += [(run_mlp, (a, 0, args.quick, RATE)) for a in ("tanh", "relu")]
        jobs = [(f, job) for f, job in jobs
                if (name_of(f, job), job[1]) not in done]
        print(f"{len(jobs)} runs to do ({len(runs)} already in {path})", flush=True)

        def finished(run: dict) -> None:
            runs.append(run)
            render(path, runs)
            print(f"{run['model']:<16} domain {run['domain']}: loss {run['loss']:.3e}, "
                  f"relative L2 {run['rel_l2']:.3e} (best {run['best_rel_l2']:.3e})",
                  flush=True)

        run_jobs(jobs, args.jobs, finished)
    print(render(path, runs))


if __name__ == "__main__":
    main()
