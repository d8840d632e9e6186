"""Text form of the IR: one op per line, exact rationals printed exactly.

    kan.graph @fit(%x: f32[B,2]) {
      param @layers.0.coef: f32[2,5,11]
      %0 = kan.layer %x, @layers.0.coef {kind=bspline, order=4, ...} : f32[B,5]
      return %0
    }

Long attribute lists wrap onto continuation lines (the grammar ignores whitespace), so a
derived stencil or a table of polynomial pieces stays readable. ``parse(to_text(g)) == g``.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

from .graph import Attr, Graph, Op, Param, Value

WIDTH = 100
INDENT = "  "
CONTINUATION = "      "
BARE_STRING = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
KEYWORDS = ("true", "false")


def format_attr(value: Attr) -> str:
    """One attribute value on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, str):
        if BARE_STRING.match(value) and value not in KEYWORDS:
            return value
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    raise TypeError(f"cannot print attribute value {value!r}")


def _format_attr_block(value: Attr, indent: str) -> str:
    """An attribute value that may span lines: matrices one row per line, long lists wrapped."""
    flat = format_attr(value)
    if len(indent) + len(flat) <= WIDTH or not isinstance(value, tuple):
        return flat
    inner = indent + "  "
    if any(isinstance(v, tuple) for v in value):
        rows = [inner + _format_attr_block(v, inner) for v in value]
        return "[\n" + ",\n".join(rows) + "]"
    lines, line = [], ""
    for item in (format_attr(v) for v in value):
        if line and len(inner) + len(line) + len(item) + 2 > WIDTH:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    lines.append(line)
    return "[\n" + "\n".join(inner + ln for ln in lines) + "]"


def _operand(o: Value | Param) -> str:
    return f"%{o.name}" if isinstance(o, Value) else f"@{o.name}"


def format_op(op: Op) -> str:
    """One op, wrapped onto continuation lines when its attributes are long."""
    head = ""
    if op.results:
        head = ", ".join(f"%{r.name}" for r in op.results) + " = "
    head += op.name
    if op.operands:
        head += " " + ", ".join(_operand(o) for o in op.operands)
    tail = ""
    if op.results:
        tail = " : " + ", ".join(str(r.type) for r in op.results)
    attrs = [f"{k}={format_attr(v)}" for k, v in op.attrs]
    one_line = head + (" {" + ", ".join(attrs) + "}" if attrs else "") + tail
    if len(INDENT) + len(one_line) <= WIDTH:
        return one_line
    pieces = [f"{k}={_format_attr_block(v, INDENT + CONTINUATION)}" for k, v in op.attrs]
    lines, line = [head + " {"], ""
    for i, piece in enumerate(pieces):
        text = piece + ("}" if i == len(pieces) - 1 else ",")
        if "\n" in text:
            if line:
                lines.append(CONTINUATION + line)
            lines.append(CONTINUATION + text)
            line = ""
            continue
        candidate = f"{line} {text}" if line else text
        if line and len(INDENT + CONTINUATION + candidate) > WIDTH:
            lines.append(CONTINUATION + line)
            candidate = text
        line = candidate
    if line:
        lines.append(CONTINUATION + line)
    if tail:
        lines.append(CONTINUATION + tail.strip())
    return ("\n" + INDENT).join(lines)


def render(graph: Graph) -> tuple[str, list[int]]:
    """Text of the graph and, for each op, the 1-based line where it starts."""
    inputs = ", ".join(f"%{v.name}: {v.type}" for v in graph.inputs)
    lines = [f"kan.graph @{graph.name}({inputs}) {{"]
    for p in graph.params:
        frozen = " frozen" if p.frozen else ""
        lines.append(f"{INDENT}param @{p.name}: {p.type}{frozen}")
    op_lines = []
    for op in graph.ops:
        op_lines.append(len(lines) + 1)
        lines.extend((INDENT + format_op(op)).split("\n"))
    lines.append(f"{INDENT}return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n", op_lines


def to_text(graph: Graph) -> str:
    return render(graph)[0]
