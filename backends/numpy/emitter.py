"""NumPy backend: the final IR -> one standalone, readable Python module (imports numpy only).

This is the reference every other backend is checked against, so it favours plain code:
each basis op becomes a function that computes the r local basis values of every input,
scatters them into the dense [batch, in, n_b] basis tensor, and a contraction is one GEMM.
Ops are rendered by ``RULES``, one statement rule per op name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kancc.ir import (
    PIECES_OF_LEVEL,
    Graph,
    Op,
    Trait,
    extended_knots,
    grid_points,
    has_trait,
    is_training_graph,
    n_basis,
)

from ..jet_rules import JET_EXPRESSIONS
from ..local_basis import local_basis
from ..loss_rules import LOSS_TEMPLATES, loss_expression
from ..module_skeleton import (
    check_renderable,
    gradient_entries,
    is_physics_graph,
    module_text,
    physics_input_constants,
    physics_outputs,
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
from .runtime import JET_RUNTIME, LANGUAGE, PHYSICS_RUNTIME

HINT = "run expand-layers and lower-basis first (e.g. --passes inference)"


class _BasisFunctions:
    """The module's basis functions (one per distinct basis and derivative flag) and the
    constant tables they read."""

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.functions: list[str] = []
        self.names: dict[tuple[object, ...], str] = {}

    def name_of(self, op: Op, derivative: int) -> str:
        """The function evaluating op's basis (derivative 0), B' (1) or B'' (2)."""
        unused = {"jet", *PIECES_OF_LEVEL[1:]} - {PIECES_OF_LEVEL[derivative]}
        key = (tuple((k, v) for k, v in op.attrs if k not in unused), derivative)
        if key in self.names:
            return self.names[key]
        index = len(self.names)
        name = f"{('basis', 'dbasis', 'd2basis', 'd3basis')[derivative]}_{index}"
        self.names[key] = name
        table = f"T{index}"
        if op.attr("kind") == "relu":
            what, body = self._truncated_powers(op, table, derivative)
        else:
            what, body = self._local_basis(op, table, derivative)
        nb = n_basis(op.attr("order"), op.attr("grid"))
        self.functions += [
            "", "",
            f"def {name}(x):",
            f'    """[batch, in, {nb}] {what} of x: {describe_basis(op)}."""',
            *(f"    {line}" for line in body),
        ]
        return name

    def _local_basis(self, op: Op, table: str, derivative: int) -> tuple[str, list[str]]:
        """The r local values of each input, scattered into the dense basis tensor."""
        width = op.operands[0].type.shape[1]
        code = local_basis(op, LANGUAGE.syntax, "x", table, derivative=derivative,
                           inputs=f"np.arange({width})")
        self.tables += [f"# {t.comment}\n{t.name} = np.array({float_list(t.values, '')}, "
                        "dtype=DTYPE)" for t in code.tables]
        nb = n_basis(op.attr("order"), op.attr("grid"))
        what = ("basis", "d/dx of the basis", "d2/dx2 of the basis",
                "d3/dx3 of the basis")[derivative]
        return what, [*code.lines, f"return scatter_local(k, [{', '.join(code.values)}], {nb})"]

    def _truncated_powers(self, op: Op, table: str, derivative: int) -> tuple[str, list[str]]:
        """Kind relu: every psi_j(x) = (x - t_j)_+^(r-1) (or its derivatives), dense and in
        float64 (the weights cancel; DESIGN.md 5); the first r powers are not truncated."""
        order = op.attr("order")
        knots = extended_knots(grid_points(op.attr_dict), order)
        nb = n_basis(order, op.attr("grid"))
        self.tables.append(f"# {table}: the knots t_0 .. t_{nb - 1} of the truncated powers\n"
                           f"{table} = np.array({float_list(knots[:nb], '')}, "
                           "dtype=np.float64)")
        power = order - 1 - derivative
        factor = math.prod(range(power + 1, order))  # (r-1) ... (power+1) from differentiating
        scale = f"{factor}.0 * " if factor > 1 else ""
        value = f"{factor}.0" if power == 0 else f"{scale}d" + (f" ** {power}" if power > 1
                                                                else "")
        result = "np.zeros_like(d)" if power < 0 else \
            f"np.where((d >= 0) | (np.arange({nb}) < {order}), {value}, 0.0)"
        what = ("truncated powers", "d/dx of the truncated powers",
                "d2/dx2 of the truncated powers", "d3/dx3 of the truncated powers")[derivative]
        return f"{what} (float64)", [f"d = x.astype(np.float64)[..., None] - {table}",
                                      f"return {result}"]


class _Body:
    """The statements of one function body: a basis evaluated twice on one value is reused."""

    def __init__(self, functions: _BasisFunctions) -> None:
        self.functions = functions
        self.lines: list[str] = []
        self.computed: dict[tuple[str, str], str] = {}

    def basis(self, op: Op, derivative: int = 0, x: str | None = None) -> str:
        """The variable holding the op's (derivative) basis of its input (or of ``x``: a
        jet's value), computed once."""
        function = self.functions.name_of(op, derivative)
        x = operand_expr(op.operands[0]) if x is None else x
        if (function, x) not in self.computed:
            self.computed[(function, x)] = f"{function.replace('basis', 'B')}_{x}"
            self.lines.append(f"{self.computed[(function, x)]} = {function}({x})")
        return self.computed[(function, x)]

    def render(self, ops: tuple[Op, ...]) -> list[str]:
        for op in ops:
            args = [operand_expr(o, "packed") for o in op.operands]
            self.lines.append(op_comment(op))
            expression = RULES[op.name](self, op, args)
            self.lines.append(f"{results_of(op)} = {expression}")
        return self.lines


