"""Straight-line code for the local basis of one input, shared by every backend.

Given a basis op (kan.basis or kan.fused_layer, with ``eval`` set) and the name of an input
array ``x``, this builds the statements that compute

    k            the cell of x, clamped to 0..n-1 (outside [a, b]: the nearest edge cell)
    b0 .. b{r-1} the values of the r basis functions B_k .. B_{k+r-1} that are nonzero there
                 (with ``derivative=1``: db0 .. db{r-1}, their derivatives d/dx; with
                 ``derivative=2``, for jets: d2b0 .. d2b{r-1}, horner and the global kinds)

elementwise, unrolled at compile time. A backend supplies a small ``Syntax`` table (how to
gather from a table, floor, select) and decides how the tables the code reads are stored:
the NumPy backend as module constants, the Triton backend as pointer arguments.

Numerics (DESIGN.md 5): the in-cell coordinate is s = (x - t_k) / h_k with t_k read from
the knot table, never (x - a)/h - k. A knot that the dtype cannot represent is stored as a
pair, its rounded value and the rounded remainder, and the offset is formed as
(x - t_hi) - t_lo: the knot's rounding error (eps |t_k|, large next to a small h_k) reaches
neither s nor the choice of cell, which is settled by the sign of that same offset.

A global basis (chebyshev, legendre, taylor, fourier; eval=recurrence) is one cell whose
n_b functions are all live: k = 0, s = tanh(x), and b0 .. b{n_b-1} by the op's recurrence
(d/dx by the differentiated recurrence times ds/dx = 1 - s^2, d2/dx2 by the recurrence
differentiated twice: B''(s) (ds/dx)^2 + B'(s) d2s/dx2, d2s/dx2 = -2 s (1 - s^2)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from kancc.errors import BackendError
from kancc.ir import (
    GLOBAL_KINDS,
    PIECES_OF_LEVEL,
    Op,
    extended_knots,
    grid_points,
    input_knots,
    is_per_input,
)

from .source_text import horner, literal, power, shifted

NUMPY_DTYPES: dict[str, type[np.floating]] = {"f32": np.float32, "f64": np.float64}


@dataclass(frozen=True)
class Syntax:
    gather: str  # "{table}", "{index}" -> element of a flat table
    floor_int: str  # "{x}" -> integer floor of a float
    as_int: str  # "{x}" -> a boolean as 0/1 integer
    where: str  # "{cond}", "{a}", "{b}"
    zeros_int: str  # "{x}" -> integer zeros shaped like x
    tanh: str = "tanh({x})"
    sin: str = "sin({x})"
    cos: str = "cos({x})"
    search: str | None = None  # "{table}", "{x}", "{last}": sorted search, else binary search

    @staticmethod
    def of_module(module: str, to_int: str, gather: str, zeros_int: str,
                  tanh: str | None = None, search: str | None = None) -> Syntax:
        """The syntax of an array module ``module`` ("np", "tl") whose floor, where, tanh,
        sin and cos are its own functions, and whose integer cast is the suffix ``to_int``."""
        return Syntax(gather=gather, floor_int=f"{module}.floor({{x}}){to_int}",
                      as_int=f"({{x}}){to_int}", where=f"{module}.where({{cond}}, {{a}}, {{b}})",
                      zeros_int=zeros_int, tanh=tanh or f"{module}.tanh({{x}})",
                      sin=f"{module}.sin({{x}})", cos=f"{module}.cos({{x}})", search=search)


@dataclass(frozen=True)
class Table:
    name: str
    values: tuple[Fraction, ...]
    comment: str


@dataclass(frozen=True)
class LocalBasis:
    """Statements that leave the cell index in ``k`` and the basis values in ``values``."""

    lines: tuple[str, ...]
    tables: tuple[Table, ...]
    values: tuple[str, ...]  # b0 .. b{r-1}


def rounded(value: Fraction, dtype: str) -> Fraction:
    """The value a table of ``dtype`` holds for ``value``: the literal, rounded to dtype."""
    return Fraction(float(NUMPY_DTYPES[dtype](float(value))))


class _Builder:
    def __init__(self, op: Op, syntax: Syntax, x: str, prefix: str, derivative: int,
                 inputs: str | None) -> None:
        self.op, self.syntax, self.x, self.prefix = op, syntax, x, prefix
        self.derivative = derivative  # 0: values, 1: d/dx, 2: d2/dx2, 3: d3/dx3
        self.out = ("b", "db", "d2b", "d3b")[derivative]
        self.dtype = op.operands[0].type.dtype
        self.order: int = op.attr("order")
        self.grid: int = op.attr("grid")
        self.lines: list[str] = []
        self.tables: dict[str, Table] = {}
        self.rows: tuple[tuple[Fraction, ...], ...] = ()  # per-input full knot vectors
        if is_per_input(op.attr_dict):
            if inputs is None:
                raise BackendError(f"{op.name} %{op.result.name} has one knot vector per "
                                   "input, which this kernel cannot index")
            self.rows, self.inputs = input_knots(op.attr_dict), inputs
        # grid points shared by every input; none for a per-input op (read self.rows)
        self.points = () if self.rows else grid_points(op.attr_dict)

    def table(self, suffix: str, values: tuple[Fraction, ...], comment: str) -> str:
        limit = Fraction(float(np.finfo(NUMPY_DTYPES[self.dtype]).max))
        if any(abs(v) > limit for v in values):
            raise BackendError(f"{self.op.name} %{self.op.result.name} (eval="
                               f"{self.op.attr('eval')}): its {suffix} table holds values beyond "
                               f"{np.dtype(NUMPY_DTYPES[self.dtype]).name}'s range; use "
                               "eval=horner or float64")
        name = f"{self.prefix}_{suffix}"
        self.tables.setdefault(name, Table(name, values, comment))
        return name

    def gather(self, table: str, index: str) -> str:
        return self.syntax.gather.format(table=table, index=index)

    def gather_row(self, table: str, index: str, stride: int) -> str:
        """An element of this input's row of a per-input table (``pi``: the input index),
        or of the one shared table."""
        if not self.rows:
            return self.gather(table, index)
        return self.gather(table, f"pi * {stride} + ({index})")

    def emit(self, line: str) -> None:
        self.lines.append(line)

    # -- cell and in-cell coordinate -----------------------------------------------------
    def cell(self) -> None:
        if self.op.attr("kind") in GLOBAL_KINDS:
            self.emit(f"k = {self.syntax.zeros_int.format(x=self.x)}")
            # x - x is 0 for every finite x and NaN for +-inf: an infinite input gives NaN
            # outputs, as in every kancc layer, rather than tanh's finite limit
            self.emit(f"s = {self.syntax.tanh.format(x=self.x)} + ({self.x} - {self.x})")
            return
        self.local_cell()

    def local_cell(self) -> None:
        """Guess k from the rounded knots, settle it by the sign of the exact offset x - t_k,
        and form s from that offset: k and s always describe the same cell."""
        n, x, syntax, r = self.grid, self.x, self.syntax, self.order
        if self.rows:
            self.emit(f"pi = {self.inputs}")
            points = tuple(t for row in self.rows for t in row[r - 1:r + n])
            what = "each input's grid points t_0..t_n (rounded), row by row"
        else:
            points, what = self.points, "grid points t_0..t_n (rounded)"
        knots = self.table("KNOTS", points, what)
        residues = tuple(t - rounded(t, self.dtype) for t in points)
        low = self.table("KNOTS_LO", residues, "t_k minus its rounded value") \
            if any(residues) else None

        def offset(index: str) -> str:  # x - t_index, with the knot's rounding error restored
            plain = f"{x} - {self.gather_row(knots, index, n + 1)}"
            return f"({plain}) - {self.gather_row(low, index, n + 1)}" if low else plain

        uniform = self.op.attr("knots") == "uniform"
        if uniform:
            inv_h = literal(n / (self.points[-1] - self.points[0]))
            self.emit(f"u = {shifted(x, self.points[0])} * {inv_h}")
            self.emit(f"u = {syntax.where.format(cond='u > 0.0', a='u', b='0.0')}")
            self.emit(f"u = {syntax.where.format(cond=f'u < {n - 1}.0', a='u', b=f'{n - 1}.0')}")
            self.emit(f"k = {syntax.floor_int.format(x='u')}")
        elif syntax.search is not None and not self.rows:
            self.emit(f"k = {syntax.search.format(table=knots, x=x, last=n - 1)}")
        else:
            self.binary_search(knots)
        if n > 1:  # the guess may be one cell off near a knot
            below = syntax.as_int.format(x=f"({offset('k')} < 0.0) & (k > 0)")
            self.emit(f"k = k - {below}")
            above = syntax.as_int.format(x=f"({offset('k + 1')} >= 0.0) & (k < {n - 1})")
            self.emit(f"k = k + {above}")
        if self.rows:
            return  # de Boor reads x and the knots; no in-cell coordinate
        if not uniform:
            widths = tuple(1 / (v - u) for u, v in zip(self.points, self.points[1:]))
            inv_h = self.gather(self.table("INV_H", widths, "1 / h_k per cell"), "k")
        self.emit(f"s = ({offset('k')}) * {inv_h}")

    def binary_search(self, knots: str) -> None:
        """k with t_k <= x < t_{k+1} by the rounded knots, clamped to 0..n-1 (NaN: 0)."""
        n, syntax = self.grid, self.syntax
        self.emit(f"k = {syntax.zeros_int.format(x=self.x)}")
        self.emit(f"hi = k + {n}")
        for _ in range(max(1, (n - 1).bit_length())):
            self.emit("mid = (k + hi) // 2")
            self.emit(f"go = {self.x} >= {self.gather_row(knots, 'mid', n + 1)}")
            self.emit(f"k = {syntax.where.format(cond='go', a='mid', b='k')}")
            self.emit(f"hi = {syntax.where.format(cond='go', a='hi', b='mid')}")

    # -- basis values ----------------------------------------------------------------------
    def values(self) -> tuple[str, ...]:
        mode = self.op.attr("eval")
        if mode == "recurrence" and self.op.attr("kind") == "fourier":
            mode = "fourier"  # angle addition, not a three-term recurrence
        if mode not in EVALUATORS:
            raise ValueError(f"unknown eval mode {mode!r}")
        EVALUATORS[mode](self)
        return tuple(f"{self.out}{m}" for m in range(self.order))

    def horner(self) -> None:
        r = self.order
        key = PIECES_OF_LEVEL[self.derivative]
        pieces = self.op.attr(key)
        shared = not isinstance(pieces[0][0], tuple)
        if not shared:
            flat = tuple(c for table in pieces for row in table for c in row)
            what = ("B_{k+m}", "d/dx B_{k+m}", "d2/dx2 B_{k+m}", "d3/dx3 B_{k+m}")[
                self.derivative]
            name = self.table(key.upper(), flat, f"{key}[k][m][d]: s^d coefficient of {what}")
            self.emit(f"kp = k * {r * r}")
        for m in range(r):
            if shared:
                coeffs = [literal(c) for c in pieces[m]]
            else:
                coeffs = [f"c{m}_{d}" for d in range(r)]
                for d, c in enumerate(coeffs):
                    self.emit(f"{c} = {self.gather(name, f'kp + {m * r + d}')}")
            self.emit(f"{self.out}{m} = {horner(coeffs, 's')}")

    def polynomial_recurrence(self) -> None:
        """v_{k+1} = a_k s v_k - c_k v_{k-1} from v_0 = 1; for derivatives also
        p_{k+1} = a_k (v_k + s p_k) - c_k p_{k-1} (p = dv/ds), and in general for the
        m-th derivative w^(m)_{k+1} = a_k (m w^(m-1)_k + s w^(m)_k) - c_k w^(m)_{k-1}."""
        steps = self.op.attr("recurrence")
        names = "vpqu"[:self.derivative + 1]  # v, dv/ds, d2v/ds2, d3v/ds3
        self.emit("v0 = s * 0.0 + 1.0")
        for name in names[1:]:
            self.emit(f"{name}0 = s * 0.0")
        for k, (a, c) in enumerate(steps):
            scale = "" if a == 1 else f"{literal(a)} * "
            for m, name in enumerate(names):
                minus = "" if c == 0 else f" - {literal(c)} * {name}{k - 1}"
                lower = "" if m == 0 else f"{names[m - 1]}{k} + " if m == 1 else \
                    f"{m}.0 * {names[m - 1]}{k} + "
                body = f"s * {name}{k}" if m == 0 else f"({lower}s * {name}{k})"
                self.emit(f"{name}{k + 1} = {scale}{body}{minus}")
        self.global_outputs()

    def fourier(self) -> None:
        """1, cos(pi s), sin(pi s), ..., cos(K pi s), sin(K pi s) by angle addition from the
        first pair; d/ds cos(j pi s) = -j pi sin(j pi s), d/ds sin(j pi s) = j pi cos(j pi s)."""
        harmonics = (self.order - 1) // 2
        pi_s = f"{literal(Fraction(np.pi))} * s"
        self.emit("v0 = s * 0.0 + 1.0")
        if harmonics:
            self.emit(f"cos1 = {self.syntax.cos.format(x=pi_s)}")
            self.emit(f"sin1 = {self.syntax.sin.format(x=pi_s)}")
        for j in range(2, harmonics + 1):
            self.emit(f"cos{j} = cos{j - 1} * cos1 - sin{j - 1} * sin1")
            self.emit(f"sin{j} = sin{j - 1} * cos1 + cos{j - 1} * sin1")
        names = "vpqu"[:self.derivative + 1]  # v, dv/ds, d2v/ds2, d3v/ds3
        for name in names[1:]:
            self.emit(f"{name}0 = s * 0.0")
        # d/ds steps cos -> -sin -> -cos -> sin -> cos (times j pi); sin enters at step 3
        cycle = (("", "cos"), ("-", "sin"), ("-", "cos"), ("", "sin"))
        for j in range(1, harmonics + 1):
            for m, name in enumerate(names):
                w = "" if m == 0 else f"{literal(Fraction(j * np.pi) ** m)} * "
                for offset, slot in ((0, 2 * j - 1), (3, 2 * j)):
                    sign, fn = cycle[(offset + m) % 4]
                    self.emit(f"{name}{slot} = {sign}{w}{fn}{j}")
        self.global_outputs()

    def global_outputs(self) -> None:
        """b_m = v_m and, by the chain rule through s = tanh(x) (ds = 1 - s^2, dds = -2 s ds,
        d3s = -2 (ds^2 + s dds)): db_m = p_m ds; d2b_m = q_m ds^2 + p_m dds;
        d3b_m = u_m ds^3 + 3 q_m ds dds + p_m d3s."""
        if self.derivative:
            self.emit("ds = 1.0 - s * s")
        if self.derivative >= 2:
            self.emit("dds = -2.0 * s * ds")
        if self.derivative == 3:
            self.emit("d3s = -2.0 * (ds * ds + s * dds)")
        for m in range(self.order):
            value = (f"v{m}", f"p{m} * ds", f"q{m} * ds * ds + p{m} * dds",
                     f"u{m} * ds * ds * ds + 3.0 * q{m} * ds * dds + p{m} * d3s")[
                self.derivative]
            self.emit(f"{self.out}{m} = {value}")

    def relu_local(self) -> None:
        """b_m = sum_j A[k+m, j] ReLU(x - t_j)^(r-1) over the r truncated powers of the cell;
        the derivative replaces each power by (r-1) ReLU(x - t_j)^(r-2)."""
        self.first_derivative_at_most()
        r, out = self.order, self.out
        stencil, scale = self.op.attr("stencil"), self.op.attr("stencil_scale")
        degree, factor = (r - 2, Fraction(r - 1)) if self.derivative else (r - 1, Fraction(1))
        if self.derivative and r == 1:
            for m in range(r):
                self.emit(f"{out}{m} = {self.x} * 0.0")
            return
        if not isinstance(stencil[0], tuple):
            # Uniform: (x - t_{k-c}) / h = s + c, so A h^degree multiplies (s + c)^degree.
            h = self.points[1] - self.points[0]
            weight = [factor * scale * v * h ** (r - 1) / h ** (r - 1 - degree) for v in stencil]
            for c in range(r):
                self.emit(f"p{c} = {power(f'(s + {c}.0)' if c else 's', degree)}")
            for m in range(r):
                terms = [f"{literal(weight[r - 1 - m - c])} * p{c}" for c in range(r - m)]
                self.emit(f"{out}{m} = " + " + ".join(terms))
            return
        ext = self.table("EXT", extended_knots(self.points, r), "extended knots t_{1-r}..t_{n+r-1}")
        bands = tuple(factor * scale * v for row in stencil for v in row)
        table = self.table("DSTENCIL" if self.derivative else "STENCIL", bands,
                           f"{'(r-1) ' if self.derivative else ''}A[i, i..i+r], row-major")
        self.emit(f"ka = k * {r + 1}")
        for c in range(r):  # knot t_{k-r+1+c} sits at EXT[k + c]
            knot = self.gather(ext, f"k + {c}")
            self.emit(f"p{c} = {power(f'({self.x} - {knot})', degree)}")
        for m in range(r):
            terms = [f"{self.gather(table, f'ka + {m * r + c}')} * p{c}" for c in range(m, r)]
            self.emit(f"{out}{m} = " + " + ".join(terms))

    def de_boor(self) -> None:
        """The de Boor triangle on cell k: B_k..B_{k+r-1} from order 1 up, O(r^2).

        Its last level computes w_n = B^[r-1]_n / (t_{n+r-1} - t_n), so the derivative is the
        difference of lower-order splines, B'_m = (r-1) (w_m - w_{m+1}) (w_0 = w_r = 0)."""
        self.first_derivative_at_most()
        r, x = self.order, self.x
        if self.rows:
            ext = self.table("EXT", tuple(t for row in self.rows for t in row),
                             "each input's knots t_{1-r}..t_{n+r-1}, row by row")
        else:
            ext = self.table("EXT", extended_knots(self.points, r),
                             "extended knots t_{1-r}..t_{n+r-1}")
        stride = self.grid + 2 * r - 1
        for o in range(2 - r, r):  # knot t_{k+o} sits at EXT[k + o + r - 1]
            self.emit(f"t{_offset_name(o)} = {self.gather_row(ext, f'k + {o + r - 1}', stride)}")
        if r == 1:
            self.emit(f"{self.out}0 = {x} * 0.0" + ("" if self.derivative else " + 1.0"))
            return
        current = ["1.0"]
        for j in range(1, r):
            nxt = []
            carry = "0.0"
            for n in range(1, j + 1):
                right, left = f"t{_offset_name(n)}", f"t{_offset_name(n - j)}"
                w = f"w{j}_{n}"
                self.emit(f"{w} = {current[n - 1]} / ({right} - {left})")
                term = f"{w} * ({right} - {x})"
                nxt.append(term if carry == "0.0" else f"{carry} + {term}")
                carry = f"{w} * ({x} - {left})"
            nxt.append(carry)
            if j == r - 1 and self.derivative:
                ws = [f"w{j}_{n}" for n in range(1, j + 1)]
                diffs = [f"-{ws[0]}"] + [f"{u} - {v}" for u, v in zip(ws, ws[1:])] + [ws[-1]]
                for m, diff in enumerate(diffs):
                    self.emit(f"db{m} = {literal(r - 1)} * ({diff})")
                return
            names = [f"b{m}" if j == r - 1 else f"d{j}_{m}" for m in range(j + 1)]
            for name, expr in zip(names, nxt):
                self.emit(f"{name} = {expr}")
            current = names


    def first_derivative_at_most(self) -> None:
        if self.derivative > 1:
            raise BackendError(f"{self.op.name} %{self.op.results[0].name}: eval="
                               f"{self.op.attr('eval')} has no second derivative (jets use "
                               "eval=horner)")


EVALUATORS: dict[str, Callable[[_Builder], None]] = {
    "horner": _Builder.horner,
    "relu-local": _Builder.relu_local,
    "cox-de-boor": _Builder.de_boor,
    "recurrence": _Builder.polynomial_recurrence,
    "fourier": _Builder.fourier,
}


def _offset_name(offset: int) -> str:
    return f"m{-offset}" if offset < 0 else f"p{offset}"


def local_basis(op: Op, syntax: Syntax, x: str, prefix: str,
                derivative: int = 0, inputs: str | None = None) -> LocalBasis:
    """The statements and tables that evaluate ``op``'s local basis (or its derivative
    d/dx, ``derivative=1``, or d2/dx2, ``derivative=2``) at ``x``. ``inputs``: the index of
    the input each element of ``x`` belongs to (an expression shaped like ``x``, or
    broadcasting to it), which a layer with one knot vector per input needs to find its row
    of the knot tables."""
    builder = _Builder(op, syntax, x, prefix, derivative, inputs)
    builder.cell()
    values = builder.values()
    return LocalBasis(tuple(builder.lines), tuple(builder.tables.values()), values)
