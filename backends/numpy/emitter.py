"""NumPy backend: the final IR -> one standalone, readable Python module (imports numpy only).

This is the reference every other backend is checked against, so it favours plain code:
each basis op becomes a function that computes the r local basis values of every input,
scatters them into the dense [batch, in, n_b] basis tensor, and a contraction is one GEMM.
"""

from __future__ import annotations

from kancc.ir import Graph, Op, extended_knots, grid_points, n_basis
from kancc.version import VERSION

from ..common import (LOSS_OPS, NP_DTYPE_NAMES, check_renderable, describe_basis, float_list,
                      frozen_line, loss_expression, op_comment, operand_expr, param_shapes,
                      prediction_ops, var)
from ..local_basis import Syntax, local_basis

SYNTAX = Syntax(
    gather="{table}[{index}]",
    floor_int="np.floor({x}).astype(np.int64)",
    as_int="({x}).astype(np.int64)",
    where="np.where({cond}, {a}, {b})",
    zeros_int="np.zeros_like({x}, dtype=np.int64)",
    tanh="np.tanh({x})",
    sin="np.sin({x})",
    cos="np.cos({x})",
    search="np.clip(np.searchsorted({table}, {x}, side='right') - 1, 0, {last})",
)

SUPPORTED = ("kan.basis", "kan.contract", "kan.fused_layer", "kan.vjp_input", "kan.vjp_coef",
             "kan.tucker_layer", "kan.vjp_tucker", *LOSS_OPS)
COEF_OPS = ("kan.contract", "kan.fused_layer", "kan.vjp_input", "kan.vjp_coef")
HINT = "run expand-layers and lower-basis first (e.g. --passes inference)"

RUNTIME = '''


def scatter_local(k, values, n_basis):
    """Dense [..., n_basis] basis tensor holding values[m] at index k + m, zero elsewhere."""
    out = np.zeros(k.size * n_basis, dtype=values[0].dtype)
    first = np.arange(0, k.size * n_basis, n_basis) + k.ravel()
    for m, v in enumerate(values):
        out[first + m] = v.ravel()
    return out.reshape(k.shape + (n_basis,))


def contract(basis, weights):
    """y[b, q] = sum_(p, i) basis[b, p, i] weights[(p, i), q]: one GEMM (in the basis's
    dtype: float64 for truncated powers), rounded to DTYPE."""
    y = basis.reshape(basis.shape[0], weights.shape[0]) @ weights
    return y.astype(DTYPE, copy=False)


def pack_params(params):
    """Check the parameters and lay each coef (in, out, n_b) out as the GEMM reads it,
    (in * n_b, out); Tucker factors stay as they are. Pack once to evaluate many batches:
    forward_packed(packed, x)."""
    packed = {}
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise KeyError(f"params has no {name!r} (expected keys: {list(PARAM_SHAPES)})")
        value = np.asarray(params[name], dtype=DTYPE)
        if value.shape != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {value.shape}")
        if name in PACKED:
            value = np.ascontiguousarray(value.transpose(0, 2, 1)).reshape(-1, shape[1])
        packed[name] = value
    return packed


def unpack(packed, name):
    """The (in, out, n_b) layout of a packed coefficient (a Tucker factor as it is)."""
    if name not in PACKED:
        return packed[name]
    n_in, n_out, n_b = PARAM_SHAPES[name]
    return packed[name].reshape(n_in, n_b, n_out).transpose(0, 2, 1)


def tucker_layer(basis, core, u1, u2, u3):
    """y[b, q] = sum_(p, i) basis[b, p, i] W[p, q, i] with W = core x1 u1 x2 u2 x3 u3, in
    the cheap order basis -> u3 -> u1 -> core -> u2: W (in, out, n_b) is never formed."""
    z3, z1 = tucker_projections(basis, u3, u1)
    h = z1.reshape(z1.shape[0], -1) @ core.transpose(0, 2, 1).reshape(-1, core.shape[1])
    return (h @ u2.T).astype(DTYPE, copy=False)


def tucker_projections(basis, u3, u1):
    """z3[b, p, c] = sum_i basis[b, p, i] u3[i, c]; z1[b, a, c] = sum_p u1[p, a] z3[b, p, c]."""
    z3 = (basis @ u3.astype(basis.dtype)).astype(DTYPE, copy=False)
    return z3, np.matmul(u1.T, z3)


def check_input(x):
    x = np.asarray(x, dtype=DTYPE)
    if x.ndim != 2 or x.shape[1] != INPUT_WIDTH:
        raise ValueError(f"x must have shape (batch, {INPUT_WIDTH}), got {x.shape}")
    return x
'''

