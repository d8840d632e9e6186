"""The targets kancc compiles for: one registry that ``compile``, the CLI and the trainers
read. A new target is one entry here (its emitter, the array library its module takes, the
packages its runtime needs) plus its folder of renderers.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from kancc.errors import BackendError
from kancc.ir import Graph

from .numpy import emit_numpy
from .torch import emit_torch
from .triton import emit_triton


@dataclass(frozen=True)
class Target:
    """A code generator and what its emitted module needs to run."""

    name: str
    emit: Callable[[Graph], str]
    arrays: str  # the array library the module's functions take: "numpy" or "torch"
    runtime: tuple[str, ...]  # packages the emitted module imports
    install: str  # how to get them
    summary: str
    device_problem: Callable[[], str | None] | None = None  # runtime installed, not usable
    slow_here: Callable[[], str | None] | None = None  # usable, but far from its speed
    jets: bool = False  # renders the jet ops (compile(..., jet=N))
    physics: bool = False  # renders physics loss graphs (a [pde] spec's training program)

    def missing_runtime(self) -> str | None:
        """Why the emitted module cannot run here (a package is not installed), or None."""
        if all(importlib.util.find_spec(name) is not None for name in self.runtime):
            return None
        return f"{' or '.join(self.runtime)} is not installed ({self.install})"

    def unavailable(self) -> str | None:
        """Why the emitted module cannot run in this process now, or None."""
        missing = self.missing_runtime()
        if missing is not None or self.device_problem is None:
            return missing
        return self.device_problem()


def _triton_device_problem() -> str | None:
    """Triton kernels need a CUDA device, or its interpreter chosen before triton loads."""
    import torch

    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        return None
    return ("no CUDA device, and Triton's interpreter was not chosen: call "
            "kancc.use_triton_interpreter() before anything imports triton (or set "
            "TRITON_INTERPRET=1) to run the kernels on the CPU")


def _triton_interpreted() -> str | None:
    if os.environ.get("TRITON_INTERPRET") != "1":
        return None
    return ("the triton target runs in Triton's interpreter on the CPU, 10-100x slower than "
            "the numpy and torch targets; use --target torch (or numpy) on a CPU")


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("numpy", emit_numpy, "numpy", ("numpy",), "pip install numpy",
           "a standalone NumPy module: the readable reference", jets=True, physics=True),
    Target("torch", emit_torch, "torch", ("torch",), "pip install torch",
           "plain PyTorch ops on any torch device, differentiated by torch autograd (to any "
           "order)", jets=True, physics=True),
    Target("triton", emit_triton, "torch", ("torch", "triton"), "pip install 'kancc[triton]'",
           "fused Triton kernels with torch wrappers (CUDA, or Triton's interpreter on CPU)",
           _triton_device_problem, _triton_interpreted, jets=True, physics=True),
)}


def triton_installed() -> bool:
    """torch and triton are importable (checked without importing triton)."""
    return TARGETS["triton"].missing_runtime() is None


def cuda_available() -> bool:
    if not triton_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())


def use_triton_interpreter() -> None:
    """Run Triton kernels in Triton's interpreter (on the CPU) in this process.

    Triton reads TRITON_INTERPRET once, when it is first imported, so this must come before
    anything imports triton; kancc never sets it on its own. The kancc CLI calls it when the
    triton target is asked for on a machine without a CUDA device."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        return
    if "triton" in sys.modules:
        raise BackendError("triton was imported before its interpreter could be enabled: "
                           "call kancc.use_triton_interpreter() (or set TRITON_INTERPRET=1) "
                           "before importing triton")
    os.environ["TRITON_INTERPRET"] = "1"


def run_anywhere(name: str) -> None:
    """Let target ``name`` run on this machine: Triton without a CUDA device runs in its
    interpreter. The kancc command calls this for the targets it is asked to run; the
    library never makes the choice on its own."""
    if name == "triton" and triton_installed() and not cuda_available():
        use_triton_interpreter()
