"""The three kernels of a jet layer (kan.jet_layer, compile(..., jet=N) and physics losses),
each with its torch wrapper, as source lines. A jet is [batch, n, C], C = 1 + order * d
channels per value: the value, its d first derivatives d/dz_k and (order 2) its d diagonal
second derivatives d2/dz_k2 in the model inputs z.

  jet_layer      f^(m)[b, q] = sum_i B^(m)_i(x[b, p]) coef[p, q, i]  (m = 0 .. order), and
                 y = sum_p f, dy_k = sum_p f' dx_k, d2y_k = sum_p f'' dx_k^2 + f' d2x_k
  vjp_jet_input  d(jet x)[b, p, :] from the cotangent g of the output jet: the value channel
                 sum_q f' a0 + f'' a1 (+ f''' a2), dx_k: sum_q f' g1_k (+ 2 f'' g2_k dx_k),
                 d2x_k: sum_q f' g2_k, with a0 = g0, a1 = sum_k dx_k g1_k (+ d2x_k g2_k),
                 a2 = sum_k dx_k^2 g2_k (``jet_parts`` of the NumPy reference)
  vjp_jet_coef   dcoef[p, q, i] = sum_b sum_m B^(m)_i(x[b, p]) a_m[b, q]

Like the plain layer kernels (kernels.py), each evaluates the local basis and its
derivatives in registers, so no [batch, in, n_b] tensor is written: the forward reads each
coefficient once for all 1 + 2 d channels. The d channels of a value are one axis of a
[BLOCK_B, BLOCK_Q, D_PAD] register tile. Tiles are fixed (no schedule attributes): jets are
narrow, and these kernels are not yet tuned for tensor cores.
"""

from __future__ import annotations

from kancc.ir import Op, n_basis
from kancc.ir.schedule_attrs import COEF_CHUNK, pow2_at_least

from ..source_text import describe_basis
from .kernels import (
    ROW_SLICE_STORE,
    TL_DTYPES,
    Kernel,
    basis_code,
    kernel_head,
    row_slice_head,
    row_split_wrapper,
    scalar_input,
)

BLOCK_B = 32
BLOCK_Q = 16


def jet_shape(op: Op) -> tuple[int, int, int, int, int]:
    """(in, out, n_b, d, order) of a jet op: its input jet [batch, in, 1 + order d]."""
    order = int(op.attr("jet"))
    n_in, channels = (int(n) for n in op.operands[0].type.shape[1:])  # static: the IR's widths
    if op.name == "kan.jet_tucker_layer":
        n_out, nb = int(op.results[0].type.shape[1]), n_basis(op.attr("order"), op.attr("grid"))
    else:
        _, n_out, nb = op.operands[1].type.static_shape
    return n_in, n_out, nb, (channels - 1) // order, order


def _levels(op: Op, index: int, levels: range, inputs: str | None
            ) -> tuple[list[str], str, list[str], list[str], list[tuple[str, ...]]]:
    """The basis code of every derivative level in ``levels``: (tables, table pointer args,
    wrapper table tensors, statement lines, the values of each level). Tables shared by
    levels (the knots) are passed once, and the cell search they share is emitted once."""
    tables: list[str] = []
    args: list[str] = []
    tensors: list[str] = []
    lines: list[str] = []
    values = []
    for level in levels:
        more_tables, _, more_tensors, code = basis_code(op, index, level, inputs)
        tables += [t for t in more_tables if t not in tables]
        args += [t.name for t in code.tables if t.name not in args]
        tensors += [t for t in more_tensors if t not in tensors]
        lines += _after_shared_prefix(lines, list(code.lines))
        values.append(code.values)
    return tables, "".join(f"{a}, " for a in args), tensors, lines, values


def _after_shared_prefix(emitted: list[str], lines: list[str]) -> list[str]:
    """``lines`` less the statements they share at the start with ``emitted`` (the cell
    search and in-cell coordinate), when nothing emitted after those reassigns a name they
    assign; otherwise all of ``lines``."""
    shared = 0
    while shared < min(len(emitted), len(lines)) and emitted[shared] == lines[shared]:
        shared += 1

    def assigned(statements: list[str]) -> set[str]:
        return {line.split(" = ", 1)[0] for line in statements if " = " in line}

    if assigned(emitted[:shared]) & assigned(emitted[shared:]):
        return lines
    return lines[shared:]


