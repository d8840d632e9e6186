"""The ``kancc`` command.

    kancc compile SPEC [--target numpy|triton] [--emit ir|source] [-o PATH] [--passes P]
                       [--training] [--print-ir-after-all] [--print-ir-after NAME]
                       [--print-ir-before NAME] [--dump-ir DIR]
    kancc run SPEC --input X.npy [--params P.npz | --seed N] [--target T] [-o Y.npy]
    kancc check SPEC [--samples N] [--seed N] [--targets numpy,triton]
    kancc train SPEC [--data SOURCE] [--target T] [--optimizer adam|lbfgs] [--steps N]
                     [--lr LR] [--batch-size N] [--seed N] [--init CHECKPOINT] [-o CHECKPOINT]
                     [--quiet]
    kancc plot CHECKPOINT [-o DIR]
    kancc analyze SPEC|CKPT [--plot DIR] [--params CKPT]
    kancc refine CHECKPOINT [--factor N | --spec FINE] -o CHECKPOINT
    kancc passes

Exit status: 0 ok, 1 a check failed or training diverged, 2 bad input (one line on stderr,
no traceback).
Output files are written atomically.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np

from .errors import KanccError, KanccWarning
from .ir import to_text
from .passes import PASSES, PIPELINES, DumpOptions
from .program import Program, compile
from .spec import load_spec
from .storage import write_atomic, write_text_atomic

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2, like every other
    bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"kancc: error: {message} (see kancc --help)\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kancc", description="KAN compiler: spec -> KAN IR -> NumPy or "
                     "Triton code.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)

    compile_ = commands.add_parser("compile", help="compile a spec; emit IR or source")
    compile_.add_argument("spec", help="model spec (.toml)")
    compile_.add_argument("--target", choices=("numpy", "triton"), default="numpy")
    compile_.add_argument("--emit", choices=("ir", "source"), default="source",
                          help="what to write: the final IR text or the generated module")
    compile_.add_argument("-o", "--output", help="write here (atomically) instead of stdout")
    compile_.add_argument("--passes", help=f"pipeline name ({', '.join(PIPELINES)}) or pass "
                          "list like 'expand-layers,lower-basis{eval=cox-de-boor}' (default: "
                          "inference, or training with --training)")
    compile_.add_argument("--training", action="store_true",
                          help="compile the loss graph of the spec's [train] table and its "
                               "gradients (value_and_grad)")
    compile_.add_argument("--print-ir-after-all", action="store_true",
                          help="print the IR after every pass (to stderr)")
    compile_.add_argument("--print-ir-after", action="append", default=[], metavar="PASS")
    compile_.add_argument("--print-ir-before", action="append", default=[], metavar="PASS")
    compile_.add_argument("--dump-ir", metavar="DIR", help="write each stage to DIR/NN-pass.kir")

    run = commands.add_parser("run", help="compile a spec and evaluate it on inputs")
    run.add_argument("spec")
    run.add_argument("--input", required=True, help=".npy array of shape (batch, in)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--params", help=".npz of parameters (default: init_params(--seed))")
    source.add_argument("--seed", type=_seed, default=0, help="seed of the random parameters")
    run.add_argument("--target", choices=("numpy", "triton"), default="numpy")
    run.add_argument("-o", "--output", help="write outputs to this .npy instead of printing")

    check = commands.add_parser("check", help="differential checks: backends, pipelines, "
                                "float32, scipy oracle")
    check.add_argument("spec")
    check.add_argument("--samples", type=int, default=257)
    check.add_argument("--seed", type=_seed, default=0)
    check.add_argument("--targets", default="numpy,triton",
                       help="comma-separated: numpy,triton (numpy always runs)")

    train = commands.add_parser("train", help="train a model as its [train] table says; "
                                "write a checkpoint")
    train.add_argument("spec")
    train.add_argument("--data", help="data file (.npz/.npy/.csv) or synthetic target name "
                                      "(default: the spec's [data] table)")
    train.add_argument("--target", choices=("numpy", "triton"), default="numpy")
    train.add_argument("--optimizer", choices=("adam", "lbfgs"), help="overrides train.optimizer")
    train.add_argument("--steps", help="overrides train.steps")
    train.add_argument("--lr", help="overrides train.lr")
    train.add_argument("--batch-size", help="overrides train.batch_size (adam)")
    train.add_argument("--seed", help="overrides train.seed")
    train.add_argument("--init", metavar="CHECKPOINT", help="start from these parameters")
    train.add_argument("-o", "--output", help="checkpoint to write (default: NAME.ckpt.npz)")
    train.add_argument("--quiet", action="store_true", help="no progress output")

    plot = commands.add_parser("plot", help="PNGs of a checkpoint's edge functions and loss")
    plot.add_argument("checkpoint")
    plot.add_argument("-o", "--output", default=".", help="folder for the PNGs (default: .)")

    analyze = commands.add_parser("analyze", help="per layer: the stencil A and the spectrum "
                                  "of A^T A (seed 000)")
    analyze.add_argument("spec", help="a spec, or a checkpoint (.npz: its model and its "
                                      "coefficients' singular values)")
    analyze.add_argument("--plot", metavar="DIR", help="also save Figure 1's eigen-plots here")
    analyze.add_argument("--params", metavar="CKPT",
                         help="a checkpoint of this model: also print the mode-wise singular "
                              "values of its coefficient tensors (seed 004)")

    refine = commands.add_parser("refine", help="prolong a checkpoint onto a finer grid "
                                 "(exact: the model's function is unchanged)")
    refine.add_argument("checkpoint")
    how = refine.add_mutually_exclusive_group()
    how.add_argument("--factor", type=int, default=None, help="split every cell (default 2)")
    how.add_argument("--spec", help="a spec whose grids refine the checkpoint's (any knots)")
    refine.add_argument("-o", "--output", required=True, help="the refined checkpoint")

    commands.add_parser("passes", help="list the registered passes and pipelines")
    return parser


def _compile(args: argparse.Namespace) -> int:

    dump = DumpOptions(print_after_all=args.print_ir_after_all,
                       print_after=frozenset(args.print_ir_after),
                       print_before=frozenset(args.print_ir_before),
                       dump_dir=Path(args.dump_ir) if args.dump_ir else None)
    program = compile(args.spec, args.target, training=args.training, passes=args.passes,
                      dump=dump)
    text = to_text(program.ir) if args.emit == "ir" else program.source
    if args.output:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output} ({args.emit}, target {args.target})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _load_array(path: str, what: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise KanccError(f"{what} {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise KanccError(f"{what} {path}: not a readable .npy/.npz file ({exc})") from None
    return array


def _run(args: argparse.Namespace) -> int:
    program = compile(args.spec, args.target)
    x = _load_array(args.input, "--input")
    if not isinstance(x, np.ndarray):
        raise KanccError(f"--input {args.input}: expected one array (.npy), got an archive")
    width = program.spec.widths[0]
    if x.ndim == 1 and width == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != width or not _is_real(x):
        raise KanccError(f"--input {args.input}: expected a real array of shape (batch, {width}), "
                         f"got {x.dtype} {x.shape}")
    params = _load_params(args.params, program) if args.params else \
        program.init_params(args.seed)
    y = program.forward(params, x)
    if args.output:
        write_atomic(args.output, lambda f: np.save(f, y))
        print(f"wrote {args.output}: outputs of shape {y.shape}", file=sys.stderr)
    else:
        print(np.array2string(y, precision=6, threshold=200))
    return EXIT_OK


def _is_real(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.number) and \
        not np.issubdtype(array.dtype, np.complexfloating)


def _load_params(path: str, program: Program) -> dict[str, np.ndarray]:
    """The parameters of an .npz archive, checked against the model's declarations."""
    archive = _load_array(path, "--params")
    if isinstance(archive, np.ndarray):
        raise KanccError(f"--params {path}: expected an .npz archive of named arrays")
    shapes = {p.name: tuple(p.type.shape) for p in program.input_ir.params}
    with archive:
        names = set(archive.files)
        missing, extra = sorted(set(shapes) - names), sorted(names - set(shapes))
        if missing or extra:
            raise KanccError(f"--params {path}: missing {missing or 'nothing'}, "
                             f"unexpected {extra or 'nothing'}")
        params = {}
        for name, shape in shapes.items():
            try:
                value = archive[name]
            except ValueError as exc:  # e.g. an object array, which needs pickle
                raise KanccError(f"--params {path}: {name}: {exc}") from None
            if value.shape != shape or not _is_real(value):
                raise KanccError(f"--params {path}: {name} is {value.dtype} {value.shape}, the "
                                 f"model needs a real array of shape {shape}")
            params[name] = value.astype(program.spec.dtype)
    return params


