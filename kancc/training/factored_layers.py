"""Tucker (Slim) layers and LoTRA adapters in physics-informed training.

The physics program runs on the unfactorized model (``kancc.tools.unfactorized``), whose
full layers have jets: forming W = G x1 U1 x2 U2 x3 U3 (or W_pt + Delta W) once per step
costs in*out*n_b multiply-adds per layer, less than evaluating the layer's jet at a single
collocation point with its 1 + 2d channels. The optimizer iterates on what the spec trains:
a Slim layer's factors, or a LoTRA layer's adapter with W_pt frozen (held here, not an
optimizer variable); the other layers' coefficients as they are. Their gradients come from
dL/dW by the chain rule through the multilinear product (``Tucker.gradient``), exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kancc.errors import KanccError
from kancc.frontend import lotra_params, spec_init_params
from kancc.frontend.param_names import (
    adapted_layers,
    adapter_names,
    coef_name,
    layer_form,
    tucker_names,
)
from kancc.numerics.hosvd import Tucker
from kancc.program import Program
from kancc.spec import Spec
from kancc.storage.checkpoints import load_pretrained
from kancc.tools.unfactorized import unfactorized_model

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class FactoredLayers:
    """The maps between a factorized spec's parameters, the optimizer's variables (the
    parameters less the frozen ones) and the unfactorized model's coefficients."""

    spec: Spec
    frozen: Mapping[str, np.ndarray]  # LoTRA's pretrained coefficients; none for Slim

    def variables(self, params: Mapping[str, np.ndarray]) -> Params:
        return {k: v for k, v in params.items() if k not in self.frozen}

    def params(self, variables: Mapping[str, np.ndarray]) -> Params:
        """The spec's parameters (what a checkpoint of the spec stores)."""
        return {**self.frozen, **variables}

    def coefficients(self, variables: Mapping[str, np.ndarray]) -> Params:
        return unfactorized_model(self.spec, self.params(variables))[1]

    def gradient(self, grads: Mapping[str, np.ndarray], variables: Mapping[str, np.ndarray]
                 ) -> Params:
        """dL/dW of each layer -> the gradients of its factors (or adapter)."""
        out = {k: v for k, v in grads.items() if k in variables}
        for index in range(self.spec.n_layers):
            form = layer_form(self.spec, index)
            if form == "full":
                continue
            names = tucker_names(index) if form == "tucker" else adapter_names(index)
            core, u1, u2, u3 = (np.asarray(variables[n], dtype=np.float64) for n in names)
            tucker = Tucker(core, (u1, u2, u3))
            full_gradient = np.asarray(grads[coef_name(index)], dtype=np.float64)
            for name, gradient in zip(names, tucker.gradient(full_gradient)):
                out[name] = gradient.astype(variables[name].dtype)
        return out


def factored_start(spec: Spec, program: Program, inputs: Mapping[str, np.ndarray],
                   given: Params | None = None) -> tuple[Params, FactoredLayers]:
    """The starting parameters of a factorized or fine-tuned [pde] spec and its maps:
    ``given`` (checked spec parameters: a LoTRA run resumes with their W_pt) or new ones.
    LoTRA's U2 follows the gradient of the new problem's physics loss at the pretrained
    model (eq. (8), ``lotra_params.initial_adapter``); ``program`` is the unfactorized
    model's physics program."""
    start = given if given is not None else _new_start(spec, program, inputs)
    frozen = {coef_name(i): start[coef_name(i)] for i in adapted_layers(spec)}
    return start, FactoredLayers(spec, frozen)


def _new_start(spec: Spec, program: Program, inputs: Mapping[str, np.ndarray]) -> Params:
    """A Slim spec's initialization, the pretrained model, or it with a new LoTRA adapter."""
    finetune = spec.finetune
    if finetune is None:
        return spec_init_params(spec, spec.train.seed)
    pretrained = load_pretrained(spec).params
    if not finetune.lotra:
        return dict(pretrained)
    loss = program.physics_loss(dict(pretrained), dict(inputs))
    if not np.isfinite(loss.loss):
        raise KanccError(f"{spec.name}: the pretrained model's physics loss on this problem "
                         f"is {loss.loss}; LoTRA needs its gradient to start")
    return {**pretrained, **lotra_params.initial_adapter(spec, loss.grads, spec.train.seed)}
