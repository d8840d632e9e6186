"""The runtime text every module on torch tensors carries (the torch and Triton targets):
constant tables on the input's device, input and target checks, parameter registration for
the nn.Module, the affine and base-branch ops and the losses. Each target adds its own
``check_device(x)`` and helpers around these. ``JETS``: the jet ops other than the layers
(seed, base branch, affine), differentiated by torch autograd. ``MODEL`` ends an inference
module (and a torch module, which autograd trains): the functional forward and the
nn.Module; ``physics_value_and_grad`` ends a physics loss module."""

from __future__ import annotations

from kancc.ir import Graph

from .module_skeleton import physics_outputs
from .source_text import var

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

JETS = '''


def jet_seed(x, order):
    """The jet [batch, d, 1 + order * d] of the model input: the value x, the first
    derivatives d x_p / d x_k = [p = k], the second derivatives 0."""
    n, d = x.shape
    eye = torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d)
    return torch.cat([x[:, :, None], eye, x.new_zeros((n, d, (order - 1) * d))], dim=2)


def jet_combine(jet, value, slope, curve):
    """The jet of h[b, q] = value = sum_p f_qp(x_p) on the jet of x, from the edges'
    derivatives slope[b, p, q] = f'_qp(x_p) and (order 2) curve[b, p, q] = f''_qp(x_p)."""
    d = (jet.shape[2] - 1) // (1 if curve is None else 2)
    dx = jet[:, :, 1:1 + d]
    channels = [value[:, :, None], torch.einsum("bpq,bpk->bqk", slope, dx)]
    if curve is not None:
        channels.append(torch.einsum("bpq,bpk->bqk", curve, dx * dx)
                        + torch.einsum("bpq,bpk->bqk", slope, jet[:, :, 1 + d:]))
    return torch.cat(channels, dim=2)


def tucker_coef(core, u1, u2, u3):
    """W = core x1 u1 x2 u2 x3 u3 formed (in, out, n_b): jets of Tucker layers."""
    return torch.einsum("abc,pa,qb,ic->pqi", core, u1, u2, u3)


def jet_base_layer(jet, w, order):
    """The base branch silu(x) @ w on a jet."""
    x = jet[:, :, 0]
    sigmoid = torch.sigmoid(x)
    slope = sigmoid * (1.0 + x * (1.0 - sigmoid))
    curve = sigmoid * (1.0 - sigmoid) * (2.0 + x * (1.0 - 2.0 * sigmoid))
    return jet_combine(jet, torch.nn.functional.silu(x) @ w, slope[:, :, None] * w,
                       curve[:, :, None] * w if order == 2 else None)


def jet_affine(jet, scale, shift):
    """kan.affine on a jet: every channel scaled, the value shifted."""
    scaled = jet * jet.new_tensor(scale)[:, None]
    return torch.cat([scaled[:, :, :1] + jet.new_tensor(shift)[:, None], scaled[:, :, 1:]],
                     dim=2)
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


def physics_value_and_grad(graph: Graph, body: list[str], deterministic: bool) -> list[str]:
    """value_and_grad(params, inputs[, deterministic]) of a physics loss graph: ``body``
    (statements at one indent) computes the loss from the named inputs, under grad mode,
    and torch.autograd.grad differentiates it (through the compiled backward of layers
    that are autograd.Functions)."""
    terms, residuals = physics_outputs(graph, ".detach()")
    signature = "params, inputs, deterministic=False" if deterministic else "params, inputs"
    return [
        "", "",
        f"def value_and_grad({signature}):",
        '    """(loss, grads, terms, residuals) of the physics loss on the named inputs',
        '    (tensors of the shapes in INPUTS), by torch.autograd.grad."""',
        "    some = next(iter(inputs.values()))",
        "    check_device(some)",
        "    wrt = {k: v.detach().to(some.device, DTYPE).requires_grad_(True)",
        "           for k, v in params.items() if k not in FROZEN}",
        "    params = {**{k: v.to(some.device, DTYPE) for k, v in params.items()}, **wrt}",
        *(f'    {var(v)} = inputs["{v.name}"].to(DTYPE)' for v in graph.inputs),
        "    with torch.enable_grad():",
        *("    " + line for line in body),
        f"        grads = torch.autograd.grad({var(graph.outputs[0])}, list(wrt.values()))",
        f"    return (float({var(graph.outputs[0])}.detach()), dict(zip(wrt, grads)), "
        f"{terms}, {residuals})",
    ]