def _check(args: argparse.Namespace) -> int:
    from .tools.differential_check import differential_check, header

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    unknown = sorted(set(targets) - {"numpy", "triton"})
    if unknown:
        raise KanccError(f"--targets: unknown target(s) {', '.join(unknown)}")
    if args.samples < 1:
        raise KanccError(f"--samples must be at least 1, got {args.samples}")
    spec = load_spec(args.spec)
    print(header(spec.name, args.samples), flush=True)
    report = differential_check(spec, samples=args.samples, seed=args.seed, targets=targets,
                                on_result=lambda c: print(c.line(), flush=True))
    print("\n".join(report.closing_lines()))
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _train(args: argparse.Namespace) -> int:
    from .spec import spec_to_dict
    from .storage import load_checkpoint
    from .training import train

    spec = load_spec(args.spec)
    overrides = {"optimizer": args.optimizer, "steps": args.steps, "lr": args.lr,
                 "batch_size": args.batch_size, "seed": args.seed}
    given = {k: v for k, v in overrides.items() if v is not None}
    tuned = sorted(set(given) - {"seed"})
    if tuned and spec.train.method == "newton-kaczmarz":
        flag = "--" + tuned[0].replace("_", "-")
        raise KanccError(f"{flag}: applies to gradient training; this spec trains by "
                         "newton-kaczmarz (set [train.kaczmarz] instead)")
    if "steps" in given and spec.train.multilevel is not None:
        raise KanccError("--steps: the spec's [train.multilevel] epochs set the steps of "
                         "every level; edit those instead")
    if given:
        raw = spec_to_dict(spec)
        for key, value in given.items():
            raw["train"][key] = _cli_value(value)
        if raw["train"].get("optimizer") == "lbfgs":  # adam-only keys the spec may carry
            for key in ("batch_size", "lr"):
                if key not in given:
                    raw["train"].pop(key, None)
        spec = replace(load_spec(raw), origin=spec.origin)
    params = load_checkpoint(args.init, spec).params if args.init else None
    output = args.output or f"{spec.name}.ckpt.npz"
    result = train(spec, args.data, target=args.target, params=params, checkpoint=output,
                   log=None if args.quiet else sys.stderr)
    print(f"{spec.name}: {result.message}; final loss {result.loss:.4e}"
          + (f", validation {result.validation_loss:.4e}"
             if result.validation_loss == result.validation_loss else ""))
    return EXIT_OK if result.status == "done" else EXIT_CHECK_FAILED


