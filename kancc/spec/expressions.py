"""Math expressions in a spec (a PDE's residual, solution, boundary values), parsed safely.

The text is read by Python's ``ast.parse`` in expression mode, and only a whitelist of node
types is turned into sympy: numbers, names the caller declares, + - * / ** and unary
minus, and calls of the functions in ``FUNCTIONS`` by name with positional arguments.
Anything else (attribute access, subscripts, lambda, comprehensions, keywords, comparisons,
``__import__``) is a SpecError naming the field and the column. Nothing is evaluated:
``eval``, ``sympify`` and ``parse_expr`` never see user text. Decimal numbers are exact
(``0.1`` is 1/10), read from the source text of the literal.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy

from kancc.errors import SpecError

FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp,
    "log": sympy.log, "sqrt": sympy.sqrt, "tanh": sympy.tanh, "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    # 0 below 0, 1 from 0 on (right-continuous: the positive side of an interface)
    "heaviside": lambda t: sympy.Heaviside(t, 1),
}
CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "e": sympy.E}
MAX_LENGTH = 2000
MAX_POWER = 8  # a written exponent; larger ones are refused (they only blow up the algebra)
MAX_MERGED_POWER = 64  # an exponent after sympy merges nested powers, (a**8)**8 = a**64
NOT_FINITE = (sympy.zoo, sympy.oo, -sympy.oo, sympy.nan, sympy.I)

Names = Mapping[str, sympy.Expr]
Special = Callable[[str, list[sympy.Expr], int], sympy.Expr]  # name, args, column -> expr


def parse_expression(text: object, field: str, names: Names,
                     special: Mapping[str, Special] | None = None) -> sympy.Expr:
    """``text`` as a sympy expression over ``names`` (and pi, e); ``special`` adds functions
    of the caller's (``lap``). SpecError naming ``field`` and the column otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(field, f"must be a non-empty expression in quotes, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise SpecError(field, f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        expr = _Reader(text.strip(), field, names, special or {}).read(tree.body)
    except SyntaxError as error:
        raise SpecError(field, f"column {error.offset or 1}: not an expression: "
                               f"{error.msg}") from None
    except (RecursionError, MemoryError):
        raise SpecError(field, "expression nested too deeply") from None
    if any(expr.has(value) for value in NOT_FINITE):
        raise SpecError(field, "is not a finite real expression (it holds an infinity, an "
                               "undefined value or sqrt(-1))")
    powers = [p.exp for p in expr.atoms(sympy.Pow) if p.exp.is_number]
    if any(abs(e) > MAX_MERGED_POWER for e in powers):
        raise SpecError(field, f"nested powers reach an exponent above {MAX_MERGED_POWER}")
    return expr


def usable_name(name: str) -> bool:
    """An identifier that can appear in an expression (not a Python keyword)."""
    return name.isidentifier() and name.isascii() and not keyword.iskeyword(name)


class _Reader:
    def __init__(self, text: str, field: str, names: Names,
                 special: Mapping[str, Special]) -> None:
        self.text, self.field, self.names, self.special = text, field, names, special

    def fail(self, node: ast.AST, message: str) -> SpecError:
        column = getattr(node, "col_offset", 0) + 1
        return SpecError(self.field, f"column {column}: {message}")

    def read(self, node: ast.expr) -> sympy.Expr:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.read(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        what = type(node).__name__
        hint = " (write powers as **)" if isinstance(node, ast.BinOp) else ""
        raise self.fail(node, f"{what} is not allowed in an expression{hint}")

    def number(self, node: ast.Constant) -> sympy.Expr:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise self.fail(node, f"{node.value!r} is not a number")
        source = ast.get_source_segment(self.text, node) or repr(node.value)
        try:
            return sympy.Rational(Fraction(source.replace("_", "")))
        except (ValueError, ZeroDivisionError):
            raise self.fail(node, f"{source!r} is not a finite number") from None

    def name(self, node: ast.Name) -> sympy.Expr:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        known = ", ".join(sorted(self.names)) or "none"
        raise self.fail(node, f"unknown name {node.id!r} (known: {known}, pi, e)")

    def binary(self, node: ast.BinOp) -> sympy.Expr:
        left, right = self.read(node.left), self.read(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise self.fail(node, "division by zero")
            return left / right
        if isinstance(node.op, ast.Pow):
            if right.is_number and not (right.is_rational and abs(right) <= MAX_POWER):
                raise self.fail(node, f"exponents must be rational numbers of size at most "
                                      f"{MAX_POWER}")
            return left ** right
        hint = " (write powers as **)" if isinstance(node.op, ast.BitXor) else ""
        raise self.fail(node, f"operator {type(node.op).__name__} is not allowed{hint}")

    def call(self, node: ast.Call) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only named functions may be called")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "functions take positional arguments only")
        name = node.func.id
        if name not in FUNCTIONS and name not in self.special:
            known = ", ".join(sorted([*FUNCTIONS, *self.special]))
            raise self.fail(node, f"unknown function {name!r} (known: {known})")
        args = [self.read(a) for a in node.args]
        if name in self.special:
            return self.special[name](name, args, node.col_offset + 1)
        if len(args) != 1:
            raise self.fail(node, f"{name} takes one argument, got {len(args)}")
        return FUNCTIONS[name](args[0])
