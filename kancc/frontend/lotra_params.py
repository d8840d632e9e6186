"""LoTRA (low tensor-rank adaptation): W = W_pt + G x1 U1 x2 U2 x3 U3 per layer, W_pt frozen.

What a LoTRA model adds to a pretrained one, at the spec level (parameter names
``layers.{l}.lotra.core`` etc., ``param_names``):

- ``component_rates``: the learning rate of each adapter parameter. Theorem 2 of the LoTRA
  paper makes one step change the output by Theta(1) independently of the layer's size when
  eta_G, eta_U2 = Theta(1), eta_U1 = Theta(1/in) and eta_U3 = Theta(1/n_b); the default
  takes the constant to be train.lr: (lr, lr/in, lr, lr/n_b), the paper's "LR-1" for
  lr = 1e-2, in = 50, n_b = 10. ``[finetune] lr`` overrides it for every layer.
- ``initial_adapter``: eq. (8) with G = 0, so the fine-tuned model starts as the pretrained
  one; U1 ~ N(0, 1/in), U3 ~ N(0, 1/n_b); U2 from the pretrained model's gradient (below).
- ``update`` / ``merged``: the update tensor (formed for inspection and export only).

U2 and the initial output gradient. Eq. (8) asks that every column of U2 have norm Theta(1)
and a Theta(1) inner product with v0 = dL/dPsi at the start, and the paper takes every column
equal to v0/|v0| (one sample, one layer). Equal columns never separate under gradient
descent (the core's slices and U2's columns receive equal updates), so the adapter would
stay of rank 1 in that mode. We take U2's columns to be the leading r2 left singular vectors
of the mode-2 unfolding of dL/dW_pt, the gradient of the layer's pretrained tensor: for one
sample its unfolding is v0 (x) basis, whose leading left singular vector is v0/|v0| (the
paper's choice), and for a batch the columns are orthonormal and ordered by how much of the
output gradient they carry.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kancc.numerics.hosvd import Tucker, leading_left_vectors, ranks_for, unfold
from kancc.spec import Spec

from .param_names import adapted_layers, adapter_names, coef_name, layer_dims


def adapter_ranks(spec: Spec, index: int) -> tuple[int, int, int]:
    assert spec.finetune is not None and spec.finetune.cr is not None
    return ranks_for(layer_dims(spec, index), spec.finetune.cr)


def component_rates(spec: Spec) -> dict[str, float]:
    """The base learning rate of every adapter parameter (before the schedule)."""
    assert spec.finetune is not None and spec.finetune.lotra
    rates: dict[str, float] = {}
    for index in adapted_layers(spec):
        n_in, _, n_b = layer_dims(spec, index)
        if spec.finetune.lr is not None:
            given = tuple(float(v) for v in spec.finetune.lr)
        else:
            lr = spec.train.learning_rate
            given = (lr, lr / n_in, lr, lr / n_b)
        rates.update(zip(adapter_names(index), given))
    return rates


def initial_adapter(spec: Spec, pretrained_grads: Mapping[str, np.ndarray], seed: int
                    ) -> dict[str, np.ndarray]:
    """Eq. (8): core 0, U1 ~ N(0, 1/in), U3 ~ N(0, 1/n_b), U2 aligned with the gradient of
    each layer's pretrained tensor (module docstring); in the spec's dtype."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(spec.dtype)
    params = {}
    for index in adapted_layers(spec):
        n_in, _, n_b = layer_dims(spec, index)
        r1, r2, r3 = adapter_ranks(spec, index)
        grad = np.asarray(pretrained_grads[coef_name(index)], dtype=np.float64)
        values = (np.zeros((r1, r2, r3)),
                  rng.standard_normal((n_in, r1)) / np.sqrt(n_in),
                  leading_left_vectors(unfold(grad, 1), r2),
                  rng.standard_normal((n_b, r3)) / np.sqrt(n_b))
        params.update({name: v.astype(dtype) for name, v in zip(adapter_names(index), values)})
    return params


def update(params: Mapping[str, np.ndarray], index: int) -> np.ndarray:
    """Delta W = G x1 U1 x2 U2 x3 U3 of layer ``index``, in float64."""
    core, u1, u2, u3 = (np.asarray(params[name], dtype=np.float64)
                        for name in adapter_names(index))
    return Tucker(core, (u1, u2, u3)).full()


def merged(spec: Spec, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The full model's coefficients W_pt + Delta W (for ``replace(spec, finetune=None)``);
    a layer without an adapter (and a base branch) as it is."""
    adapters = {name for i in adapted_layers(spec) for name in adapter_names(i)}
    out = {k: v for k, v in params.items() if k not in adapters}
    for index in adapted_layers(spec):
        name = coef_name(index)
        total = np.asarray(params[name], dtype=np.float64) + update(params, index)
        out[name] = total.astype(params[name].dtype)
    return out


def storage(spec: Spec) -> tuple[int, int]:
    """(numbers a LoTRA checkpoint stores, coefficients of the pretrained model); a layer
    without an adapter is stored in full (with its base weights)."""
    adapter = full = 0
    adapted = adapted_layers(spec)
    for index in range(spec.n_layers):
        n_in, n_out, n_b = layer_dims(spec, index)
        full += n_in * n_out * n_b
        if index not in adapted:
            base = n_in * n_out if spec.layers[index].base != "none" else 0
            adapter += n_in * n_out * n_b + base
            continue
        r1, r2, r3 = adapter_ranks(spec, index)
        adapter += r1 * r2 * r3 + n_in * r1 + n_out * r2 + n_b * r3
    return adapter, full


def storage_note(spec: Spec) -> str:
    """What a LoTRA run's message says of its checkpoint's size."""
    stored, full = storage(spec)
    what = "the adapter stores" if len(adapted_layers(spec)) == spec.n_layers else \
        "the checkpoint stores (adapters and the layers fine-tuned in full)"
    return f"{what} {stored} numbers, {stored / full:.1%} of the pretrained model's {full}"