TRAINING_RUNTIME = '''


def check_target(y, n_rows):
    if n_rows == 0:
        raise ValueError("x has no rows: an empty batch has no mean loss")
    if TARGET_KIND == "labels":
        labels = np.asarray(y)
        if labels.shape != (n_rows,) or labels.dtype.kind not in "iu":
            raise ValueError(f"y must be {n_rows} integer class labels, got {labels.dtype} "
                             f"{labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= TARGET_WIDTH):
            raise ValueError(f"class labels must lie in 0..{TARGET_WIDTH - 1}")
        return labels.astype(np.int64)
    y = np.asarray(y, dtype=DTYPE)
    if y.shape != (n_rows, TARGET_WIDTH):
        raise ValueError(f"y must have shape ({n_rows}, {TARGET_WIDTH}), got {y.shape}")
    return y


def mse(pred, y):
    """mean over batch and outputs of (pred - y)^2."""
    diff = pred - y
    return np.mean(diff * diff)


def mse_grad(pred, y):
    return (pred - y) * (2.0 / pred.size)


def cross_entropy(logits, labels):
    """mean over the batch of -log softmax(logits)[label]."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(log_total - shifted[np.arange(labels.size), labels])


def cross_entropy_grad(logits, labels):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    grad = exp / exp.sum(axis=1, keepdims=True)
    grad[np.arange(labels.size), labels] -= 1.0
    return grad / labels.size


def dense_vjp_coef(basis, g, name):
    """dcoef[p, q, i] = sum_b g[b, q] basis[b, p, i], in the (in, out, n_b) layout."""
    n_in, n_out, n_b = PARAM_SHAPES[name]
    flat = basis.reshape(basis.shape[0], n_in * n_b).T @ g
    return flat.reshape(n_in, n_b, n_out).transpose(0, 2, 1).astype(DTYPE, copy=False)


def tucker_vjp(basis, dbasis, g, core, u1, u2, u3):
    """(dcore, du1, du2, du3[, dx]) of tucker_layer from g = d(loss)/dy, by the chain rule
    through its four contractions (dx only when dbasis is given)."""
    z3, z1 = tucker_projections(basis, u3, u1)
    n, r1, r3 = z1.shape
    core_matrix = core.transpose(0, 2, 1).reshape(r1 * r3, -1)  # [(a, c), d]
    h = z1.reshape(n, -1) @ core_matrix
    gh = g @ u2
    du2 = g.T @ h
    dcore = (z1.reshape(n, -1).T @ gh).reshape(r1, r3, -1).transpose(0, 2, 1)
    gz1 = (gh @ core_matrix.T).reshape(n, r1, r3)
    du1 = np.tensordot(z3, gz1, axes=([0, 2], [0, 2]))  # sum over b, c: one GEMM
    gz3 = np.matmul(u1, gz1)
    du3 = basis.reshape(-1, basis.shape[2]).T @ gz3.reshape(-1, r3).astype(basis.dtype)
    grads = [dcore, du1, du2, du3]
    if dbasis is not None:
        grads.append(np.sum(dbasis * (gz3 @ u3.T), axis=2))
    return tuple(grad.astype(DTYPE, copy=False) for grad in grads)


def dense_vjp_input(dbasis, g, weights):
    """dx[b, p] = sum_i dbasis[b, p, i] (g @ weights.T)[b, (p, i)]."""
    dx = np.sum(dbasis * (g @ weights.T).reshape(dbasis.shape), axis=2)
    return dx.astype(DTYPE, copy=False)
'''


