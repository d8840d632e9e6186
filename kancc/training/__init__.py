"""kancc.training: trainers that drive compiled training programs (DESIGN.md 3, 6).

``train(spec, data)`` runs the optimizer of the spec's [train] table (Adam with minibatches,
warmup and schedules, or full-batch L-BFGS) on the NumPy or Triton target, with progress
output, early stop on a non-finite loss and checkpoints.
"""

from .trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