Rule = Callable[[_Body, Op, list[str]], str]


def _loss_side(body: _Body, op: Op, args: list[str]) -> str:
    penalized = f'unpack(packed, "{op.operands[0].name}")'
    return loss_expression(op, args, "np", penalized)


def _basis(body: _Body, op: Op, args: list[str]) -> str:
    return body.basis(op)


def _contract(body: _Body, op: Op, args: list[str]) -> str:
    return f"contract({args[0]}, {args[1]})"


def _fused_layer(body: _Body, op: Op, args: list[str]) -> str:
    return f"contract({body.basis(op)}, {args[1]})"


def _vjp_coef(body: _Body, op: Op, args: list[str]) -> str:
    return f'dense_vjp_coef({body.basis(op)}, {args[2]}, "{op.operands[1].name}")'


def _vjp_input(body: _Body, op: Op, args: list[str]) -> str:
    return f"dense_vjp_input({body.basis(op, True)}, {args[2]}, {args[1]})"


def _tucker_layer(body: _Body, op: Op, args: list[str]) -> str:
    return f"tucker_layer({body.basis(op)}, {', '.join(args[1:])})"


def _vjp_tucker(body: _Body, op: Op, args: list[str]) -> str:
    dbasis = body.basis(op, True) if len(op.results) == 5 else "None"
    return f"tucker_vjp({body.basis(op)}, {dbasis}, {args[5]}, {', '.join(args[1:5])})"


def _once(body: _Body, kind: str, jet: str, expression: str) -> str:
    """A variable holding ``expression`` of a jet, computed once per function body."""
    if (kind, jet) not in body.computed:
        body.computed[(kind, jet)] = f"{jet}_{kind}"
        body.lines.append(f"{jet}_{kind} = {expression}")
    return body.computed[(kind, jet)]


def _jet_bases(body: _Body, op: Op, jet: str, levels: range) -> str:
    """[B^(m) for m in levels] of a jet layer's value, channel 0 of its jet."""
    value = _once(body, "value", jet, f"{jet}[:, :, 0]")
    return f"[{', '.join(body.basis(op, level, value) for level in levels)}]"


def _silu(body: _Body, jet: str) -> str:
    """silu and its derivatives at a jet's value, shared by the base branch's ops."""
    value = _once(body, "value", jet, f"{jet}[:, :, 0]")
    return _once(body, "silu", jet, f"silu_derivatives({value})")


def _jet_layer(body: _Body, op: Op, args: list[str]) -> str:
    bases = _jet_bases(body, op, args[0], range(op.attr("jet") + 1))
    return f"jet_layer({args[0]}, {bases}, {args[1]})"


def _jet_parts(body: _Body, op: Op, jet: str, g: str) -> str:
    """The variable holding jet_parts(jet, g): computed once for every reverse op of the
    same input jet and cotangent (a layer's coefficients and input, its base branch)."""
    return _once(body, f"parts_{g}", jet, f"jet_parts({jet}, {g}, {op.attr('jet')})")


def _vjp_jet_coef(body: _Body, op: Op, args: list[str]) -> str:
    bases = _jet_bases(body, op, args[0], range(op.attr("jet") + 1))
    return f"jet_vjp_coef({_jet_parts(body, op, args[0], args[2])}, {bases})"