class _Renderer:
    """Collects the basis functions (one per distinct basis and derivative flag, tables as
    module constants) and renders ops as statements."""

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.functions: list[str] = []
        self.names: dict[tuple, str] = {}

    def basis_function(self, op: Op, derivative: bool) -> str:
        key = (tuple((k, v) for k, v in op.attrs if k != "dpieces" or derivative), derivative)
        if key in self.names:
            return self.names[key]
        index = len(self.names)
        name = f"{'dbasis' if derivative else 'basis'}_{index}"
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

    def _local_basis(self, op: Op, table: str, derivative: bool) -> tuple[str, list[str]]:
        """The r local values of each input, scattered into the dense basis tensor."""
        code = local_basis(op, SYNTAX, "x", table, derivative=derivative)
        self.tables += [f"# {t.comment}\n{t.name} = np.array({float_list(t.values, '')}, "
                        "dtype=DTYPE)" for t in code.tables]
        nb = n_basis(op.attr("order"), op.attr("grid"))
        what = "d/dx of the basis" if derivative else "basis"
        return what, [*code.lines, f"return scatter_local(k, [{', '.join(code.values)}], {nb})"]

    def _truncated_powers(self, op: Op, table: str, derivative: bool) -> tuple[str, list[str]]:
        """Kind relu: every psi_j(x) = (x - t_j)_+^(r-1) (or its derivative), dense and in
        float64 (the weights cancel; DESIGN.md 5); the first r powers are not truncated."""
        order = op.attr("order")
        knots = extended_knots(grid_points(op.attr_dict), order)
        nb = n_basis(order, op.attr("grid"))
        self.tables.append(f"# {table}: the knots t_0 .. t_{nb - 1} of the truncated powers\n"
                           f"{table} = np.array({float_list(knots[:nb], '')}, "
                           "dtype=np.float64)")
        power = order - 1 - int(derivative)
        scale = f"{order - 1}.0 * " if derivative and order > 2 else ""
        value = "1.0" if power == 0 else f"{scale}d" + (f" ** {power}" if power > 1 else "")
        result = "np.zeros_like(d)" if power < 0 else \
            f"np.where((d >= 0) | (np.arange({nb}) < {order}), {value}, 0.0)"
        what = "d/dx of the truncated powers" if derivative else "truncated powers"
        return f"{what} (float64)", [f"d = x.astype(np.float64)[..., None] - {table}",
                                      f"return {result}"]

    def statements(self, ops: tuple[Op, ...]) -> list[str]:
        """One or two lines per op; a basis evaluated twice on the same value is reused."""
        lines: list[str] = []
        computed: dict[tuple[str, str], str] = {}

        def basis_of(op: Op, derivative: bool = False) -> str:
            function = self.basis_function(op, derivative)
            x = var(op.operands[0])
            if (function, x) not in computed:
                computed[(function, x)] = f"{function.replace('basis', 'B')}_{x}"
                lines.append(f"{computed[(function, x)]} = {function}({x})")
            return computed[(function, x)]

        for op in ops:
            out = var(op.results[0])
            args = [operand_expr(o, "packed") for o in op.operands]
            lines.append(op_comment(op))
            if op.name in LOSS_OPS:
                coef = f'unpack(packed, "{op.operands[0].name}")'
                lines.append(f"{out} = {loss_expression(op, args, 'np', coef)}")
            elif op.name == "kan.basis":
                lines.append(f"{out} = {basis_of(op)}")
            elif op.name == "kan.contract":
                lines.append(f"{out} = contract({args[0]}, {args[1]})")
            elif op.name == "kan.fused_layer":
                lines.append(f"{out} = contract({basis_of(op)}, {args[1]})")
            elif op.name == "kan.vjp_coef":
                name = op.operands[1].name
                lines.append(f'{out} = dense_vjp_coef({basis_of(op)}, {args[2]}, "{name}")')
            elif op.name == "kan.vjp_input":
                lines.append(f"{out} = dense_vjp_input({basis_of(op, True)}, {args[2]}, "
                             f"{args[1]})")
            elif op.name == "kan.tucker_layer":
                lines.append(f"{out} = tucker_layer({basis_of(op)}, {', '.join(args[1:])})")
            elif op.name == "kan.vjp_tucker":
                dbasis = basis_of(op, True) if len(op.results) == 5 else "None"
                lines.append(f"{', '.join(var(r) for r in op.results)} = tucker_vjp("
                             f"{basis_of(op)}, {dbasis}, {args[5]}, {', '.join(args[1:5])})")
        return lines