def _cli_value(text: str) -> object:
    """A command-line override as the spec checker expects it: an int when it is one, else
    the text (numbers such as "1e-3" or "1/3" are parsed exactly by the checker)."""
    try:
        return int(text)
    except ValueError:
        return text


def _plot(args: argparse.Namespace) -> int:
    from .storage import load_checkpoint
    from .tools.plots import plot_checkpoint

    written = plot_checkpoint(load_checkpoint(args.checkpoint), args.output)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _analyze(args: argparse.Namespace) -> int:
    from .storage import load_checkpoint
    from .tools.analyze import analyze

    params: dict[str, np.ndarray] | None = None
    if args.spec.endswith(".npz"):  # a checkpoint: its own model and coefficients
        if args.params:
            raise KanccError("--params: the checkpoint given as SPEC already holds them")
        checkpoint = load_checkpoint(args.spec)
        spec, params = checkpoint.spec, checkpoint.params
    else:
        spec = load_spec(args.spec)
        if args.params:
            params = load_checkpoint(args.params, spec).params
    text, written = analyze(spec, args.plot, params)
    sys.stdout.write(text)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _refine(args: argparse.Namespace) -> int:
    from .frontend import prolong_params
    from .spec.refinement import refine_spec
    from .storage import load_checkpoint, save_checkpoint
    from .tools.unfactorized import is_factorized

    checkpoint = load_checkpoint(args.checkpoint)
    coarse = checkpoint.spec
    if is_factorized(coarse):
        raise KanccError(f"{args.checkpoint}: refine needs full B-spline layers; this model "
                         "has Tucker layers or LoTRA adapters")
    if args.spec:
        fine = replace(load_spec(args.spec), train=coarse.train, data=coarse.data)
    else:
        fine = refine_spec(coarse, 2 if args.factor is None else args.factor)
    params = prolong_params(coarse, fine, checkpoint.params)
    save_checkpoint(args.output, fine, params, checkpoint.history)
    grids = "/".join(str(b.grid) for b in fine.layers)
    print(f"wrote {args.output}: grids {grids}")
    return EXIT_OK


def _passes(args: argparse.Namespace) -> int:
    out = io.StringIO()
    out.write("passes:\n")
    for p in PASSES.values():
        options = " ".join(f"{{{name}={'|'.join(values)}}}" for name, values in p.options)
        out.write(f"  {p.name:<16} {p.summary}{'  ' + options if options else ''}\n")
    out.write("pipelines:\n")
    for name, text in PIPELINES.items():
        out.write(f"  {name:<16} {text}\n")
    sys.stdout.write(out.getvalue())
    return EXIT_OK


COMMANDS = {"compile": _compile, "run": _run, "check": _check, "train": _train, "plot": _plot,
            "analyze": _analyze, "refine": _refine, "passes": _passes}


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    text = str(message).strip().replace("\n", " | ")
    print(f"kancc: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", KanccWarning)
        warnings.showwarning = _show_warning
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # the reader went away (kancc ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CHECK_FAILED
    except KanccError as exc:
        message = str(exc).strip().replace("\n", " | ")
    except OSError as exc:
        message = f"{exc.filename or ''}: {exc.strerror or exc}"
    except MemoryError:
        message = "out of memory: the model or its inputs are too large for this machine"
    print(f"kancc: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
