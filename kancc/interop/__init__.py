"""kancc.interop: models from peers, as a kancc spec and parameters.

``from_efficient_kan(model_or_state_dict)`` and ``from_pykan(model)`` return ``(spec,
params)``; ``kancc import efficient-kan FILE`` and ``kancc import pykan PATH`` write a spec
and a checkpoint. What kancc cannot represent is refused with a message naming it
(``peer_layers``).
"""

from .efficient_kan import from_efficient_kan, read_efficient_kan_state
from .pykan import from_pykan, read_pykan_checkpoint

__all__ = ["from_efficient_kan", "from_pykan", "read_efficient_kan_state",
           "read_pykan_checkpoint"]
