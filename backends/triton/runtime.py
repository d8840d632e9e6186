"""The Triton module's fixed text: its language table, the runtime helpers it carries and the
functional and nn.Module entry points it ends with."""

from __future__ import annotations

from ..local_basis import Syntax
from ..module_skeleton import Language
from ..torch_runtime import TABLES_AND_CHECKS, TARGETS_AND_LOSSES

SYNTAX = Syntax.of_module(
    "tl", ".to(tl.int32)", gather="tl.load({table} + {index})",
    zeros_int="tl.zeros_like({x}).to(tl.int32)",
    tanh="(1.0 - 2.0 / (tl.exp(2.0 * {x}) + 1.0))")  # -> +-1 where exp overflows or vanishes

RUNTIME = TABLES_AND_CHECKS + '''


def check_device(x):
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(f"x is on {x.device}: Triton kernels need a CUDA device, or "
                           "TRITON_INTERPRET=1 set before triton is imported to run on CPU")


def dsilu(x):
    """d/dx silu(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))."""
    sigmoid = torch.sigmoid(x)
    return sigmoid * (1.0 + x * (1.0 - sigmoid))
'''

TRAINING_RUNTIME = TARGETS_AND_LOSSES + '''


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


def mse_grad(pred, y):
    return (pred - y) * (2.0 / pred.numel())


def cross_entropy_grad(logits, labels):
    grad = torch.softmax(logits, dim=1)
    grad[torch.arange(labels.numel(), device=labels.device), labels] -= 1.0
    return grad / labels.numel()
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
