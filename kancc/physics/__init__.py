"""kancc.physics: physics-informed losses. A PDE spec's residual and conditions become
loss terms (``terms.py``: monomials of the jet channels of u), evaluated on collocation
points (``collocation.py``), and one loss graph of jet ops (``loss_graph.py``) that the
ordinary passes lower and differentiate (DESIGN.md 3)."""

from .loss_graph import physics_loss_graph
from .terms import LossTerm, Monomial

__all__ = ["LossTerm", "Monomial", "physics_loss_graph"]
