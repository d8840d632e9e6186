"""Triton backend: the final IR -> one Python module of @triton.jit kernels + torch wrappers.

Each ``kan.fused_layer`` becomes one kernel (``kernels.py``): a program owns a BLOCK_B x
BLOCK_Q tile of the output, walks the layer's inputs p, evaluates the r nonzero basis
functions of x[:, p] in registers and accumulates sum_m B_{k+m}(x[b, p]) coef[p, q, k + m],
so the [batch, in, n_b] basis tensor is never written to memory. Knot and piece tables of
non-uniform grids are small tensors passed as pointers; uniform grids need only the knots.

A training graph (from the autodiff pass) adds a kernel per ``kan.vjp_input`` and
``kan.vjp_coef`` op, a ``torch.autograd.Function`` per layer that calls them (so the module
trains with any torch optimizer, and under DistributedDataParallel), and ``value_and_grad``,
which runs the training graph's equations directly. The module also holds a functional
``forward(params, x)`` and an ``nn.Module`` whose parameter names are the IR's. Tucker
layers (``kan.tucker_layer``, ``kan.vjp_tucker``) reuse the same kernels on a one-input view
(``tucker.py``).
"""

from __future__ import annotations

from kancc.ir import Graph, Op
from kancc.version import VERSION

from kancc.errors import BackendError

from ..common import (LOSS_OPS, TORCH_DTYPES, check_renderable, frozen_line, loss_expression,
                      op_comment, operand_expr, param_shapes, prediction_ops, var)
from .kernels import KERNELS, TARGET_PROGRAMS
from .tucker_kernels import tucker_function, tucker_kernel, tucker_vjp_kernel

SUPPORTED = ("kan.fused_layer", "kan.vjp_input", "kan.vjp_coef", "kan.tucker_layer",
             "kan.vjp_tucker", *LOSS_OPS)
TUCKER_KERNELS = {"kan.tucker_layer": tucker_kernel, "kan.vjp_tucker": tucker_vjp_kernel}
HINT = "the triton backend renders fused layers only (run the inference pipeline, which ends " \
       "with fuse)"

