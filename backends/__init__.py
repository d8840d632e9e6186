"""kancc.backends: code generators rendering the final IR (DESIGN.md section 4).

Each backend turns a verified graph into the text of one Python module. They read only the
IR: every exact constant they need is an attribute of the ops.
"""

from .numpy import emit_numpy
from .triton import emit_triton

EMITTERS = {"numpy": emit_numpy, "triton": emit_triton}

__all__ = ["EMITTERS", "emit_numpy", "emit_triton"]
