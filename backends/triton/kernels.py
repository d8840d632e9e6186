"""The three gather kernels of a fused layer, each with its torch wrapper, as source lines
(the other strategy, dense tiles on tensor cores, is dot_kernels.py; tile sizes come from
the op's schedule, ir/schedule_attrs.py).

  layer      y[b, q]  = sum_p sum_m B_{k+m}(x[b, p]) coef[p, q, k + m]
  vjp_input  dx[b, p] = sum_q g[b, q] sum_m B'_{k+m}(x[b, p]) coef[p, q, k + m]
  vjp_coef   dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p])

Every kernel evaluates the local basis (or its derivative) of the inputs it reads in
registers, with the straight-line code of ``local_basis``: nothing of size
[batch, in, n_b] is ever written to memory, in the forward or the backward sweep.

vjp_coef: a program owns one input p, BLOCK_Q outputs, NB_BLOCK basis functions (all of
them but on large grids, split into CHUNKS) and one contiguous slice of rows; it spreads
the r local values of each row into a [BLOCK_B, NB_BLOCK] register tile (the values outside
its chunk fall away) and accumulates g^T @ tile into a [BLOCK_Q, NB_BLOCK] accumulator.
Slices are summed either by atomic adds into dcoef (default) or, with
``deterministic=True``, written to a [splits, in, out, n_b] buffer summed in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.ir import Op, is_per_input
from kancc.ir.schedule_attrs import WARPS, layer_shape, schedule_of

from ..local_basis import LocalBasis, local_basis
from ..source_text import describe_basis, float_list
from .runtime import SYNTAX

TL_DTYPES = {"f32": "tl.float32", "f64": "tl.float64"}


@dataclass(frozen=True)
class Kernel:
    tables: list[str]  # module-level constant lines
    lines: list[str]  # kernel + wrapper


def basis_code(op: Op, index: int, derivative: int, inputs: str | None = None
               ) -> tuple[list[str], str, list[str], LocalBasis]:
    """(table constant lines, table pointer args, wrapper table tensors, LocalBasis);
    ``inputs``: the kernel's input index, shaped like its x (per-input knot tables)."""
    code = local_basis(op, SYNTAX, "x", "table", derivative=derivative, inputs=inputs)
    consts = {t.name: f"L{index}_{t.name.split('_', 1)[1]}" for t in code.tables}
    tables = [f"# {t.comment}\n{consts[t.name]} = {float_list(t.values, '')}" for t in code.tables]
    args = "".join(f"{t.name}, " for t in code.tables)
    tensors = [f'        device_table("{name}", {name}, x.device, x.dtype),'
               for name in consts.values()]
    return tables, args, tensors, code


INPUT_TILE = "tl.minimum(ins, IN - 1)[None, :]"  # a [BLOCK_B, BLOCK_P] tile's inputs, in range


def scalar_input(op: Op) -> str | None:
    """The loop's input ``p``; None when a per-input op's knot rows are not its x's columns
    (the one-input view of a Tucker layer, x as [batch * in, 1], loses which input an
    element belongs to), so local_basis refuses it."""
    if is_per_input(op.attr_dict) and len(op.attr("knots")) != op.operands[0].type.shape[1]:
        return None
    return "p"


def kernel_head(signature: str, sizes: tuple[str, ...], blocks: tuple[str, ...],
                doc: str) -> list[str]:
    """``@triton.jit``, the def line (its pointers and runtime sizes), one line of size and
    one of block constexprs, and the docstring."""
    def constexprs(names: tuple[str, ...]) -> str:
        return ", ".join(f"{n}: tl.constexpr" for n in names)

    return ["@triton.jit", f"def {signature},", f"        {constexprs(sizes)},",
            f"        {constexprs(blocks)}):", f'    """{doc}"""']


def layer_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False,
                                                   inputs=scalar_input(op))
    n_in, n_out, nb = layer_shape(op)
    block_b, _, block_q, _ = schedule_of(op, "layer")[1]
    name = f"layer_{index}"
    contraction = [f"        acc += {value}[:, None] * tl.load(coef_ptr + edge"
                   f"{f' + {m}' if m else ''}, mask=tile_ok, other=0.0)"
                   for m, value in enumerate(code.values)]
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, coef_ptr, y_ptr, {table_args}n_rows",
                     ("IN", "OUT", "NB"), ("BLOCK_B", "BLOCK_Q"), f"{describe_basis(op)}."),
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
        "",
        "",
        f"def {name}(x, coef):",
        f'    """y[b, q] = sum_p sum_i coef[p, q, i] B_i(x[b, p]); coef of shape '
        f'({n_in}, {n_out}, {nb})."""',
    ]
    return Kernel(tables, lines + tile_launch(
        "y", f"torch.empty((n_rows, {n_out}), device=x.device, dtype=x.dtype)",
        f"(triton.cdiv(n_rows, {block_b}), triton.cdiv({n_out}, {block_q}))", tensors,
        [f"    {name}_kernel[grid](x, coef, y, *tables, n_rows, IN={n_in}, OUT={n_out}, NB={nb},",
         f"        BLOCK_B={block_b}, BLOCK_Q={block_q}, num_warps={WARPS['layer', 'gather']})"]))


