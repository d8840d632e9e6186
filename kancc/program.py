"""``kancc.compile``: spec -> frontend -> pass pipeline -> backend source -> Program.

A Program holds everything a user inspects (the final IR, the text of every stage, the
emitted source) and runs the emitted module on request.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Mapping

import numpy as np

from kancc.backends import TARGETS
from kancc.ir import Graph
from kancc.ir.dialect import GRADIENT_OPS

from .errors import BackendError, KanccError
from .frontend import build_graph, build_loss_graph, spec_init_params
from .passes import DumpOptions, PassManager, PipelineResult, parse_pipeline
from .spec import Spec, SpecSource, load_spec
from .storage import load_module


@dataclass(frozen=True)
class Program:
    spec: Spec
    target: str
    pipeline: PipelineResult = field(repr=False)
    source: str = field(repr=False)

    @property
    def input_ir(self) -> Graph:
        """What the frontend built; parameters are initialized at this level."""
        return self.pipeline.stage_graphs[0][1]

    @property
    def ir(self) -> Graph:
        """The final graph the backend rendered."""
        return self.pipeline.graph

    @property
    def stages(self) -> list[tuple[str, str]]:
        """(pass label, IR text after it) for every stage, starting with ("input", ...)."""
        return list(self.pipeline.stages)

    def init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Seeded random parameters of the program: ``spec_init_params(seed)`` mapped
        through every pass's param map."""
        return self.pipeline.map_params(self.spec_init_params(seed))

    def spec_init_params(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Seeded random spec-level parameters: coef ~ N(0, 1/in), so a layer's output has
        unit scale (the B-splines of a point sum to one); N(0, 1/(in n_b)) for the global
        kinds, whose n_b functions all have size about one. Tucker layers start as seed 004's
        eq. (8) with no pretrained tensor (a Slim KAN): core = 0, U1 ~ N(0, 1/in),
        U2 ~ N(0, 1/out) (columns of norm about 1), U3 ~ N(0, 1/n_b)."""
        return spec_init_params(self.spec, seed)

    @cached_property
    def module(self) -> ModuleType:
        """The emitted source imported as a module (written to the cache directory)."""
        if self.target == "triton":
            _prepare_triton()
        return load_module(self.source, f"{self.spec.name}_{self.target}")

    def forward(self, params: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Run the compiled model on a batch; NumPy arrays in and out for every target."""
        if self.target == "numpy":
            return self.module.forward(params, x)
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = getattr(torch, self.spec.dtype)
        tensors = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in params.items()}
        xt = torch.tensor(np.asarray(x), device=device).to(dtype)  # a copy: x may be read-only
        return self.module.forward(tensors, xt).detach().cpu().numpy()

    @property
    def training(self) -> bool:
        """Whether this is a training program (its IR returns the loss and gradients)."""
        return any(op.name == "kan.loss" for op in self.ir.ops)

    def value_and_grad(self, params: Mapping[str, np.ndarray], x: np.ndarray,
                       y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on the batch (x, y) and its gradient for every parameter, computed by the
        compiled training graph; NumPy in and out for every target."""
        if not self.training:
            raise KanccError("value_and_grad needs a training program: "
                             "kancc.compile(spec, target, training=True)")
        if self.target == "numpy":
            return self.module.value_and_grad(params, x, y)
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = getattr(torch, self.spec.dtype)
        tensors = {k: torch.tensor(np.asarray(v), device=device).to(dtype)
                   for k, v in params.items()}
        xt = torch.tensor(np.asarray(x), device=device).to(dtype)
        yt = torch.tensor(np.asarray(y), device=device)
        loss, grads = self.module.value_and_grad(tensors, xt, yt)
        return float(loss), {k: v.detach().cpu().numpy() for k, v in grads.items()}


def _prepare_triton() -> None:
    """Without a CUDA device, Triton kernels can only run in its interpreter, which must be
    switched on (for this process) before triton is first imported."""
    try:
        import torch
    except ImportError:
        raise BackendError("the triton target needs torch and triton: "
                           "pip install 'kancc[triton]'") from None
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    if not torch.cuda.is_available() and not interpret:
        if "triton" in sys.modules:
            raise BackendError("no CUDA device, and triton was imported before its interpreter "
                               "could be enabled: set TRITON_INTERPRET=1 before importing triton")
        os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton  # noqa: F401
    except ImportError:
        raise BackendError("the triton target needs triton: pip install 'kancc[triton]'") \
            from None


def compile(spec: SpecSource, target: str = "numpy", *, training: bool = False,
            passes: str | None = None, dump: DumpOptions | None = None,
            check_roundtrip: bool | None = None) -> Program:
    """Compile a spec (path, dict or Spec) for ``target`` ("numpy" or "triton").

    ``training=True`` compiles the loss graph of the spec's [train] table and differentiates
    it (pipeline "training"): the Program gains ``value_and_grad``. ``passes`` is a pipeline
    name ("inference", "reference", "training", "training-reference") or a pass list such as
    ``"expand-layers,lower-basis{eval=cox-de-boor}"``; default "inference". ``dump`` prints
    or writes IR between passes. ``check_roundtrip`` checks parse(print(ir)) == ir after
    every pass (default: the KANCC_CHECK_ROUNDTRIP environment variable).
    """
    if target not in TARGETS:
        raise KanccError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    spec = load_spec(spec)
    if check_roundtrip is None:
        check_roundtrip = os.environ.get("KANCC_CHECK_ROUNDTRIP", "") not in ("", "0")
    graph = build_loss_graph(spec) if training else build_graph(spec)
    if passes is None:
        passes = "training" if training else "inference"
    manager = PassManager(parse_pipeline(passes), dump=dump, check_roundtrip=check_roundtrip)
    result = manager.run(graph)
    if training and not any(op.name in GRADIENT_OPS for op in result.graph.ops):
        raise KanccError(f"training=True needs a pipeline that runs autodiff (such as "
                         f"\"training\"); {passes!r} does not")
    source = TARGETS[target].emit(result.graph)
    return Program(spec, target, result, source)
