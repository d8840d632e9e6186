"""Spec loading: exact numbers, defaults, overrides, and one clear error per malformed input."""

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.cli import main

MINIMAL = """
[model]
layers = [2, 5, 1]
dtype = "float32"
[basis]
kind = "bspline"
degree = 3
grid = 8
domain = [-1.0, 1.0]
knots = "uniform"
[train]
loss = "mse"
"""


def test_minimal_spec_from_design(tmp_path):
    path = tmp_path / "fit.toml"
    path.write_text(MINIMAL)
    spec = kancc.load_spec(path)
    assert spec.name == "fit"
    assert spec.widths == (2, 5, 1)
    assert spec.dtype == "float32"
    assert spec.train.loss == "mse"
    assert len(spec.layers) == 2
    basis = spec.layers[1]
    assert (basis.kind, basis.degree, basis.order, basis.grid) == ("bspline", 3, 4, 8)
    assert basis.domain == (Fraction(-1), Fraction(1))
    assert basis.knots == "uniform"
    assert basis.n_basis == 11


def test_dict_and_toml_agree():
    from_toml = kancc.loads_spec(MINIMAL, default_name="model")
    from_dict = kancc.load_spec({
        "model": {"layers": [2, 5, 1], "dtype": "float32"},
        "basis": {"kind": "bspline", "degree": 3, "grid": 8, "domain": [-1.0, 1.0],
                  "knots": "uniform"},
        "train": {"loss": "mse"},
    })
    assert from_toml == from_dict


def test_numbers_are_exact():
    spec = kancc.loads_spec("""
[model]
layers = [1, 1]
[basis]
knots = [0.1, "1/3", 0.5, 2]
""")
    assert spec.layers[0].knots == (Fraction(1, 10), Fraction(1, 3), Fraction(1, 2), Fraction(2))
    assert spec.layers[0].grid == 3
    assert spec.layers[0].domain == (Fraction(1, 10), Fraction(2))
    from_float = kancc.load_spec({"model": {"layers": [1, 1]}, "basis": {"domain": [0.1, 0.7]}})
    assert from_float.layers[0].domain == (Fraction(1, 10), Fraction(7, 10))


def test_numbers_from_numpy_scalars_and_strings():
    spec = kancc.load_spec({"model": {"layers": [np.int64(2), np.int32(1)]},
                            "basis": {"degree": np.int16(2), "domain": [np.float64(-0.5), "1"],
                                      "grid": np.uint8(4)}})
    assert spec.widths == (2, 1) and spec.layers[0].degree == 2 and spec.layers[0].grid == 4
    assert spec.layers[0].domain == (Fraction(-1, 2), Fraction(1))
    knots = kancc.load_spec({"model": {"layers": [1, 1]},
                             "basis": {"knots": ["-1", "-0.25", "1e-3", "1/3", np.float32(0.5)]}})
    assert knots.layers[0].knots == (Fraction(-1), Fraction(-1, 4), Fraction(1, 1000),
                                     Fraction(1, 3), Fraction(1, 2))
    with pytest.raises(kancc.SpecError,
                       match=r"basis.degree: must be an integer, got boolean true"):
        kancc.load_spec({"model": {"layers": [1, 1]}, "basis": {"degree": np.bool_(True)}})


def test_float64_resolves_what_float32_cannot():
    fine = {"domain": [1000.1, 1000.101], "grid": 64}
    spec = kancc.load_spec({"model": {"layers": [1, 1], "dtype": "float64"}, "basis": fine})
    assert spec.layers[0].grid == 64


def test_defaults_and_per_layer_overrides():
    spec = kancc.loads_spec("""
[model]
layers = [3, 4, 4, 1]
[basis]
degree = 2
[[layers]]
[[layers]]
degree = 5
knots = [0, 1, 3]
[[layers]]
grid = 12
""")
    first, second, third = spec.layers
    assert (first.degree, first.grid, first.knots) == (2, 5, "uniform")
    assert first.domain == (Fraction(-1), Fraction(1))
    assert (second.degree, second.grid, second.domain) == (5, 2, (Fraction(0), Fraction(3)))
    assert (third.degree, third.grid) == (2, 12)


def test_spec_passes_through():
    spec = kancc.load_spec({"model": {"layers": [1, 1]}})
    assert kancc.load_spec(spec) is spec


MODEL = '[model]\nlayers = [2, 3, 1]\n'

