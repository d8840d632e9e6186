"""Structural and semantic checks of a Graph, run between passes.

Checks: names are well formed and unique; every operand is defined before use (values) or
declared (params); each op is known to the dialect, has the operand kinds, the required and
only the allowed attributes, attribute values that make sense, and declared result types
equal to those its type rule infers; outputs are defined. The error names the op and prints
the surrounding lines of IR.
"""

from __future__ import annotations

import re

from .dialect import OPS, Trait, is_training_graph
from .graph import Graph, Op, Param, Value
from .printer import render
from .types import TensorType

VALUE_NAME = re.compile(r"[A-Za-z0-9_.]+\Z")
PARAM_NAME = re.compile(r"[A-Za-z0-9_.\-]+\Z")
CONTEXT_LINES = 2


class VerifyError(ValueError):
    def __init__(self, message: str, op_index: int | None = None, excerpt: str = "") -> None:
        self.message, self.op_index = message, op_index
        super().__init__(message + (f"\n{excerpt}" if excerpt else ""))


def _excerpt(graph: Graph, op_index: int) -> tuple[int, str]:
    text, op_lines = render(graph)
    lines = text.splitlines()
    start = op_lines[op_index]
    end = op_lines[op_index + 1] - 1 if op_index + 1 < len(op_lines) else start
    shown = range(max(1, start - CONTEXT_LINES), min(len(lines), end + CONTEXT_LINES) + 1)
    marked = [f"{'>' if start <= n <= end else ' '} {n:4d} | {lines[n - 1]}" for n in shown]
    return start, "\n".join(marked)


def _op_errors(op: Op, defined: dict[str, Value], params: dict[str, Param]) -> list[str]:
    opdef = OPS.get(op.name)
    if opdef is None:
        return [f"unknown op {op.name!r} (known: {', '.join(sorted(OPS))})"]
    errors = []
    if not op.results:
        errors.append("an op must define at least one result")
    if len(op.operands) != len(opdef.operands):
        return errors + [f"takes {len(opdef.operands)} operands, got {len(op.operands)}"]
    for k, (operand, kind) in enumerate(zip(op.operands, opdef.operands)):
        if not isinstance(operand, kind):
            errors.append(f"operand {k} must be a {'value %' if kind is Value else 'param @'}")
        elif isinstance(operand, Value) and defined.get(operand.name) != operand:
            why = "is used before it is defined" if operand.name not in defined else \
                f"has type {operand.type} here but {defined[operand.name].type} where defined"
            errors.append(f"operand %{operand.name} {why}")
        elif isinstance(operand, Param) and params.get(operand.name) != operand:
            errors.append(f"operand @{operand.name} is not a declared parameter of that type")
    keys = [k for k, _ in op.attrs]
    missing = [k for k in opdef.required if k not in keys]
    unknown = [k for k in keys if k not in opdef.required + opdef.optional]
    if missing:
        errors.append(f"missing attribute(s) {', '.join(missing)}")
    if unknown:
        errors.append(f"unexpected attribute(s) {', '.join(unknown)}")
    if len(set(keys)) != len(keys):
        errors.append("an attribute is given twice")
    if errors:
        return errors
    if Trait.DIFFERENTIATES_PARAMS in opdef.traits:
        errors += [f"@{p.name} is frozen: nothing may differentiate or penalize it"
                   for p in op.operands if isinstance(p, Param) and p.frozen]
    if opdef.check is not None:
        errors += opdef.check(op)
    if errors:
        return errors
    try:
        inferred = opdef.infer(op)
    except TypeError as exc:
        return [str(exc)]
    declared = tuple(r.type for r in op.results)
    if inferred != declared:
        errors.append(f"result type {', '.join(map(str, declared))} should be "
                      f"{', '.join(map(str, inferred))}")
    return errors


def verify(graph: Graph) -> None:
    """Raise VerifyError describing the first problem found, with the IR around it."""
    defined: dict[str, Value] = {}
    params: dict[str, Param] = {}
    if not PARAM_NAME.match(graph.name):
        raise VerifyError(f"graph name @{graph.name} is malformed (letters, digits, _ . -)")
    if not graph.inputs:
        raise VerifyError(f"graph @{graph.name} has no inputs")
    for v in graph.inputs:
        if not VALUE_NAME.match(v.name) or v.name in defined:
            raise VerifyError(f"input %{v.name} is malformed or defined twice")
        defined[v.name] = v
    for p in graph.params:
        if not PARAM_NAME.match(p.name) or p.name in params:
            raise VerifyError(f"parameter @{p.name} is malformed or declared twice")
        params[p.name] = p
    for index, op in enumerate(graph.ops):
        errors = _op_errors(op, defined, params)
        for r in op.results:
            if not VALUE_NAME.match(r.name) or r.name in defined:
                errors.append(f"result %{r.name} is malformed or defined twice")
            defined[r.name] = r
        if errors:
            line, excerpt = _excerpt(graph, index)
            raise VerifyError(f"op {op.name} at line {line}: {'; '.join(errors)}", index, excerpt)
    if not graph.outputs:
        raise VerifyError(f"graph @{graph.name} returns nothing")
    for v in graph.outputs:
        if defined.get(v.name) != v:
            raise VerifyError(f"returned value %{v.name} is not defined")
    _check_training_outputs(graph)


def _check_training_outputs(graph: Graph) -> None:
    """A graph with gradient ops returns (loss, d/d param for each trainable param, [d/d x])."""
    if not is_training_graph(graph):
        return
    outputs = graph.outputs
    expected = [TensorType(graph.dtype, ())] + [p.type for p in graph.trainable_params]
    if len(outputs) == len(expected) + 1:
        expected.append(graph.inputs[0].type)
    got = [v.type for v in outputs]
    if got != expected:
        raise VerifyError(f"training graph @{graph.name} must return the loss, one gradient per "
                          f"trainable parameter (in declaration order) and optionally d/d%"
                          f"{graph.inputs[0].name}: expected types "
                          f"({', '.join(map(str, expected))}), got ({', '.join(map(str, got))})")
