"""The standing fuzz suite: malformed specs (text and dict), IR texts, checkpoints and command
lines made from valid ones (kancc.tools.malformed_inputs, driven by hypothesis). The
contract: each either works or raises its one documented error (SpecError, ParseError or
VerifyError, KanccError; the CLI exits 2 with one line), nothing else, and refusals within
QUICK seconds (a bound of the contract, not a performance measurement: they take
milliseconds). About 40 s in all; benchmarks/fuzz_campaign.py runs the same areas at
10,000+ cases."""

import contextlib
import io
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kancc
from kancc.cli import main
from kancc.errors import KanccError
from kancc.ir import ParseError, VerifyError, parse, to_text, verify
from kancc.spec import spec_to_dict
from kancc.tools.malformed_inputs import cli_arguments, mutate_bytes, mutate_spec_dict, mutate_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
SPEC_TEXTS = [path.read_text() for path in EXAMPLES]
SPEC_DICTS = [spec_to_dict(kancc.load_spec(path)) for path in EXAMPLES
              if "lotra" not in path.name]  # its pretrained checkpoint is not built here
IR_TEXTS = [to_text(kancc.compile(ROOT / "examples" / name, training=training).ir)
            for name, training in (("cubic_2_5_1.toml", False), ("train_2_5_1.toml", True),
                                   ("deep_nonuniform.toml", False),
                                   ("slim_2_32_32_1.toml", False))]
QUICK = 2.0
FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def quick():
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < QUICK


@settings(FUZZ, max_examples=4000)
@given(st.sampled_from(SPEC_TEXTS), st.randoms(use_true_random=False))
def test_spec_texts(text, rng):
    with quick(), contextlib.suppress(kancc.SpecError):
        kancc.loads_spec(mutate_text(text, rng), origin="fuzz.toml")


@settings(FUZZ, max_examples=4000)
@given(st.sampled_from(SPEC_DICTS), st.randoms(use_true_random=False))
def test_spec_dicts(spec, rng):
    with quick(), contextlib.suppress(kancc.SpecError):
        kancc.load_spec(mutate_spec_dict(spec, rng))


@settings(FUZZ, max_examples=2500)
@given(st.sampled_from(IR_TEXTS), st.randoms(use_true_random=False))
def test_ir_texts(text, rng):
    with quick(), contextlib.suppress(ParseError, VerifyError):
        verify(parse(mutate_text(text, rng)))


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    found = []
    for name in ("train_2_5_1.toml", "slim_2_32_32_1.toml", "deep_nonuniform.toml"):
        program = kancc.compile(ROOT / "examples" / name)
        path = folder / f"{name}.npz"
        kancc.save_checkpoint(path, program.spec, program.init_params(0),
                              np.array([[0, 1.0, np.nan], [3, 0.5, 0.25]]))
        found.append(path.read_bytes())
    return found


@settings(FUZZ, max_examples=1500)
@given(st.randoms(use_true_random=False), st.booleans())
def test_checkpoints(checkpoint_bytes, tmp_path_factory, rng, in_spec):
    """Damaged bytes, or an intact archive whose spec text is damaged."""
    data = rng.choice(checkpoint_bytes)
    if in_spec:
        arrays = dict(np.load(io.BytesIO(data)))
        arrays["spec"] = np.array(mutate_text(str(arrays["spec"]), rng))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
    else:
        data = mutate_bytes(data, rng)
    path = tmp_path_factory.getbasetemp() / "case.ckpt.npz"
    path.write_bytes(data)
    with quick(), contextlib.suppress(KanccError):
        kancc.load_checkpoint(path)


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    program = kancc.compile(ROOT / "examples" / "train_2_5_1.toml")
    kancc.save_checkpoint(folder / "good.ckpt.npz", program.spec, program.init_params(0))
    np.save(folder / "x.npy", np.random.default_rng(0).uniform(-1, 1, (5, 2)))
    (folder / "directory").mkdir()
    return folder


@settings(FUZZ, max_examples=500)
@given(st.randoms(use_true_random=False))
def test_command_lines(cli_files, rng):
    """Exit 0 (or 1: a check failed), or 2 with one error line, last (warnings may come
    before it), no output file, quickly. Accepted commands may take their time."""
    folder = cli_files
    (folder / "bad.toml").write_text(mutate_text(rng.choice(SPEC_TEXTS), rng))
    (folder / "bad.ckpt.npz").write_bytes(mutate_bytes((folder / "good.ckpt.npz")
                                                       .read_bytes(), rng))
    (folder / "bad.npy").write_bytes(mutate_bytes((folder / "x.npy").read_bytes(), rng))
    output = folder / f"out{rng.randrange(10 ** 9)}.npz"
    files = {"spec": str(ROOT / "examples" / "train_2_5_1.toml"),
             "bad_spec": str(folder / "bad.toml"), "checkpoint": str(folder / "good.ckpt.npz"),
             "bad_checkpoint": str(folder / "bad.ckpt.npz"), "input": str(folder / "x.npy"),
             "bad_input": str(folder / "bad.npy"), "directory": str(folder / "directory"),
             "missing": str(folder / "missing.toml"), "output": str(output)}
    argv = cli_arguments(rng, files)
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code
    elapsed = time.perf_counter() - start
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 1, 2), argv
    if code == 2:
        assert elapsed < QUICK, (argv, elapsed)
        assert lines and lines[-1].startswith("kancc: error: "), (argv, lines)
        assert not any(line.startswith("kancc: error: ") for line in lines[:-1]), argv
        assert not any(line.startswith("Traceback") for line in lines), argv
        assert not output.is_file(), argv
    assert not [name for name in os.listdir(folder) if name.endswith(".tmp")], argv
    _remove(output)


def _remove(path):
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    elif path.exists():
        path.unlink()


def test_mutators_are_replayable():
    """The campaign reports a failing case by its seed: the same seed, the same input."""
    text = SPEC_TEXTS[0]
    assert mutate_text(text, random.Random(7)) == mutate_text(text, random.Random(7))
    assert mutate_text(text, random.Random(7)) != mutate_text(text, random.Random(8))
