"""The Triton module's fixed text: its language table, the runtime helpers it carries and the
functional and nn.Module entry points it ends with."""

from __future__ import annotations

from ..local_basis import Syntax
from ..module_skeleton import Language

SYNTAX = Syntax.of_module(
    "tl", ".to(tl.int32)", gather="tl.load({table} + {index})",
    zeros_int="tl.zeros_like({x}).to(tl.int32)",
    tanh="(1.0 - 2.0 / (tl.exp(2.0 * {x}) + 1.0))")  # -> +-1 where exp overflows or vanishes

RUNTIME = '''

_TABLES = {}


def device_table(name, values, device, dtype):
    """A constant table as a tensor on the device, made once per (device, dtype)."""
    key = (name, str(device), dtype)
    if key not in _TABLES:
        _TABLES[key] = torch.tensor(values, device=device, dtype=dtype)
    return _TABLES[key]


def affine(x, scale, shift):
    """y[:, j] = x[:, j] * scale[j] + shift[j] (kan.affine: standardization), in torch ops."""
    return x * x.new_tensor(scale) + x.new_tensor(shift)


def base_layer(x, w):
    """The base branch silu(x) @ w, in torch ops."""
    return torch.nn.functional.silu(x) @ w


def dsilu(x):
    """d/dx silu(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    sigmoid = torch.sigmoid(x)
    return sigmoid * (1.0 + x * (1.0 - sigmoid))


def check_inputs(params, x):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != INPUT_WIDTH:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (batch, {INPUT_WIDTH}), got {shape}")
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(f"x is on {x.device}: Triton kernels need a CUDA device, or "
                           "TRITON_INTERPRET=1 set before triton is imported to run on CPU")
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
    return y.to(device=x.device, dtype=DTYPE).contiguous()


class _NoSecondDerivative(torch.autograd.Function):
    """Identity on a first-order gradient whose own derivative raises. The compiled vjp
    kernels have no derivative, so a second derivative (a PDE residual's u_xx, a gradient
    penalty) would otherwise come out silently incomplete. ``anchors`` (every input that
    needs a gradient) put the result on the autograd graph even though the kernel output is
    not, on a path to each of them: autograd.grad runs only the nodes leading to the
    inputs asked for, so one anchor would let d/d(coef) of a gradient in x skip the raise."""

    @staticmethod
    def forward(ctx, grad, *anchors):
        return grad.clone()

    @staticmethod
    def backward(ctx, unused):
        raise RuntimeError("a second derivative through the compiled Triton kernels is not "
                           "supported: their backward is differentiable once")


def first_order(grads, inputs):
    """``grads`` as returned by a backward; under create_graph (grad mode on in backward)
    each is wrapped so that differentiating it again raises."""
    if not torch.is_grad_enabled():
        return grads
    anchors = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    if not anchors:
        return grads
    return tuple(None if g is None else _NoSecondDerivative.apply(g, *anchors) for g in grads)


def mse(pred, y):
    """mean over batch and outputs of (pred - y)^2."""
    diff = pred - y
    return torch.mean(diff * diff)


def mse_grad(pred, y):
    return (pred - y) * (2.0 / pred.numel())


def cross_entropy(logits, labels):
    """mean over the batch of -log softmax(logits)[label]."""
    return torch.nn.functional.cross_entropy(logits, labels)


def cross_entropy_grad(logits, labels):
    grad = torch.softmax(logits, dim=1)
    grad[torch.arange(labels.numel(), device=labels.device), labels] -= 1.0
    return grad / labels.numel()
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

TRAINING_MODEL = '''


def forward(params, x, deterministic=False):
    """Evaluate the model on a batch x (torch tensor); differentiable in params through the
    compiled backward kernels (deterministic=True: fixed-order d(coef) reductions)."""
    params, x = check_inputs(params, x)
    return run(params, x, deterministic)


class Model(torch.nn.Module):
    """The compiled KAN as a module; its state_dict keys are the IR's parameter names. Train
    it with any torch optimizer: backward runs the compiled vjp kernels."""

    def __init__(self, device=None, deterministic=False):
        super().__init__()
        self.deterministic = deterministic
        register_parameters(self, device)

    def forward(self, x):
        return forward(dict(self.named_parameters()), x, self.deterministic)
'''

LANGUAGE = Language(
    title="Triton module",
    imports=("import os", "", "import torch", "import triton", "import triton.language as tl"),
    dtypes={"f32": "torch.float32", "f64": "torch.float64"},
    syntax=SYNTAX,
    runtime=RUNTIME,
    training_runtime=TRAINING_RUNTIME,
)