def tile_launch(result: str, allocate: str, grid: str, tensors: list[str],
                launch: list[str]) -> list[str]:
    """The body of a wrapper that allocates ``result``, returns it empty for no rows, and
    otherwise launches its kernel over ``grid`` with the basis tables."""
    return [
        "    n_rows = x.shape[0]",
        f"    {result} = {allocate}",
        "    if n_rows == 0:",
        f"        return {result}",
        f"    grid = {grid}",
        "    tables = (", *tensors, "    )",
        *launch,
        f"    return {result}",
    ]


def vjp_input_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=True,
                                                   inputs=INPUT_TILE)
    n_in, n_out, nb = layer_shape(op)
    block_b, block_p, _, _ = schedule_of(op, "vjp_input")[1]
    name = f"vjp_input_{index}"
    gathers = " + ".join(f"{value} * tl.load(coef_ptr + edge{f' + {m}' if m else ''}, "
                         "mask=tile_ok, other=0.0)" for m, value in enumerate(code.values))
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, coef_ptr, g_ptr, dx_ptr, {table_args}n_rows",
                     ("IN", "OUT", "NB"), ("BLOCK_B", "BLOCK_P"),
                     f"dx of {describe_basis(op)}: the basis derivative, in registers."),
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    ins = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)",
        "    row_ok = rows < n_rows",
        "    tile_ok = row_ok[:, None] & (ins < IN)[None, :]",
        "    at = rows.to(tl.int64)[:, None] * IN + ins[None, :]",
        "    x = tl.load(x_ptr + at, mask=tile_ok, other=0.0)",
        *(f"    {line}" for line in code.lines),
        "    base = (ins[None, :] * OUT).to(tl.int64) * NB + k",
        f"    acc = tl.zeros((BLOCK_B, BLOCK_P), dtype={TL_DTYPES[dtype]})",
        "    for q in range(OUT):",
        "        g = tl.load(g_ptr + rows.to(tl.int64) * OUT + q, mask=row_ok, other=0.0)",
        "        edge = base + q * NB",
        f"        acc += g[:, None] * ({gathers})",
        "    tl.store(dx_ptr + at, acc, mask=tile_ok)",
        "",
        "",
        f"def {name}(x, coef, g):",
        '    """dx[b, p] = sum_q g[b, q] sum_i coef[p, q, i] B\'_i(x[b, p])."""',
    ]
    return Kernel(tables, lines + tile_launch(
        "dx", "torch.empty_like(x)",
        f"(triton.cdiv(n_rows, {block_b}), triton.cdiv({n_in}, {block_p}))", tensors,
        [f"    {name}_kernel[grid](x, coef, g.contiguous(), dx, *tables, n_rows, IN={n_in}, "
         f"OUT={n_out},", f"        NB={nb}, BLOCK_B={block_b}, BLOCK_P={block_p}, "
         f"num_warps={WARPS['vjp_input', 'gather']})"]))


def row_slice_head(dtype: str) -> list[str]:
    """The start of a vjp_coef kernel: its program's input p, outputs, basis slots and row
    slice, a [BLOCK_Q, NB_BLOCK] accumulator, and the loop over the slice's rows."""
    return [
        "    p = tl.program_id(0)",
        "    cols = (tl.program_id(1) // CHUNKS) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    slots = (tl.program_id(1) % CHUNKS) * NB_BLOCK + tl.arange(0, NB_BLOCK)",
        "    split = tl.program_id(2)",
        "    col_ok = cols < OUT",
        f"    acc = tl.zeros((BLOCK_Q, NB_BLOCK), dtype={TL_DTYPES[dtype]})",
        "    start = split * rows_per_split",
        "    stop = tl.minimum(start + rows_per_split, n_rows)",
        "    for first in range(start, stop, BLOCK_B):",
        "        rows = first + tl.arange(0, BLOCK_B)",
        "        row_ok = rows < stop",
    ]


