"""The IR's text form (goldens, round trip, parse errors) and its verifier."""

import os
import string
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kancc
from kancc.errors import KanccWarning
from kancc.ir import (
    Graph,
    Op,
    Param,
    ParseError,
    TensorType,
    Value,
    VerifyError,
    batched,
    parse,
    to_text,
    verify,
)
from kancc.passes import PIPELINES
from kancc.tools.random_specs import random_global_spec, random_spec, random_tucker_spec
from kancc.tools.unfactorized import is_factorized

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = ["cubic_2_5_1", "deep_nonuniform"]
UPDATE = os.environ.get("KANCC_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_golden_ir(example, pipeline):
    """Every stage of the example pipelines, against files reviewed by a person.

    Regenerate with KANCC_UPDATE_GOLDEN=1 after an intended change, and read the diff."""
    program = kancc.compile(ROOT / "examples" / f"{example}.toml", passes=pipeline,
                            training=pipeline.startswith("training"))
    text = "".join(f"// ----- {name} -----\n{ir}" for name, ir in program.stages)
    path = GOLDEN / f"{example}.{pipeline}.kir"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.read_text() == text
    for _, ir in program.stages:
        assert to_text(parse(ir)) == ir


EXAMPLE_SPECS = sorted(p.stem for p in (ROOT / "examples").glob("*.toml"))
PARAMETERIZED = ("refine{factor=2},inference", "to-relu-basis,inference",
                 "tucker{cr=1/2},inference", "tucker{cr=1/3},training")


@pytest.mark.parametrize("example", EXAMPLE_SPECS)
def test_every_stage_of_every_example_round_trips(example):
    """parse(print(ir)) == ir after every pass (compile's check_roundtrip) of every example,
    every named pipeline and the parameterization passes wherever they apply."""
    spec = kancc.load_spec(ROOT / "examples" / f"{example}.toml")
    compiled = 0
    factored_physics = spec.pde is not None and is_factorized(spec)
    for pipeline in (*PIPELINES, *PARAMETERIZED):
        if factored_physics and "training" in pipeline:  # kancc.train uses the unfactorized
            with pytest.raises(kancc.KanccError, match="unfactorized"):
                kancc.compile(spec, passes=pipeline, training=True)
            compiled += pipeline in PIPELINES
            continue
        try:
            with warnings.catch_warnings():  # to-relu-basis warns of float32 rounding
                warnings.simplefilter("ignore", KanccWarning)
                kancc.compile(spec, passes=pipeline, check_roundtrip=True,
                              training="training" in pipeline)
            compiled += 1
        except kancc.PassError as error:  # a pass that does not apply to this model
            assert "does not apply" in str(error) or "no kan.layer" in str(error), error
    assert compiled >= len(PIPELINES)


@pytest.mark.parametrize("seed", range(25))
def test_every_stage_of_random_specs_round_trips(seed):
    for pipeline in PIPELINES:
        program = kancc.compile(random_spec(seed), passes=pipeline, check_roundtrip=True,
                                training=pipeline.startswith("training"))
        for _, ir in program.stages:
            graph = parse(ir)
            verify(graph)
            assert to_text(graph) == ir


def lotra_spec(seed):
    """A random spec fine-tuned by LoTRA (frozen parameters, kan.add of a layer and its
    adapter); compiling needs no pretrained file."""
    spec = random_spec(seed, dtype="float64", max_width=6, max_grid=6)
    return {**spec, "finetune": {"pretrained": "p.npz", "tucker": "1/2"}}


@pytest.mark.parametrize("make", [random_tucker_spec, random_global_spec, lotra_spec])
@pytest.mark.parametrize("seed", range(6))
def test_every_stage_of_factorized_and_global_specs_round_trips(make, seed):
    """Tucker layers (kan.tucker_layer, kan.vjp_tucker), the global bases' recurrence
    attribute, LoTRA's frozen parameters: every pipeline, the round trip after every pass."""
    for pipeline in PIPELINES:
        program = kancc.compile(make(seed), passes=pipeline, check_roundtrip=True,
                                training=pipeline.startswith("training"))
        assert parse(program.stages[-1][1]) == program.ir


# -- property test over arbitrary graphs (not necessarily well-typed) -------------------

names = st.text(string.ascii_letters + string.digits + "_.", min_size=1, max_size=8)
bare = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
numbers = st.one_of(st.integers(-10**30, 10**30),
                    st.fractions(max_denominator=10**12).map(Fraction))
attr_values = st.recursive(
    st.one_of(numbers, st.booleans(), bare, st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=12)
dims = st.lists(st.one_of(st.integers(0, 4096), st.sampled_from(["B", "N"])), max_size=4)
types = st.builds(TensorType, st.sampled_from(["f32", "f64", "i32"]), dims.map(tuple))


@st.composite
def graphs(draw):
    inputs = [Value(f"in{i}", draw(types)) for i in range(draw(st.integers(1, 3)))]
    params = [Param(f"p.{i}", draw(types)) for i in range(draw(st.integers(0, 3)))]
    values, ops = list(inputs), []
    for index in range(draw(st.integers(0, 5))):
        operands = draw(st.lists(st.sampled_from(values + params), max_size=3))
        attrs = draw(st.dictionaries(bare, attr_values, max_size=4))
        results = [Value(f"r{index}_{j}", draw(types)) for j in range(draw(st.integers(1, 2)))]
        ops.append(Op.make(draw(bare), operands, attrs, results))
        values += results
    outputs = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
    return Graph(draw(bare), tuple(inputs), tuple(params), tuple(ops), tuple(outputs))


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_parse_inverts_print_on_arbitrary_graphs(graph):
    text = to_text(graph)
    assert parse(text) == graph
    assert to_text(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_parser_raises_only_parse_errors(data):
    """Damaged text either parses or raises ParseError (never another exception)."""
    text = GOOD
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        insert = data.draw(st.text(alphabet='%@{}[]()=,:/-"\\ 0123456789abcfk.\n', max_size=3))
        text = text[:at] + insert + text[at + cut:]
    try:
        parse(text)
    except ParseError:
        pass


def test_exact_rationals_print_exactly():
    op = Op.make("kan.thing", [Value("x", batched("f32", 2))],
                 {"scale": Fraction(-3, 2), "whole": Fraction(4, 2), "band": (1, Fraction(1, 3))},
                 [Value("0", batched("f32", 2))])
    graph = Graph("g", (op.operands[0],), (), (op,), op.results)
    text = to_text(graph)
    assert "scale=-3/2, whole=2, band=[1, 1/3]" in text
    assert parse(text).ops[0].attr("whole") == 2


# -- parse errors name line and column -------------------------------------------------

GOOD = """kan.graph @g(%x: f32[B,2]) {
  param @w: f32[2,3,5]
  %0 = kan.layer %x, @w {kind=bspline, order=3, grid=3, domain=[0, 1], knots=uniform} : f32[B,3]
  return %0
}
"""

PARSE_ERRORS = [
    (GOOD.replace("kan.graph", "kan.grap"), 1, 1, "expected 'kan.graph'"),
    (GOOD.replace("%x: f32", "%x f32"), 1, 17, "expected ':'"),
    (GOOD.replace("f32[2,3,5]", "f33[2,3,5]"), 2, 13, "unknown dtype"),
    (GOOD.replace("%x, @w", "%y, @w"), 3, 18, "undefined value %y"),
    (GOOD.replace("%x, @w", "%x, @v"), 3, 22, "undeclared parameter @v"),
    (GOOD.replace("order=3", "order=3/0"), 3, 46, "zero denominator"),
    (GOOD.replace("order=3, ", "order=3 "), 3, 48, "expected ','"),
    (GOOD.replace("order=3", "order=3, order=4"), 3, 49, "given twice"),
    (GOOD.replace(" : f32[B,3]", ""), 4, 3, "expected ':'"),
    (GOOD.replace("return %0", "return %9"), 4, 10, "undefined value %9"),
    (GOOD.replace("}\n", ""), 5, 1, "expected '}'"),
    (GOOD + "extra", 6, 1, "end of input"),
    (GOOD.replace("domain=[0, 1]", "domain=[0, 1"), 3, 76, "expected ','"),
    (GOOD.replace("%0 = kan", "%0 = $kan"), 3, 8, "unexpected character '$'"),
    (GOOD.replace("kind=bspline", 'kind="\\q"'), 3, 31, "bad string literal"),
    (GOOD.replace("order=3", "order=" + "9" * 5000), 3, 46, "a number of more than 4300 digits"),
]


@pytest.mark.parametrize("text,line,col,fragment", PARSE_ERRORS)
def test_parse_errors_report_line_and_column(text, line, col, fragment):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert (info.value.line, info.value.col) == (line, col), str(info.value)
    assert fragment in info.value.message
    assert f"line {line}, col {col}" in str(info.value)


# -- verifier -----------------------------------------------------------------------------

def test_verifier_accepts_the_good_graph():
    verify(parse(GOOD))


VERIFY_ERRORS = [
    (GOOD.replace("kan.layer", "kan.lyer"), "unknown op 'kan.lyer'"),
    (GOOD.replace("order=3", "order=7"), "order must be an integer in 1..6"),
    (GOOD.replace("grid=3", "grid=0"), "grid must be a positive integer"),
    (GOOD.replace("domain=[0, 1]", "domain=[1, 0]"), "domain must be [a, b]"),
    (GOOD.replace("knots=uniform", "knots=[0, 1/2, 1/2, 1]"), "strictly increasing"),
    (GOOD.replace("knots=uniform", "knots=[0, 1/2, 1]"), "knots has 3 points but grid=3"),
    (GOOD.replace("knots=uniform", "knots=uniform, extra=1"), "unexpected attribute(s) extra"),
    (GOOD.replace(", knots=uniform", ""), "missing attribute(s) knots"),
    (GOOD.replace("f32[B,3]", "f32[B,4]"), "result type f32[B,4] should be f32[B,3]"),
    (GOOD.replace("f32[2,3,5]", "f32[2,3,6]"), "6 basis coefficients per edge"),
    (GOOD.replace("f32[2,3,5]", "f64[2,3,5]"), "operands mix dtypes"),
    (GOOD.replace("%x, @w", "@w, %x"), "operand 0 must be a value"),
]


@pytest.mark.parametrize("text,fragment", VERIFY_ERRORS)
def test_verifier_names_the_op_and_shows_the_ir(text, fragment):
    with pytest.raises(VerifyError) as info:
        verify(parse(text))
    message = str(info.value)
    assert fragment in message
    assert "op kan." in message and "at line 3" in message
    assert ">    3 |" in message  # the offending line, marked, with its neighbours


def test_verifier_checks_lowering_attributes():
    graph = kancc.compile({"model": {"layers": [1, 1]}}).ir
    op = graph.ops[0]
    broken = graph.with_ops([op.with_attrs(pieces=((1, 2), (3, 4)))])
    with pytest.raises(VerifyError, match="pieces must be one 4x4 table or 5 of them"):
        verify(broken)
    broken = graph.with_ops([op.with_attrs(eval="magic")])
    with pytest.raises(VerifyError, match="eval must be one of"):
        verify(broken)
    broken = graph.with_ops([op.without_attrs("pieces")])
    with pytest.raises(VerifyError, match="eval=horner needs the pieces"):
        verify(broken)


def test_verifier_checks_the_graph_name():
    graph = parse(GOOD)
    with pytest.raises(VerifyError, match="graph name @my model is malformed"):
        verify(Graph("my model", graph.inputs, graph.params, graph.ops, graph.outputs))


def test_verifier_checks_def_before_use():
    graph = parse(GOOD)
    x = graph.inputs[0]
    ghost = Value("ghost", x.type)
    op = graph.ops[0]
    bad = graph.with_ops([Op(op.name, (ghost, op.operands[1]), op.attrs, op.results)])
    with pytest.raises(VerifyError, match="%ghost is used before it is defined"):
        verify(bad)
