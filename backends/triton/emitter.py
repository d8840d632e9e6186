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
(``tucker_kernels.py``).

Each fused layer's kernels contract one of two ways: gathering r coefficients per input
(``kernels.py``) or through a dense basis tile on tensor cores (``dot_kernels.py``), over
the tiles of the op's schedule attributes (ir/schedule_attrs.py, set by the schedule pass; gather
and default tiles without them).

Rule tables keyed by op name: ``KERNELS`` (the kernel and wrapper of an op), ``STATEMENTS``
(its line in value_and_grad), ``FORWARD_CALLS`` (its line in the forward ``run``) and
``AUTOGRAD`` (the autograd.Function of a forward layer).
"""

from __future__ import annotations

from collections.abc import Callable

from kancc.errors import BackendError
from kancc.ir import Graph, Op, Param, Trait, has_trait, is_training_graph
from kancc.ir.schedule_attrs import TARGET_PROGRAMS, strategy_of

from ..jet_rules import JET_EXPRESSIONS
from ..loss_rules import LOSS_TEMPLATES, loss_expression
from ..module_skeleton import (
    check_renderable,
    gradient_entries,
    is_physics_graph,
    module_text,
    ops_computing,
    physics_input_constants,
    prediction_ops,
)
from ..source_text import affine_call, op_comment, operand_expr, results_of, var
from ..torch_runtime import JETS, MODEL, physics_value_and_grad
from .autograd_functions import layer_function, tucker_function
from .dot_kernels import dot_layer_kernel, dot_vjp_coef_kernel, dot_vjp_input_kernel
from .jet_kernels import jet_layer_kernel, vjp_jet_coef_kernel, vjp_jet_input_kernel
from .kernels import Kernel, layer_kernel, vjp_coef_kernel, vjp_input_kernel
from .runtime import LANGUAGE, TRAINING_MODEL
from .tucker_kernels import tucker_kernel, tucker_vjp_kernel

HINT = "the triton backend renders fused layers only (run the inference pipeline, which ends " \
       "with fuse)"

KernelRule = Callable[[Op, int, str], Kernel]


def by_strategy(gather: KernelRule, dot: KernelRule) -> KernelRule:
    """The rule of an op whose kernels come in both strategies: its ``strategy`` attribute
    (the schedule pass) picks, gather without one."""
    def rule(op: Op, index: int, dtype: str) -> Kernel:
        return (dot if strategy_of(op) == "dot" else gather)(op, index, dtype)
    return rule


KERNELS: dict[str, KernelRule] = {
    "kan.fused_layer": by_strategy(layer_kernel, dot_layer_kernel),
    "kan.vjp_input": by_strategy(vjp_input_kernel, dot_vjp_input_kernel),
    "kan.vjp_coef": by_strategy(vjp_coef_kernel, dot_vjp_coef_kernel),
    "kan.tucker_layer": tucker_kernel,
    "kan.vjp_tucker": tucker_vjp_kernel,
    "kan.jet_layer": jet_layer_kernel,
    "kan.jet_tucker_layer": jet_layer_kernel,
    "kan.vjp_jet_input": vjp_jet_input_kernel,
    "kan.vjp_jet_coef": vjp_jet_coef_kernel,
}


def _loss_side(op: Op, index: int, args: list[str]) -> str:
    return loss_expression(op, args, "torch", args[0])


STATEMENTS: dict[str, Callable[[Op, int, list[str]], str]] = {
    "kan.fused_layer": lambda op, i, args: f"layer_{i}({args[0]}, {args[1]})",
    "kan.vjp_input": lambda op, i, args: f"vjp_input_{i}({args[0]}, {args[1]}, {args[2]})",
    "kan.vjp_coef": lambda op, i, args: f"vjp_coef_{i}({args[0]}, {args[2]}, deterministic)",
    "kan.tucker_layer": lambda op, i, args: f"tucker_{i}({', '.join(args)})",
    "kan.affine": lambda op, i, args: affine_call(op, args[0]),
    "kan.base_layer": lambda op, i, args: f"base_layer({args[0]}, {args[1]})",
    "kan.vjp_base_weight": lambda op, i, args: f"torch.nn.functional.silu({args[0]}).T @ "
                                               f"{args[2]}",
    "kan.vjp_base_input": lambda op, i, args: f"dsilu({args[0]}) * ({args[2]} @ {args[1]}.T)",
    "kan.vjp_tucker": lambda op, i, args: f"tucker_vjp_{i}({', '.join(args)}, deterministic)",
    **dict.fromkeys(LOSS_TEMPLATES, _loss_side),
}


def _layer_call(op: Op, index: int, args: str, training: bool) -> str:
    """A forward layer: through its autograd.Function when the module trains."""
    if training:
        return f"Layer{index}.apply({args}, deterministic)"
    return f"{'tucker' if op.name == 'kan.tucker_layer' else 'layer'}_{index}({args})"


def _jet_expression(op: Op, index: int, args: str, training: bool) -> str:
    """An op rendered alike by every backend (jet_rules.py)."""
    return JET_EXPRESSIONS[op.name](op, [operand_expr(o) for o in op.operands])


def _jet_layer_call(op: Op, index: int, args: str, training: bool) -> str:
    """A jet layer: its kernel, through its autograd.Function when the module trains."""
    return f"JetLayer{index}.apply({args}, deterministic)" if training else \
        f"jet_layer_{index}({args})"


def _jet_tucker_call(op: Op, index: int, args: str, training: bool) -> str:
    """A Tucker layer's jet: the jet kernel on its formed coefficients (inference only)."""
    jet, *factors = (operand_expr(o) for o in op.operands)
    return f"jet_layer_{index}({jet}, tucker_coef({', '.join(factors)}))"


