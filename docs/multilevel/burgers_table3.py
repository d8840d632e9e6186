"""The multilevel paper, Table 3: a physics-informed KAN for 1-D viscous Burgers, trained
coarse, fine and multilevel, against two MLPs.

Protocol (paper Sec. 5.2.2 and App. D.2): u_t + u u_x = nu u_xx on t in [0, 1], x in
[-1, 1], u(x, 0) = -sin(pi x), nu = 0.01 (the paper's value; examples/burgers.toml uses the
more common 0.01 / pi); a 64 x 64 space-time grid of collocation points, full batch; 64
initial points and, which App. D.2 does not list, 64 boundary points with u = 0 (without
them the solution is not unique and no error can be measured); loss weights 1; Adam, rate
1e-3, exponential-cyclic schedule (cycle 100, gamma 0.9995). KAN [2,20,20,1], cubic, grids
4 -> 8 -> 16 (3220 / 5060 / 8740 coefficients; the paper counts 3400 and 9700), epochs per
level [3200,0,0] (coarse), [0,0,800] (fine), [800,400,200] (multilevel); MLPs [2,20,20,1]
and [2,56,56,1] (tanh, torch's default initialization, the same points, loss and schedule,
3200 steps); seeds 1234, 1244, ..., 1274. The relative L2 error is measured against the
Cole-Hopf solution (kancc.physics.references) on a 101 x 256 grid. Ablations (seeds 1234
and 1244) train the fine and multilevel KANs from N(0, 0.1^2) coefficients instead of
kancc's affine start, and without the boundary term.

    python docs/multilevel/burgers_table3.py               # about 45 minutes on 2 cores
    python docs/multilevel/burgers_table3.py --seeds 1234  # one seed; later runs add to it
    python docs/multilevel/burgers_table3.py --quick --out /tmp/b   # seconds: a smoke run

Every finished run is appended to burgers_table3.json at once, so an interrupted sweep
resumes where it stopped (a run already in the file is not repeated); the table
(burgers_table3.md) and the loss histories (burgers_table3.png) are rendered from it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kancc
from kancc.frontend import spec_init_params
from kancc.physics.problem import collocation_inputs
from kancc.physics.references import burgers_cole_hopf
from kancc.spec import load_spec
from kancc.training.optim import learning_rate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pinn_runs import (  # noqa: E402
    level_ends,
    load_runs,
    mlp,
    run_jobs,
    spread,
    sweep_parser,
    thinned,
    train_mlp,
    write_results,
)

HERE = Path(__file__).resolve().parent
NU = 0.01
SEEDS = (1234, 1244, 1254, 1264, 1274)
SCHEDULES = {"coarse": [3200, 0, 0], "fine": [0, 0, 800], "multilevel": [800, 400, 200]}
MLPS = {"[2,20,20,1]": [2, 20, 20, 1], "[2,56,56,1]": [2, 56, 56, 1]}
MLP_STEPS = 3200
# Table 3 of the paper: mean (std) of the final loss over five seeds.
PAPER = {"coarse": "6.64e-02 (4.06e-02)", "fine": "4.07e-03 (2.51e-03)",
         "multilevel": "2.40e-05 (1.90e-05)", "[2,20,20,1]": "2.33e-02 (1.74e-03)",
         "[2,56,56,1]": "1.73e-04 (7.99e-05)"}


def write_reference(folder: Path, quick: bool) -> Path:
    """The Cole-Hopf solution at nu = NU on a (t, x) grid, as a pde.reference file."""
    shape = (11, 32) if quick else (101, 256)
    t, x = np.meshgrid(np.linspace(0, 1, shape[0]), np.linspace(-1, 1, shape[1]),
                       indexing="ij")
    points = np.stack([t.ravel(), x.ravel()], axis=1)
    path = folder / f"burgers_reference_{shape[0]}x{shape[1]}.npz"
    np.savez(path, points=points, u=burgers_cole_hopf(points[:, 0], points[:, 1], NU))
    return path


def kan_spec(epochs: list[int], seed: int, reference: Path, quick: bool,
             grid: int = 4, boundary: bool = True) -> dict:
    side = 8 if quick else 64
    conditions = [{"kind": "initial", "value": "-sin(pi*x)", "points": side, "sampler": "grid"},
                  {"kind": "dirichlet", "value": "0", "points": side, "sampler": "grid"}]
    return {
        "model": {"name": "burgers_table3", "layers": [2, 8, 1] if quick else [2, 20, 20, 1],
                  "dtype": "float64"},
        "basis": {"degree": 3, "grid": grid, "domain": [-1, 1]},
        "layers": [{}, {"domain": [-2, 2]}] if quick else
                  [{}, {"domain": [-2, 2]}, {"domain": [-2, 2]}],
        "pde": {"variables": ["t", "x"], "time": "t", "box": [[0, 1], [-1, 1]],
                "parameters": {"nu": NU}, "residual": "u_t + u*u_x - nu*u_xx",
                "reference": str(reference), "points": side * side, "sampler": "grid",
                "condition": conditions if boundary else conditions[:1]},
        "train": {"optimizer": "adam", "lr": "0.001", "schedule": "exp-cyclic", "cycle": 100,
                  "gamma": "0.9995", "seed": seed, "multilevel": {"epochs": epochs}},
    }


def noise_params(spec: dict, seed: int) -> dict[str, np.ndarray]:
    """Coefficients drawn from N(0, 0.1^2), as pykan and efficient-kan start their splines
    (small noise), in place of kancc's affine start for [pde] models."""
    shapes = spec_init_params(load_spec(spec), seed)
    rng = np.random.default_rng(seed)
    return {k: 0.1 * rng.standard_normal(v.shape) for k, v in shapes.items()}


