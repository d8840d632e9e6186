"""A loss term as the compiler sees it: a sum of monomials in the channels of u's jet.

A physics loss term is weight * mean over its points of (sum_m c_m(x) prod u-channels -
target(x))^2. Everything that depends only on the point x (forcing terms, boundary data,
variable coefficients) is data computed before training: the ``target`` column and one
``column`` per monomial whose coefficient varies. What depends on u is a monomial: a
product of jet channels of the model's output (channel 0 = u, 1 + k = du/dx_k, 1 + d + k =
d2u/dx_k2 for a model of d inputs), times an exact constant. So u_xx + u_yy + k^2 u = f is
three monomials and the target f; u u_x (Burgers) is one monomial of two factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Monomial:
    """scale * column(x) * prod_j u-channel[factors[j]] (column None: no varying factor),
    u on the term's points or, with ``points``, on another point set of the same rows (a
    periodic condition compares u at the two ends)."""

    factors: tuple[int, ...]
    scale: Fraction = Fraction(1)
    column: str | None = None
    points: str | None = None


@dataclass(frozen=True)
class LossTerm:
    """weight * mean_i (w_i sum_m monomial_m(x_i) - target_i)^2 over the point set
    ``points`` (a model of ``width`` inputs); the graph reads the target as the input
    ``<name>.target``, each varying coefficient as ``<name>.<column>`` and, with
    ``pointwise``, per-point weights w as ``<name>.weights`` (residual-based attention: the
    target is then w times the term's data)."""

    name: str
    points: str
    monomials: tuple[Monomial, ...]
    width: int
    weight: Fraction = Fraction(1)
    pointwise: bool = False

    def orders(self) -> dict[str, int]:
        """The jet order the term needs of each point set it reads: 0 (values), 1 or 2."""
        needed = {self.points: 0}
        for m in self.monomials:
            where = m.points or self.points
            needed[where] = max([needed.get(where, 0)] +
                                [channel_order(c, self.width) for c in m.factors])
        return needed

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.column for m in self.monomials if m.column is not None))


def channel_order(channel: int, width: int) -> int:
    """0 for the value, 1 for a first derivative, 2 for a second (channels of a jet of a
    model with ``width`` inputs)."""
    return 0 if channel == 0 else 1 if channel <= width else 2