# (name, TOML text, field path the error must name, fragment of the message)
MALFORMED = [
    ("syntax", "[model\nlayers = [2, 1]\n", "", "invalid TOML"),
    ("no model table", "[basis]\ndegree = 3\n", "model", "missing required table"),
    ("unknown top-level key", MODEL + "[bogus]\nx = 1\n", "bogus", "unknown key"),
    ("typo in model key", "[model]\nlayer = [2, 1]\n", "model.layer", "did you mean 'layers'"),
    ("missing widths", "[model]\ndtype = \"float32\"\n", "model.layers", "missing"),
    ("widths not an array", "[model]\nlayers = 3\n", "model.layers", "must be an array"),
    ("zero width", "[model]\nlayers = [2, 0, 1]\n", "model.layers[1]", "positive integer, got 0"),
    ("fractional width", "[model]\nlayers = [2, 1.5]\n", "model.layers[1]", "must be an integer"),
    ("one width", "[model]\nlayers = [2]\n", "model.layers", "at least 2 widths"),
    ("absurd width", "[model]\nlayers = [99999999999999999999, 1]\n", "model.layers[0]",
     "between 1 and 16777216"),
    ("bad dtype", MODEL + 'dtype = "float16"\n', "model.dtype", "must be one of"),
    ("bad name", MODEL + 'name = "my model"\n', "model.name", "identifier"),
    ("degree too large", MODEL + "[basis]\ndegree = 6\n", "basis.degree", "between 0 and 5"),
    ("negative degree", MODEL + "[basis]\ndegree = -1\n", "basis.degree", "between 0 and 5"),
    ("boolean degree", MODEL + "[basis]\ndegree = true\n", "basis.degree", "boolean true"),
    ("float degree", MODEL + "[basis]\ndegree = 3.0\n", "basis.degree", "must be an integer"),
    ("negative grid in a layer", MODEL + "[[layers]]\n[[layers]]\ngrid = -3\n",
     "layers[1].grid", "must be a positive integer, got -3"),
    ("string grid", MODEL + '[basis]\ngrid = "8"\n', "basis.grid", "must be an integer"),
    ("huge grid", MODEL + "[basis]\ngrid = 100000\n", "basis.grid", "between 1 and 4096"),
    ("reversed domain", MODEL + "[basis]\ndomain = [1.0, -1.0]\n", "basis.domain", "a < b"),
    ("three-number domain", MODEL + "[basis]\ndomain = [0, 1, 2]\n", "basis.domain",
     "must be [a, b]"),
    ("infinite domain", MODEL + "[basis]\ndomain = [-inf, 1.0]\n", "basis.domain[0]", "finite"),
    ("nan domain", MODEL + "[basis]\ndomain = [0.0, nan]\n", "basis.domain[1]", "finite"),
    ("non-increasing knots", MODEL + "[basis]\nknots = [0, 0.5, 0.5, 1]\n", "basis.knots[2]",
     "strictly increasing"),
    ("decreasing knots", MODEL + "[basis]\nknots = [0, 2, 1]\n", "basis.knots[2]",
     "strictly increasing"),
    ("one knot", MODEL + "[basis]\nknots = [0]\n", "basis.knots", "at least 2 points"),
    ("unknown knots kind", MODEL + '[basis]\nknots = "chebyshev"\n', "basis.knots",
     "must be one of"),
    ("knot not a number", MODEL + '[basis]\nknots = [0, "half", 1]\n', "basis.knots[1]",
     "must be a number"),
    ("zero denominator", MODEL + '[basis]\nknots = [0, "1/0", 1]\n', "basis.knots[1]",
     "zero denominator"),
    ("knots contradict grid", MODEL + "[basis]\ngrid = 5\nknots = [0, 1, 2, 3]\n",
     "basis.grid", "is 5 but knots has 4 points"),
    ("knots contradict domain", MODEL + "[basis]\ndomain = [0, 2]\nknots = [0, 1, 3]\n",
     "basis.domain", "knots run from 0 to 3"),
    ("unknown basis kind", MODEL + '[basis]\nkind = "hermite"\n', "basis.kind",
     "must be one of"),
    ("basis not a table", MODEL + "basis = 3\n", "model.basis", "unknown key"),
    ("top-level basis scalar", "basis = 3\n" + MODEL, "basis", "must be a table"),
    ("too few layer tables", MODEL + "[[layers]]\n", "layers", "has 1 entries"),
    ("typo in layer key", MODEL + "[[layers]]\ndegre = 2\n[[layers]]\n", "layers[0].degre",
     "did you mean 'degree'"),
    ("uniform layer without a grid", MODEL + "[basis]\nknots = [0, 1, 2]\n[[layers]]\n"
     "[[layers]]\nknots = \"uniform\"\n", "layers[1].grid", "uniform knots need a grid"),
    ("domain beyond float32", MODEL + "[basis]\ndomain = [0, 1e300]\n", "basis.domain",
     "beyond what float32 holds safely"),
    ("domain beyond float64", MODEL + 'dtype = "float64"\n[basis]\ndomain = [-1e308, 1e308]\n',
     "basis.domain", "beyond what float64 holds safely"),
    ("cells below the dtype's range", MODEL + "[basis]\nknots = [0, 1e-320, 1]\n", "basis.knots",
     "below float32's range"),
    ("knots float32 cannot tell apart", MODEL + "[basis]\ndomain = [1000.1, 1000.101]\n"
     "grid = 64\n", "basis.grid", "are the same number in float32"),
    ("unknown loss", MODEL + '[train]\nloss = "huber"\n', "train.loss", "must be one of"),
    ("unknown train key", MODEL + "[train]\nmomentum = 0.1\n", "train.momentum", "unknown key"),
]