def _vjp_jet_input(body: _Body, op: Op, args: list[str]) -> str:
    bases = _jet_bases(body, op, args[0], range(1, op.attr("jet") + 2))
    parts = _jet_parts(body, op, args[0], args[2])
    return f"jet_vjp_input({args[0]}, {parts}, {bases}, {args[2]}, {args[1]})"


def _jet_tucker_layer(body: _Body, op: Op, args: list[str]) -> str:
    bases = _jet_bases(body, op, args[0], range(op.attr("jet") + 1))
    return f"jet_layer({args[0]}, {bases}, tucker_weights({', '.join(args[1:])}))"


def _jet_expression(body: _Body, op: Op, args: list[str]) -> str:
    return JET_EXPRESSIONS[op.name](op, args)


RULES: dict[str, Rule] = {
    "kan.affine": lambda body, op, args: affine_call(op, args[0]),
    "kan.base_layer": lambda body, op, args: f"silu({args[0]}) @ {args[1]}",
    "kan.vjp_base_weight": lambda body, op, args: f"silu({args[0]}).T @ {args[2]}",
    "kan.vjp_base_input": lambda body, op, args: f"dsilu({args[0]}) * ({args[2]} @ "
                                                 f"{args[1]}.T)",
    "kan.basis": _basis,
    "kan.contract": _contract,
    "kan.fused_layer": _fused_layer,
    "kan.vjp_coef": _vjp_coef,
    "kan.vjp_input": _vjp_input,
    "kan.tucker_layer": _tucker_layer,
    "kan.vjp_tucker": _vjp_tucker,
    "kan.jet_layer": _jet_layer,
    "kan.jet_tucker_layer": _jet_tucker_layer,
    "kan.jet_base_layer": lambda body, op, args: (
        f"jet_base_layer({args[0]}, {_silu(body, args[0])}, {args[1]}, {op.attr('jet')})"),
    "kan.vjp_jet_coef": _vjp_jet_coef,
    "kan.vjp_jet_input": _vjp_jet_input,
    "kan.vjp_jet_base_weight": lambda body, op, args: (
        f"jet_base_vjp_weight({_silu(body, args[0])}, "
        f"{_jet_parts(body, op, args[0], args[2])})"),
    "kan.vjp_jet_base_input": lambda body, op, args: (
        f"jet_base_vjp_input({args[0]}, {_silu(body, args[0])}, {args[1]}, "
        f"{_jet_parts(body, op, args[0], args[2])}, {args[2]})"),
    "kan.vjp_jet_channel": lambda body, op, args: f"vjp_jet_channel({args[0]}, {args[1]}, "
                                                  f"{op.attr('output')}, {op.attr('channel')})",
    **dict.fromkeys(LOSS_TEMPLATES, _loss_side),
    **dict.fromkeys(JET_EXPRESSIONS, _jet_expression),
}


def packed_names(graph: Graph) -> tuple[str, ...]:
    """The coefficient parameters the contraction GEMM reads (Tucker factors are not)."""
    names = {op.operands[1].name for op in graph.ops if has_trait(op, Trait.READS_COEF)}
    return tuple(p.name for p in graph.params if p.name in names)


def emit_numpy(graph: Graph) -> str:
    """Python source of the standalone NumPy module for ``graph`` (inference or training)."""
    check_renderable(graph, "numpy", RULES, HINT)
    functions = _BasisFunctions()
    if is_physics_graph(graph):
        return _physics_module(graph, functions)
    forward_ops, prediction = prediction_ops(graph)
    forward_body = _Body(functions).render(forward_ops)
    training = is_training_graph(graph)
    training_body = _Body(functions).render(graph.ops) if training else []
    x = graph.inputs[0]
    notes = [
        "Standalone (imports numpy only) and deterministic; regenerate rather than edit:",
        "    kancc compile SPEC --target numpy --emit source",
        "",
        f"forward(params, x): x of shape (batch, {x.type.shape[1]}), params as in PARAM_SHAPES.",
        "trace(params, x): every value of the forward sweep, by IR name.",
        *(["value_and_grad(params, x, y): the loss and its gradient for every parameter."]
          if training else []),
        "Inputs outside a layer's domain use the polynomial piece of the nearest edge cell;",
        "NaN and Inf inputs give NaN or Inf in the outputs they reach.",
    ]
    constants = [f"PACKED = {packed_names(graph)}  # coefficients laid out (in * n_b, out) "
                 "for the GEMM"]
    entry_points = _forward(graph, forward_body, forward_ops, prediction.name)
    if training:
        entry_points += _value_and_grad(graph, training_body)
    runtime = []
    if any(has_trait(op, Trait.JET) for op in graph.ops):
        notes[4:4] = ["A jet graph: forward returns the jet [batch, out, 1 + jet * in]: the "
                      "value,", "then d/dx_k and (jet 2) d2/dx_k2 of every output."]
        runtime.append(JET_RUNTIME)
    return module_text(graph, LANGUAGE, notes, constants, functions.tables,
                       runtime + functions.functions + entry_points, "\n")


