"""Malformed inputs made from valid ones, for the standing fuzz suite (tests/test_fuzz.py) and
the long campaign (benchmarks/fuzz_campaign.py).

Each mutator takes a ``random.Random`` so that hypothesis can drive (and shrink) it and the
campaign can replay any case from its seed. The mutations aim where parsers break: nesting,
numbers at and beyond float64 and int-conversion limits, truncation, wrong types, damaged
bytes inside a zip archive.
"""

from __future__ import annotations

import copy
import random
from typing import Any

# Text that tends to break parsers: brackets, absurd numbers, quotes, control bytes.
TEXT_TOKENS = (
    "[", "]", "{", "}", "=", ",", '"', "'", "\n", "#", ".", " ", "\x00", "\u00e9", "\ufeff",
    "1e999", "-1e999", "1e-400", "nan", "inf", "-inf", "1/0", "0", "-1", "0.5", "1_000",
    "0x10", "true", '""', "2026-12-01", "'''", "[[layers]]\n", "[train]\n", "[data]\n",
    "9" * 4301, "1" + "0" * 400, "1e999999", "[" * 500, "{a = " * 200, "%", "@", "->", ":",
    "f32[", "f64[B,", "B", "kan.", "1/3", "-0", "1e308", "5e-324",
)

# Values a spec dict may carry instead of the right one.
ABSURD_NUMBERS = (0, -1, 1, 2 ** 63, -(2 ** 63), 10 ** 5000, 1e308, -1e308, 5e-324,
                  float("inf"), float("-inf"), float("nan"), 0.5, -0.0, 1e-300, 3)
ABSURD_TEXTS = ("", "1e999999", "-1e999", "1/3", "1/0", "0/0", "nan", "inf", "x",
                "1" * 5000, "[", "bspline", "float32", "lbfgs", "adam", "mse", "uniform",
                "sin_sin", "gradient", "\x00", "1e-400")


def mutate_text(text: str, rng: random.Random) -> str:
    """``text`` with one to four edits: a span deleted, duplicated or replaced by a token, a
    token inserted, two lines swapped, or the end cut off."""
    for _ in range(rng.randint(1, 4)):
        text = _edit_text(text, rng)
    return text