def run_kan(job: tuple[str, int, str, bool]) -> dict:
    """A KAN run. A key ending in NOISE starts from noise_params (the fine one on grid 16
    directly, which is what [0, 0, 800] trains); one ending in NO_BOUNDARY drops the
    boundary condition (App. D.2 lists initial points only)."""
    key, seed, reference, quick = job
    fidelity = key.split(",")[0]
    epochs = [max(1, e // 100) if e else 0 for e in SCHEDULES[fidelity]] if quick \
        else SCHEDULES[fidelity]
    start = time.perf_counter()
    if key.endswith(NOISE):
        first = next(i for i, e in enumerate(epochs) if e)
        spec = kan_spec(epochs[first:], seed, Path(reference), quick, grid=4 * 2 ** first)
        result = kancc.train(spec, params=noise_params(spec, seed), log=None)
    else:
        spec = kan_spec(epochs, seed, Path(reference), quick,
                        boundary=not key.endswith(NO_BOUNDARY))
        result = kancc.train(spec, log=None)
    errors = result.physics["rel_l2"]
    return {"model": f"KAN {key}", "key": key, "seed": seed,
            "params": int(sum(v.size for v in result.params.values())),
            "loss": float(result.history[-1, 1]), "rel_l2": float(errors[~np.isnan(errors)][-1]),
            "seconds": time.perf_counter() - start, "status": result.status,
            "history": thinned(result.history[:, :2]),
            "level_ends": level_ends(result.levels)}


def run_mlp(job: tuple[str, int, str, bool]) -> dict:
    """The same loss on the same points, by torch autograd through a tanh MLP."""
    import torch

    name, seed, reference, quick = job
    model = mlp([2, 8, 1] if quick else MLPS[name], "tanh", seed)
    spec = load_spec(kan_spec([1, 0, 0], seed, Path(reference), quick))
    data = {k: torch.tensor(v) for k, v in collocation_inputs(spec, seed).items()}
    steps = 32 if quick else MLP_STEPS

    def loss_of() -> torch.Tensor:
        points = data["interior"].clone().requires_grad_(True)
        u = model(points)
        grad = torch.autograd.grad(u.sum(), points, create_graph=True)[0]
        u_t, u_x = grad[:, :1], grad[:, 1:]
        u_xx = torch.autograd.grad(u_x.sum(), points, create_graph=True)[0][:, 1:]
        residual = u_t + u * u_x - NU * u_xx
        initial = model(data["initial"]) - data["initial.target"]
        boundary = model(data["dirichlet"]) - data["dirichlet.target"]
        return (residual ** 2).mean() + (initial ** 2).mean() + (boundary ** 2).mean()

    history, seconds = train_mlp(
        model, loss_of, steps,
        lambda step: learning_rate(step, 1e-3, 0, steps, "exp-cyclic", 100, 0.9995))
    with np.load(reference) as ref, torch.no_grad():
        u = model(torch.tensor(ref["points"]))[:, 0].numpy()
        rel_l2 = float(np.linalg.norm(u - ref["u"]) / np.linalg.norm(ref["u"]))
    return {"model": f"MLP {name}", "key": name, "seed": seed,
            "params": int(sum(p.numel() for p in model.parameters())),
            "loss": float(history[-1, 1]), "rel_l2": rel_l2, "seconds": seconds,
            "status": "done", "history": thinned(history[:, :2]), "level_ends": []}


NOISE, NO_BOUNDARY = ", noise init", ", no boundary"
ABLATION_SEEDS = (1234, 1244)
ABLATIONS = tuple(f + a for a in (NOISE, NO_BOUNDARY) for f in ("fine", "multilevel"))
ORDER = ("coarse", "fine", "multilevel", "[2,20,20,1]", "[2,56,56,1]", *ABLATIONS)


def summarize(runs: list[dict]) -> list[dict]:
    """One row per model: mean and std over seeds of the final loss and relative L2 error."""
    table = []
    for key in ORDER:
        members = [r for r in runs if r["key"] == key and r["status"] == "done"]
        if not members:
            continue
        loss = np.array([m["loss"] for m in members])
        error = np.array([m["rel_l2"] for m in members])
        table.append({"model": members[0]["model"], "key": key,
                      "params": members[0]["params"], "runs": len(members),
                      "loss_mean": float(loss.mean()), "loss_std": spread(loss),
                      "rel_l2_mean": float(error.mean()), "rel_l2_std": spread(error),
                      "seconds_mean": float(np.mean([m["seconds"] for m in members]))})
    return table


def markdown(table: list[dict]) -> str:
    lines = ["| model | # params | runs | final loss: mean (std) | paper | relative L2 error: "
             "mean (std) | time per run |", "|---|---|---|---|---|---|---|"]
    for row in table:
        paper = PAPER.get(row["key"], "-")
        lines.append(f"| {row['model']} | {row['params']} | {row['runs']} | "
                     f"{row['loss_mean']:.2e} ({row['loss_std']:.2e}) | {paper} | "
                     f"{row['rel_l2_mean']:.2e} ({row['rel_l2_std']:.2e}) | "
                     f"{row['seconds_mean']:.0f} s |")
    mean = {row["key"]: row["loss_mean"] for row in table}
    if "multilevel" in mean:
        ratios = ", ".join(f"{key} / multilevel {mean[key] / mean['multilevel']:.1f}"
                           for key in ORDER[:5] if key in mean and key != "multilevel")
        lines += ["", f"Ratios of mean final loss: {ratios}."]
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    """Loss against step, one curve per run, a panel per model: the multilevel runs show
    the jump and the fast descent after each refinement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key in ORDER if any(r["key"] == key for r in runs)]
    figure, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.0), sharey=True,
                                squeeze=False)
    for axis, key in zip(axes[0], keys):
        for run in (r for r in runs if r["key"] == key):
            history = np.array(run["history"])
            axis.semilogy(history[:, 0], history[:, 1], linewidth=0.8)
            for end in run["level_ends"][:-1]:
                axis.axvline(end, color="grey", linewidth=0.5, linestyle=":")
        axis.set_title(next(r["model"] for r in runs if r["key"] == key), fontsize=9)
        axis.set_xlabel("step")
    axes[0][0].set_ylabel("loss")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render(path: Path, runs: list[dict]) -> str:
    """Write every run to ``path`` (.json), the table (.md) and the histories (.png)."""
    table = summarize(runs)
    text = markdown(table)
    write_results(path, {"nu": NU, "runs": runs, "table": table}, text,
                  lambda png: plot(runs, png))
    return text


def main() -> None:
    parser = sweep_parser(__doc__.splitlines()[0],
                          "tiny models, an 8 x 8 grid, 1%% of the steps: a smoke run", HERE)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")],
                        default=list(SEEDS), help="comma-separated, e.g. 1234,1244")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "burgers_table3.json"
    runs = load_runs(path)
    if not args.render:
        done = {(r["key"], r["seed"]) for r in runs}
        seeds = args.seeds[:2] if args.quick else args.seeds
        with tempfile.TemporaryDirectory() as folder:
            reference = str(write_reference(Path(folder), args.quick))
            jobs = [(run_kan, (key, s, reference, args.quick)) for key in SCHEDULES
                    for s in seeds]
            jobs += [(run_kan, (key, s, reference, args.quick))
                     for key in ABLATIONS for s in seeds if s in ABLATION_SEEDS]
            jobs += [(run_mlp, (key, s, reference, args.quick)) for key in MLPS for s in seeds]
            jobs = [job for job in jobs if (job[1][0], job[1][1]) not in done]
            print(f"{len(jobs)} runs to do ({len(done)} already in {path})", flush=True)

            def finished(run: dict) -> None:
                runs.append(run)
                render(path, runs)
                print(f"{run['model']:<18} seed {run['seed']}: loss {run['loss']:.3e}, "
                      f"relative L2 {run['rel_l2']:.3e} ({run['seconds']:.0f} s)", flush=True)

            run_jobs(jobs, args.jobs, finished)
    print(render(path, runs))


if __name__ == "__main__":
    main()