def packed_names(graph: Graph) -> tuple[str, ...]:
    """The coefficient parameters the contraction GEMM reads (Tucker factors are not)."""
    names = {op.operands[1].name for op in graph.ops if op.name in COEF_OPS}
    return tuple(p.name for p in graph.params if p.name in names)


def emit_numpy(graph: Graph) -> str:
    """Python source of the standalone NumPy module for ``graph`` (inference or training)."""
    check_renderable(graph, "numpy", SUPPORTED, HINT)
    renderer = _Renderer()
    forward_ops, prediction = prediction_ops(graph)
    forward_body = renderer.statements(forward_ops)
    training = len(forward_ops) < len(graph.ops)
    training_body = renderer.statements(graph.ops) if training else []
    x = graph.inputs[0]
    header = [
        f'"""NumPy reference module for kan.graph @{graph.name}, generated by kancc {VERSION}.',
        "",
        "Standalone (imports numpy only) and deterministic; regenerate rather than edit:",
        "    kancc compile SPEC --target numpy --emit source",
        "",
        f"forward(params, x): x of shape (batch, {x.type.shape[1]}), params as in PARAM_SHAPES.",
        *(["value_and_grad(params, x, y): the loss and its gradient for every parameter."]
          if training else []),
        "Inputs outside a layer's domain use the polynomial piece of the nearest edge cell;",
        "NaN and Inf inputs give NaN or Inf in the outputs they reach.",
        '"""',
        "",
        "import numpy as np",
        "",
        f"DTYPE = {NP_DTYPE_NAMES[graph.dtype]}",
        f"INPUT_WIDTH = {x.type.shape[1]}",
        f"PARAM_SHAPES = {param_shapes(graph)}",
        frozen_line(graph),
        f"PACKED = {packed_names(graph)}  # coefficients laid out (in * n_b, out) for the GEMM",
    ]
    if training:
        target = graph.inputs[1]
        labels = target.type.dtype == "i32"
        header += [f'TARGET_KIND = "{"labels" if labels else "values"}"',
                   f"TARGET_WIDTH = {prediction.type.shape[1]}"]
    forward = [
        "",
        "",
        "def forward(params, x):",
        f'    """Evaluate @{graph.name} on a batch x; returns an array of dtype DTYPE."""',
        "    return forward_packed(pack_params(params), x)",
        "",
        "",
        "def forward_packed(packed, x):",
        '    """forward() with parameters already packed by pack_params()."""',
        f"    {var(x)} = check_input(x)",
        "    # Non-finite or huge inputs give non-finite outputs (module docstring): no warnings.",
        '    with np.errstate(invalid="ignore", over="ignore"):',
        *("        " + line for line in forward_body),
        f"        return {var(prediction)}",
    ]
    if training:
        grads = [f'"{p.name}": {var(v)}'
                 for p, v in zip(graph.trainable_params, graph.outputs[1:])]
        if len(graph.outputs) > len(graph.trainable_params) + 1:
            grads.append(f'"{x.name}": {var(graph.outputs[-1])}')
        forward += [
            "",
            "",
            "def value_and_grad(params, x, y):",
            '    """(loss, grads): the loss of the batch (x, y) as a float and a dict of',
            "    gradients with the keys (and shapes) of params (less FROZEN)"
            + (f", plus d/d{x.name} under {x.name!r}"
               if len(grads) > len(graph.trainable_params) else "") + '."""',
            "    packed = pack_params(params)",
            f"    {var(x)} = check_input(x)",
            f"    {var(graph.inputs[1])} = check_target(y, {var(x)}.shape[0])",
            '    with np.errstate(invalid="ignore", over="ignore"):',
            *("        " + line for line in training_body),
            f"    return float({var(graph.outputs[0])}), {{{', '.join(grads)}}}",
        ]
    runtime = RUNTIME + (TRAINING_RUNTIME if training else "")
    return "\n".join(header + [""] + renderer.tables) + runtime + \
        "\n".join(renderer.functions + forward) + "\n"
