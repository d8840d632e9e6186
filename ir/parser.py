"""Parse the text form back into a Graph: ``parse(to_text(g)) == g``.

The grammar ignores whitespace and ``//`` comments, so wrapped dumps parse:

    graph   := "kan.graph" @name "(" [%v ":" type {"," ...}] ")" "{" param* op* return "}"
    param   := "param" @name ":" type ["frozen"]
    op      := %r {"," %r} "=" opname [operand {"," operand}] ["{" attrs "}"] ":" type {"," type}
    return  := "return" %v {"," %v}
    attr    := int | int "/" int | "string" | bare-word | true | false | "[" [attr {"," attr}] "]"
    type    := dtype "[" [dim {"," dim}] "]"

Errors carry the line and column and quote the offending line. Attribute values nest at
most MAX_NESTING deep and numbers have at most MAX_DIGITS digits: text beyond either is a
ParseError, not a recursion or conversion failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction

from .graph import Attr, Graph, Op, Param, Value
from .types import TensorType


class ParseError(ValueError):
    def __init__(self, message: str, line: int, col: int, source: str) -> None:
        self.message, self.line, self.col = message, line, col
        text = source.splitlines()[line - 1] if 0 < line <= len(source.splitlines()) else ""
        super().__init__(f"line {line}, col {col}: {message}\n  {text}\n  {' ' * (col - 1)}^")


MAX_NESTING = 32  # brackets inside an attribute value (pieces tables nest 3 deep)
MAX_DIGITS = 4300  # of a number (either side of a fraction): what Python converts from text

TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<param>@[A-Za-z0-9_.\-]+)
  | (?P<number>-?\d+(?:/\d+)?)
  | (?P<string>"(?:\\.|[^"\\])*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<punct>[()\[\]{},:=])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    col: int


def tokenize(source: str) -> list[Token]:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(source):
        m = TOKEN.match(source, pos)
        if m is None:
            raise ParseError(f"unexpected character {source[pos]!r}", line, pos - line_start + 1,
                             source)
        kind, text = m.lastgroup, m.group()
        if kind != "ws":
            tokens.append(Token(kind, text, line, pos - line_start + 1))  # type: ignore[arg-type]
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.values: dict[str, Value] = {}
        self.params: dict[str, Param] = {}

    # -- token helpers -------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> ParseError:
        tok = tok or self.peek()
        return ParseError(message, tok.line, tok.col, self.source)

    def expect(self, text: str) -> Token:
        tok = self.next()
        if tok.text != text:
            found = repr(tok.text) if tok.kind != "eof" else "end of input"
            raise self.error(f"expected {text!r}, found {found}", tok)
        return tok

    def expect_kind(self, kind: str, what: str) -> Token:
        tok = self.next()
        if tok.kind != kind:
            found = repr(tok.text) if tok.kind != "eof" else "end of input"
            raise self.error(f"expected {what}, found {found}", tok)
        return tok

    def accept(self, text: str) -> bool:
        if self.peek().text == text and self.peek().kind in ("punct", "word"):
            self.i += 1
            return True
        return False

    # -- grammar -------------------------------------------------------------------------
    def graph(self) -> Graph:
        self.expect("kan.graph")
        name = self.expect_kind("param", "a graph name like @model").text[1:]
        self.expect("(")
        inputs = []
        if not self.accept(")"):
            while True:
                inputs.append(self.define_value(self.expect_kind("value", "an input like %x")))
                if self.accept(")"):
                    break
                self.expect(",")
        self.expect("{")
        params = []
        while self.peek().text == "param":
            params.append(self.param())
        ops = []
        while self.peek().kind == "value":
            ops.append(self.op())
        self.expect("return")
        outputs = [self.use_value()]
        while self.accept(","):
            outputs.append(self.use_value())
        self.expect("}")
        self.expect_kind("eof", "end of input after the graph's closing '}'")
        return Graph(name, tuple(inputs), tuple(params), tuple(ops), tuple(outputs))

    def define_value(self, tok: Token) -> Value:
        self.expect(":")
        return self.new_value(tok, self.type())

    def new_value(self, tok: Token, type_: TensorType) -> Value:
        name = tok.text[1:]
        if name in self.values:
            raise self.error(f"value %{name} is defined twice", tok)
        value = Value(name, type_)
        self.values[name] = value
        return value

    def use_value(self) -> Value:
        tok = self.expect_kind("value", "a value like %0")
        if tok.text[1:] not in self.values:
            raise self.error(f"use of undefined value {tok.text}", tok)
        return self.values[tok.text[1:]]

    def param(self) -> Param:
        self.expect("param")
        tok = self.expect_kind("param", "a parameter name like @layers.0.coef")
        self.expect(":")
        if tok.text[1:] in self.params:
            raise self.error(f"parameter {tok.text} is declared twice", tok)
        param = Param(tok.text[1:], self.type())
        if self.accept("frozen"):
            param = Param(param.name, param.type, frozen=True)
        self.params[param.name] = param
        return param

    def op(self) -> Op:
        result_toks = [self.expect_kind("value", "a result like %0")]
        while self.accept(","):
            result_toks.append(self.expect_kind("value", "a result like %1"))
        self.expect("=")
        name = self.expect_kind("word", "an op name like kan.basis").text
        operands: list[Value | Param] = []
        if self.peek().kind in ("value", "param"):
            operands.append(self.operand())
            while self.accept(","):
                operands.append(self.operand())
        attrs: dict[str, Attr] = {}
        if self.accept("{"):
            if not self.accept("}"):
                while True:
                    key_tok = self.expect_kind("word", "an attribute name")
                    if key_tok.text in attrs:
                        raise self.error(f"attribute {key_tok.text!r} given twice", key_tok)
                    self.expect("=")
                    attrs[key_tok.text] = self.attr()
                    if self.accept("}"):
                        break
                    self.expect(",")
        self.expect(":")
        types = [self.type()]
        while self.accept(","):
            types.append(self.type())
        if len(types) != len(result_toks):
            raise self.error(f"{len(result_toks)} results but {len(types)} types", result_toks[0])
        results = [self.new_value(tok, t) for tok, t in zip(result_toks, types)]
        return Op.make(name, operands, attrs, results)

    def operand(self) -> Value | Param:
        tok = self.peek()
        if tok.kind == "value":
            return self.use_value()
        self.next()
        if tok.text[1:] not in self.params:
            raise self.error(f"use of undeclared parameter {tok.text}", tok)
        return self.params[tok.text[1:]]

    def integer(self, text: str, tok: Token) -> int:
        try:
            return int(text)
        except ValueError:  # this Python converts fewer digits (sys.set_int_max_str_digits)
            raise self.error("a number of more digits than this Python converts", tok) \
                from None

    def attr(self, depth: int = 0) -> Attr:
        tok = self.next()
        if tok.kind == "number":
            num, _, den = tok.text.partition("/")
            if max(len(num), len(den)) > MAX_DIGITS:
                raise self.error(f"a number of more than {MAX_DIGITS} digits", tok)
            numerator, denominator = self.integer(num, tok), self.integer(den or "1", tok)
            if denominator == 0:
                raise self.error("zero denominator", tok)
            return Fraction(numerator, denominator) if den else numerator
        if tok.kind == "string":
            try:
                text: str = json.loads(tok.text)  # the token is one JSON string literal
                return text
            except json.JSONDecodeError as exc:
                raise self.error(f"bad string literal: {exc.msg}", tok) from None
        if tok.kind == "word":
            return {"true": True, "false": False}.get(tok.text, tok.text)
        if tok.text == "[":
            if depth >= MAX_NESTING:
                raise self.error(f"attribute value nested more than {MAX_NESTING} deep", tok)
            items: list[Attr] = []
            if not self.accept("]"):
                while True:
                    items.append(self.attr(depth + 1))
                    if self.accept("]"):
                        break
                    self.expect(",")
            return tuple(items)
        raise self.error(f"expected an attribute value, found {tok.text!r}", tok)

    def type(self) -> TensorType:
        tok = self.expect_kind("word", "a type like f32[B,4]")
        self.expect("[")
        dims: list[int | str] = []
        if not self.accept("]"):
            while True:
                d = self.next()
                if d.kind == "number" and "/" not in d.text and not d.text.startswith("-"):
                    if len(d.text) > MAX_DIGITS:
                        raise self.error(f"a dimension of more than {MAX_DIGITS} digits", d)
                    dims.append(self.integer(d.text, d))
                elif d.kind == "word":
                    dims.append(d.text)
                else:
                    raise self.error(f"expected a dimension, found {d.text!r}", d)
                if self.accept("]"):
                    break
                self.expect(",")
        try:
            return TensorType(tok.text, tuple(dims))
        except ValueError as exc:
            raise self.error(str(exc), tok) from None


def parse(source: str) -> Graph:
    """Parse IR text; raises ParseError naming line and column."""
    return _Parser(source).graph()
