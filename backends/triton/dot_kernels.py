"""The dense-tile ("dot") strategy of a fused layer: its three kernels feed tensor cores.

The gather kernels (``kernels.py``) load r coefficients per (row, input, output): scattered
loads that a wide layer cannot hide. Here a program evaluates the local basis of a
[BLOCK_B, BLOCK_P] block of inputs in registers, as before, and spreads the r live values
into a dense [BLOCK_B, BLOCK_P * NB_PAD] tile (zero outside them), which ``tl.dot``
contracts with the coefficients viewed as a [(p, i), q] matrix:

  layer      y = T @ W          T: the basis tile, W[(p, i), q] = coef[p, q, i]
  vjp_input  dx[b, p] = sum_i T'[b, (p, i)] (g @ W^T)[b, (p, i)]   T': derivative tile
  vjp_coef   dW^T = g^T @ T   (g^T loaded transposed: on sm_90a this is a wgmma)

The basis tensor still never reaches memory. The tile holds NB_PAD / r times more zeros
than live values: the schedule pass (kancc/passes/cost_model.py) weighs that for wide
layers on small grids, and keeps large grids (NB_PAD > 64, where the tile spills) on the
gather kernels. Every coefficient of a tile is multiplied, zeros included: an Inf or NaN
coefficient reaches every output of its tile (gather reads only the live ones). float32 products use
``input_precision="tf32x3"`` (three TF32 products recover about float32 accuracy;
DESIGN.md 5), float64 ``"ieee"``.

Sums over inputs are split across programs when a layer has too few output tiles to fill
the GPU (the forward's split-K); the partial sums are added in a fixed order, so the
forward stays deterministic. vjp_coef splits rows as the gather kernel does: atomic adds,
or a fixed-order sum with ``deterministic=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kancc.ir import Op
from kancc.ir.schedule_attrs import FORWARD_PROGRAMS, WARPS, layer_shape, schedule_of

from ..source_text import describe_basis
from .kernels import (
    INPUT_TILE,
    TL_DTYPES,
    Kernel,
    basis_code,
    kernel_head,
    row_split_wrapper,
    tile_launch,
)

PRECISION = {"f32": "tf32x3", "f64": "ieee"}


def _spread(values: Sequence[str], tile: str, dtype: str) -> list[str]:
    """Lines building ``tile`` [BLOCK_B, BLOCK_P, NB_PAD]: value m at slot k + m."""
    return [f"{tile} = tl.zeros((BLOCK_B, BLOCK_P, NB_PAD), dtype={TL_DTYPES[dtype]})",
            *(f"{tile} += tl.where(k[:, :, None]{f' + {m}' if m else ''} == slots[None, None, :], "
              f"{value}[:, :, None], 0.0)" for m, value in enumerate(values))]


def _indent(lines: Sequence[str], depth: int) -> list[str]:
    return [" " * depth + line for line in lines]


def dot_layer_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False,
                                                   inputs=INPUT_TILE)
    n_in, n_out, nb = layer_shape(op)
    name = f"layer_{index}"
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, coef_ptr, y_ptr, {table_args}n_rows, "
                     "inputs_per_split", ("IN", "OUT", "NB", "NB_PAD", "PRECISION"),
                     ("BLOCK_B", "BLOCK_P", "BLOCK_Q"),
                     f"{describe_basis(op)}: basis tile @ coefficient tile on tensor cores."),
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    cols = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    split = tl.program_id(2)",
        "    row_ok = rows < n_rows",
        "    col_ok = cols < OUT",
        "    slots = tl.arange(0, NB_PAD)",
        "    first = split * inputs_per_split",
        "    last = tl.minimum(first + inputs_per_split, IN)",
        f"    acc = tl.zeros((BLOCK_B, BLOCK_Q), dtype={TL_DTYPES[dtype]})",
        "    for start in range(first, last, BLOCK_P):",
        "        ins = start + tl.arange(0, BLOCK_P)",
        "        in_ok = ins < last",
        "        x = tl.load(x_ptr + rows.to(tl.int64)[:, None] * IN + ins[None, :],",
        "                    mask=row_ok[:, None] & in_ok[None, :], other=0.0)",
        *_indent(code.lines, 8),
        *_indent(_spread(code.values, "tile", dtype), 8),
        "        w = tl.load(coef_ptr + ((ins[:, None, None] * OUT + cols[None, None, :])"
        ".to(tl.int64) * NB",
        "                    + slots[None, :, None]), mask=in_ok[:, None, None]",
        "                    & (slots < NB)[None, :, None] & col_ok[None, None, :], other=0.0)",
        "        acc += tl.dot(tl.reshape(tile, (BLOCK_B, BLOCK_P * NB_PAD)),",
        "                      tl.reshape(w, (BLOCK_P * NB_PAD, BLOCK_Q)), "
        "input_precision=PRECISION)",
        "    at = split.to(tl.int64) * n_rows * OUT + rows.to(tl.int64)[:, None] * OUT "
        "+ cols[None, :]",
        "    tl.store(y_ptr + at, acc, mask=row_ok[:, None] & col_ok[None, :])",
        "",
        "",
        f"def {name}(x, coef):",
        f'    """y[b, q] = sum_p sum_i coef[p, q, i] B_i(x[b, p]); coef of shape '
        f'({n_in}, {n_out}, {nb}); dot tiles."""',
    ]
    return Kernel(tables, lines + _dot_layer_wrapper(op, name, tensors, dtype))


