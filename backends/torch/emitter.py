"""PyTorch backend: the final IR -> one Python module of plain torch ops (imports torch only).

Each basis op becomes a function that computes the r local basis values of every input
(the same straight-line code as the NumPy reference, ``local_basis``), scatters them into
the [batch, in, n_b] basis tensor, and a layer is one matmul with its coefficients. Nothing
is hand-differentiated: torch autograd differentiates the module, to any order (the basis
is a polynomial in x on each cell; the cell index is piecewise constant), so double
backward and PDE residuals work, and the module runs on any torch device (CPU, CUDA, MPS)
and under torch.compile.

A training graph's reverse sweep (autodiff's vjp ops) is not rendered: ``value_and_grad``
evaluates the graph's loss (the ops its output depends on) and asks torch.autograd.grad
for the gradients the graph returns (every trainable parameter, and x when it returns
d/dx). Ops are rendered by ``RULES``, one expression rule per op name.
"""

from __future__ import annotations

from collections.abc import Callable

from kancc.errors import BackendError
from kancc.ir import Graph, Op, Trait, has_trait, is_training_graph, n_basis

from ..jet_rules import JET_EXPRESSIONS
from ..local_basis import local_basis
from ..loss_rules import loss_expression
from ..module_skeleton import (
    check_renderable,
    is_physics_graph,
    module_text,
    ops_computing,
    physics_input_constants,
    prediction_ops,
)
from ..source_text import (
    affine_call,
    describe_basis,
    float_list,
    op_comment,
    operand_expr,
    results_of,
    var,
)
from ..torch_runtime import MODEL, physics_value_and_grad
from .runtime import JET_RUNTIME, LANGUAGE

HINT = "run expand-layers and lower-basis first (e.g. --passes inference)"


class _BasisFunctions:
    """The module's basis functions (one per distinct basis) and their constant tables."""

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.functions: list[str] = []
        self.names: dict[tuple[object, ...], str] = {}

    def name_of(self, op: Op, derivative: int = 0) -> str:
        """The function evaluating op's basis (derivative 0), B' (1) or B'' (2)."""
        used = ("", "dpieces", "d2pieces")[derivative]
        key = (tuple((k, v) for k, v in op.attrs
                     if k not in ("jet", "dpieces", "d2pieces") or k == used), derivative)
        if key in self.names:
            return self.names[key]
        if op.attr("kind") == "relu":
            raise BackendError(f"the torch backend cannot render {op.name} "
                               f"%{op.results[0].name}: kind=relu layers (to-relu-basis) are "
                               "rendered by the numpy backend only")
        index = len(self.names)
        name = f"{('basis', 'dbasis', 'd2basis')[derivative]}_{index}"
        self.names[key] = name
        code = local_basis(op, LANGUAGE.syntax, "x", f"T{index}", derivative,
                           inputs=f"torch.arange({op.operands[0].type.shape[1]}, "
                                  "device=x.device)")
        self.tables += [f"# {t.comment}\n{t.name}_VALUES = {float_list(t.values, '')}"
                        for t in code.tables]
        nb = n_basis(op.attr("order"), op.attr("grid"))
        what = ("basis", "d/dx of the basis", "d2/dx2 of the basis")[derivative]
        self.functions += [
            "", "",
            f"def {name}(x):",
            f'    """[batch, in, {nb}] {what} of x: {describe_basis(op)}."""',
            *(f'    {t.name} = device_table("{t.name}", {t.name}_VALUES, x.device, x.dtype)'
              for t in code.tables),
            *(f"    {line}" for line in code.lines),
            f"    return scatter_local(k, [{', '.join(code.values)}], {nb})",
        ]
        return name


Rule = Callable[[_BasisFunctions, Op, list[str]], str]


def _loss_side(functions: _BasisFunctions, op: Op, args: list[str]) -> str:
    return loss_expression(op, args, "torch", args[0])


def _jet_bases(functions: _BasisFunctions, op: Op, jet: str) -> str:
    """[B, B'(, B'')] of a jet layer's value, channel 0 of its jet."""
    names = [functions.name_of(op, level) for level in range(op.attr("jet") + 1)]
    return "[" + ", ".join(f"{name}({jet}[:, :, 0])" for name in names) + "]"


def _jet_expression(functions: _BasisFunctions, op: Op, args: list[str]) -> str:
    return JET_EXPRESSIONS[op.name](op, args)


