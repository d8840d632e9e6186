"""kancc: a symbolic-numeric compiler for Kolmogorov-Arnold Networks.

    spec = kancc.load_spec("model.toml")
    program = kancc.compile(spec, target="numpy")
    params = program.init_params(seed=0)
    y = program.forward(params, x)
    result = kancc.train("model.toml")      # the spec's [train] and [data] tables

See README.md for a tour and DESIGN.md for the architecture and the math.
"""

from . import ir, symbolic
from .backends import use_triton_interpreter
from .errors import BackendError, KanccError, PassError, SpecError
from .program import Program, compile
from .spec import BasisSpec, Spec, load_spec, loads_spec
from .storage import load_checkpoint, save_checkpoint
from .training import TrainResult, train
from .version import VERSION

__version__ = VERSION

__all__ = [
    "BackendError", "BasisSpec", "KanccError", "PassError", "Program", "Spec", "SpecError",
    "TrainResult", "compile", "ir", "load_checkpoint", "load_spec", "loads_spec",
    "save_checkpoint", "symbolic", "train", "use_triton_interpreter",
]
