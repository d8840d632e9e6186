"""kancc.backends: code generators rendering the final IR (DESIGN.md section 4).

Each backend turns a verified graph into the text of one Python module. They read only the
IR: every exact constant they need is an attribute of the ops. ``TARGETS`` lists them.
"""

from .numpy import emit_numpy
from .targets import (
    TARGETS,
    Target,
    cuda_available,
    run_anywhere,
    triton_installed,
    use_triton_interpreter,
)
from .triton import emit_triton

__all__ = ["TARGETS", "Target", "cuda_available", "emit_numpy", "emit_triton", "run_anywhere",
           "triton_installed", "use_triton_interpreter"]