def _edit_text(text: str, rng: random.Random) -> str:
    start = rng.randrange(len(text) + 1)
    end = min(len(text), start + rng.choice((1, 2, 5, 20, 200)))
    token = rng.choice(TEXT_TOKENS) * rng.choice((1, 1, 1, 3, 50))
    edit = rng.randrange(6)
    if edit == 0:
        return text[:start] + text[end:]
    if edit == 1:
        return text[:end] + text[start:end] + text[end:]
    if edit == 2:
        return text[:start] + token + text[end:]
    if edit == 3:
        return text[:start] + token + text[start:]
    if edit == 4:
        lines = text.split("\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    return text[:start]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to three edits: a byte flipped, a span zeroed, duplicated or cut
    out, random bytes inserted, or the end cut off."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        start = rng.randrange(len(out) + 1)
        end = min(len(out), start + rng.choice((1, 4, 64, 1024)))
        edit = rng.randrange(6)
        if edit == 0 and start < len(out):
            out[start] ^= 1 << rng.randrange(8)
        elif edit == 1:
            out[start:end] = bytes(end - start)
        elif edit == 2:
            out[end:end] = out[start:end]
        elif edit == 3:
            del out[start:end]
        elif edit == 4:
            out[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            del out[start:]
    return bytes(out)


def mutate_spec_dict(spec: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A deep copy of ``spec`` with one to three values replaced, keys removed or added."""
    out = copy.deepcopy(spec)
    for _ in range(rng.randint(1, 3)):
        container, key = _random_slot(out, rng)
        edit = rng.randrange(4)
        if edit == 0 and isinstance(container, dict) and key in container:
            del container[key]
        elif edit == 1 and isinstance(container, dict):
            container[rng.choice(("", "x", "layers", "lr", "grid", key))] = absurd_value(rng)
        else:
            container[key] = absurd_value(rng)
    return out


def _random_slot(tree: Any, rng: random.Random) -> tuple[Any, Any]:
    """A (container, key) pair somewhere in the nested dicts and lists of ``tree``."""
    container: Any = tree
    key: Any = rng.choice(list(tree)) if tree else "model"
    while rng.random() < 0.7:
        child = container.get(key) if isinstance(container, dict) else container[key]
        if isinstance(child, dict) and child:
            container, key = child, rng.choice(list(child))
        elif isinstance(child, list) and child:
            container, key = child, rng.randrange(len(child))
        else:
            break
    return container, key


def absurd_value(rng: random.Random, depth: int = 0) -> Any:
    """A value of a random type: an absurd number or text, a bool, None, a nested list or
    dict (rarely very deep)."""
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(ABSURD_NUMBERS)
    if kind == 1:
        return rng.choice(ABSURD_TEXTS)
    if kind == 2:
        return rng.choice((True, False, None))
    if kind == 3:
        return rng.uniform(-10, 10)
    if kind == 4:
        return rng.randint(-3, 40)
    if kind == 5:
        return [absurd_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 6:
        return {rng.choice(("a", "kind", "degree", "")): absurd_value(rng, depth + 1)}
    nested: Any = rng.choice((1, "x", 1e999))
    for _ in range(rng.choice((10, 100, 2000))):
        nested = [nested]
    return nested


# The CLI: each command's flags and the values they are tried with. Values name a kind of
# file (FILE_KINDS, resolved by the caller to real paths) or are literal text. Step counts
# stay small so that a case that is accepted still finishes quickly.
FILE_KINDS = ("spec", "bad_spec", "checkpoint", "bad_checkpoint", "input", "bad_input",
              "directory", "missing", "output")
COMMAND_FLAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "compile": {"--target": ("numpy", "triton", "cuda", ""), "--emit": ("ir", "source", "x"),
                "--passes": ("reference", "default", "", "fuse", "lower-basis{eval=x}",
                             "expand-layers,,fuse", "tucker{rank=1e999}"),
                "--training": (), "--print-ir-after-all": (),
                "--print-ir-after": ("fuse", "nothing", ""),
                "--dump-ir": ("output", "directory", "")},
    "run": {"--input": ("input", "bad_input", "missing", "directory", ""),
            "--params": ("checkpoint", "bad_checkpoint", "input", "missing"),
            "--seed": ("0", "-1", "1e999", "x", "99999999999999999999999"),
            "--target": ("numpy", "triton")},
    "train": {"--steps": ("0", "1", "2", "-1", "1e999", "x", ""),
              "--lr": ("0.01", "0", "-1", "1e999", "nan", "1/3", "1e-400", ""),
              "--optimizer": ("adam", "lbfgs", "sgd"),
              "--batch-size": ("1", "0", "-5", "1e999", "7"),
              "--seed": ("0", "-1", "x"), "--init": ("checkpoint", "bad_checkpoint", "missing"),
              "--data": ("sin_sin", "polar5", "input", "bad_input", "missing", "x.csv"),
              "--quiet": ()},
    "analyze": {"--params": ("checkpoint", "bad_checkpoint", "input", "missing")},
    "refine": {"--factor": ("2", "3", "1", "0", "-1", "x", "1e999"),
               "--spec": ("spec", "bad_spec", "missing")},
    "plot": {},
    "passes": {},
}
POSITIONALS: dict[str, tuple[str, ...]] = {
    "compile": ("spec", "bad_spec", "checkpoint", "missing", "directory", ""),
    "run": ("spec", "bad_spec", "checkpoint", "bad_checkpoint", "missing"),
    "train": ("spec", "bad_spec", "missing", "checkpoint"),
    "analyze": ("spec", "bad_spec", "checkpoint", "bad_checkpoint", "missing"),
    "refine": ("checkpoint", "bad_checkpoint", "spec", "missing"),
    "plot": ("checkpoint", "bad_checkpoint", "spec", "missing"),
    "passes": (),
}
NEEDS_OUTPUT = ("refine", "train", "plot")  # without -o these write beside the input


def cli_arguments(rng: random.Random, files: dict[str, str]) -> list[str]:
    """A kancc command line: a command, a positional, zero to three flags with values, and
    usually ``-o`` (``files`` maps FILE_KINDS to paths; "output" should be a fresh path)."""
    command = rng.choice(list(COMMAND_FLAGS))
    argv = [command]
    if POSITIONALS[command] and rng.random() < 0.95:
        argv.append(_cli_value(rng.choice(POSITIONALS[command]), files))
    flags = COMMAND_FLAGS[command]
    for flag in rng.sample(sorted(flags), min(len(flags), rng.randint(0, 3))):
        argv.append(flag)
        if flags[flag]:
            argv.append(_cli_value(rng.choice(flags[flag]), files))
    if command == "train" and "--steps" not in argv:
        argv += ["--steps", "1"]
    if command in NEEDS_OUTPUT or (command != "passes" and rng.random() < 0.5):
        argv += ["-o", rng.choice((files["output"],) * 8 + ("", files["directory"]))]
    if rng.random() < 0.05:
        argv.insert(rng.randrange(len(argv) + 1), rng.choice(("--bogus", "-", "--", "-h")))
    return argv


def _cli_value(value: str, files: dict[str, str]) -> str:
    return files[value] if value in FILE_KINDS else value
