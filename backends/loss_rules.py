"""The loss side of a training graph, rendered the same way by every backend.

One template per op (kan.loss, kan.loss_grad, kan.penalty, kan.penalty_grad, kan.add) over
the operands' expressions ``a`` and ``b``: ``library`` is the module's array library ("np" or
"torch") and ``penalized`` the penalized parameter in its (in, out, n_b) layout. The emitted
module's training runtime defines mse, mse_grad, cross_entropy and cross_entropy_grad.
"""

from __future__ import annotations

from kancc.ir import Op

from .source_text import literal

LOSS_TEMPLATES: dict[str, str] = {
    "kan.loss": "{scale}{kind}({a}, {b})",
    "kan.loss_grad": "{scale}{kind}_grad({a}, {b})",
    "kan.penalty": "{scale}{library}.sum({a} * {a})",
    "kan.penalty_grad": "{twice} * {penalized}",
    "kan.add": "{a} + {b}",
}


def loss_expression(op: Op, args: list[str], library: str, penalized: str) -> str:
    """The expression of a loss-side op (one of LOSS_TEMPLATES)."""
    weight = op.attr("weight", 1)
    return LOSS_TEMPLATES[op.name].format(
        scale="" if weight == 1 else f"{literal(weight)} * ", kind=op.attr("kind", ""),
        a=args[0], b=args[1] if len(args) > 1 else "", library=library,
        twice=literal(2 * weight), penalized=penalized)
