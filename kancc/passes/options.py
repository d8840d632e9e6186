"""Typed pass options: one frozen dataclass per pass, parsed once from ``name{k=v,...}``.

A pass's options are the fields of its options class, each declared with
``option(default, kind, doc)``. The registry parses the text of a pipeline through these
declarations (an unknown key or a value of the wrong type is refused there, naming the
pass), the pass receives the typed instance, and ``format_options`` prints the non-default
ones back in the same syntax for stage labels and dumps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from kancc.errors import KanccError


class OptionKind(Protocol):
    """Parses an option's text into a typed value and prints it back."""

    def parse(self, text: str, where: str) -> Any: ...

    def show(self, value: Any) -> str: ...

    def describe(self, default: Any) -> str: ...


class PrintedAsText:
    """An option kind whose values print as str() does (and parse back from it)."""

    def show(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Choice(PrintedAsText):
    values: tuple[str, ...]  # the first is usually the default

    def parse(self, text: str, where: str) -> str:
        if text not in self.values:
            raise KanccError(f"{where} must be one of {', '.join(self.values)}, got {text!r}")
        return text

    def describe(self, default: str) -> str:
        """The values, the default first."""
        return "|".join([default] + [v for v in self.values if v != default])


@dataclass(frozen=True)
class IntegerRange(PrintedAsText):
    lo: int
    hi: int

    def parse(self, text: str, where: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() else None
        if value is not None and str(value) != text:  # one spelling: 3, not 03
            value = None
        if value is None or not self.lo <= value <= self.hi:
            raise KanccError(f"{where} must be an integer in {self.lo}..{self.hi}, got {text!r}")
        return value

    def describe(self, default: int) -> str:
        return f"{self.lo}..{self.hi} (default {default})"


@dataclass(frozen=True)
class Ratio(PrintedAsText):
    """An exact number in (0, 1], written as 1/4 or 0.25."""

    def parse(self, text: str, where: str) -> Fraction:
        try:
            value = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise KanccError(f"{where} must be a number such as 1/4 or 0.25, got "
                             f"{text!r}") from None
        if not 0 < value <= 1:
            raise KanccError(f"{where} must be in (0, 1], got {text}")
        return value

    def describe(self, default: Fraction) -> str:
        return f"a number in (0, 1] (default {default})"


@dataclass(frozen=True)
class Option:
    kind: OptionKind
    doc: str


def option(default: Any, kind: OptionKind, doc: str) -> Any:
    """A field of a pass's options class (typed as Any for the field's annotation)."""
    return field(default=default, metadata={"option": Option(kind, doc)})


@dataclass(frozen=True)
class NoOptions:
    """The options of a pass that takes none."""


def declared(options: type) -> tuple[tuple[str, Option, Any], ...]:
    """(name, declaration, default) of each option, in declaration order."""
    return tuple((f.name, f.metadata["option"], f.default) for f in dataclasses.fields(options))


def parse_options(pass_name: str, options: type, given: list[tuple[str, str]], item: str
                  ) -> tuple[tuple[str, Any], ...]:
    """The typed non-default values of ``given`` (key, text) pairs, in declaration order;
    ``item`` is the pipeline text they came from, for messages."""
    declarations = {name: (decl, default) for name, decl, default in declared(options)}
    values: dict[str, Any] = {}
    for key, text in given:
        if key not in declarations:
            raise KanccError(f"pass {pass_name!r} has no option {key!r} "
                             f"(options: {', '.join(declarations) or 'none'})")
        if key in values:
            raise KanccError(f"{pass_name}{{{key}=...}} is given twice in {item!r}")
        values[key] = declarations[key][0].kind.parse(text, f"{pass_name}{{{key}=...}}")
    return tuple((name, values[name]) for name in declarations
                 if name in values and values[name] != declarations[name][1])


def format_options(options: type, values: tuple[tuple[str, Any], ...]) -> str:
    """``{k=v,...}`` of the given values (empty when there are none)."""
    if not values:
        return ""
    kinds = {name: decl.kind for name, decl, _ in declared(options)}
    return "{" + ",".join(f"{k}={kinds[k].show(v)}" for k, v in values) + "}"


def option_docs(options: type) -> list[tuple[str, str]]:
    """(name, what it does) of each option."""
    return [(name, decl.doc) for name, decl, _ in declared(options)]


def describe_options(options: type) -> str:
    """How ``kancc passes`` lists a pass's options: {k=what it takes} ..."""
    return " ".join(f"{{{name}={decl.kind.describe(default)}}}"
                    for name, decl, default in declared(options))
