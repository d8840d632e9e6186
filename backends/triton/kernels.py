"""The three Triton kernels of a fused layer, each with its torch wrapper, as source lines.

  layer      y[b, q]  = sum_p sum_m B_{k+m}(x[b, p]) coef[p, q, k + m]
  vjp_input  dx[b, p] = sum_q g[b, q] sum_m B'_{k+m}(x[b, p]) coef[p, q, k + m]
  vjp_coef   dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p])

Every kernel evaluates the local basis (or its derivative) of the inputs it reads in
registers, with the straight-line code of ``local_basis``: nothing of size
[batch, in, n_b] is ever written to memory, in the forward or the backward sweep.

vjp_coef: a program owns one input p, BLOCK_Q outputs and one contiguous slice of rows; it
spreads the r local values of each row into a [BLOCK_B, NB_PAD] register tile and
accumulates g^T @ tile into a [BLOCK_Q, NB_PAD] accumulator. Slices are summed either by
atomic adds into dcoef (default) or, with ``deterministic=True``, written to a
[splits, in, out, n_b] buffer summed in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

from kancc.ir import Op, n_basis

from ..local_basis import LocalBasis, local_basis
from ..source_text import describe_basis, float_list
from .runtime import SYNTAX

TL_DTYPES = {"f32": "tl.float32", "f64": "tl.float64"}
MAX_TILE = 2048  # accumulator elements per program (layer, vjp_input)
MAX_COEF_TILE = 2048  # elements of the [BLOCK_B, BLOCK_Q, NB_PAD] product tile of vjp_coef
COEF_WARPS = 8  # vjp_coef: fewer spills than at 4 warps on sm_80 (the compile check)
TARGET_PROGRAMS = 1024  # vjp_coef splits the rows until about this many programs run


def pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def block_sizes(n_out: int) -> tuple[int, int]:
    """(BLOCK_B, BLOCK_Q): the output tile of one layer program, powers of two."""
    block_q = min(64, pow2_at_least(n_out))
    block_b = min(256, max(32, MAX_TILE // block_q))
    return block_b, block_q


def vjp_input_block_sizes(n_in: int, order: int) -> tuple[int, int]:
    """(BLOCK_B, BLOCK_P) of vjp_input: its r = order basis values live at once over the
    whole tile, so the tile shrinks as r grows (no spills to local memory at order 6)."""
    block_p = min(64, pow2_at_least(n_in))
    budget = MAX_TILE * 4 // max(4, order)
    block_b = min(256, max(16, 1 << ((budget // block_p).bit_length() - 1)))
    return block_b, block_p


def coef_block_sizes(n_out: int, nb: int) -> tuple[int, int, int]:
    """(BLOCK_B, BLOCK_Q, NB_PAD) of vjp_coef: the product tile stays within MAX_COEF_TILE."""
    nb_pad = pow2_at_least(nb)
    block_q = min(16, pow2_at_least(n_out), max(1, MAX_COEF_TILE // nb_pad))
    block_b = max(1, min(64, MAX_COEF_TILE // (block_q * nb_pad)))
    return block_b, block_q, nb_pad


@dataclass(frozen=True)
class Kernel:
    tables: list[str]  # module-level constant lines
    lines: list[str]  # kernel + wrapper


def basis_code(op: Op, index: int, derivative: bool
               ) -> tuple[list[str], str, list[str], LocalBasis]:
    """(table constant lines, table pointer args, wrapper table tensors, LocalBasis)."""
    code = local_basis(op, SYNTAX, "x", "table", derivative=derivative)
    consts = {t.name: f"L{index}_{t.name.split('_', 1)[1]}" for t in code.tables}
    tables = [f"# {t.comment}\n{consts[t.name]} = {float_list(t.values, '')}" for t in code.tables]
    args = "".join(f"{t.name}, " for t in code.tables)
    tensors = [f'        device_table("{name}", {name}, x.device, x.dtype),'
               for name in consts.values()]
    return tables, args, tensors, code


def kernel_head(signature: str, sizes: tuple[str, ...], blocks: tuple[str, ...],
                doc: str) -> list[str]:
    """``@triton.jit``, the def line (its pointers and runtime sizes), one line of size and
    one of block constexprs, and the docstring."""
    def constexprs(names: tuple[str, ...]) -> str:
        return ", ".join(f"{n}: tl.constexpr" for n in names)

    return ["@triton.jit", f"def {signature},", f"        {constexprs(sizes)},",
            f"        {constexprs(blocks)}):", f'    """{doc}"""']


def layer_shape(op: Op) -> tuple[int, int, int]:
    n_in, n_out, _ = op.operands[1].type.static_shape
    return n_in, n_out, n_basis(op.attr("order"), op.attr("grid"))


def layer_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False)
    n_in, n_out, nb = layer_shape(op)
    block_b, block_q = block_sizes(n_out)
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
         f"        BLOCK_B={block_b}, BLOCK_Q={block_q})"]))


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
    tables, table_args, tensors, code = basis_code(op, index, derivative=True)
    n_in, n_out, nb = layer_shape(op)
    block_b, block_p = vjp_input_block_sizes(n_in, op.attr("order"))
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
         f"OUT={n_out},", f"        NB={nb}, BLOCK_B={block_b}, BLOCK_P={block_p})"]))


def vjp_coef_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False)
    n_in, n_out, nb = layer_shape(op)
    name = f"vjp_coef_{index}"
    spread = [f"        tile += tl.where(k[:, None] + {m} == slots[None, :], {value}[:, None], 0.0)"
              for m, value in enumerate(code.values)]
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, g_ptr, out_ptr, {table_args}n_rows, rows_per_split",
                     ("IN", "OUT", "NB", "NB_PAD"), ("BLOCK_B", "BLOCK_Q", "ATOMIC"),
                     f"dcoef of {describe_basis(op)}: one input, BLOCK_Q outputs, one row "
                     "slice."),
        "    p = tl.program_id(0)",
        "    cols = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    split = tl.program_id(2)",
        "    col_ok = cols < OUT",
        "    slots = tl.arange(0, NB_PAD)",
        f"    acc = tl.zeros((BLOCK_Q, NB_PAD), dtype={TL_DTYPES[dtype]})",
        "    start = split * rows_per_split",
        "    stop = tl.minimum(start + rows_per_split, n_rows)",
        "    for first in range(start, stop, BLOCK_B):",
        "        rows = first + tl.arange(0, BLOCK_B)",
        "        row_ok = rows < stop",
        "        x = tl.load(x_ptr + rows.to(tl.int64) * IN + p, mask=row_ok, other=0.0)",
        *(f"        {line}" for line in code.lines),
        f"        tile = tl.zeros((BLOCK_B, NB_PAD), dtype={TL_DTYPES[dtype]})",
        *spread,
        "        g = tl.load(g_ptr + rows.to(tl.int64)[:, None] * OUT + cols[None, :],",
        "                    mask=row_ok[:, None] & col_ok[None, :], other=0.0)",
        "        acc += tl.sum(g[:, :, None] * tile[:, None, :], axis=0)",
        "    at = (p * OUT + cols[:, None]).to(tl.int64) * NB + slots[None, :]",
        "    ok = col_ok[:, None] & (slots < NB)[None, :]",
        "    if ATOMIC:",
        "        tl.atomic_add(out_ptr + at, acc, mask=ok)",
        "    else:",
        "        tl.store(out_ptr + split.to(tl.int64) * (IN * OUT * NB) + at, acc, mask=ok)",
        "",
        "",
    ]
    return Kernel(tables, lines + _vjp_coef_wrapper(name, (n_in, n_out, nb), tensors))


def _vjp_coef_wrapper(name: str, shape: tuple[int, int, int], tensors: list[str]) -> list[str]:
    n_in, n_out, nb = shape
    block_b, block_q, nb_pad = coef_block_sizes(n_out, nb)
    return row_split_wrapper(name, shape, block_b, n_in * -(-n_out // block_q),
                             f"({n_in}, triton.cdiv({n_out}, {block_q}), splits)",
                             f"NB_PAD={nb_pad}, BLOCK_B={block_b}, BLOCK_Q={block_q}, "
                             f"num_warps={COEF_WARPS}", tensors)


def row_split_wrapper(name: str, shape: tuple[int, int, int], block_b: int, programs: int,
                      grid: str, constexprs: str, tensors: list[str]) -> list[str]:
    """The torch side of a vjp_coef kernel (``programs`` programs a row slice): how many
    row slices, then the launch over ``grid`` and their sum, by atomic adds or, with
    deterministic=True, in a fixed order over a [splits, in, out, n_b] buffer."""
    n_in, n_out, nb = shape
    return [
        f"def {name}(x, g, deterministic=False):",
        '    """dcoef[p, q, i] = sum_b g[b, q] B_i(x[b, p]); deterministic=True sums the row',
        '    slices in a fixed order instead of with atomic adds."""',
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
