"""Schedule attributes of the fused-layer ops: how a kernel contracts and over what tiles.

Set by the schedule pass (kancc/passes/schedule.py), read by the Triton backend, ignored by
the NumPy backend. They describe the work, not a GPU, so they live with the IR:

  strategy   "gather": a program gathers the r coefficients each (row, input) needs, on
             CUDA cores; "dot": it spreads the r local basis values into a dense tile
             and contracts with tl.dot on tensor cores (backends/triton/dot_kernels.py)
  tile       [rows, inputs, outputs, basis]: one program's block of batch rows, layer
             inputs, layer outputs and basis functions (powers of two). A gather kernel
             walks one side in a loop and has 1 there: the forward walks inputs, vjp_input
             outputs; vjp_coef takes one input a program. basis is NB_PAD (n_b rounded up
             to a power of two) except in the gather vjp_coef, which splits large grids
             into chunks of at most 32 functions instead of shrinking to one row a
             program. Dot tiles need rows and outputs >= 16 and inputs * basis >= 16
             (tl.dot's smallest side), and take the whole basis.

Without them an op runs as gather with the default tiles (``schedule_of``). The tile
rules below are the ones the compile check (tests/test_gpu_compile.py) proved spill-free on
sm_80 and sm_90a; the cost model uses them to count programs.
"""

from __future__ import annotations

from typing import Any

from .basis_attrs import is_int, n_basis
from .graph import Op

STRATEGIES = ("gather", "dot")
SCHEDULE_KEYS = ("strategy", "tile")
SCHEDULED = {"kan.fused_layer": "layer", "kan.vjp_input": "vjp_input", "kan.vjp_coef": "vjp_coef"}
MAX_TILE = 2048  # accumulator elements of a gather program (layer, vjp_input)
MAX_COEF_TILE = 2048  # elements of the gather vjp_coef's [rows, outputs, basis] product
MAX_TILE_SIDE = 1024  # rows, inputs, outputs a hand-written tile may ask (register arrays)
TARGET_PROGRAMS = 1024  # vjp_coef splits the rows until about this many programs run
FORWARD_PROGRAMS = 256  # the dot forward splits its input sum until about this many run
MIN_DOT = 16  # tl.dot's smallest tile side
TARGET_K = 32  # columns of a dot program's basis tile: inputs * NB_PAD
COEF_CHUNK = 32  # the most basis functions a gather vjp_coef program accumulates
MAX_DOT_NB = 64  # beyond this NB_PAD a dot tile is mostly zeros and spills
WARPS = {("layer", "gather"): 4, ("vjp_input", "gather"): 4, ("vjp_coef", "gather"): 8,
         ("layer", "dot"): 8, ("vjp_input", "dot"): 8, ("vjp_coef", "dot"): 4}


def pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def pow2_at_most(n: int) -> int:
    return 1 << max(0, n.bit_length() - 1)


