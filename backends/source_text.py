"""How IR names and exact constants are written in emitted Python: identifiers, comments,
float tables."""

from __future__ import annotations

import re
import textwrap
from fractions import Fraction

from kancc.errors import BackendError
from kancc.ir import GLOBAL_KINDS, Graph, Op, Operand, Value
from kancc.ir.printer import format_op


def var(value: Value) -> str:
    """A Python identifier for an SSA value."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", value.name)
    return name if name.isidentifier() and not name[0].isdigit() else f"v{name}"


def operand_expr(operand: Operand, params: str = "params") -> str:
    """A value's identifier, or a parameter looked up in the ``params`` dict."""
    return var(operand) if isinstance(operand, Value) else f'{params}["{operand.name}"]'


def results_of(op: Op) -> str:
    """The left-hand side of an op's statement: its results' identifiers."""
    return ", ".join(var(r) for r in op.results)


def op_comment(op: Op, indent: str = "") -> str:
    """The op's IR text without its (long) attributes, as a comment."""
    brief = format_op(Op(op.name, op.operands, (), op.results))
    return "\n".join(f"{indent}# {line.strip()}" for line in brief.splitlines())


def describe_basis(op: Op) -> str:
    kind, order, mode = op.attr("kind"), op.attr("order"), op.attr("eval")
    if kind in GLOBAL_KINDS:
        return f"{kind}, {order} functions of t = tanh(x), eval={mode}"
    a, b = op.attr("domain")
    spacing = "uniform" if op.attr("knots") == "uniform" else "non-uniform"
    return f"{kind} order {order}, {op.attr('grid')} {spacing} cells on [{a}, {b}], eval={mode}"


def float_list(values: tuple[Fraction, ...], indent: str) -> str:
    """``[v0, v1, ...]`` wrapped at 100 columns."""
    body = ", ".join(literal(v) for v in values)
    lines = textwrap.wrap(body, width=96 - len(indent), break_long_words=False)
    if len(lines) <= 1:
        return f"[{body}]"
    inner = indent + "    "
    return "[\n" + "\n".join(inner + line for line in lines) + f"\n{indent}]"


def affine_call(op: Op, x: str) -> str:
    """A kan.affine op as a call of the runtime's ``affine(x, scale, shift)``."""
    return f"affine({x}, {float_list(op.attr('scale'), '')}, {float_list(op.attr('shift'), '')})"


def param_shapes(graph: Graph) -> str:
    items = ", ".join(f'"{p.name}": {tuple(p.type.shape)}' for p in graph.params)
    return "{" + items + "}"


def literal(value: Fraction | int) -> str:
    """A float literal for an exact constant (correctly rounded to float64); a constant
    beyond float64's range is a BackendError, never an inf in the code."""
    try:
        return repr(float(value))
    except OverflowError:
        exact = Fraction(value)
        bits = abs(exact.numerator).bit_length() - exact.denominator.bit_length()
        raise BackendError(f"a constant of about 1e{int(bits * 0.30103):+d} is beyond "
                           "float64's range") from None


def horner(coeffs: list[str], var: str) -> str:
    """sum_d coeffs[d] var^d in Horner form; ``"0.0"`` coefficients are skipped."""
    top = max((d for d, c in enumerate(coeffs) if c != "0.0"), default=None)
    if top is None:
        return f"{var} * 0.0"
    expr = coeffs[top]
    for d in range(top - 1, -1, -1):
        expr = f"({expr}) * {var}" if d < top - 1 else f"{expr} * {var}"
        if coeffs[d] != "0.0":
            expr = f"{expr} + {coeffs[d]}" if not coeffs[d].startswith("-") \
                else f"{expr} - {coeffs[d][1:]}"
    return expr if top > 0 else f"{var} * 0.0 + {expr}"


def shifted(x: str, a: Fraction) -> str:
    """``(x - a)`` written without a double sign."""
    if a == 0:
        return x
    return f"({x} + {literal(-a)})" if a < 0 else f"({x} - {literal(a)})"


def power(base: str, exponent: int) -> str:
    return " * ".join([base] * exponent) if exponent > 0 else f"{base} * 0.0 + 1.0"
