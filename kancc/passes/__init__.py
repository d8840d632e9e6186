"""kancc.passes: one pass per file, the registry, and the PassManager (DESIGN.md 3)."""

from .pass_types import Pass, PassResult, identity
from .manager import DumpOptions, PassManager, PipelineResult
from .registry import PASSES, PIPELINES, Step, parse_pipeline

__all__ = ["DumpOptions", "PASSES", "PIPELINES", "Pass", "PassManager", "PassResult",
           "PipelineResult", "Step", "identity", "parse_pipeline"]
