"""The long fuzzing campaign: malformed specs (TOML text and dicts), IR texts, checkpoints and
command lines by the thousand, then kill -9 during checkpoint and file writes. Prints one
table; docs/reliability.md holds the last result.

The contract checked: every input is accepted or gets its documented error (SpecError,
ParseError/VerifyError, KanccError; the CLI exits 2 with one ``kancc: error:`` line and
leaves no output file), within 2 seconds; a killed write leaves the old file or the new one,
never a partial one, and no temporary file once the next write of that target is done.

    python benchmarks/fuzz_campaign.py                 # 10,000 per area, CLI for 10 minutes
    python benchmarks/fuzz_campaign.py --quick         # 300 per area, 60 s of CLI, 6 kills
Every failure is printed with its area and seed: kancc.tools.malformed_inputs replays it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import kancc
from kancc.cli import main
from kancc.errors import KanccError
from kancc.ir import ParseError, VerifyError, parse, to_text, verify
from kancc.spec import spec_to_dict
from kancc.storage import write_bytes_atomic
from kancc.tools.malformed_inputs import cli_arguments, mutate_bytes, mutate_spec_dict, mutate_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
SLOW = 2.0  # seconds: a refusal slower than this counts against the contract


@dataclass
class Tally:
    """Outcomes of one area."""

    area: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0  # the documented error
    tracebacks: int = 0  # an exception outside the contract escaped
    broken: int = 0  # no traceback, but the contract broke (two error lines, a half file)
    slow: int = 0  # refusals slower than SLOW
    seconds: float = 0.0
    first: list[str] = field(default_factory=list)

    def fail(self, kind: str, seed: int, detail: str) -> None:
        if len(self.first) < 5:
            self.first.append(f"{self.area} seed {seed}: {kind}: {detail}")

    def row(self) -> str:
        return (f"| {self.area} | {self.inputs} | {self.accepted} | {self.refused} | "
                f"{self.tracebacks} | {self.broken} | {self.slow} | {self.seconds:.0f} |")


def run_cases(tally: Tally, count: int, budget: float,
              case: Callable[[random.Random], bool], errors: tuple[type, ...]) -> Tally:
    """``case(rng)`` returns whether the input was accepted; ``errors`` are its contract."""
    start = time.perf_counter()
    for seed in range(count):
        if time.perf_counter() - start > budget:
            break
        began = time.perf_counter()
        refused = False
        try:
            accepted = case(random.Random(seed))
        except errors:
            tally.refused += 1
            refused = True
        except Exception as exc:  # noqa: BLE001 - what the campaign is here to find
            tally.tracebacks += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            tally.fail("traceback", seed, f"{type(exc).__name__} at {where.filename}:"
                                          f"{where.lineno}: {str(exc)[:120]}")
        else:
            tally.accepted += accepted
            tally.broken += not accepted
        tally.inputs += 1
        if refused and time.perf_counter() - began > SLOW:  # accepted work may take its time
            tally.slow += 1
            tally.fail("slow", seed, f"{time.perf_counter() - began:.1f} s")
    tally.seconds = time.perf_counter() - start
    return tally


def spec_texts(count: int, budget: float) -> Tally:
    texts = [path.read_text() for path in EXAMPLES]

    def case(rng: random.Random) -> bool:
        kancc.loads_spec(mutate_text(rng.choice(texts), rng), origin="fuzz.toml")
        return True
    return run_cases(Tally("spec (TOML text)"), count, budget, case, (kancc.SpecError,))


def spec_dicts(count: int, budget: float) -> Tally:
    dicts = [spec_to_dict(kancc.load_spec(path)) for path in EXAMPLES if "lotra" not in path.name]

    def case(rng: random.Random) -> bool:
        kancc.load_spec(mutate_spec_dict(rng.choice(dicts), rng))
        return True
    return run_cases(Tally("spec (dict)"), count, budget, case, (kancc.SpecError,))


def ir_texts(count: int, budget: float) -> Tally:
    texts = [to_text(kancc.compile(path, training=training).ir) for path, training in
             ((EXAMPLES[0], False), (ROOT / "examples" / "train_2_5_1.toml", True),
              (ROOT / "examples" / "deep_nonuniform.toml", False),
              (ROOT / "examples" / "slim_2_32_32_1.toml", False))]

    def case(rng: random.Random) -> bool:
        verify(parse(mutate_text(rng.choice(texts), rng)))
        return True
    return run_cases(Tally("IR text"), count, budget, case, (ParseError, VerifyError))


def checkpoints(count: int, budget: float, work: Path) -> Tally:
    sources = []
    for name in ("train_2_5_1", "slim_2_32_32_1", "deep_nonuniform"):
        program = kancc.compile(ROOT / "examples" / f"{name}.toml")
        kancc.save_checkpoint(work / f"{name}.npz", program.spec, program.init_params(0),
                              np.array([[0, 1.0, np.nan], [3, 0.5, 0.25]]))
        sources.append((work / f"{name}.npz").read_bytes())
    target = work / "case.ckpt.npz"

    def case(rng: random.Random) -> bool:
        data = rng.choice(sources)
        if rng.random() < 0.5:
            data = mutate_bytes(data, rng)
        else:  # an intact archive with a damaged spec
            arrays = dict(np.load(io.BytesIO(data)))
            arrays["spec"] = np.array(mutate_text(str(arrays["spec"]), rng))
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            data = buffer.getvalue()
        target.write_bytes(data)
        kancc.load_checkpoint(target)
        return True
    return run_cases(Tally("checkpoint"), count, budget, case, (KanccError,))


def cli_files(work: Path) -> dict[str, str]:
    program = kancc.compile(ROOT / "examples" / "train_2_5_1.toml")
    kancc.save_checkpoint(work / "good.ckpt.npz", program.spec, program.init_params(0))
    np.save(work / "x.npy", np.random.default_rng(0).uniform(-1, 1, (5, 2)))
    (work / "directory").mkdir(exist_ok=True)
    return {"spec": str(ROOT / "examples" / "train_2_5_1.toml"),
            "bad_spec": str(work / "bad.toml"), "checkpoint": str(work / "good.ckpt.npz"),
            "bad_checkpoint": str(work / "bad.ckpt.npz"), "input": str(work / "x.npy"),
            "bad_input": str(work / "bad.npy"), "directory": str(work / "directory"),
            "missing": str(work / "missing.toml"), "output": ""}


def command_lines(count: int, budget: float, work: Path, in_subprocess: int) -> Tally:
    """In-process ``main`` (fast), and every (count // in_subprocess)-th case also as a real
    process to see what a shell sees."""
    files = cli_files(work)
    spec_text = (ROOT / "examples" / "train_2_5_1.toml").read_text()
    every = max(1, count // in_subprocess) if in_subprocess else 0

    def case(rng: random.Random) -> bool:
        Path(files["bad_spec"]).write_text(mutate_text(spec_text, rng))
        Path(files["bad_checkpoint"]).write_bytes(
            mutate_bytes(Path(files["checkpoint"]).read_bytes(), rng))
        Path(files["bad_input"]).write_bytes(mutate_bytes(Path(files["input"]).read_bytes(), rng))
        output = work / f"out{rng.randrange(10 ** 9)}.npz"
        argv = cli_arguments(rng, {**files, "output": str(output)})
        seed_case = every and rng.randrange(every) == 0
        code, err = _run_process(argv) if seed_case else _run_in_process(argv)
        good = _cli_contract(code, err, output, work)
        _remove(output)
        if not good:
            print(f"  contract broken: {argv}: exit {code}: {err[-300:]}", file=sys.stderr)
        elif code == 2:
            raise RefusedError
        return good
    return run_cases(Tally("command line"), count, budget, case, (RefusedError,))


class RefusedError(Exception):
    """A command line refused as documented: exit 2, one error line, no output file."""


def _run_in_process(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


def _run_process(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "kancc.cli", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    if "Traceback (most recent call last)" in done.stderr:
        raise RuntimeError(f"the process printed a traceback: {done.stderr[-300:]}")
    return done.returncode, done.stderr


def _cli_contract(code: int, err: str, output: Path, work: Path) -> bool:
    lines = err.strip().splitlines()
    temporaries = [name for name in os.listdir(work) if name.endswith(".tmp")]
    if code == 2:
        errors = [line for line in lines if line.startswith("kancc: error: ")]
        return len(errors) == 1 and lines[-1] == errors[0] and not output.is_file() \
            and not temporaries
    return code in (0, 1) and not temporaries


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


SLOW_WRITER = """
import os, sys, time
if sys.argv[2] == "named":
    del os.O_TMPFILE  # the fallback: a named temporary file beside the target
from kancc.storage import write_atomic
def write(f):
    print("writing", flush=True)
    for _ in range(32):
        f.write(b"x" * (1 << 20))
        f.flush()
        time.sleep(0.02)
write_atomic(sys.argv[1], write)
"""
NEW_SIZE = 32 << 20


@dataclass
class KillTally:
    what: str
    runs: int = 0
    partial: int = 0  # the target held neither the old nor a complete new file
    left_after_kill: int = 0  # temporary files right after a kill
    left_after_next_write: int = 0  # ... once the next write of that target has finished

    def row(self) -> str:
        return (f"| {self.what} | {self.runs} | {self.partial} | {self.left_after_kill} | "
                f"{self.left_after_next_write} |")


def kill_slow_writes(runs: int, work: Path, mode: str, rng: random.Random) -> KillTally:
    """kill -9 while write_atomic is writing 32 MiB (certainly mid-write)."""
    tally, target = KillTally(f"write_atomic, {mode} temporary"), work / "slow.bin"
    for _ in range(runs):
        target.write_bytes(b"old")
        process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target), mode],
                                   stdout=subprocess.PIPE, cwd=ROOT)
        assert process.stdout is not None and process.stdout.readline() == b"writing\n"
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        tally.runs += 1
        data = target.read_bytes()
        tally.partial += data != b"old" and data != b"x" * NEW_SIZE
        tally.left_after_kill += len(_temporaries(work))
    write_bytes_atomic(target, b"new")
    tally.left_after_next_write = len(_temporaries(work))
    return tally


def kill_training(runs: int, work: Path, rng: random.Random) -> KillTally:
    """kill -9 of ``kancc train -o`` at a random moment over an existing checkpoint."""
    tally, target = KillTally("kancc train -o CKPT"), work / "kill.ckpt.npz"
    program = kancc.compile(ROOT / "examples" / "train_2_5_1.toml")
    kancc.save_checkpoint(target, program.spec, program.init_params(0))
    for _ in range(runs):
        steps = str(rng.randint(1, 20))
        process = subprocess.Popen([sys.executable, "-m", "kancc.cli", "train",
                                    str(ROOT / "examples" / "train_2_5_1.toml"), "--steps",
                                    steps, "--quiet", "-o", str(target)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        tally.runs += 1
        try:
            kancc.load_checkpoint(target)
        except KanccError:
            tally.partial += 1
        tally.left_after_kill += len(_temporaries(work))
    kancc.save_checkpoint(target, program.spec, program.init_params(0))
    tally.left_after_next_write = len(_temporaries(work))
    return tally


def _temporaries(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def main_campaign() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="inputs per area")
    parser.add_argument("--seconds", type=float, default=600.0,
                        help="time limit per area (checkpoints and the CLI reach it first)")
    parser.add_argument("--subprocesses", type=int, default=100,
                        help="CLI cases also run as a real process")
    parser.add_argument("--kills", type=int, default=40, help="kill -9 runs in all")
    parser.add_argument("--quick", action="store_true", help="300 per area, 60 s, 6 kills")
    args = parser.parse_args()
    if args.quick:
        args.count, args.seconds, args.subprocesses, args.kills = 300, 60.0, 5, 6
    kancc.use_triton_interpreter()
    work = Path(tempfile.mkdtemp(prefix="kancc-fuzz-"))
    try:
        tallies = [spec_texts(args.count, args.seconds), spec_dicts(args.count, args.seconds),
                   ir_texts(args.count, args.seconds),
                   checkpoints(args.count, args.seconds, work),
                   command_lines(args.count, args.seconds, work, args.subprocesses)]
        rng = random.Random(0)
        third = max(1, args.kills // 3)
        kills = [kill_training(args.kills - 2 * third, work, rng),
                 kill_slow_writes(third, work, "unnamed (O_TMPFILE)", rng),
                 kill_slow_writes(third, work, "named", rng)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(tallies, kills)
    bad = sum(t.tracebacks + t.broken + t.slow for t in tallies) + \
        sum(k.partial + k.left_after_next_write for k in kills)
    return 1 if bad else 0


def _report(tallies: list[Tally], kills: list[KillTally]) -> None:
    print(f"kancc {kancc.VERSION}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("| area | inputs | accepted | documented error | tracebacks | other contract "
          "breaks | refusals slower than 2 s | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tally in tallies:
        print(tally.row())
    print()
    print("| kill -9 during | runs | partial files | temporary files right after the kill "
          "| temporary files after the next write |")
    print("|---|---:|---:|---:|---:|")
    for kill in kills:
        print(kill.row())
    failures = [line for tally in tallies for line in tally.first]
    for line in failures:
        print(line)


if __name__ == "__main__":
    sys.exit(main_campaign())