def _physics_module(graph: Graph, functions: _BasisFunctions) -> str:
    """A physics loss graph's module: value_and_grad(params, inputs) on named inputs."""
    body = _Body(functions).render(graph.ops)
    notes = [
        "Standalone (imports numpy only) and deterministic: a physics-informed loss.",
        "",
        "value_and_grad(params, inputs): inputs maps each name in INPUTS (point sets and",
        "data columns) to its array; returns the loss, the gradient of every parameter and",
        "the loss terms by name.",
    ]
    constants = [f"PACKED = {packed_names(graph)}", *physics_input_constants(graph)]
    terms, residuals = physics_outputs(graph)
    entry = [
        "", "",
        "def value_and_grad(params, inputs):",
        '    """(loss, grads, terms, residuals) of the physics loss on the named inputs:',
        "    terms and per-point residuals (prediction - target) by term name.\"\"\"",
        "    packed = pack_params(params)",
        "    arrays = check_named_inputs(inputs)",
        *(f'    {var(v)} = arrays["{v.name}"]' for v in graph.inputs),
        '    with np.errstate(invalid="ignore", over="ignore"):',
        *("        " + line for line in body),
        f"    return (float({var(graph.outputs[0])}), "
        f"{{{', '.join(gradient_entries(graph))}}}, {terms}, {residuals})",
    ]
    return module_text(graph, LANGUAGE, notes, constants, functions.tables,
                       [JET_RUNTIME, PHYSICS_RUNTIME] + functions.functions + entry, "\n")


def _forward(graph: Graph, body: list[str], forward_ops: tuple[Op, ...],
             prediction: str) -> list[str]:
    """forward(params, x), forward_packed(packed, x) and trace(params, x), which returns
    every value of the forward sweep by IR name (an emitted-code template)."""
    x = graph.inputs[0]
    values = [x] + [r for op in forward_ops for r in op.results]
    entries = ", ".join(f'"{v.name}": {var(v)}' for v in values)
    return [
        "",
        "",
        "def forward(params, x):",
        f'    """Evaluate @{graph.name} on a batch x; returns an array of dtype DTYPE."""',
        "    return forward_packed(pack_params(params), x)",
        "",
        "",
        "def forward_packed(packed, x):",
        '    """forward() with parameters already packed by pack_params()."""',
        f'    return trace_packed(packed, x)["{prediction}"]',
        "",
        "",
        "def trace(params, x):",
        '    """Every value of the forward sweep by its IR name: the input, what each op gives."""',
        "    return trace_packed(pack_params(params), x)",
        "",
        "",
        "def trace_packed(packed, x):",
        f"    {var(x)} = check_input(x)",
        "    # Non-finite or huge inputs give non-finite outputs (module docstring): no warnings.",
        '    with np.errstate(invalid="ignore", over="ignore"):',
        *("        " + line for line in body),
        f"    return {{{entries}}}",
    ]


def _value_and_grad(graph: Graph, body: list[str]) -> list[str]:
    """value_and_grad(params, x, y) of a training graph (an emitted-code template)."""
    x, y = graph.inputs[:2]
    grads = gradient_entries(graph)
    with_dx = f", plus d/d{x.name} under {x.name!r}" \
        if len(grads) > len(graph.trainable_params) else ""
    return [
        "",
        "",
        "def value_and_grad(params, x, y):",
        '    """(loss, grads): the loss of the batch (x, y) as a float and a dict of',
        "    gradients with the keys (and shapes) of params (less FROZEN)" + with_dx + '."""',
        "    packed = pack_params(params)",
        f"    {var(x)} = check_input(x)",
        f"    {var(y)} = check_target(y, {var(x)}.shape[0])",
        '    with np.errstate(invalid="ignore", over="ignore"):',
        *("        " + line for line in body),
        f"    return float({var(graph.outputs[0])}), {{{', '.join(grads)}}}",
    ]
