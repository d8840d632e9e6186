"""One rank of the DistributedDataParallel test (tests/test_ddp.py): trains the Triton
module on its half of the batch with gloo on CPU and saves its final parameters.

    python tests/ddp_worker.py RANK WORLD PORT OUT_DIR     (WORLD = 1: the whole batch)
"""

import os
import sys

os.environ.setdefault("TRITON_INTERPRET", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import kancc  # noqa: E402

SPEC = {"model": {"layers": [2, 3, 1], "dtype": "float64"}, "basis": {"grid": 4},
        "train": {}}
STEPS, ROWS = 5, 64


def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.uniform(-1, 1, (ROWS, 2)))
    return x, torch.sin(3 * x[:, :1]) * x[:, 1:]


def main() -> None:
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    program = kancc.compile(SPEC, "triton", training=True)
    model = program.module.Model()
    model.load_state_dict({k: torch.tensor(v) for k, v in program.init_params(0).items()})
    x, y = data()
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
        rows = slice(rank * ROWS // world, (rank + 1) * ROWS // world)
        x, y = x[rows], y[rows]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        optimizer.step()
    if world == 1:
        np.savez(os.path.join(out, "start.npz"), **program.init_params(0))
    module = model.module if world > 1 else model
    np.savez(os.path.join(out, f"rank{rank}_of{world}.npz"),
             **{k: v.detach().numpy() for k, v in module.state_dict().items()})
    if world > 1:
        dist.barrier()  # both ranks done before either tears gloo down: a rank that left
        dist.destroy_process_group()  # early made the other's gloo thread std::terminate


if __name__ == "__main__":
    main()
