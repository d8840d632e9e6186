"""Triton backend: the final IR -> one Python module of @triton.jit kernels + torch wrappers.

Each ``kan.fused_layer`` becomes one kernel. A program owns a BLOCK_B x BLOCK_Q tile of the
output; it walks the layer's inputs p, evaluates the r nonzero basis functions of x[:, p] in
registers (the straight-line code of ``local_basis``, constants baked in) and accumulates

    acc[b, q] += sum_m B_{k+m}(x[b, p]) * coef[p, q, k + m]

so the [batch, in, n_b] basis tensor is never written to memory. Knot and piece tables of
non-uniform grids are small tensors passed as pointers; uniform grids need only the knots.
The module also holds a functional ``forward(params, x)`` and an ``nn.Module`` whose
parameter names are the IR's (``layers.0.coef``). Inference only: the autodiff pass and the
backward kernels come with training.
"""

from __future__ import annotations

from kancc.ir import Graph, Op, n_basis
from kancc.version import VERSION

from ..common import (TORCH_DTYPES, check_renderable, describe_basis, float_list, op_comment,
                      operand_expr, param_shapes, var)
from ..local_basis import Syntax, local_basis

SYNTAX = Syntax(
    gather="tl.load({table} + {index})",
    floor_int="tl.floor({x}).to(tl.int32)",
    as_int="({x}).to(tl.int32)",
    where="tl.where({cond}, {a}, {b})",
    zeros_int="tl.zeros_like({x}).to(tl.int32)",
)

SUPPORTED = ("kan.fused_layer",)
HINT = "the triton backend renders fused layers only (run the inference pipeline, which ends " \
       "with fuse)"

TL_DTYPES = {"f32": "tl.float32", "f64": "tl.float64"}
MAX_TILE = 4096  # accumulator elements per program