FORWARD_CALLS: dict[str, Callable[[Op, int, str, bool], str]] = {
    "kan.fused_layer": _layer_call,
    "kan.tucker_layer": _layer_call,
    # a LoTRA layer's frozen part plus its adapter
    "kan.add": lambda op, i, args, training: " + ".join(operand_expr(o) for o in op.operands),
    # standardization and the base branch: torch ops, differentiated by torch autograd
    "kan.affine": lambda op, i, args, training: affine_call(op, args),
    "kan.base_layer": lambda op, i, args, training: f"base_layer({args})",
    # jets (compile(..., jet=N) and physics losses): the layers are kernels, the rest torch ops
    "kan.jet_seed": _jet_expression,
    "kan.jet_layer": _jet_layer_call,
    "kan.jet_tucker_layer": _jet_tucker_call,
    "kan.jet_base_layer": lambda op, i, args, training: f"jet_base_layer({args}, "
                                                        f"{op.attr('jet')})",
    "kan.jet_affine": _jet_expression,
}


def _physics_loss_side(op: Op, index: int, args: str, training: bool) -> str:
    return loss_expression(op, [operand_expr(o) for o in op.operands], "torch", "")


# the ops of a physics loss past the model: torch ops, differentiated by torch autograd
PHYSICS_CALLS: dict[str, Callable[[Op, int, str, bool], str]] = {
    **FORWARD_CALLS,
    **dict.fromkeys(JET_EXPRESSIONS, _jet_expression),
    "kan.loss": _physics_loss_side,
    "kan.add": _physics_loss_side,
}


def _vjps_of(graph: Graph, op: Op) -> dict[str, int]:
    """The reverse-sweep ops of a forward layer (same operands), by name: their indices."""
    return {o.name: i for i, o in enumerate(graph.ops) if has_trait(o, Trait.GRADIENT)
            and o.operands[:len(op.operands)] == op.operands}


def _layer_autograd(graph: Graph, op: Op, index: int) -> list[str]:
    vjps = _vjps_of(graph, op)
    coef = op.operands[1]
    if "kan.vjp_coef" not in vjps and not (isinstance(coef, Param) and coef.frozen):
        raise BackendError(f"training graph has no kan.vjp_coef for op {index} "
                           f"(%{op.result.name}); run autodiff")
    return layer_function(index, vjps.get("kan.vjp_input"), vjps.get("kan.vjp_coef"))


def _tucker_autograd(graph: Graph, op: Op, index: int) -> list[str]:
    vjps = _vjps_of(graph, op)
    if "kan.vjp_tucker" not in vjps:
        raise BackendError(f"training graph has no kan.vjp_tucker for op {index} "
                           f"(%{op.result.name}); run autodiff")
    vjp = vjps["kan.vjp_tucker"]
    return tucker_function(index, vjp, len(graph.ops[vjp].results) == 5)


def _jet_layer_autograd(graph: Graph, op: Op, index: int) -> list[str]:
    vjps = _vjps_of(graph, op)
    return layer_function(index, vjps.get("kan.vjp_jet_input"), vjps.get("kan.vjp_jet_coef"),
                          jet=True)


AUTOGRAD: dict[str, Callable[[Graph, Op, int], list[str]]] = {
    "kan.fused_layer": _layer_autograd,
    "kan.jet_layer": _jet_layer_autograd,
    "kan.tucker_layer": _tucker_autograd,
}


def emit_triton(graph: Graph) -> str:
    """Python source of the Triton module for ``graph`` (inference, training, jet or
    physics loss)."""
    training = is_training_graph(graph)
    if is_physics_graph(graph):
        return _physics_module(graph)
    check_renderable(graph, "triton", STATEMENTS if training else FORWARD_CALLS, HINT)
    forward_ops, prediction = prediction_ops(graph)
    check_renderable(graph.with_ops(forward_ops), "triton", FORWARD_CALLS,
                     "it cannot be on the model's forward path (only layers, their sums, "
                     "base branches and affine maps)")
    tables, functions = _kernels(graph)
    notes = [
        "One fused kernel per KAN layer: the local B-spline basis is evaluated in registers and",
        "contracted with the coefficients; the [batch, in, n_b] basis tensor is never stored.",
        *(["Training: backward kernels recompute the basis (or its derivative) the same way;",
           "value_and_grad(params, x, y) runs the training graph, and Model trains with any",
           "torch optimizer."] if training else ["Inference only."]),
        "Deterministic; regenerate rather than edit: kancc compile SPEC --target triton",
        "",
        "forward(params, x) takes torch tensors on a CUDA device (or on the CPU under",
        "TRITON_INTERPRET=1); Model is the same as an nn.Module.",
    ]
    run = _run(graph, forward_ops, var(prediction), training)
    if training:
        run = _autograd_functions(graph, forward_ops) + run + _value_and_grad(graph)
    if any(has_trait(op, Trait.JET) for op in graph.ops):
        notes[6:6] = ["A jet graph: forward returns the jet [batch, out, 1 + jet * in]: the "
                      "value, then", "d/dx_k and (jet 2) d2/dx_k2 of every output.", ""]
        run = [JETS] + run
    return module_text(graph, LANGUAGE, notes, [f"TARGET_PROGRAMS = {TARGET_PROGRAMS}"],
                       tables, functions + run, TRAINING_MODEL if training else MODEL)


