"""The runtime text every module on torch tensors carries (the torch and Triton targets):
constant tables on the input's device, input and target checks, parameter registration for
the nn.Module, the affine and base-branch ops and the losses. Each target adds its own
``check_device(x)`` and helpers around these. ``MODEL`` ends an inference module (and a
torch module, which autograd trains): the functional forward and the nn.Module."""

from __future__ import annotations

TABLES_AND_CHECKS = '''

_TABLES = {}


def device_table(name, values, device, dtype):
    """A constant table as a tensor on the device, made once per (device, dtype)."""
    key = (name, str(device), dtype)
    if key not in _TABLES:
        _TABLES[key] = torch.tensor(values, device=device, dtype=dtype)
    return _TABLES[key]


def affine(x, scale, shift):
    """y[:, j] = x[:, j] * scale[j] + shift[j] (kan.affine: standardization)."""
    return x * x.new_tensor(scale) + x.new_tensor(shift)


def base_layer(x, w):
    """The base branch silu(x) @ w."""
    return torch.nn.functional.silu(x) @ w


def check_inputs(params, x):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != INPUT_WIDTH:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (batch, {INPUT_WIDTH}), got {shape}")
    check_device(x)
    checked = {}
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise KeyError(f"params has no {name!r} (expected keys: {list(PARAM_SHAPES)})")
        value = params[name]
        if tuple(value.shape) != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {tuple(value.shape)}")
        checked[name] = value.to(device=x.device, dtype=DTYPE).contiguous()
    return checked, x.to(DTYPE).contiguous()


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

TARGETS_AND_LOSSES = '''


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
    return y.to(device=x.device, dtype=DTYPE).contiguous()


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
    """Evaluate the model on a batch x (torch tensor); params maps IR names to tensors."""
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
