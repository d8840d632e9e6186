"""``kancc.compile``: spec -> frontend -> pass pipeline -> backend source -> Program.

A Program holds everything a user inspects (the final IR, the text of every stage, the
emitted source) and runs the emitted module on request. Everything ``compile`` depends on
is an argument: it reads no environment variable and sets none.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from kancc.backends import TARGETS
from kancc.ir import Graph, is_training_graph

from .errors import BackendError, KanccError, SlowTargetWarning
from .frontend import build_graph, build_loss_graph, spec_init_params
from .frontend.param_names import layer_form
from .passes import DumpOptions, PassManager, PipelineResult, Step, parse_pipeline
from .physics import physics_loss_graph
from .physics.level_set import model_inputs
from .physics.problem import loss_terms
from .spec import Spec, SpecSource, load_spec
from .spec.pde_equations import pde_equations
from .storage import load_module


class PhysicsLoss(NamedTuple):
    """What a physics loss program gives: the loss, the gradient of every trainable
    parameter, each term's weighted mean square and its per-point residual (prediction -
    target, [points, 1]) by term name."""

    loss: float
    grads: dict[str, np.ndarray]
    terms: dict[str, float]
    residuals: dict[str, np.ndarray]


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
        """Seeded random spec-level parameters (``kancc.frontend.spec_init_params``)."""
        return spec_init_params(self.spec, seed)

    @cached_property
    def module(self) -> ModuleType:
        """The emitted source imported as a module (written to the cache directory). A
        target whose runtime cannot run here is refused, saying why (for Triton without a
        CUDA device: choose its interpreter, ``kancc.use_triton_interpreter()``)."""
        self._require_runtime()
        slow = TARGETS[self.target].slow_here
        problem = slow() if slow is not None else None
        if problem is not None:
            warnings.warn(problem, SlowTargetWarning, stacklevel=3)
        return load_module(self.source, f"{self.spec.name}_{self.target}")

    def _require_runtime(self) -> None:
        problem = TARGETS[self.target].unavailable()
        if problem is not None:
            raise BackendError(f"the {self.target} target cannot run here: {problem}")

    @property
    def training(self) -> bool:
        """Whether this is a training program (its IR returns the loss and gradients)."""
        return is_training_graph(self.ir)

    @property
    def jet_order(self) -> int:
        """The derivative order a jet program carries (compile(..., jet=N)); 0 otherwise."""
        seeds = [op for op in self.ir.ops if op.name == "kan.jet_seed"]
        return int(seeds[0].attr("jet")) if seeds else 0

    def forward(self, params: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Run the compiled model on a batch; NumPy arrays in and out for every target (a
        jet program gives the value y of its jet). A model with a ``pde.level_set`` also
        takes its points as the PDE's variables: |level_set| is appended."""
        if self.spec.pde is not None and self.training:
            raise KanccError("a [pde] spec's training program computes its physics loss: "
                             "compile it without training=True to evaluate the model")
        out = self._run_forward(params, self._with_level_set(x))
        return out[:, :, 0] if self.jet_order else out

    def _with_level_set(self, x: np.ndarray) -> np.ndarray:
        """Points given as a level-set model's variables, as its inputs; x otherwise."""
        pde = self.spec.pde
        x = np.asarray(x)
        if pde is None or pde.level_set is None or x.ndim != 2 or \
                x.shape[1] != len(pde.variables):
            return x
        return model_inputs(pde_equations(pde), x.astype(np.float64)).astype(x.dtype)

    def jet(self, params: Mapping[str, np.ndarray], x: np.ndarray
            ) -> tuple[np.ndarray, ...]:
        """(y, dy[, d2y]) of a program compiled with ``jet=1`` or ``jet=2``: y (B, out) equals
        forward, dy[b, q, k] = dy_q/dx_k and d2y[b, q, k] = d2y_q/dx_k2, both (B, out, in);
        NumPy arrays on every target."""
        if not self.jet_order:
            raise KanccError("jet needs a program compiled with jet=1 or jet=2: "
                             "kancc.compile(spec, target, jet=2)")
        out = self._run_forward(params, x)
        d = (out.shape[2] - 1) // self.jet_order
        return (out[:, :, 0], *(out[:, :, 1 + j * d:1 + (j + 1) * d]
                                for j in range(self.jet_order)))

    def _run_forward(self, params: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """The emitted module's forward; NumPy arrays in and out for every target."""
        if TARGETS[self.target].arrays == "numpy":
            return np.asarray(self.module.forward(params, x))
        torch, device, dtype = self._torch()
        tensors = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in params.items()}
        xt = torch.tensor(np.asarray(x), device=device).to(dtype)  # a copy: x may be read-only
        return np.asarray(self.module.forward(tensors, xt).detach().cpu().numpy())

    def value_and_grad(self, params: Mapping[str, np.ndarray], x: np.ndarray,
                       y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on the batch (x, y) and its gradient for every parameter, computed by the
        compiled training graph; NumPy in and out for every target."""
        if not self.training:
            raise KanccError("value_and_grad needs a training program: "
                             "kancc.compile(spec, target, training=True)")
        if self.spec.pde is not None:
            raise KanccError("a [pde] spec's training program takes named collocation inputs: "
                             "use physics_loss(params, inputs)")
        if TARGETS[self.target].arrays == "numpy":
            loss, grads = self.module.value_and_grad(params, x, y)
            return float(loss), dict(grads)
        torch, device, dtype = self._torch()
        tensors = {k: torch.tensor(np.asarray(v), device=device).to(dtype)
                   for k, v in params.items()}
        xt = torch.tensor(np.asarray(x), device=device).to(dtype)
        yt = torch.tensor(np.asarray(y), device=device)
        loss, grads = self.module.value_and_grad(tensors, xt, yt)
        return float(loss), {k: v.detach().cpu().numpy() for k, v in grads.items()}

    def physics_loss(self, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]
                     ) -> PhysicsLoss:
        """The loss, gradients, loss terms and per-point residuals of a [pde] spec's
        training program on its named inputs (``kancc.physics.problem.collocation_inputs``);
        NumPy arrays on every target."""
        if self.spec.pde is None or not self.training:
            raise KanccError("physics_loss needs a [pde] spec compiled with training=True")
        if TARGETS[self.target].arrays == "numpy":
            loss, grads, terms, residuals = self.module.value_and_grad(params, inputs)
            return PhysicsLoss(float(loss), dict(grads), dict(terms), dict(residuals))
        torch, device, dtype = self._torch()
        tensors = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in params.items()}
        _check_named_inputs(inputs, self.module.INPUTS, self.module.INPUT_ROWS)
        data = {k: torch.as_tensor(np.asarray(inputs[k]), device=device).to(dtype)
                for k in self.module.INPUTS}
        loss, grads, terms, residuals = self.module.value_and_grad(tensors, data)
        return PhysicsLoss(float(loss), {k: v.detach().cpu().numpy() for k, v in grads.items()},
                           dict(terms), {k: v.cpu().numpy() for k, v in residuals.items()})

    def torch_module(self, params: Mapping[str, np.ndarray] | None = None, seed: int = 0
                     ) -> Any:
        """The compiled model as an initialized ``torch.nn.Module`` (targets whose module
        takes torch arrays: torch, triton), its parameters named as in the IR: ``params``
        (program-level, as ``init_params`` gives them), or ``init_params(seed)``."""
        torch, device, dtype = self._torch()
        model = self.module.Model(device=device)
        values = self.init_params(seed) if params is None else params
        model.load_state_dict({name: torch.as_tensor(np.asarray(value), dtype=dtype)
                               for name, value in values.items()})
        return model

    def _torch(self) -> tuple[Any, str, Any]:
        """torch, the device the module runs on, and the model's torch dtype."""
        self._require_runtime()  # before torch is touched
        if TARGETS[self.target].arrays != "torch":
            raise BackendError(f"the {self.target} target's module takes "
                               f"{TARGETS[self.target].arrays} arrays, which kancc cannot call")
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        return torch, device, getattr(torch, self.spec.dtype)


def _check_named_inputs(inputs: Mapping[str, np.ndarray],
                        shapes: Mapping[str, tuple[int, ...]], rows: Mapping[str, str]) -> None:
    """Every input a physics module reads is there, of (rows, *its shape), with as many rows
    as the other inputs of its point set (the NumPy module checks the same itself)."""
    seen: dict[str, int] = {}
    for name, expected in shapes.items():
        if name not in inputs:
            raise KanccError(f"inputs has no {name!r} (expected: {list(shapes)})")
        shape = np.shape(inputs[name])
        if tuple(shape[1:]) != tuple(expected) or len(shape) == 0 or shape[0] == 0:
            raise KanccError(f"inputs[{name!r}] must have shape (rows > 0, "
                             f"{', '.join(map(str, expected))}), got {shape}")
        if seen.setdefault(rows[name], shape[0]) != shape[0]:
            raise KanccError(f"inputs[{name!r}] has {shape[0]} rows, but other inputs of its "
                             f"point set have {seen[rows[name]]}")


def compile(spec: SpecSource, target: str = "numpy", *, training: bool = False,
            jet: int = 0, passes: str | None = None, dump: DumpOptions | None = None,
            check_roundtrip: bool = False) -> Program:
    """Compile a spec (path, dict or Spec) for ``target`` (a name in kancc.backends.TARGETS:
    "numpy", "torch" or "triton").

    ``training=True`` compiles the loss graph of the spec's [train] table and differentiates
    it (pipeline "training"): the Program gains ``value_and_grad``; of a spec with a [pde]
    table, the physics loss (kancc.physics) instead: the Program gains ``physics_loss``.
    ``jet=1`` or ``jet=2`` runs the jet pass (before expand-layers): the Program gains
    ``jet(params, x)``, the model's input derivatives. ``passes`` is a pipeline
    name ("inference", "reference", "training", "training-reference") or a pass list such as
    ``"expand-layers,lower-basis{eval=cox-de-boor}"``; default "inference". ``dump`` prints
    or writes IR between passes. ``check_roundtrip`` checks parse(print(ir)) == ir after
    every pass.
    """
    if target not in TARGETS:
        raise KanccError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    spec = load_spec(spec)
    if training and spec.pde is not None:
        if not TARGETS[target].physics:
            able = ", ".join(name for name, t in TARGETS.items() if t.physics)
            raise BackendError(f"the {target} target does not render physics losses yet "
                               f"(targets that do: {able})")
        factored = [i for i in range(spec.n_layers) if layer_form(spec, i) != "full"]
        if factored:
            raise KanccError(f"layers[{factored[0]}] is a Tucker or LoTRA layer, which a "
                             "physics loss does not differentiate through: compile the "
                             "unfactorized model (kancc.tools.unfactorized.unfactorized_spec);"
                             " kancc.train moves the factors around it")
        graph = physics_loss_graph(spec, loss_terms(spec))
    else:
        graph = build_loss_graph(spec) if training else build_graph(spec)
    if passes is None:
        passes = "training" if training else "inference"
    steps = parse_pipeline(passes)
    if jet:
        steps = _with_jet(steps, target, jet, training)
    manager = PassManager(steps, dump=dump, check_roundtrip=check_roundtrip)
    result = manager.run(graph)
    if training and not is_training_graph(result.graph):
        raise KanccError(f"training=True needs a pipeline that runs autodiff (such as "
                         f"\"training\"); {passes!r} does not")
    source = TARGETS[target].emit(result.graph)
    return Program(spec, target, result, source)


def _with_jet(steps: tuple[Step, ...], target: str, jet: int, training: bool
              ) -> tuple[Step, ...]:
    """``steps`` with the jet pass inserted before expand-layers (after the passes that
    rewrite the spec view: refine, tucker, to-relu-basis), for a target that renders jets."""
    if jet not in (1, 2):
        raise KanccError(f"jet must be 0, 1 or 2, got {jet!r}")
    if training:
        raise KanccError("jet and training cannot be combined: a jet program evaluates input "
                         "derivatives; a loss of them is a [pde] table's physics loss, which "
                         "training=True compiles with its jets")
    if not TARGETS[target].jets:
        jet_targets = ", ".join(name for name, t in TARGETS.items() if t.jets)
        raise BackendError(f"the {target} target does not compute jets yet (targets that "
                           f"do: {jet_targets})")
    names = [step.pass_.name for step in steps]
    at = names.index("expand-layers") if "expand-layers" in names else 0
    (jet_step,) = parse_pipeline(f"jet{{order={jet}}}")
    return steps[:at] + (jet_step,) + steps[at:]