def _kernels(graph: Graph) -> tuple[list[str], list[str]]:
    """The constant tables and the kernels (with their wrappers) of every op that has one."""
    for index, op in enumerate(graph.ops):
        if op.attr("kind", "") == "relu":
            raise BackendError(f"the triton backend cannot render op {index} ({op.name} "
                               f"%{op.results[0].name}): kind=relu layers (to-relu-basis) are "
                               "dense and rendered by the numpy backend only")
    tables: list[str] = []
    functions: list[str] = []
    for index, op in enumerate(graph.ops):
        if op.name in KERNELS:
            kernel = KERNELS[op.name](op, index, graph.dtype)
            tables += kernel.tables
            functions += ["", ""] + kernel.lines
    return tables, functions


def _physics_module(graph: Graph) -> str:
    """A physics loss graph: its layers (jet or plain) run their kernels through their
    autograd.Functions, whose backward is the graph's compiled vjp kernels; the residual
    and the losses are torch ops; value_and_grad differentiates by torch.autograd.grad."""
    loss_ops = ops_computing(graph, graph.outputs[0])
    check_renderable(graph.with_ops(loss_ops), "triton", PHYSICS_CALLS, HINT)
    tables, functions = _kernels(graph)
    body = _calls(graph, loss_ops, PHYSICS_CALLS, True)
    notes = [
        "A physics-informed loss: one kernel per jet layer computes the value and every input",
        "derivative channel; its backward kernels (the graph's vjp ops) give the gradients",
        "through torch.autograd.Functions; the residual and losses are torch ops.",
        "Regenerate rather than edit: kancc compile SPEC --target triton --training",
        "",
        "value_and_grad(params, inputs): inputs maps each name in INPUTS to a tensor on a CUDA",
        "device (or on the CPU under TRITON_INTERPRET=1).",
    ]
    constants = [f"TARGET_PROGRAMS = {TARGET_PROGRAMS}", *physics_input_constants(graph)]
    return module_text(graph, LANGUAGE, notes, constants, tables,
                       functions + [JETS] + _autograd_functions(graph, loss_ops)
                       + physics_value_and_grad(graph, body, deterministic=True), "")


def _autograd_functions(graph: Graph, forward_ops: tuple[Op, ...]) -> list[str]:
    """One autograd.Function per forward layer, wired to the vjp ops of the same operands."""
    lines = []
    for index, op in enumerate(graph.ops):
        if op.name in AUTOGRAD and op in forward_ops:
            lines += AUTOGRAD[op.name](graph, op, index)
    return lines


def _calls(graph: Graph, ops: tuple[Op, ...],
           table: dict[str, Callable[[Op, int, str, bool], str]], training: bool) -> list[str]:
    """Each op's statement (at one indent) by ``table``, after its IR as a comment."""
    index_of = {id(op): i for i, op in enumerate(graph.ops)}
    lines = []
    for op in ops:
        args = ", ".join(operand_expr(o) for o in op.operands)
        call = table[op.name](op, index_of[id(op)], args, training)
        lines += [op_comment(op, "    "), f"    {results_of(op)} = {call}"]
    return lines


def _run(graph: Graph, forward_ops: tuple[Op, ...], prediction: str, training: bool
         ) -> list[str]:
    """run(params, x[, deterministic]): the layers in order (an emitted-code template)."""
    calls = _calls(graph, forward_ops, FORWARD_CALLS, training)
    x = var(graph.inputs[0])
    return [
        "",
        "",
        "def run(params, x, deterministic=False):" if training else "def run(params, x):",
        f'    """The layers of @{graph.name} in order (inputs already checked)."""',
        *([f"    {x} = x"] if x != "x" else []),
        *calls,
        f"    return {prediction}",
    ]


def _value_and_grad(graph: Graph) -> list[str]:
    """value_and_grad(params, x, y, deterministic): the training graph's statements."""
    x, y = graph.inputs[:2]
    body = []
    for index, op in enumerate(graph.ops):
        args = [operand_expr(o) for o in op.operands]
        statement = f"{results_of(op)} = {STATEMENTS[op.name](op, index, args)}"
        body += [op_comment(op, "        "), "        " + statement]
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
        f"    return {var(graph.outputs[0])}, {{{', '.join(gradient_entries(graph))}}}",
    ]