RUNTIME = '''

_TABLES = {}


def device_table(name, values, device, dtype):
    """A constant table as a tensor on the device, made once per (device, dtype)."""
    key = (name, str(device), dtype)
    if key not in _TABLES:
        _TABLES[key] = torch.tensor(values, device=device, dtype=dtype)
    return _TABLES[key]


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


def _function(layer: int, vjp_input: int | None, vjp_coef: int | None) -> list[str]:
    """A torch.autograd.Function running layer ``layer`` and its compiled vjp kernels
    (no vjp_coef: the coefficients are frozen)."""
    if vjp_coef is None:
        dcoef = ['            raise RuntimeError("the coefficients of this layer are frozen")']
    else:
        dcoef = [f"            dcoef = vjp_coef_{vjp_coef}(x, g, ctx.deterministic)"]
    if vjp_input is None:
        dx = ['            raise RuntimeError("compiled without d/dx of the model input: "',
              '                               "use autodiff{wrt=params+input}")']
    else:
        dx = [f"            dx = vjp_input_{vjp_input}(x, coef, g)"]
    return [
        "", "",
        f"class Layer{layer}(torch.autograd.Function):",
        f'    """layer_{layer} forward; backward by '
        + " and ".join(f"{kind}_{index}" for kind, index in
                       (("vjp_coef", vjp_coef), ("vjp_input", vjp_input)) if index is not None)
        + '."""',
        "",
        "    @staticmethod",
        "    def forward(ctx, x, coef, deterministic):",
        "        ctx.save_for_backward(x, coef)",
        "        ctx.deterministic = deterministic",
        f"        return layer_{layer}(x, coef)",
        "",
        "    @staticmethod",
        "    def backward(ctx, g):",
        "        x, coef = ctx.saved_tensors",
        "        dx = dcoef = None",
        "        if ctx.needs_input_grad[0]:",
        *dx,
        "        if ctx.needs_input_grad[1]:",
        *dcoef,
        "        return dx, dcoef, None",
    ]


def _statement(op: Op, index: int) -> str:
    """The torch statement of one op of a training graph."""
    out = ", ".join(var(r) for r in op.results)
    args = [operand_expr(o) for o in op.operands]
    if op.name in LOSS_OPS:
        return f"{out} = {loss_expression(op, args, 'torch', args[0])}"
    if op.name == "kan.fused_layer":
        return f"{out} = layer_{index}({args[0]}, {args[1]})"
    if op.name == "kan.vjp_input":
        return f"{out} = vjp_input_{index}({args[0]}, {args[1]}, {args[2]})"
    if op.name == "kan.vjp_coef":
        return f"{out} = vjp_coef_{index}({args[0]}, {args[2]}, deterministic)"
    if op.name == "kan.tucker_layer":
        return f"{out} = tucker_{index}({', '.join(args)})"
    if op.name == "kan.vjp_tucker":
        return f"{out} = tucker_vjp_{index}({', '.join(args)}, deterministic)"
    raise ValueError(f"no torch statement for {op.name}")


def emit_triton(graph: Graph) -> str:
    """Python source of the Triton module for ``graph`` (inference or training)."""
    check_renderable(graph, "triton", SUPPORTED, HINT)
    for index, op in enumerate(graph.ops):
        if op.attr("kind", "") == "relu":
            raise BackendError(f"the triton backend cannot render op {index} ({op.name} "
                               f"%{op.results[0].name}): kind=relu layers (to-relu-basis) are "
                               "dense and rendered by the numpy backend only")
    dtype = graph.dtype
    forward_ops, prediction = prediction_ops(graph)
    training = len(forward_ops) < len(graph.ops)
    tables: list[str] = []
    functions: list[str] = []
    for index, op in enumerate(graph.ops):
        make = KERNELS.get(op.name) or TUCKER_KERNELS.get(op.name)
        if make is not None:
            kernel = make(op, index, dtype)
            tables += kernel.tables
            functions += ["", ""] + kernel.lines
    x = graph.inputs[0]
    header = [
        f'"""Triton module for kan.graph @{graph.name}, generated by kancc {VERSION}.',
        "",
        "One fused kernel per KAN layer: the local B-spline basis is evaluated in registers and",
        "contracted with the coefficients; the [batch, in, n_b] basis tensor is never stored.",
        *(["Training: backward kernels recompute the basis (or its derivative) the same way;",
           "value_and_grad(params, x, y) runs the training graph, and Model trains with any",
           "torch optimizer."] if training else ["Inference only."]),
        "Deterministic; regenerate rather than edit: kancc compile SPEC --target triton",
        "",
        "forward(params, x) takes torch tensors on a CUDA device (or on the CPU under",
        "TRITON_INTERPRET=1); Model is the same as an nn.Module.",
        '"""',
        "",
        "import os",
        "",
        "import torch",
        "import triton",
        "import triton.language as tl",
        "",
        f"DTYPE = {TORCH_DTYPES[dtype]}",
        f"INPUT_WIDTH = {x.type.shape[1]}",
        f"PARAM_SHAPES = {param_shapes(graph)}",
        frozen_line(graph),
        f"TARGET_PROGRAMS = {TARGET_PROGRAMS}",
    ]
    if training:
        labels = graph.inputs[1].type.dtype == "i32"
        header += [f'TARGET_KIND = "{"labels" if labels else "values"}"',
                   f"TARGET_WIDTH = {prediction.type.shape[1]}"]
    header += ["", *tables]
    layer_index = {id(op): i for i, op in enumerate(graph.ops)}
    calls = []
    for op in forward_ops:
        index = layer_index[id(op)]
        args = ", ".join(operand_expr(o) for o in op.operands)
        calls.append(op_comment(op, "    "))
        if op.name == "kan.add":  # a LoTRA layer's frozen part plus its adapter
            terms = " + ".join(operand_expr(o) for o in op.operands)
            calls.append(f"    {var(op.result)} = {terms}")
        elif training:
            calls.append(f"    {var(op.result)} = Layer{index}.apply({args}, deterministic)")
        elif op.name == "kan.tucker_layer":
            calls.append(f"    {var(op.result)} = tucker_{index}({args})")
        else:
            calls.append(f"    {var(op.result)} = layer_{index}({args})")
    run = [
        "",
        "",
        "def run(params, x, deterministic=False):" if training else "def run(params, x):",
        f'    """The layers of @{graph.name} in order (inputs already checked)."""',
        *([f"    {var(x)} = x"] if var(x) != "x" else []),
        *calls,
        f"    return {var(prediction)}",
    ]
    if training:
        run = _training_functions(graph, forward_ops) + run + _value_and_grad(graph)
    runtime = RUNTIME + (TRAINING_RUNTIME if training else "")
    model = TRAINING_MODEL if training else MODEL
    return "\n".join(header) + runtime + "\n".join(functions + run) + model


def _training_functions(graph: Graph, forward_ops: tuple[Op, ...]) -> list[str]:
    """One autograd.Function per forward layer, wired to the vjp ops of the same operands."""
    lines = []
    for index, op in enumerate(graph.ops):
        if op.name not in ("kan.fused_layer", "kan.tucker_layer") or op not in forward_ops:
            continue
        match = {o.name: i for i, o in enumerate(graph.ops) if o.name.startswith("kan.vjp_")
                 and o.operands[:len(op.operands)] == op.operands}
        if op.name == "kan.tucker_layer":
            if "kan.vjp_tucker" not in match:
                raise BackendError(f"training graph has no kan.vjp_tucker for op {index} "
                                   f"(%{op.result.name}); run autodiff")
            vjp = match["kan.vjp_tucker"]
            lines += tucker_function(index, vjp, len(graph.ops[vjp].results) == 5)
            continue
        if "kan.vjp_coef" not in match and not op.operands[1].frozen:
            raise BackendError(f"training graph has no kan.vjp_coef for op {index} "
                               f"(%{op.result.name}); run autodiff")
        lines += _function(index, match.get("kan.vjp_input"), match.get("kan.vjp_coef"))
    return lines


def _value_and_grad(graph: Graph) -> list[str]:
    x, y = graph.inputs[:2]
    grads = [f'"{p.name}": {var(v)}'
             for p, v in zip(graph.trainable_params, graph.outputs[1:])]
    if len(graph.outputs) > len(graph.trainable_params) + 1:
        grads.append(f'"{x.name}": {var(graph.outputs[-1])}')
    body = []
    for index, op in enumerate(graph.ops):
        body += [op_comment(op, "        "), "        " + _statement(op, index)]
    return [
        "",
        "",
        "def value_and_grad(params, x, y, deterministic=False):",
        '    """(loss, grads) of the batch (x, y) by the compiled training graph: a 0-d tensor',
        '    and a dict of gradients with the keys and shapes of params (less FROZEN)."""',
        "    params, x = check_inputs(params, x)",
        f"    {var(y)} = check_target(y, x)",
        *([f"    {var(x)} = x"] if var(x) != "x" else []),
        "    with torch.no_grad():",
        *body,
        f"    return {var(graph.outputs[0])}, {{{', '.join(grads)}}}",
    ]