def gather_tile(kernel: str, n_in: int, n_out: int, nb: int, order: int, dtype: str
                ) -> tuple[int, ...]:
    """[rows, inputs, outputs, basis] of a gather kernel (``dtype``: ``halved_rows``)."""
    nb_pad = pow2_at_least(nb)
    if kernel == "layer":
        block_q = min(64, pow2_at_least(n_out))
        tile = min(256, max(32, MAX_TILE // block_q)), 1, block_q, nb_pad
    elif kernel == "vjp_input":  # r values live at once over the tile: it shrinks as r grows
        block_p = min(64, pow2_at_least(n_in))
        budget = MAX_TILE * 4 // max(4, order)
        tile = min(256, max(16, pow2_at_most(budget // block_p))), block_p, 1, nb_pad
    else:
        chunk = min(nb_pad, COEF_CHUNK)
        block_q = min(16, pow2_at_least(n_out))
        tile = max(1, min(64, MAX_COEF_TILE // (block_q * chunk))), 1, block_q, chunk
    return halved_rows(tile, dtype, 1)


def halved_rows(tile: tuple[int, ...], dtype: str, floor: int) -> tuple[int, ...]:
    """float64 halves the row block (down to ``floor``): every register tile holds values
    twice the size, and the float64 compile check spilled at the float32 blocks."""
    if dtype != "f64":
        return tile
    return (max(floor, tile[0] // 2), *tile[1:])


def dot_tile(kernel: str, n_in: int, n_out: int, nb: int, dtype: str) -> tuple[int, ...]:
    """[rows, inputs, outputs, basis] of a dot kernel: inputs * NB_PAD about TARGET_K, the
    row block shrinking as that grows (register budget); vjp_coef, whose dot runs over
    rows and keeps a [outputs, inputs * NB_PAD] accumulator, takes half the rows."""
    nb_pad = pow2_at_least(nb)
    block_p = max(1, min(TARGET_K // nb_pad, pow2_at_least(n_in)), -(-MIN_DOT // nb_pad))
    k = block_p * nb_pad
    block_b = 64 if k <= 32 else 32 if k <= 64 else MIN_DOT
    if kernel == "vjp_coef":
        block_b = max(MIN_DOT, block_b // 2)
    tile = block_b, block_p, max(MIN_DOT, min(64, pow2_at_least(n_out))), nb_pad
    return halved_rows(tile, dtype, MIN_DOT)


def layer_shape(op: Op) -> tuple[int, int, int]:
    """(in, out, n_b) of a fused-layer op."""
    n_in, n_out, _ = op.operands[1].type.static_shape
    return n_in, n_out, n_basis(op.attr("order"), op.attr("grid"))


def default_tile(op: Op, kernel: str, strategy: str) -> tuple[int, ...]:
    n_in, n_out, nb = layer_shape(op)
    dtype = op.results[0].type.dtype
    if strategy == "dot":
        return dot_tile(kernel, n_in, n_out, nb, dtype)
    return gather_tile(kernel, n_in, n_out, nb, op.attr("order"), dtype)


def strategy_of(op: Op) -> str:
    """The op's strategy attribute; gather without one."""
    return str(op.attr("strategy", "gather"))


def schedule_of(op: Op, kernel: str) -> tuple[str, tuple[int, ...]]:
    """(strategy, tile) of ``op`` run as ``kernel`` ("layer", "vjp_input", "vjp_coef"): its
    attributes, else gather with the default tiles (a Tucker layer's one-input views)."""
    strategy = strategy_of(op)
    if op.has_attr("tile"):
        return strategy, tuple(op.attr("tile"))
    return strategy, default_tile(op, kernel, strategy)


def schedule_errors(attrs: dict[str, Any], nb: int | None) -> list[str]:
    """The values of strategy and tile (``nb``: the op's n_b when its basis is sound)."""
    errors: list[str] = []
    strategy = attrs.get("strategy", "gather")
    if strategy not in STRATEGIES:
        errors.append(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if "tile" not in attrs:
        return errors
    tile = attrs["tile"]
    if not (isinstance(tile, tuple) and len(tile) == 4 and all(
            is_int(t) and t >= 1 and t & (t - 1) == 0 for t in tile)
            and max(tile[:3]) <= MAX_TILE_SIDE):
        return errors + [f"tile must be [rows, inputs, outputs, basis], four powers of two "
                         f"(the first three at most {MAX_TILE_SIDE}), got {tile!r}"]
    if nb is None:
        return errors
    rows, inputs, outputs, basis = tile
    nb_pad = pow2_at_least(nb)
    if basis > nb_pad or (strategy == "dot" and basis != nb_pad):
        errors.append(f"tile's basis block must be at most NB_PAD = {nb_pad} (and equal to it "
                      f"for dot), got {basis}")
    elif strategy == "dot" and min(rows, outputs, inputs * basis) < MIN_DOT:
        errors.append(f"a dot tile needs rows, outputs and inputs * basis of at least "
                      f"{MIN_DOT}, got {list(tile)}")
    return errors
