"""kancc.training: trainers that drive compiled training programs (DESIGN.md 3, 6).

``train(spec, data)`` picks the spec's method from ``methods.METHODS`` (gradient training
with Adam or L-BFGS, multilevel, fine-tuning, Newton-Kaczmarz) and runs it on the NumPy or
a torch target, with progress output, early stop on a non-finite loss and checkpoints.
"""

from .methods import METHODS, Method, train
from .program_cache import ProgramCache
from .request import TrainRequest, TrainResult

__all__ = ["METHODS", "Method", "ProgramCache", "TrainRequest", "TrainResult", "train"]