def _input_loads(indent: str, order: int) -> list[str]:
    """Input p of the rows' input jets: ``at`` ([BLOCK_B] offsets of its value), the value
    x [BLOCK_B] and dx (and d2x): [BLOCK_B, D_PAD] tiles of its first (second) derivative
    channels (masks row_ok and in_ok)."""
    lines = [f"{indent}at = (rows.to(tl.int64) * IN + p) * C",
             f"{indent}x = tl.load(jet_ptr + at, mask=row_ok, other=0.0)",
             f"{indent}dx = tl.load(jet_ptr + at[:, None] + 1 + ks[None, :], mask=in_ok, "
             "other=0.0)"]
    if order == 2:
        lines.append(f"{indent}d2x = tl.load(jet_ptr + at[:, None] + 1 + D + ks[None, :], "
                     "mask=in_ok, other=0.0)")
    return lines


def _edge_sums(indent: str, values: list[tuple[str, ...]], names: list[str], mask: str,
               zeros: str) -> list[str]:
    """f^(m)[b, q] = sum_j values[m][j] coef[p, q, k + j]: each coefficient gathered once
    for every level."""
    lines = [f"{indent}{name} = {zeros}" for name in names]
    for j in range(len(values[0])):
        lines.append(f"{indent}c = tl.load(coef_ptr + edge{f' + {j}' if j else ''}, "
                     f"mask={mask}, other=0.0)")
        lines += [f"{indent}{name} += {level[j]}[:, None] * c"
                  for name, level in zip(names, values)]
    return lines


def jet_layer_kernel(op: Op, index: int, dtype: str) -> Kernel:
    n_in, n_out, nb, d, order = jet_shape(op)
    tables, table_args, tensors, basis, values = _levels(op, index, range(order + 1),
                                                         scalar_input(op))
    zeros = f"tl.zeros((BLOCK_B, BLOCK_Q), dtype={TL_DTYPES[dtype]})"
    zeros3 = f"tl.zeros((BLOCK_B, BLOCK_Q, D_PAD), dtype={TL_DTYPES[dtype]})"
    name = f"jet_layer_{index}"
    second = [
        "        second += f2[:, :, None] * (dx * dx)[:, None, :] + f1[:, :, None] * "
        "d2x[:, None, :]"] if order == 2 else []
    store_second = [
        "    tl.store(out_ptr + out_at[:, :, None] + 1 + D + ks[None, None, :], second, "
        "mask=chan_ok)"] if order == 2 else []
    lines = [
        *kernel_head(f"{name}_kernel(jet_ptr, coef_ptr, out_ptr, {table_args}n_rows",
                     ("IN", "OUT", "NB", "D", "C"), ("BLOCK_B", "BLOCK_Q", "D_PAD"),
                     f"The jet of {describe_basis(op)}: value and {order * d} derivative "
                     "channels from one read of each coefficient."),
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    cols = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    ks = tl.arange(0, D_PAD)",
        "    row_ok = rows < n_rows",
        "    tile_ok = row_ok[:, None] & (cols < OUT)[None, :]",
        "    in_ok = row_ok[:, None] & (ks < D)[None, :]",
        f"    value = {zeros}",
        f"    first = {zeros3}",
        *([f"    second = {zeros3}"] if order == 2 else []),
        "    for p in range(IN):",
        *_input_loads("        ", order),
        *(f"        {line}" for line in basis),
        "        edge = (p * OUT + cols[None, :]).to(tl.int64) * NB + k[:, None]",
        *_edge_sums("        ", values, ["f0", "f1", "f2"][:order + 1], "tile_ok", zeros),
        "        value += f0",
        "        first += f1[:, :, None] * dx[:, None, :]",
        *second,
        "    out_at = (rows.to(tl.int64)[:, None] * OUT + cols[None, :]) * C",
        "    chan_ok = tile_ok[:, :, None] & (ks < D)[None, None, :]",
        "    tl.store(out_ptr + out_at, value, mask=tile_ok)",
        "    tl.store(out_ptr + out_at[:, :, None] + 1 + ks[None, None, :], first, mask=chan_ok)",
        *store_second,
        *_wrapper(f"{name}(x, coef)",
                  f"The jet [batch, {n_out}, {1 + order * d}] of the layer on the jet x "
                  f"[batch, {n_in}, {1 + order * d}]",
                  f"torch.empty((n_rows, {n_out}, {1 + order * d}), device=x.device, "
                  "dtype=x.dtype)",
                  f"(triton.cdiv(n_rows, {BLOCK_B}), triton.cdiv({n_out}, {BLOCK_Q}))",
                  f"{name}_kernel[grid](x, coef.contiguous(), out", tensors,
                  (n_in, n_out, nb, d, order)),
    ]
    return Kernel(tables, lines)