def _dot_layer_wrapper(op: Op, name: str, tensors: list[str], dtype: str) -> list[str]:
    """The torch side of the dot forward: how many programs share each output tile's input
    sum (split-K), then the launch and the fixed-order sum of the partial outputs. Splits:
    until about FORWARD_PROGRAMS programs run, each split at least 4 input blocks, and the
    partial sums (splits x batch x out) at most a quarter of the coefficients' size."""
    n_in, n_out, nb = layer_shape(op)
    block_b, block_p, block_q, nb_pad = schedule_of(op, "layer")[1]
    most = max(1, -(-n_in // (block_p * 4)))
    return [
        "    n_rows = x.shape[0]",
        "    if n_rows == 0:",
        f"        return torch.empty((0, {n_out}), device=x.device, dtype=x.dtype)",
        f"    tiles = triton.cdiv(n_rows, {block_b}) * triton.cdiv({n_out}, {block_q})",
        f"    splits = max(1, min({most}, {FORWARD_PROGRAMS} // tiles, "
        f"{n_in * nb} // (4 * n_rows)))",
        f"    inputs_per_split = triton.cdiv(triton.cdiv({n_in}, splits), {block_p}) * {block_p}",
        f"    splits = triton.cdiv({n_in}, inputs_per_split)",
        f"    y = torch.empty((splits, n_rows, {n_out}), device=x.device, dtype=x.dtype)",
        f"    grid = (triton.cdiv(n_rows, {block_b}), triton.cdiv({n_out}, {block_q}), splits)",
        "    tables = (", *tensors, "    )",
        f"    {name}_kernel[grid](x, coef, y, *tables, n_rows, inputs_per_split, IN={n_in}, "
        f"OUT={n_out},",
        f"        NB={nb}, NB_PAD={nb_pad}, PRECISION=\"{PRECISION[dtype]}\", "
        f"BLOCK_B={block_b}, BLOCK_P={block_p}, BLOCK_Q={block_q},",
        f"        num_warps={WARPS['layer', 'dot']})",
        "    return y[0] if splits == 1 else y.sum(0)  # partial sums in a fixed order",
    ]


def dot_vjp_input_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=True,
                                                   inputs=INPUT_TILE)
    n_in, n_out, nb = layer_shape(op)
    block_b, block_p, block_q, nb_pad = schedule_of(op, "vjp_input")[1]
    name = f"vjp_input_{index}"
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, coef_ptr, g_ptr, dx_ptr, {table_args}n_rows",
                     ("IN", "OUT", "NB", "NB_PAD", "PRECISION"),
                     ("BLOCK_B", "BLOCK_P", "BLOCK_Q"),
                     f"dx of {describe_basis(op)}: (g @ W^T) on tensor cores, times the "
                     "derivative tile."),
        "    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)",
        "    ins = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)",
        "    row_ok = rows < n_rows",
        "    in_ok = ins < IN",
        "    slots = tl.arange(0, NB_PAD)",
        f"    gw = tl.zeros((BLOCK_B, BLOCK_P * NB_PAD), dtype={TL_DTYPES[dtype]})",
        "    for start in range(0, OUT, BLOCK_Q):",
        "        cols = start + tl.arange(0, BLOCK_Q)",
        "        col_ok = cols < OUT",
        "        g = tl.load(g_ptr + rows.to(tl.int64)[:, None] * OUT + cols[None, :],",
        "                    mask=row_ok[:, None] & col_ok[None, :], other=0.0)",
        "        wt = tl.load(coef_ptr + ((ins[None, :, None] * OUT + cols[:, None, None])"
        ".to(tl.int64) * NB",
        "                     + slots[None, None, :]), mask=col_ok[:, None, None]",
        "                     & in_ok[None, :, None] & (slots < NB)[None, None, :], other=0.0)",
        "        gw += tl.dot(g, tl.reshape(wt, (BLOCK_Q, BLOCK_P * NB_PAD)), "
        "input_precision=PRECISION)",
        "    ok = row_ok[:, None] & in_ok[None, :]",
        "    at = rows.to(tl.int64)[:, None] * IN + ins[None, :]",
        "    x = tl.load(x_ptr + at, mask=ok, other=0.0)",
        *_indent(code.lines, 4),
        *_indent(_spread(code.values, "tile", dtype), 4),
        "    dx = tl.sum(tile * tl.reshape(gw, (BLOCK_B, BLOCK_P, NB_PAD)), axis=2)",
        "    tl.store(dx_ptr + at, dx, mask=ok)",
        "",
        "",
        f"def {name}(x, coef, g):",
        '    """dx[b, p] = sum_q g[b, q] sum_i coef[p, q, i] B\'_i(x[b, p]); dot tiles."""',
    ]
    launch = [
        f"    {name}_kernel[grid](x, coef, g.contiguous(), dx, *tables, n_rows, IN={n_in}, "
        f"OUT={n_out}, NB={nb},",
        f"        NB_PAD={nb_pad}, PRECISION=\"{PRECISION[dtype]}\", BLOCK_B={block_b}, "
        f"BLOCK_P={block_p}, BLOCK_Q={block_q}, num_warps={WARPS['vjp_input', 'dot']})",
    ]
    grid = f"(triton.cdiv(n_rows, {block_b}), triton.cdiv({n_in}, {block_p}))"
    return Kernel(tables, lines + tile_launch("dx", "torch.empty_like(x)", grid, tensors,
                                               launch))


