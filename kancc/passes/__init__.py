"""kancc.passes: one pass per file, the registry, and the PassManager (DESIGN.md 3)."""

from .manager import DumpOptions, PassManager, PipelineResult
from .options import NoOptions, option
from .pass_types import Pass, PassResult, identity, rewrite_ops
from .registry import PASSES, PIPELINES, Step, parse_pipeline

__all__ = ["DumpOptions", "NoOptions", "PASSES", "PIPELINES", "Pass", "PassManager",
           "PassResult", "PipelineResult", "Step", "identity", "option", "parse_pipeline",
           "rewrite_ops"]
