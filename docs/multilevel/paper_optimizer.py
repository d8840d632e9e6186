"""Table 2 rows with torch.optim.LBFGS instead of kancc's trainer: lr 1.0, max_iter 20 per
epoch, memory kept across the epochs of a level, gradients from kancc's compiled
value_and_grad, levels prolonged exactly. The defaults are the paper's optimizer (torch's
defaults: history 100, no line search); --line-search strong_wolfe and --history change it,
--config picks table2's model configuration. Jobs are FIDELITY:GEOMETRY:SEED:

    python docs/multilevel/paper_optimizer.py multilevel:spline:1234 coarse:spline:1234
    python docs/multilevel/paper_optimizer.py --line-search strong_wolfe coarse:spline:1235
"""

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

import kancc
from kancc.frontend import prolong_params
from kancc.passes import PIPELINES
from kancc.spec.refinement import refine_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import table2  # noqa: E402


def run(job):
    fidelity, geometry, seed, line_search, history, config, ramp = job
    torch.set_num_threads(1)
    x, y = table2.dataset()
    schedule = table2.SCHEDULES[fidelity]
    raw = table2.kan_spec(schedule, geometry, seed, 1, config)
    raw["train"] = {"loss": "mse"}
    spec = kancc.load_spec(raw)
    passes = ("to-relu-basis," if geometry == "relu" else "") + PIPELINES["training"]
    last = max(i for i, e in enumerate(schedule) if e)
    current, prev = None, None
    losses = []
    t0 = time.perf_counter()
    for k, epochs in enumerate(schedule[:last + 1]):
        level = spec if k == 0 else refine_spec(prev, 2)
        if current is not None:
            current = prolong_params(prev, level, current)
        prev = level
        if epochs == 0:
            continue
        program = kancc.compile(level, training=True, passes=passes)
        u = current if current is not None else program.spec_init_params(seed)
        w = program.pipeline.map_params(u)
        t = {n: torch.tensor(v, requires_grad=True) for n, v in w.items()}
        opt = torch.optim.LBFGS(list(t.values()), lr=1.0, max_iter=20, history_size=history,
                                line_search_fn=line_search)

        def closure(program=program, t=t):
            values = {n: v.detach().numpy() for n, v in t.items()}
            loss, grads = program.value_and_grad(values, x, y)
            for n, g in grads.items():
                t[n].grad = torch.tensor(np.ascontiguousarray(g))
            return torch.tensor(loss)

        for epoch in range(epochs):
            opt.param_groups[0]["lr"] = min(1.0, (epoch + 1) / (ramp + 1))
            opt.step(closure)
        final = {n: v.detach().numpy().copy() for n, v in t.items()}
        losses.append(program.value_and_grad(final, x, y)[0])
        current = program.pipeline.unmap_params(final)
    return {"fidelity": fidelity, "geometry": geometry, "seed": seed,
            "line_search": line_search, "history": history, "config": config, "ramp": ramp,
            "level_mse": [float(v) for v in losses], "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", nargs="+", metavar="FIDELITY:GEOMETRY:SEED")
    parser.add_argument("--line-search", choices=["strong_wolfe"], default=None)
    parser.add_argument("--history", type=int, default=100)
    parser.add_argument("--config", choices=list(table2.CONFIGS), default="cubic-2")
    parser.add_argument("--ramp", type=int, default=0, metavar="EPOCHS",
                        help="raise lr linearly to 1.0 over the first EPOCHS epochs of a level")
    args = parser.parse_args()
    jobs = [(f, g, int(s), args.line_search, args.history, args.config, args.ramp)
            for f, g, s in (job.split(":") for job in args.jobs)]
    with ProcessPoolExecutor(2) as pool:
        for row in pool.map(run, jobs):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