def dot_vjp_coef_kernel(op: Op, index: int, dtype: str) -> Kernel:
    tables, table_args, tensors, code = basis_code(op, index, derivative=False,
                                                   inputs=INPUT_TILE)
    name = f"vjp_coef_{index}"
    lines = [
        *kernel_head(f"{name}_kernel(x_ptr, g_ptr, out_ptr, {table_args}n_rows, "
                     "rows_per_split", ("IN", "OUT", "NB", "NB_PAD", "PRECISION"),
                     ("BLOCK_B", "BLOCK_P", "BLOCK_Q", "ATOMIC"),
                     f"dcoef of {describe_basis(op)}: basis tile^T @ g on tensor cores, one row "
                     "slice."),
        "    ins = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)",
        "    cols = tl.program_id(1) * BLOCK_Q + tl.arange(0, BLOCK_Q)",
        "    split = tl.program_id(2)",
        "    in_ok = ins < IN",
        "    col_ok = cols < OUT",
        "    slots = tl.arange(0, NB_PAD)",
        f"    acc = tl.zeros((BLOCK_Q, BLOCK_P * NB_PAD), dtype={TL_DTYPES[dtype]})",
        "    start = split * rows_per_split",
        "    stop = tl.minimum(start + rows_per_split, n_rows)",
        "    for first in range(start, stop, BLOCK_B):",
        "        rows = first + tl.arange(0, BLOCK_B)",
        "        row_ok = rows < stop",
        "        x = tl.load(x_ptr + rows.to(tl.int64)[:, None] * IN + ins[None, :],",
        "                    mask=row_ok[:, None] & in_ok[None, :], other=0.0)",
        *_indent(code.lines, 8),
        *_indent(_spread(code.values, "tile", dtype), 8),
        "        tile = tl.where(row_ok[:, None, None], tile, 0.0)",
        "        gt = tl.load(g_ptr + rows.to(tl.int64)[None, :] * OUT + cols[:, None],",
        "                     mask=col_ok[:, None] & row_ok[None, :], other=0.0)",
        "        acc += tl.dot(gt, tl.reshape(tile, (BLOCK_B, BLOCK_P * NB_PAD)),",
        "                      input_precision=PRECISION)",
        "    acc3 = tl.reshape(acc, (BLOCK_Q, BLOCK_P, NB_PAD))",
        "    at = (ins[None, :, None] * OUT + cols[:, None, None]).to(tl.int64) * NB "
        "+ slots[None, None, :]",
        "    ok = col_ok[:, None, None] & in_ok[None, :, None] & (slots < NB)[None, None, :]",
        "    if ATOMIC:",
        "        tl.atomic_add(out_ptr + at, acc3, mask=ok)",
        "    else:",
        "        tl.store(out_ptr + split.to(tl.int64) * (IN * OUT * NB) + at, acc3, mask=ok)",
        "",
        "",
    ]
    return Kernel(tables, lines + _dot_vjp_coef_wrapper(op, name, tensors, dtype))


def _dot_vjp_coef_wrapper(op: Op, name: str, tensors: list[str], dtype: str) -> list[str]:
    n_in, n_out, nb = layer_shape(op)
    block_b, block_p, block_q, nb_pad = schedule_of(op, "vjp_coef")[1]
    return row_split_wrapper(name, (n_in, n_out, nb), block_b,
                             -(-n_in // block_p) * -(-n_out // block_q),
                             f"(triton.cdiv({n_in}, {block_p}), triton.cdiv({n_out}, "
                             f"{block_q}), splits)",
                             f"NB_PAD={nb_pad}, PRECISION=\"{PRECISION[dtype]}\", "
                             f"BLOCK_B={block_b}, BLOCK_P={block_p}, BLOCK_Q={block_q}, "
                             f"num_warps={WARPS['vjp_coef', 'dot']}", tensors)
