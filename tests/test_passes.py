"""Pass registry, pipelines, verification between passes, dumps, and each pass's rewrite."""

import io

import numpy as np
import pytest

import kancc
from kancc.errors import KanccError, PassError
from kancc.frontend import build_graph
from kancc.ir import Op, Value, parse, to_text
from kancc.passes import PASSES, DumpOptions, Pass, PassManager, PassResult, Step, parse_pipeline

SPEC = {"model": {"layers": [2, 3, 1], "name": "tiny"}, "basis": {"degree": 2, "grid": 4}}


def graph():
    return build_graph(kancc.load_spec(SPEC))


def names(steps):
    return [s.label for s in steps]


def test_named_pipelines_and_options():
    assert names(parse_pipeline("inference")) == [
        "expand-layers", "derive-stencils", "lower-basis", "fuse", "schedule", "dce",
        "canonicalize"]
    assert names(parse_pipeline("reference")) == [
        "expand-layers", "lower-basis{eval=cox-de-boor}", "canonicalize"]
    steps = parse_pipeline(" expand-layers , lower-basis{eval=relu-local} ")
    assert steps[1].options == (("eval", "relu-local"),)
    assert parse_pipeline("lower-basis{eval=horner}")[0].options == ()  # the default


@pytest.mark.parametrize("text,fragment", [
    ("expand-layers,bogus", "unknown pass 'bogus'"),
    ("lower-basis{mode=horner}", "has no option 'mode'"),
    ("lower-basis{eval=spline}", "must be one of horner, cox-de-boor, relu-local"),
    ("lower-basis{eval=horner", "must end with '}'"),
    ("fuse{eval=horner}", "options: none"),
])
def test_bad_pipelines(text, fragment):
    with pytest.raises(KanccError, match=fragment.replace("{", r"\{").replace("}", r"\}")):
        parse_pipeline(text)


def test_stages_record_every_pass():
    result = PassManager(parse_pipeline("inference")).run(graph())
    assert [name for name, _ in result.stages] == ["input"] + names(parse_pipeline("inference"))
    assert result.stages[-1][1] == to_text(result.graph)
    assert all(parse(text) is not None for _, text in result.stages)


def test_print_ir_after_all_and_before_after(tmp_path):
    stream = io.StringIO()
    dump = DumpOptions(print_after_all=True, stream=stream)
    PassManager(parse_pipeline("inference"), dump=dump).run(graph())
    headers = [line for line in stream.getvalue().splitlines() if line.startswith("// -----")]
    assert headers[0] == "// ----- IR after expand-layers (1/7) -----"
    assert len(headers) == 7

    stream = io.StringIO()
    dump = DumpOptions(print_after=frozenset({"fuse"}), print_before=frozenset({"lower-basis"}),
                       stream=stream)
    PassManager(parse_pipeline("inference"), dump=dump).run(graph())
    headers = [line for line in stream.getvalue().splitlines() if line.startswith("// -----")]
    assert headers == ["// ----- IR before lower-basis (3/7) -----",
                       "// ----- IR after fuse (4/7) -----"]
    assert "kan.fused_layer" in stream.getvalue()


def test_dump_ir_writes_one_file_per_stage(tmp_path):
    PassManager(parse_pipeline("reference"), dump=DumpOptions(dump_dir=tmp_path)).run(graph())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00-input.kir", "01-expand-layers.kir", "02-lower-basis.kir",
                     "03-canonicalize.kir"]
    assert "eval=cox-de-boor" in (tmp_path / "02-lower-basis.kir").read_text()


def test_dump_flag_for_a_pass_not_in_the_pipeline():
    with pytest.raises(KanccError, match="no such pass in the pipeline"):
        PassManager(parse_pipeline("reference"), dump=DumpOptions(print_after=frozenset({"fuse"})))


def failing_pass(graph, options):
    raise KanccError("the moon is in the wrong phase")


def corrupting_pass(graph, options):
    op = graph.ops[0]
    return PassResult(graph.with_ops([op.with_attrs(order=9)] + list(graph.ops[1:])))


def test_errors_name_the_failing_pass_and_those_before():
    steps = parse_pipeline("expand-layers,derive-stencils") + (
        Step(Pass("moon", "fails", failing_pass), ()),)
    with pytest.raises(PassError) as info:
        PassManager(steps).run(graph())
    message = str(info.value)
    assert "pass 'moon' (3 of 3; after expand-layers, derive-stencils) failed" in message
    assert "wrong phase" in message


