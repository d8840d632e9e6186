"""The ``kancc`` command.

    kancc compile SPEC|CKPT [--target numpy|torch|triton] [--emit ir|source] [-o PATH] [--passes P]
                       [--training | --jet 1|2] [--print-ir-after-all] [--print-ir-after NAME]
                       [--print-ir-before NAME] [--dump-ir DIR]
    kancc run SPEC|CKPT --input X.npy [--params P.npz | --seed N] [--target T] [-o Y.npy]
    kancc eval CKPT --data FILE [--json] [--target T]
    kancc check SPEC [--samples N] [--seed N] [--targets numpy,triton]
    kancc train SPEC|CKPT [--data SOURCE] [--target T] [--optimizer adam|lbfgs] [--steps N]
                     [--lr LR] [--batch-size N] [--seed N] [--init CHECKPOINT] [-o CHECKPOINT]
                     [--quiet]
    kancc plot CHECKPOINT [-o DIR]
    kancc analyze SPEC|CKPT [--plot DIR] [--params CKPT] [--gpu NAME [--batch B]]
    kancc refine CHECKPOINT [--factor N | --spec FINE | --at quantiles --data FILE
                            [--knots N]] -o CHECKPOINT
    kancc import efficient-kan STATE_DICT | pykan CKPT_PATH -o CKPT [--spec-out SPEC]
    kancc passes

Exit status: 0 ok, 1 a check failed or training diverged, 2 bad input (one line on stderr,
no traceback). Output files are written atomically. A Triton target on a machine without a
CUDA device runs in Triton's interpreter (``kancc.backends.run_anywhere``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from .backends import TARGETS
from .cli_commands import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    analyze_command,
    check_command,
    compile_command,
    eval_command,
    import_command,
    passes_command,
    plot_command,
    refine_command,
    run_command,
    train_command,
)
from .errors import KanccError, KanccWarning, SlowTargetWarning
from .passes import PIPELINES


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


def _file_name(text: str) -> str:
    """A file or folder to read or write: an empty name is refused, not taken as "none
    given"."""
    if not text:
        raise argparse.ArgumentTypeError("must name a file, got an empty name")
    return text


def _target(parser: argparse.ArgumentParser) -> None:
    described = "; ".join(f"{name}: {target.summary}" for name, target in TARGETS.items())
    parser.add_argument("--target", choices=tuple(TARGETS), default="numpy", help=described)


def _compile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="model spec (.toml), or a checkpoint (.npz: its spec, "
                                     "with what training fitted)")
    _target(parser)
    parser.add_argument("--emit", choices=("ir", "source"), default="source",
                        help="what to write: the final IR text or the generated module")
    parser.add_argument("-o", "--output", type=_file_name,
                        help="write here (atomically) instead of stdout")
    parser.add_argument("--passes", help=f"pipeline name ({', '.join(PIPELINES)}) or pass "
                        "list like 'expand-layers,lower-basis{eval=cox-de-boor}' (default: "
                        "inference, or training with --training)")
    parser.add_argument("--training", action="store_true",
                        help="compile the loss graph of the spec's [train] table and its "
                             "gradients (value_and_grad)")
    parser.add_argument("--jet", type=int, choices=(1, 2), default=0,
                        help="compile the model's jet: its input derivatives of order 1 or 2 "
                             "(the jet pass)")
    parser.add_argument("--print-ir-after-all", action="store_true",
                        help="print the IR after every pass (to stderr)")
    parser.add_argument("--print-ir-after", action="append", default=[], metavar="PASS")
    parser.add_argument("--print-ir-before", action="append", default=[], metavar="PASS")
    parser.add_argument("--dump-ir", metavar="DIR", type=_file_name,
                        help="write each stage to DIR/NN-pass.kir")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a spec (.toml), or a checkpoint (.npz: its model and its "
                                     "parameters)")
    parser.add_argument("--input", required=True, type=_file_name,
                        help=".npy array of shape (batch, in)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--params", type=_file_name, help="a checkpoint of this spec, or an "
                        ".npz of named parameters (default: init_params(--seed))")
    source.add_argument("--seed", type=_seed, help="seed of the random parameters (default 0)")
    _target(parser)
    parser.add_argument("-o", "--output", type=_file_name,
                        help="write outputs to this .npy instead of printing")


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint (kancc train -o)")
    parser.add_argument("--data", required=True, type=_file_name,
                        help="labelled rows (.npz/.npy/.csv, laid out as for training)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object of the metrics instead of a table")
    _target(parser)


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec")
    parser.add_argument("--samples", type=int, default=257)
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS),
                        help=f"comma-separated: {','.join(TARGETS)} (numpy always runs)")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a spec (.toml), or a checkpoint (.npz) to continue "
                                     "training: its model, from its parameters")
    parser.add_argument("--data", type=_file_name,
                        help="data file (.npz/.npy/.csv) or synthetic target name (default: "
                             "the spec's [data] table)")
    _target(parser)
    parser.add_argument("--optimizer", choices=("adam", "lbfgs"),
                        help="overrides train.optimizer")
    parser.add_argument("--steps", help="overrides train.steps")
    parser.add_argument("--lr", help="overrides train.lr")
    parser.add_argument("--batch-size", help="overrides train.batch_size (adam)")
    parser.add_argument("--seed", help="overrides train.seed")
    parser.add_argument("--init", metavar="CHECKPOINT", type=_file_name,
                        help="start from these parameters")
    parser.add_argument("-o", "--output", type=_file_name,
                        help="checkpoint to write (default: NAME.ckpt.npz)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint")
    parser.add_argument("-o", "--output", default=".", type=_file_name,
                        help="folder for the PNGs (default: .)")