def block_sizes(n_out: int) -> tuple[int, int]:
    """(BLOCK_B, BLOCK_Q): the output tile of one program, powers of two."""
    block_q = min(64, 1 << max(0, (n_out - 1).bit_length()))
    block_b = min(256, max(32, MAX_TILE // block_q))
    return block_b, block_q


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
        for name, shape in PARAM_SHAPES.items():
            *path, leaf = name.split(".")
            module = self
            for part in path:
                if getattr(module, part, None) is None:
                    module.add_module(part, torch.nn.Module())
                module = getattr(module, part)
            zeros = torch.zeros(shape, dtype=DTYPE, device=device)
            module.register_parameter(leaf, torch.nn.Parameter(zeros))

    def forward(self, x):
        return forward(dict(self.named_parameters()), x)
'''


def _layer(op: Op, index: int, dtype: str) -> tuple[list[str], list[str]]:
    """(module-level table lines, kernel + wrapper lines) of one fused layer."""
    code = local_basis(op, SYNTAX, "x", "table")
    x, coef = op.operands
    n_in, n_out = coef.type.shape[0], coef.type.shape[1]
    nb = n_basis(op.attr("order"), op.attr("grid"))
    block_b, block_q = block_sizes(n_out)
    consts = {t.name: f"L{index}_{t.name.split('_', 1)[1]}" for t in code.tables}
    tables = [f"# {t.comment}\n{consts[t.name]} = {float_list(t.values, '')}" for t in code.tables]
    table_args = "".join(f"{t.name}, " for t in code.tables)
    contraction = []
    for m, value in enumerate(code.values):
        offset = f" + {m}" if m else ""
        contraction.append(f"        acc += {value}[:, None] * "
                           f"tl.load(coef_ptr + edge{offset}, mask=tile_ok, other=0.0)")
    kernel = [
        "@triton.jit",
        f"def layer_{index}_kernel(x_ptr, coef_ptr, y_ptr, {table_args}n_rows,",
        f"{' ' * (len(str(index)) + 18)}IN: tl.constexpr, OUT: tl.constexpr, NB: tl.constexpr,",
        f"{' ' * (len(str(index)) + 18)}BLOCK_B: tl.constexpr, BLOCK_Q: tl.constexpr):",
        f'    """{describe_basis(op)}."""',
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    cols = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    row_ok = rows < n_rows",
        "    tile_ok = row_ok[:, None] & (cols < OUT)[None, :]",
        "    x_row = rows.to(tl.int64) * IN",
        f"    acc = tl.zeros((BLOCK_B, BLOCK_Q), dtype={TL_DTYPES[dtype]})",
        "    for p in range(IN):",
        "        x = tl.load(x_ptr + x_row + p, mask=row_ok, other=0.0)",
        *(f"        {line}" for line in code.lines),
        "        edge = (p * OUT + cols[None, :]).to(tl.int64) * NB + k[:, None]",
        *contraction,
        "    tl.store(y_ptr + rows.to(tl.int64)[:, None] * OUT + cols[None, :], acc, mask=tile_ok)",
    ]
    table_tensors = [f'        device_table("{name}", {name}, x.device, x.dtype),'
                     for name in consts.values()]
    wrapper = [
        f"def layer_{index}(x, coef):",
        f'    """y[b, q] = sum_p sum_i coef[p, q, i] B_i(x[b, p]); coef of shape '
        f'({n_in}, {n_out}, {nb})."""',
        "    n_rows = x.shape[0]",
        f"    y = torch.empty((n_rows, {n_out}), device=x.device, dtype=x.dtype)",
        "    if n_rows == 0:",
        "        return y",
        f"    grid = (triton.cdiv(n_rows, {block_b}), triton.cdiv({n_out}, {block_q}))",
        "    tables = (",
        *table_tensors,
        "    )",
        f"    layer_{index}_kernel[grid](x, coef, y, *tables, n_rows, IN={n_in}, OUT={n_out}, "
        f"NB={nb},",
        f"{' ' * (len(str(index)) + 23)}BLOCK_B={block_b}, BLOCK_Q={block_q})",
        "    return y",
    ]
    return tables, ["", ""] + kernel + ["", ""] + wrapper


def emit_triton(graph: Graph) -> str:
    """Python source of the Triton module for ``graph``."""
    check_renderable(graph, "triton", SUPPORTED, HINT)
    dtype = graph.dtype
    tables: list[str] = []
    functions: list[str] = []
    calls: list[str] = []
    for index, op in enumerate(graph.ops):
        op_tables, body = _layer(op, index, dtype)
        tables += op_tables
        functions += body
        args = [operand_expr(o) for o in op.operands]
        calls.append(op_comment(op, "    "))
        calls.append(f"    {var(op.result)} = layer_{index}({args[0]}, {args[1]})")
    header = [
        f'"""Triton module for kan.graph @{graph.name}, generated by kancc {VERSION}.',
        "",
        "One fused kernel per KAN layer: the local B-spline basis is evaluated in registers and",
        "contracted with the coefficients; the [batch, in, n_b] basis tensor is never stored.",
        "Deterministic; regenerate rather than edit: kancc compile SPEC --target triton",
        "",
        "forward(params, x) takes torch tensors on a CUDA device (or on the CPU under",
        "TRITON_INTERPRET=1); Model is the same as an nn.Module. Inference only.",
        '"""',
        "",
        "import os",
        "",
        "import torch",
        "import triton",
        "import triton.language as tl",
        "",
        f"DTYPE = {TORCH_DTYPES[dtype]}",
        f"INPUT_WIDTH = {graph.inputs[0].type.shape[1]}",
        f"PARAM_SHAPES = {param_shapes(graph)}",
        "",
        *tables,
    ]
    run = [
        "",
        "",
        "def run(params, x):",
        f'    """The layers of @{graph.name} in order (inputs already checked)."""',
        *([f"    {var(graph.inputs[0])} = x"] if var(graph.inputs[0]) != "x" else []),
        *calls,
        f"    return {', '.join(var(v) for v in graph.outputs)}",
    ]
    return "\n".join(header) + RUNTIME + "\n".join(functions + run) + MODEL
