"""The jet ops whose line is the same in every backend (as loss_rules.py is for the loss
side): the seed and the affine map are functions of each module's jet runtime, and a
channel, a product and a scaling are plain array expressions. One rule per op over the
op and its operands' expressions."""

from __future__ import annotations

from collections.abc import Callable

from kancc.ir import Op

from .source_text import affine_call, literal


def _channel(op: Op, args: list[str]) -> str:
    channel = op.attr("channel")
    return f"{args[0]}[:, {op.attr('output')}, {channel}:{channel + 1}]"


JET_EXPRESSIONS: dict[str, Callable[[Op, list[str]], str]] = {
    "kan.jet_seed": lambda op, args: f"jet_seed({args[0]}, {op.attr('jet')})",
    "kan.jet_affine": lambda op, args: "jet_" + affine_call(op, args[0]),
    "kan.jet_channel": _channel,
    "kan.mul": lambda op, args: f"{args[0]} * {args[1]}",
    "kan.scale": lambda op, args: f"{args[0]} * {literal(op.attr('factor'))}",
}