def _analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a spec, or a checkpoint (.npz: its model and its "
                                     "coefficients' singular values)")
    parser.add_argument("--plot", metavar="DIR", help="also save Figure 1's eigen-plots here")
    parser.add_argument("--params", metavar="CKPT", type=_file_name,
                        help="a checkpoint of this model: also print the mode-wise singular "
                             "values of its coefficient tensors (Tucker structure)")
    parser.add_argument("--gpu", metavar="NAME", help="instead: per Triton kernel, bytes, "
                        "FLOPs and the predicted time on this GPU (H100, H200, A100)")
    parser.add_argument("--batch", type=int, default=None,
                        help="the batch of the --gpu prediction (default 256)")


def _refine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--factor", type=int, default=None, help="split every cell (default 2)")
    how.add_argument("--spec", help="a spec whose grids refine the checkpoint's (any knots)")
    how.add_argument("--at", choices=("quantiles",), help="insert knots at the quantiles of "
                     "each layer's inputs on --data (exact knot insertion)")
    parser.add_argument("--data", type=_file_name, help="with --at quantiles: the rows "
                        "(.npz/.npy/.csv) whose layer inputs place the knots")
    parser.add_argument("--knots", type=int, default=None, help="with --at quantiles: knots "
                        "to insert per layer (default: as many as it has cells)")
    parser.add_argument("-o", "--output", required=True, type=_file_name,
                        help="the refined checkpoint")


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("peer", choices=("efficient-kan", "pykan"))
    parser.add_argument("source", type=_file_name, help="efficient-kan: a state_dict file "
                        "(torch.save(model.state_dict(), FILE)); pykan: the path prefix "
                        "saveckpt(PATH) wrote to, or the folder holding one checkpoint")
    parser.add_argument("-o", "--output", required=True, type=_file_name,
                        help="the kancc checkpoint to write")
    parser.add_argument("--spec-out", type=_file_name,
                        help="the spec to write (default: the checkpoint's name, .toml)")


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "compile": Command("compile a spec; emit IR or source", _compile_arguments,
                       compile_command),
    "run": Command("compile a spec and evaluate it on inputs", _run_arguments, run_command),
    "eval": Command("metrics of a trained checkpoint on labelled data: mse, rmse, r2 "
                    "(regression) or accuracy, cross_entropy (classification)",
                    _eval_arguments, eval_command),
    "check": Command("differential checks: backends, pipelines, float32, scipy oracle",
                     _check_arguments, check_command),
    "train": Command("train a model as its [train] table says; write a checkpoint",
                     _train_arguments, train_command),
    "plot": Command("PNGs of a checkpoint's edge functions and loss", _plot_arguments,
                    plot_command),
    "analyze": Command("per layer: the stencil A and the spectrum of A^T A (the change of "
                       "basis of the multilevel paper)", _analyze_arguments, analyze_command),
    "refine": Command("prolong a checkpoint onto a finer grid (exact: the model's function "
                      "is unchanged)", _refine_arguments, refine_command),
    "import": Command("a pykan or efficient-kan model as a kancc spec and checkpoint "
                      "(exact inside its grid)", _import_arguments, import_command),
    "passes": Command("list the registered passes and pipelines", _no_arguments,
                      passes_command),
}


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kancc", description="KAN compiler: spec -> KAN IR -> NumPy or "
                     "Triton code.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    for name, command in COMMANDS.items():
        command.arguments(commands.add_parser(name, help=command.help))
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    text = str(message).strip().replace("\n", " | ")
    print(f"kancc: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", KanccWarning)
        warnings.simplefilter("once", SlowTargetWarning)
        warnings.showwarning = _show_warning
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command].run(args)
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