def test_verification_between_passes_catches_bad_rewrites():
    steps = parse_pipeline("expand-layers") + (Step(Pass("corrupt", "x", corrupting_pass), ()),)
    with pytest.raises(PassError) as info:
        PassManager(steps).run(graph())
    message = str(info.value)
    assert "pass 'corrupt' (2 of 2; after expand-layers) produced IR that does not verify" \
        in message
    assert "order must be an integer in 1..6" in message


def test_unexpected_exceptions_keep_their_traceback_and_name_the_pass():
    def buggy(graph, options):
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError) as info:
        PassManager((Step(Pass("buggy", "x", buggy), ()),)).run(graph())
    assert any("pass 'buggy'" in note for note in info.value.__notes__)


def test_lowering_needs_the_stencil():
    with pytest.raises(PassError, match="run derive-stencils before lower-basis"):
        PassManager(parse_pipeline("expand-layers,lower-basis")).run(graph())


def test_fuse_needs_lowering():
    with pytest.raises(PassError, match="run lower-basis before fuse"):
        PassManager(parse_pipeline("expand-layers,fuse")).run(graph())


def run(pipeline, g=None):
    return PassManager(parse_pipeline(pipeline)).run(g or graph()).graph


def test_expand_layers_splits_each_layer():
    g = run("expand-layers")
    assert [op.name for op in g.ops] == ["kan.basis", "kan.contract"] * 2
    assert g.ops[0].results[0].type.shape == ("B", 2, 6)  # n_b = grid + order - 1


def test_derive_stencils_attaches_the_exact_band():
    g = run("expand-layers,derive-stencils")
    basis = g.ops[0]
    assert basis.attr("stencil") == (1, -3, 3, -1)  # order 3: binomial band
    assert basis.attr("stencil_scale") == 2  # 1 / ((r-1)! h^(r-1)) with h = 1/2


def test_fuse_leaves_a_shared_basis_alone():
    g = run("expand-layers,derive-stencils,lower-basis")
    basis = g.ops[0]
    extra = Op("kan.contract", (basis.result, g.ops[1].operands[1]), (),
               (Value("again", g.ops[1].result.type),))
    shared = g.with_ops([g.ops[0], g.ops[1], extra] + list(g.ops[2:]))
    fused = PASSES["fuse"].run(shared, {}).graph
    assert [op.name for op in fused.ops] == ["kan.basis", "kan.contract", "kan.contract",
                                            "kan.fused_layer"]


def test_dce_removes_dead_ops_and_canonicalize_renumbers():
    g = run("expand-layers,derive-stencils,lower-basis")
    dead = Op("kan.basis", (g.inputs[0],), g.ops[0].attrs, (Value("unused", g.ops[0].result.type),))
    with_dead = g.with_ops([dead] + list(g.ops))
    cleaned = PASSES["dce"].run(with_dead, {}).graph
    assert cleaned.ops == g.ops
    renamed = PASSES["canonicalize"].run(g, {}).graph
    assert [op.result.name for op in renamed.ops] == ["0", "1", "2", "3"]
    assert renamed.outputs[0].name == "3"


def test_passes_are_pure():
    g = graph()
    before = to_text(g)
    run("inference", g)
    assert to_text(g) == before


def test_param_maps_carry_initial_parameters():
    program = kancc.compile(SPEC)
    params = program.init_params(seed=3)
    assert sorted(params) == ["layers.0.coef", "layers.1.coef"]
    assert params["layers.0.coef"].shape == (2, 3, 6)
    assert params["layers.0.coef"].dtype == np.float32
    again = program.init_params(seed=3)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    assert not np.array_equal(params["layers.0.coef"], program.init_params(4)["layers.0.coef"])


def test_the_round_trip_check_reports_a_graph_that_does_not_parse_back(monkeypatch):
    """check_roundtrip compares parse(to_text(graph)) with the graph after every pass: a
    printer/parser disagreement (simulated by a parser that drops the last op) is a
    PassError naming the pass."""
    import kancc.passes.manager as manager

    real_parse = manager.parse
    monkeypatch.setattr(manager, "parse", lambda text: real_parse(text).with_ops(
        real_parse(text).ops[:-1]))
    with pytest.raises(PassError, match="expand-layers.*does not parse back"):
        PassManager(parse_pipeline("expand-layers"), check_roundtrip=True).run(graph())
    PassManager(parse_pipeline("expand-layers"), check_roundtrip=False).run(graph())