# the end of a vjp_coef kernel: its [BLOCK_Q, NB_BLOCK] accumulator added into dcoef
# (ATOMIC) or stored as its row slice's part of a [splits, in, out, n_b] buffer
ROW_SLICE_STORE = [
    "    at = (p * OUT + cols[:, None]).to(tl.int64) * NB + slots[None, :]",
    "    ok = col_ok[:, None] & (slots < NB)[None, :]",
    "    if ATOMIC:",
    "        tl.atomic_add(out_ptr + at, acc, mask=ok)",
    "    else:",
    "        tl.store(out_ptr + split.to(tl.int64) * (IN * OUT * NB) + at, acc, mask=ok)",
]


def vjp_coef_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False,
                                                   inputs=scalar_input(op))
    n_in, n_out, nb = layer_shape(op)
    name = f"vjp_coef_{index}"
    spread = [f"        tile += tl.where(k[:, None]{f' + {m}' if m else ''} == slots[None, :], "
              f"{value}[:, None], 0.0)" for m, value in enumerate(code.values)]
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, g_ptr, out_ptr, {table_args}n_rows, rows_per_split",
                     ("IN", "OUT", "NB", "CHUNKS"), ("BLOCK_B", "BLOCK_Q", "NB_BLOCK", "ATOMIC"),
                     f"dcoef of {describe_basis(op)}: one input, BLOCK_Q outputs, NB_BLOCK "
                     "basis functions, one row slice."),
        *row_slice_head(dtype),
        "        x = tl.load(x_ptr + rows.to(tl.int64) * IN + p, mask=row_ok, other=0.0)",
        *(f"        {line}" for line in code.lines),
        f"        tile = tl.zeros((BLOCK_B, NB_BLOCK), dtype={TL_DTYPES[dtype]})",
        *spread,
        "        g = tl.load(g_ptr + rows.to(tl.int64)[:, None] * OUT + cols[None, :],",
        "                    mask=row_ok[:, None] & col_ok[None, :], other=0.0)",
        "        acc += tl.sum(g[:, :, None] * tile[:, None, :], axis=0)",
        *ROW_SLICE_STORE,
        "",
        "",
    ]
    return Kernel(tables, lines + _vjp_coef_wrapper(op, name, tensors))


def _vjp_coef_wrapper(op: Op, name: str, tensors: list[str]) -> list[str]:
    n_in, n_out, nb = layer_shape(op)
    block_b, _, block_q, nb_block = schedule_of(op, "vjp_coef")[1]
    chunks = -(-nb // nb_block)
    return row_split_wrapper(name, (n_in, n_out, nb), block_b,
                             n_in * -(-n_out // block_q) * chunks,
                             f"({n_in}, triton.cdiv({n_out}, {block_q}) * {chunks}, splits)",
                             f"CHUNKS={chunks}, BLOCK_B={block_b}, BLOCK_Q={block_q}, "
                             f"NB_BLOCK={nb_block}, num_warps={WARPS['vjp_coef', 'gather']}",
                             tensors)


def row_split_wrapper(name: str, shape: tuple[int, int, int], block_b: int, programs: int,
                      grid: str, constexprs: str, tensors: list[str],
                      what: str = "dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p])") -> list[str]:
    """The torch side of a vjp_coef kernel (``programs`` programs a row slice): how many
    row slices, then the launch over ``grid`` and their sum, by atomic adds or, with
    deterministic=True, in a fixed order over a [splits, in, out, n_b] buffer. ``what``:
    the docstring's formula."""
    n_in, n_out, nb = shape
    return [
        f"def {name}(x, g, deterministic=False):",
        f'    """{what};',
        '    deterministic=True sums the row slices in a fixed order instead of with atomic',
        '    adds."""',
        "    n_rows = x.shape[0]",
        f"    splits = max(1, min(triton.cdiv(n_rows, {block_b}), "
        f"triton.cdiv(TARGET_PROGRAMS, {programs})))",
        f"    rows_per_split = triton.cdiv(triton.cdiv(n_rows, splits), {block_b}) * {block_b}",
        "    splits = max(1, triton.cdiv(n_rows, rows_per_split))",
        f"    shape = ({n_in}, {n_out}, {nb})",
        "    if deterministic:",
        "        out = torch.zeros((splits,) + shape, device=x.device, dtype=x.dtype)",
        "    else:",
        "        out = torch.zeros(shape, device=x.device, dtype=x.dtype)",
        "    if n_rows == 0:",
        "        return out.sum(0) if deterministic else out",
        f"    grid = {grid}",
        "    tables = (", *tensors, "    )",
        f"    {name}_kernel[grid](x, g.contiguous(), out, *tables, n_rows, rows_per_split, "
        f"IN={n_in},",
        f"        OUT={n_out}, NB={nb}, {constexprs},",
        "        ATOMIC=not deterministic)",
        "    return out.sum(0) if deterministic else out",
    ]
