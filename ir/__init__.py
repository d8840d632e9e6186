"""kancc.ir: the KAN graph IR (types, frozen ops and graphs, text form, verifier).

Imports nothing else of kancc. See DESIGN.md section 2.
"""

from .basis_attrs import (
    EVAL_MODES,
    GLOBAL_KINDS,
    MAX_ORDER,
    PIECES_OF_LEVEL,
    extended_knots,
    extended_rows,
    grid_points,
    input_knots,
    is_per_input,
    n_basis,
)
from .dialect import OPS, OpDef, Trait, has_trait, is_training_graph
from .graph import Attr, Graph, Op, Operand, Param, Value, freeze_attr
from .parser import ParseError, parse
from .printer import format_attr, to_text
from .types import BATCH, TensorType, batched
from .verifier import VerifyError, verify

__all__ = [
    "Attr", "BATCH", "EVAL_MODES", "GLOBAL_KINDS", "Graph", "MAX_ORDER", "OPS", "Op", "OpDef",
    "PIECES_OF_LEVEL",
    "Operand", "Param", "ParseError", "TensorType", "Trait", "Value", "VerifyError", "batched",
    "extended_knots", "extended_rows", "format_attr", "freeze_attr", "grid_points", "has_trait",
    "input_knots", "is_per_input", "is_training_graph", "n_basis", "parse", "to_text", "verify",
]