RULES: dict[str, Rule] = {
    "kan.basis": lambda f, op, args: f"{f.name_of(op)}({args[0]})",
    "kan.contract": lambda f, op, args: f"contract({args[0]}, {args[1]})",
    "kan.fused_layer": lambda f, op, args: f"contract({f.name_of(op)}({args[0]}), {args[1]})",
    "kan.tucker_layer": lambda f, op, args: f"tucker_layer({f.name_of(op)}({args[0]}), "
                                            f"{', '.join(args[1:])})",
    "kan.affine": lambda f, op, args: affine_call(op, args[0]),
    "kan.base_layer": lambda f, op, args: f"base_layer({args[0]}, {args[1]})",
    "kan.add": lambda f, op, args: f"{args[0]} + {args[1]}",
    "kan.jet_layer": lambda f, op, args: f"jet_layer({args[0]}, {_jet_bases(f, op, args[0])}, "
                                         f"{args[1]})",
    "kan.jet_tucker_layer": lambda f, op, args: f"jet_layer({args[0]}, "
                                                f"{_jet_bases(f, op, args[0])}, "
                                                f"tucker_coef({', '.join(args[1:])}))",
    "kan.jet_base_layer": lambda f, op, args: f"jet_base_layer({args[0]}, {args[1]}, "
                                              f"{op.attr('jet')})",
    **dict.fromkeys(("kan.loss", "kan.penalty"), _loss_side),
    **dict.fromkeys(JET_EXPRESSIONS, _jet_expression),
}


def _statements(functions: _BasisFunctions, ops: tuple[Op, ...]) -> list[str]:
    lines = []
    for op in ops:
        args = [operand_expr(o) for o in op.operands]
        lines += [op_comment(op, "    "), f"    {results_of(op)} = "
                                          f"{RULES[op.name](functions, op, args)}"]
    return lines


def emit_torch(graph: Graph) -> str:
    """Python source of the PyTorch module for ``graph`` (inference or training)."""
    training = is_training_graph(graph)
    forward_ops, prediction = prediction_ops(graph)
    # a training graph: the ops of the loss (its first output), not autodiff's reverse sweep
    rendered = ops_computing(graph, graph.outputs[0]) if training else graph.ops
    check_renderable(graph.with_ops(rendered), "torch", RULES, HINT)
    functions = _BasisFunctions()
    if is_physics_graph(graph):
        return _physics_module(graph, functions, _statements(functions, rendered))
    x = graph.inputs[0]
    run = [
        "", "",
        "def run(params, x):",
        f'    """The ops of @{graph.name} in order (inputs already checked)."""',
        *([f"    {var(x)} = x"] if var(x) != "x" else []),
        *_statements(functions, forward_ops),
        f"    return {var(prediction)}",
    ]
    if training:
        run += _value_and_grad(graph, _statements(functions, rendered))
    notes = [
        "Plain torch ops: the local basis of each layer, scattered into [batch, in, n_b] and",
        "contracted with one matmul. torch autograd differentiates it, to any order; it runs",
        "on any torch device and under torch.compile. Regenerate rather than edit:",
        "    kancc compile SPEC --target torch",
        "",
        "forward(params, x) takes torch tensors; Model is the same as an nn.Module.",
        *(["value_and_grad(params, x, y): the loss and its gradients, by autograd."]
          if training else []),
    ]
    runtime = []
    if any(has_trait(op, Trait.JET) for op in graph.ops):
        notes[5:5] = ["A jet graph: forward returns the jet [batch, out, 1 + jet * in]: the "
                      "value, then", "d/dx_k and (jet 2) d2/dx_k2 of every output."]
        runtime.append(JET_RUNTIME)
    return module_text(graph, LANGUAGE, notes, [], functions.tables,
                       runtime + functions.functions + run, MODEL)


def _physics_module(graph: Graph, functions: _BasisFunctions, body: list[str]) -> str:
    """A physics loss graph: value_and_grad(params, inputs) on named inputs, by autograd."""
    notes = ["Plain torch ops: a physics-informed loss, differentiated by torch autograd.",
             "", "value_and_grad(params, inputs): inputs maps each name in INPUTS to a tensor."]
    return module_text(graph, LANGUAGE, notes, physics_input_constants(graph), functions.tables,
                       [JET_RUNTIME] + functions.functions
                       + physics_value_and_grad(graph, body, deterministic=False), "")


def _value_and_grad(graph: Graph, body: list[str]) -> list[str]:
    """value_and_grad(params, x, y, deterministic): the graph's loss, differentiated by
    torch.autograd.grad with respect to what the graph returns gradients of."""
    x, y = graph.inputs[:2]
    wants_dx = len(graph.outputs) > len(graph.trainable_params) + 1
    return [
        "", "",
        "def value_and_grad(params, x, y, deterministic=False):",
        '    """(loss, grads) of the batch (x, y): a 0-d tensor and a dict of gradients with the',
        "    keys and shapes of params (less FROZEN)" + (", plus d/dx under 'x'" if wants_dx
                                                         else "") + '. deterministic: unused',
        '    (torch\'s own reductions)."""',
        "    params, x = check_inputs(params, x)",
        f"    {var(y)} = check_target(y, x)",
        "    wrt = {k: v.detach().requires_grad_(True) for k, v in params.items()",
        "           if k not in FROZEN}",
        *(['    wrt["x"] = x = x.detach().requires_grad_(True)'] if wants_dx else []),
        "    params = {**params, **wrt}",
        *([f"    {var(x)} = x"] if var(x) != "x" else []),
        "    with torch.enable_grad():",
        *("    " + line for line in body),
        f"        grads = torch.autograd.grad({var(graph.outputs[0])}, list(wrt.values()))",
        f"    return {var(graph.outputs[0])}.detach(), dict(zip(wrt, grads))",
    ]
