"""The loss side of a training graph, rendered the same way by every backend.

One expression rule per op (kan.loss, kan.loss_grad, kan.penalty, kan.penalty_grad, kan.add)
over the operands' expressions ``args``: ``library`` is the module's array library ("np" or
"torch") and ``penalized`` the penalized parameter in its (in, out, n_b) layout. The emitted
module's loss runtime defines mse, mse_grad, cross_entropy and cross_entropy_grad.
"""

from __future__ import annotations

from typing import Callable

from kancc.ir import Op

from .local_basis import literal

LossRule = Callable[[Op, list[str], str, str], str]


def _scale(op: Op) -> str:
    weight = op.attr("weight", 1)
    return "" if weight == 1 else f"{literal(weight)} * "


def _loss(op: Op, args: list[str], library: str, penalized: str) -> str:
    return f"{_scale(op)}{op.attr('kind')}({args[0]}, {args[1]})"


def _loss_grad(op: Op, args: list[str], library: str, penalized: str) -> str:
    return f"{_scale(op)}{op.attr('kind')}_grad({args[0]}, {args[1]})"


def _penalty(op: Op, args: list[str], library: str, penalized: str) -> str:
    return f"{_scale(op)}{library}.sum({args[0]} * {args[0]})"


def _penalty_grad(op: Op, args: list[str], library: str, penalized: str) -> str:
    return f"{literal(2 * op.attr('weight', 1))} * {penalized}"


def _add(op: Op, args: list[str], library: str, penalized: str) -> str:
    return f"{args[0]} + {args[1]}"


LOSS_EXPRESSIONS: dict[str, LossRule] = {
    "kan.loss": _loss,
    "kan.loss_grad": _loss_grad,
    "kan.penalty": _penalty,
    "kan.penalty_grad": _penalty_grad,
    "kan.add": _add,
}