def _wrapper(signature: str, doc: str, allocate: str, grid: str, launch: str,
             tensors: list[str], shape: tuple[int, int, int, int, int]) -> list[str]:
    """The torch side of a jet kernel: the jet made contiguous, ``out`` allocated (returned
    empty for no rows), the launch over ``grid`` with the basis tables and the sizes."""
    n_in, n_out, nb, d, order = shape
    return [
        "", "",
        f"def {signature}:",
        f'    """{doc}."""',
        "    x = x.contiguous()",
        "    n_rows = x.shape[0]",
        f"    out = {allocate}",
        "    if n_rows == 0:",
        "        return out",
        "    tables = (", *tensors, "    )",
        f"    grid = {grid}",
        f"    {launch}, *tables, n_rows, IN={n_in}, OUT={n_out}, NB={nb},",
        f"        D={d}, C={1 + order * d}, BLOCK_B={BLOCK_B}, BLOCK_Q={BLOCK_Q}, "
        f"D_PAD={pow2_at_least(d)})",
        "    return out",
    ]


def _cotangent_parts(indent: str, order: int) -> list[str]:
    """g0 [BLOCK_B, BLOCK_Q], g1 (g2) [BLOCK_B, BLOCK_Q, D_PAD]: the output cotangent at
    ``g_at``; a1 (a2): what multiplies f' (f'') in it, summed over the channels."""
    lines = [
        f"{indent}g0 = tl.load(g_ptr + g_at, mask=tile_ok, other=0.0)",
        f"{indent}g1 = tl.load(g_ptr + g_at[:, :, None] + 1 + ks[None, None, :], "
        "mask=chan_ok, other=0.0)",
    ]
    if order == 1:
        return lines + [f"{indent}a1 = tl.sum(dx[:, None, :] * g1, axis=2)"]
    return lines + [
        f"{indent}g2 = tl.load(g_ptr + g_at[:, :, None] + 1 + D + ks[None, None, :], "
        "mask=chan_ok, other=0.0)",
        f"{indent}a1 = tl.sum(dx[:, None, :] * g1 + d2x[:, None, :] * g2, axis=2)",
        f"{indent}a2 = tl.sum((dx * dx)[:, None, :] * g2, axis=2)",
    ]


def vjp_jet_input_kernel(op: Op, index: int, dtype: str) -> Kernel:
    n_in, n_out, nb, d, order = jet_shape(op)
    tables, table_args, tensors, basis, values = _levels(op, index, range(1, order + 2),
                                                         scalar_input(op))
    zeros = f"tl.zeros((BLOCK_B, BLOCK_Q), dtype={TL_DTYPES[dtype]})"
    name = f"vjp_jet_input_{index}"
    if order == 1:
        sums = ["        value += tl.sum(f1 * g0 + f2 * a1, axis=1)",
                "        first += tl.sum(f1[:, :, None] * g1, axis=1)"]
    else:
        sums = ["        value += tl.sum(f1 * g0 + f2 * a1 + f3 * a2, axis=1)",
                "        first += tl.sum(f1[:, :, None] * g1 + 2.0 * f2[:, :, None] * g2 * "
                "dx[:, None, :], axis=1)",
                "        second += tl.sum(f1[:, :, None] * g2, axis=1)"]
    lines = [
        *kernel_head(f"{name}_kernel(jet_ptr, coef_ptr, g_ptr, out_ptr, {table_args}n_rows",
                     ("IN", "OUT", "NB", "D", "C"), ("BLOCK_B", "BLOCK_Q", "D_PAD"),
                     f"d(jet x) of {describe_basis(op)}: BLOCK_B rows of one input, the "
                     "outputs in BLOCK_Q slices."),
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    p = tl.program_id(1)",
        "    ks = tl.arange(0, D_PAD)",
        "    row_ok = rows < n_rows",
        "    in_ok = row_ok[:, None] & (ks < D)[None, :]",
        *_input_loads("    ", order),
        *(f"    {line}" for line in basis),
        f"    value = tl.zeros((BLOCK_B,), dtype={TL_DTYPES[dtype]})",
        f"    first = tl.zeros((BLOCK_B, D_PAD), dtype={TL_DTYPES[dtype]})",
        *([f"    second = tl.zeros((BLOCK_B, D_PAD), dtype={TL_DTYPES[dtype]})"]
          if order == 2 else []),
        "    for q0 in range(0, OUT, BLOCK_Q):",
        "        cols = q0 + tl.arange(0, BLOCK_Q)",
        "        tile_ok = row_ok[:, None] & (cols < OUT)[None, :]",
        "        chan_ok = tile_ok[:, :, None] & (ks < D)[None, None, :]",
        "        edge = (p * OUT + cols[None, :]).to(tl.int64) * NB + k[:, None]",
        *_edge_sums("        ", values, ["f1", "f2", "f3"][:order + 1], "tile_ok", zeros),
        "        g_at = (rows.to(tl.int64)[:, None] * OUT + cols[None, :]) * C",
        *_cotangent_parts("        ", order),
        *sums,
        "    tl.store(out_ptr + at, value, mask=row_ok)",
        "    tl.store(out_ptr + at[:, None] + 1 + ks[None, :], first, mask=in_ok)",
        *(["    tl.store(out_ptr + at[:, None] + 1 + D + ks[None, :], second, mask=in_ok)"]
          if order == 2 else []),
        *_wrapper(f"{name}(x, coef, g)",
                  "The cotangent of the input jet x from the cotangent g of the output jet",
                  "torch.empty_like(x)", f"(triton.cdiv(n_rows, {BLOCK_B}), {n_in})",
                  f"{name}_kernel[grid](x, coef.contiguous(), g.contiguous(), out", tensors,
                  (n_in, n_out, nb, d, order)),
    ]
    return Kernel(tables, lines)


