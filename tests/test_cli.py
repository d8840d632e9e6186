"""The kancc command: outputs, dump flags, exit codes, atomic writes."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kancc
from kancc.cli import main
from kancc.ir import parse
from kancc.tools import differential_check as check_module

ROOT = Path(__file__).resolve().parents[1]
CUBIC = str(ROOT / "examples" / "cubic_2_5_1.toml")
DEEP = str(ROOT / "examples" / "deep_nonuniform.toml")


def test_compile_source_and_ir_to_files(tmp_path, capsys):
    source, ir = tmp_path / "model.py", tmp_path / "model.kir"
    assert main(["compile", CUBIC, "-o", str(source)]) == 0
    assert main(["compile", CUBIC, "--emit", "ir", "-o", str(ir)]) == 0
    assert source.read_text() == kancc.compile(CUBIC).source
    assert "kan.fused_layer" in ir.read_text()
    parse(ir.read_text())
    assert "wrote" in capsys.readouterr().err


def test_compile_to_stdout_with_a_pass_list(capsys):
    assert main(["compile", CUBIC, "--emit", "ir", "--passes", "reference"]) == 0
    out = capsys.readouterr().out
    assert "eval=cox-de-boor" in out and "kan.contract" in out


def test_triton_source(capsys):
    assert main(["compile", DEEP, "--target", "triton"]) == 0
    assert capsys.readouterr().out.count("@triton.jit") == 4


def test_dump_flags(tmp_path, capsys):
    dump = tmp_path / "stages"
    code = main(["compile", CUBIC, "-o", str(tmp_path / "m.py"), "--print-ir-after", "fuse",
                 "--print-ir-before", "derive-stencils", "--dump-ir", str(dump)])
    assert code == 0
    err = capsys.readouterr().err
    assert "// ----- IR before derive-stencils (2/7) -----" in err
    assert "// ----- IR after fuse (4/7) -----" in err
    assert len(list(dump.iterdir())) == 8
    assert main(["compile", CUBIC, "--print-ir-after-all"]) == 0
    assert capsys.readouterr().err.count("// ----- IR after") == 7


def test_run_prints_and_saves_outputs(tmp_path, capsys):
    x = np.random.default_rng(0).uniform(-1, 1, (6, 2))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    assert main(["run", CUBIC, "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    program = kancc.compile(CUBIC)
    np.testing.assert_array_equal(np.load(out), program.forward(program.init_params(0), x))
    params = program.init_params(5)
    np.savez(tmp_path / "p.npz", **params)
    assert main(["run", CUBIC, "--input", str(tmp_path / "x.npy"), "--params",
                 str(tmp_path / "p.npz")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("[[") and printed.count("\n") == 6


def save_archive(path):
    with open(path, "wb") as f:  # an .npz archive under a .npy name
        np.savez(f, a=np.zeros(2))


@pytest.mark.parametrize("setup,fragment", [
    (lambda d: np.save(d / "x.npy", np.zeros((4, 3))), "expected a real array of shape (batch, 2)"),
    (lambda d: np.save(d / "x.npy", np.array(["a", "b"])), "expected a real array"),
    (lambda d: (d / "x.npy").write_text("not numpy"), "not a readable .npy/.npz file"),
    (lambda d: None, "no such file"),
    (lambda d: save_archive(d / "x.npy"), "expected one array"),
])
def test_run_rejects_bad_inputs(tmp_path, capsys, setup, fragment):
    setup(tmp_path)
    code = main(["run", CUBIC, "--input", str(tmp_path / "x.npy")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_run_rejects_bad_params(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    np.savez(tmp_path / "p.npz", **{"layers.0.coef": np.zeros((2, 5, 11))})
    assert main(["run", CUBIC, "--input", str(tmp_path / "x.npy"), "--params",
                 str(tmp_path / "p.npz")]) == 2
    assert "missing ['layers.1.coef']" in capsys.readouterr().err
    np.savez(tmp_path / "p.npz", **{"layers.0.coef": np.zeros((2, 5, 11)),
                                    "layers.1.coef": np.zeros((5, 1, 10))})
    assert main(["run", CUBIC, "--input", str(tmp_path / "x.npy"), "--params",
                 str(tmp_path / "p.npz")]) == 2
    assert "layers.1.coef is float64 (5, 1, 10), the model needs a real array of shape " \
        "(5, 1, 11)" in capsys.readouterr().err
    for bad in (np.array([["a"] * 11] * 5).reshape(5, 1, 11), np.zeros((5, 1, 11), complex)):
        np.savez(tmp_path / "p.npz", **{"layers.0.coef": np.zeros((2, 5, 11)),
                                        "layers.1.coef": bad})
        assert main(["run", CUBIC, "--input", str(tmp_path / "x.npy"), "--params",
                     str(tmp_path / "p.npz")]) == 2
        assert "the model needs a real array" in capsys.readouterr().err


@pytest.mark.parametrize("argv,fragment", [
    (["run", CUBIC, "--input", "x.npy", "--seed", "-1"], "must be a non-negative integer"),
    (["run", CUBIC, "--input", "x.npy", "--seed", "1", "--params", "p.npz"], "not allowed with"),
    (["check", CUBIC, "--seed", "two"], "must be a non-negative integer"),
    (["compile", CUBIC, "--target", "cuda"], "invalid choice"),
    (["compile", CUBIC, "--passes", ""], "empty pipeline"),
    (["compile", CUBIC, "--passes", "lower-basis{eval=horner,eval=cox-de-boor}"], "given twice"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line(argv, fragment, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit; the rest return
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("kancc: error: ") and fragment in err


def test_output_path_problems_name_the_path(tmp_path, capsys):
    directory = tmp_path / "out"
    directory.mkdir()
    assert main(["compile", CUBIC, "-o", str(directory)]) == 2
    assert capsys.readouterr().err.strip() == f"kancc: error: cannot write {directory}: " \
        "it is a directory"
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert main(["compile", CUBIC, "--dump-ir", str(blocker), "-o", str(tmp_path / "m.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"kancc: error: cannot write {blocker}/00-input.kir") and \
        ".tmp" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "out"]


def test_check_passes_on_the_examples(capsys):
    assert main(["check", CUBIC, "--samples", "65"]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out and "scipy BSpline oracle" in out


@pytest.mark.parametrize("basis", ["degree = 0", "degree = 0\ngrid = 3",
                                   "degree = 1\ngrid = 300\ndomain = [0, 10]"])
def test_check_passes_on_steps_and_unrepresentable_knots(basis, tmp_path, capsys):
    """Knots like -0.6 or 1/30 are not floats: inputs at them must land in the exact cell."""
    spec = tmp_path / "steps.toml"
    spec.write_text(f"[model]\nlayers = [2, 1]\n[basis]\n{basis}\n")
    assert main(["check", str(spec), "--targets", "numpy"]) == 0, capsys.readouterr().out


def test_check_exits_1_when_a_comparison_fails(monkeypatch, capsys):
    monkeypatch.setattr(check_module, "TOL32", 0.0)
    assert main(["check", CUBIC, "--samples", "33", "--targets", "numpy"]) == 1
    assert "CHECK FAILED" in capsys.readouterr().out


def test_check_skips_float32_for_models_that_need_float64(tmp_path, capsys):
    spec = tmp_path / "fine.toml"
    spec.write_text('[model]\nlayers = [1, 1]\ndtype = "float64"\n'
                    "[basis]\ndegree = 1\ngrid = 64\ndomain = [1000.1, 1000.101]\n")
    assert main(["check", str(spec), "--samples", "33", "--targets", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "skip  float32, layers 0 and after: knots 1 and 2" in out
    assert "numpy f64 vs scipy BSpline oracle" in out and "all checks passed" in out


def test_check_rejects_bad_options(capsys):
    assert main(["check", CUBIC, "--targets", "cuda"]) == 2
    assert main(["check", CUBIC, "--samples", "0"]) == 2


def test_failed_compile_leaves_existing_output_untouched(tmp_path, capsys):
    out = tmp_path / "model.py"
    out.write_text("previous contents")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nlayers = [2, 1]\n[basis]\ndegree = 9\n")
    assert main(["compile", str(bad), "-o", str(out)]) == 2
    assert out.read_text() == "previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "model.py"]


def test_atomic_write_leaves_no_partial_file(tmp_path):
    from kancc.storage import write_atomic

    target = tmp_path / "out.bin"

    def explode(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_atomic(target, explode)
    assert list(tmp_path.iterdir()) == []


def test_passes_command_lists_the_registry(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    assert "lower-basis" in out and "{eval=horner|cox-de-boor|relu-local}" in out


def digests(env_seed: str) -> str:
    script = (
        "import hashlib, kancc\n"
        f"for spec in ({CUBIC!r}, {DEEP!r}):\n"
        "    for target in ('numpy', 'triton'):\n"
        "        p = kancc.compile(spec, target)\n"
        "        text = '\\n'.join(t for _, t in p.stages) + p.source\n"
        "        print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    env = dict(os.environ, PYTHONHASHSEED=env_seed)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, check=True)
    return result.stdout


def test_output_is_byte_identical_across_processes():
    first, second = digests("1"), digests("2")
    assert first == second and len(first.split()) == 4
    in_process = kancc.compile(DEEP, "triton")
    text = "\n".join(t for _, t in in_process.stages) + in_process.source
    assert hashlib.sha256(text.encode()).hexdigest() == first.split()[3]


def test_quickstart_example_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout
    assert "A^[4] row 0 (cubic, h = 1/4): [32/3, -128/3, 64, -128/3, 32/3]" in result.stdout


def test_diabetes_search_quick_mode_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "diabetes_search.py"),
                             "--quick"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("mean validation mse") == 5  # four configurations, the pick
    assert "chosen: [10" in result.stdout
