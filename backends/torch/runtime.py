"""The torch module's fixed text: its language table and the runtime helpers it carries.

Every helper is plain torch, so torch autograd differentiates the module to any order (the
local basis is a polynomial in x on each cell) and torch.compile can trace it.
"""

from __future__ import annotations

from ..local_basis import Syntax
from ..module_skeleton import Language
from ..torch_runtime import JETS, TABLES_AND_CHECKS, TARGETS_AND_LOSSES

SYNTAX = Syntax.of_module(
    "torch", ".long()", gather="{table}[{index}]",
    zeros_int="torch.zeros_like({x}, dtype=torch.long)",
    search="torch.clamp(torch.searchsorted({table}, {x}.contiguous(), right=True) - 1, 0, "
           "{last})")

RUNTIME = TABLES_AND_CHECKS + '''


def check_device(x):
    """Any torch device: the module is plain torch ops."""


def scatter_local(k, values, n_basis):
    """Dense [..., n_basis] basis tensor holding values[m] at index k + m, zero elsewhere
    (one scatter: differentiable in the values)."""
    index = torch.stack([k + m for m in range(len(values))], dim=-1)
    local = torch.stack(values, dim=-1)
    zeros = local.new_zeros(k.shape + (n_basis,))
    return zeros.scatter(-1, index, local)


def contract(basis, coef):
    """y[b, q] = sum_(p, i) basis[b, p, i] coef[p, q, i]: one matmul."""
    n_in, n_out, n_b = coef.shape
    weights = coef.permute(0, 2, 1).reshape(n_in * n_b, n_out)
    return basis.reshape(basis.shape[0], n_in * n_b) @ weights


def tucker_layer(basis, core, u1, u2, u3):
    """y[b, q] = sum_(p, i) basis[b, p, i] W[p, q, i] with W = core x1 u1 x2 u2 x3 u3, in
    the cheap order basis -> u3 -> u1 -> core -> u2: W is never formed."""
    z1 = torch.matmul(u1.T, basis @ u3)
    h = z1.reshape(z1.shape[0], -1) @ core.permute(0, 2, 1).reshape(-1, core.shape[1])
    return h @ u2.T
'''

JET_RUNTIME = JETS + '''


def jet_layer(jet, bases, coef):
    """A KAN layer on a jet: bases = [B, B', B''] (or [B, B']) of the value, each
    [batch, in, n_b]; phi'_qp(x_p) = sum_i coef[p, q, i] B'_i(x_p), and phi'' alike."""
    slope, *curve = (torch.einsum("bpi,pqi->bpq", b, coef) for b in bases[1:])
    return jet_combine(jet, contract(bases[0], coef), slope, curve[0] if curve else None)
'''

TRAINING_RUNTIME = TARGETS_AND_LOSSES

LANGUAGE = Language(
    title="PyTorch module",
    imports=("import torch",),
    dtypes={"f32": "torch.float32", "f64": "torch.float64"},
    syntax=SYNTAX,
    runtime=RUNTIME,
    training_runtime=TRAINING_RUNTIME,
)