@pytest.mark.parametrize("name,text,path,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_names_the_field(name, text, path, fragment):
    with pytest.raises(kancc.SpecError) as info:
        kancc.loads_spec(text, origin="bad.toml")
    error = info.value
    assert error.path == path, str(error)
    assert fragment in error.message, str(error)
    assert str(error).startswith("bad.toml: ")


def test_malformed_table_is_large_enough():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("name,text,path,fragment", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_cli_exits_2_with_one_line(name, text, path, fragment, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    out = tmp_path / "out.py"
    code = main(["compile", str(spec), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kancc: error: ")
    assert (path + ":") in lines[0] and fragment in lines[0]
    assert not out.exists()


def test_real_entry_point_prints_no_traceback(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(MODEL + "[[layers]]\n[[layers]]\ngrid = -3\n")
    result = subprocess.run([sys.executable, "-m", "kancc.cli", "compile", str(spec)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == \
        f"kancc: error: {spec}: layers[1].grid: must be a positive integer, got -3"


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(kancc.SpecError, match="cannot read spec"):
        kancc.load_spec(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(kancc.SpecError, match="not UTF-8"):
        kancc.load_spec(binary)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(kancc.SpecError, match="missing required table"):
        kancc.load_spec(empty)


def test_every_declared_key_is_documented_where_its_table_is():
    """Each key of the declared tables has a doc string, and the example table at the top of
    its module (what a user reads in help(...) and the source) shows it."""
    import sys

    from kancc.spec import DataSpec, FinetuneSpec, KaczmarzSpec, MultilevelSpec, TrainSpec
    from kancc.spec.keys import keys_of

    for table in (TrainSpec, MultilevelSpec, KaczmarzSpec, DataSpec, FinetuneSpec):
        docstring = sys.modules[table.__module__].__doc__
        for name, key in keys_of(table):
            assert key.doc.strip(), (table.__name__, name)
            shown = f"\n    {name} = " in docstring or f".{name}]" in docstring  # [a.b]
            assert shown, (table.__module__, name)


def test_the_spec_reference_is_current_and_complete():
    """docs/spec_reference.md is what kancc.spec.reference generates, and names every key
    the loader accepts, in its table."""
    from kancc.spec import load as spec_load
    from kancc.spec.basis_table import LAYER_KEYS
    from kancc.spec.keys import keys_of
    from kancc.spec.reference import declared_tables, reference

    text = reference()
    committed = (Path(__file__).resolve().parents[1] / "docs" / "spec_reference.md")
    assert committed.read_text() == text, "regenerate: python -m kancc.spec.reference " \
                                          "> docs/spec_reference.md"
    sections = {part.lstrip("[").split("]", 1)[0]: part for part in text.split("\n## [")[1:]}
    expected = {"model": spec_load.MODEL_KEYS, "basis": LAYER_KEYS}
    expected.update({path: tuple(name for name, _ in keys_of(table))
                     for path, table, _ in declared_tables()})
    for path, keys in expected.items():
        for name in keys:
            is_subtable = f"{path}.{name}" in expected
            assert is_subtable or f"| `{name}` |" in sections[path], f"[{path}] {name}"
    tables = {path.split(".")[0] for path in expected} | {"layers"}
    assert tables == set(spec_load.TOP_KEYS)


def test_errors_cross_a_process_pool_intact():
    """Sweeps run specs in worker processes: their errors must pickle, fields and all."""
    import pickle

    from kancc.errors import DataError, SpecError

    spec_error = pickle.loads(pickle.dumps(SpecError("model.name", "bad", "a.toml")))
    assert (spec_error.path, spec_error.message, spec_error.origin) == ("model.name", "bad",
                                                                       "a.toml")
    assert str(spec_error) == "a.toml: model.name: bad"
    data_error = pickle.loads(pickle.dumps(DataError("x.csv", "row 3")))
    assert (data_error.source, str(data_error)) == ("x.csv", "x.csv: row 3")
