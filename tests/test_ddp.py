"""The Triton module under torch DistributedDataParallel: 2 processes, gloo, CPU interpreter."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kancc.backends import triton_installed

pytestmark = pytest.mark.skipif(not triton_installed(), reason="torch and triton not installed")
WORKER = Path(__file__).with_name("ddp_worker.py")


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_two_ranks_match_single_process_training(tmp_path):
    port = free_port()
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    ranks = [subprocess.Popen([sys.executable, str(WORKER), str(r), "2", port, str(tmp_path)],
                              env=env, stderr=subprocess.PIPE, text=True) for r in range(2)]
    single = subprocess.run([sys.executable, str(WORKER), "0", "1", port, str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    errors = [p.communicate(timeout=300)[1] for p in ranks]
    assert all(p.returncode == 0 for p in ranks), errors
    assert single.returncode == 0, single.stderr
    rank0, rank1 = (np.load(tmp_path / f"rank{r}_of2.npz") for r in range(2))
    alone = np.load(tmp_path / "rank0_of1.npz")
    assert set(rank0.files) == {"layers.0.coef", "layers.1.coef"}
    for name in rank0.files:
        assert np.array_equal(rank0[name], rank1[name])  # DDP keeps the ranks identical
        np.testing.assert_allclose(rank0[name], alone[name], rtol=1e-10, atol=1e-12)
    start = np.load(tmp_path / "start.npz")
    for name in rank0.files:  # training moved every parameter
        assert np.max(np.abs(rank0[name] - start[name])) > 1e-3
