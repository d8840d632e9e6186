"""The torch module's fixed text: its language table and the runtime helpers it carries.

Every helper is plain torch, so torch autograd differentiates the module to any order (the
local basis is a polynomial in x on each cell) and torch.compile can trace it.
"""

from __future__ import annotations

from ..local_basis import Syntax
from ..module_skeleton import Language

SYNTAX = Syntax.of_module(
    "torch", ".long()", gather="{table}[{index}]",
    zeros_int="torch.zeros_like({x}, dtype=torch.long)",
    search="torch.clamp(torch.searchsorted({table}, {x}.contiguous(), right=True) - 1, 0, "
           "{last})")

RUNTIME = '''

_TABLES = {}


def device_table(name, values, like):
    """A constant table as a tensor on ``like``'s device and dtype, made once per pair."""
    key = (name, str(like.device), like.dtype)
    if key not in _TABLES:
        _TABLES[key] = torch.tensor(values, device=like.device, dtype=like.dtype)
    return _TABLES[key]


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


def affine(x, scale, shift):
    """y[:, j] = x[:, j] * scale[j] + shift[j] (kan.affine: standardization)."""
    return x * x.new_tensor(scale) + x.new_tensor(shift)


def check_inputs(params, x):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != INPUT_WIDTH:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (batch, {INPUT_WIDTH}), got {shape}")
    checked = {}
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise KeyError(f"params has no {name!r} (expected keys: {list(PARAM_SHAPES)})")
        value = params[name]
        if tuple(value.shape) != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {tuple(value.shape)}")
        checked[name] = value.to(device=x.device, dtype=DTYPE)
    return checked, x.to(DTYPE)


def register_parameters(model, device):
    """Zero parameters named as in the IR (layers.0.coef: submodule layers.0, leaf coef)."""
    for name, shape in PARAM_SHAPES.items():
        *path, leaf = name.split(".")
        module = model
        for part in path:
            if getattr(module, part, None) is None:
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        zeros = torch.zeros(shape, dtype=DTYPE, device=device)
        module.register_parameter(leaf, torch.nn.Parameter(zeros, name not in FROZEN))
'''

TRAINING_RUNTIME = '''


def check_target(y, x):
    if x.shape[0] == 0:
        raise ValueError("x has no rows: an empty batch has no mean loss")
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a tensor, got {type(y).__name__}")
    if TARGET_KIND == "labels":
        if y.shape != (x.shape[0],) or y.dtype.is_floating_point or y.dtype.is_complex:
            raise ValueError(f"y must be {x.shape[0]} integer class labels, got {y.dtype} "
                             f"{tuple(y.shape)}")
        return y.to(device=x.device, dtype=torch.int64)
    if tuple(y.shape) != (x.shape[0], TARGET_WIDTH):
        raise ValueError(f"y must have shape ({x.shape[0]}, {TARGET_WIDTH}), got "
                         f"{tuple(y.shape)}")
    return y.to(device=x.device, dtype=DTYPE)


def mse(pred, y):
    """mean over batch and outputs of (pred - y)^2."""
    diff = pred - y
    return torch.mean(diff * diff)


def cross_entropy(logits, labels):
    """mean over the batch of -log softmax(logits)[label]."""
    return torch.nn.functional.cross_entropy(logits, labels)
'''

MODEL = '''


def forward(params, x):
    """Evaluate the model on a batch x (a torch tensor on any device); differentiable by torch
    autograd in params and x, to any order."""
    params, x = check_inputs(params, x)
    return run(params, x)


class Model(torch.nn.Module):
    """The compiled KAN as a module; its state_dict keys are the IR's parameter names."""

    def __init__(self, device=None):
        super().__init__()
        register_parameters(self, device)

    def forward(self, x):
        return forward(dict(self.named_parameters()), x)
'''

LANGUAGE = Language(
    title="PyTorch module",
    imports=("import torch",),
    dtypes={"f32": "torch.float32", "f64": "torch.float64"},
    syntax=SYNTAX,
    runtime=RUNTIME,
    training_runtime=TRAINING_RUNTIME,
)