def vjp_jet_coef_kernel(op: Op, index: int, dtype: str) -> Kernel:
    n_in, n_out, nb, d, order = jet_shape(op)
    tables, table_args, tensors, basis, values = _levels(op, index, range(order + 1),
                                                         scalar_input(op))
    name = f"vjp_jet_coef_{index}"
    spread = []
    for level, level_values in enumerate(values):
        spread.append(f"        tile = tl.zeros((BLOCK_B, NB_BLOCK), dtype={TL_DTYPES[dtype]})")
        spread += [f"        tile += tl.where(k[:, None]{f' + {m}' if m else ''} == "
                   f"slots[None, :], {value}[:, None], 0.0)"
                   for m, value in enumerate(level_values)]
        part = "g0" if level == 0 else f"a{level}"
        spread.append(f"        acc += tl.sum({part}[:, :, None] * tile[:, None, :], axis=0)")
    lines = [
        *kernel_head(f"{name}_kernel(jet_ptr, g_ptr, out_ptr, {table_args}n_rows, "
                     "rows_per_split", ("IN", "OUT", "NB", "D", "C", "CHUNKS"),
                     ("BLOCK_B", "BLOCK_Q", "NB_BLOCK", "D_PAD", "ATOMIC"),
                     f"dcoef of the jet of {describe_basis(op)}: one input, BLOCK_Q outputs, "
                     "NB_BLOCK basis functions, one row slice."),
        "    ks = tl.arange(0, D_PAD)",
        *row_slice_head(dtype),
        "        in_ok = row_ok[:, None] & (ks < D)[None, :]",
        "        tile_ok = row_ok[:, None] & col_ok[None, :]",
        "        chan_ok = tile_ok[:, :, None] & (ks < D)[None, None, :]",
        *_input_loads("        ", order),
        *(f"        {line}" for line in basis),
        "        g_at = (rows.to(tl.int64)[:, None] * OUT + cols[None, :]) * C",
        *_cotangent_parts("        ", order),
        *spread,
        *ROW_SLICE_STORE,
        "",
        "",
    ]
    nb_block = min(pow2_at_least(nb), COEF_CHUNK // 2)
    chunks = -(-nb // nb_block)
    block_b = 8  # the [rows, outputs, basis] products stay in registers (16 KiB in float64)
    wrapper = row_split_wrapper(
        name, (n_in, n_out, nb), block_b, n_in * -(-n_out // BLOCK_Q) * chunks,
        f"({n_in}, triton.cdiv({n_out}, {BLOCK_Q}) * {chunks}, splits)",
        f"D={d}, C={1 + order * d}, CHUNKS={chunks}, BLOCK_B={block_b}, BLOCK_Q={BLOCK_Q}, "
        f"NB_BLOCK={nb_block}, D_PAD={pow2_at_least(d)}",
        tensors, "dcoef[p, q, i] = sum_b sum_m B^(m)_i(x[b, p]) a_m[b, q] of the jet x")
    return Kernel(tables, lines + wrapper)
