"""What each ``kancc`` command does, once its arguments are parsed (``kancc.cli``)."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .backends import TARGETS, run_anywhere
from .data import SYNTHETIC, load_data
from .data.metrics import metrics
from .errors import KanccError, SpecError
from .frontend import prolong_params, spec_parameters
from .interop import from_efficient_kan, read_efficient_kan_state, read_pykan_checkpoint
from .ir import to_text
from .passes import PASSES, PIPELINES, DumpOptions
from .passes.options import describe_options, option_docs
from .program import compile
from .spec import Spec, load_spec, spec_to_dict
from .spec.refinement import refine_spec
from .spec.toml_text import spec_to_toml
from .storage import load_checkpoint, save_checkpoint, write_atomic, write_text_atomic
from .storage.array_files import Arrays, read_arrays
from .storage.checkpoints import checkpoint_of, fits_dtype, is_checkpoint, with_fitted_of
from .tools.analyze import analyze
from .tools.differential_check import differential_check, header
from .tools.domain_check import warn_outside_domain
from .tools.gpu_report import gpu_report
from .tools.plots import plot_checkpoint
from .tools.quantile_knots import quantile_refinement
from .tools.unfactorized import is_factorized
from .training import train

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def compile_command(args: argparse.Namespace) -> int:
    dump = DumpOptions(print_after_all=args.print_ir_after_all,
                       print_after=frozenset(args.print_ir_after),
                       print_before=frozenset(args.print_ir_before),
                       dump_dir=Path(args.dump_ir) if args.dump_ir else None)
    spec = load_checkpoint(args.spec).spec if args.spec.endswith(".npz") else args.spec
    program = compile(spec, args.target, training=args.training, jet=args.jet,
                      passes=args.passes, dump=dump)
    text = to_text(program.ir) if args.emit == "ir" else program.source
    if args.output is not None:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output} ({args.emit}, target {args.target})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    spec, params = _model(args)
    width = spec.widths[0]
    if spec.pde is not None and spec.pde.level_set is not None:
        width = len(spec.pde.variables)  # the PDE's variables: forward appends |level_set|
    x = _input_rows(args.input, width)
    run_anywhere(args.target)  # after the inputs are checked: it may load torch and triton
    program = compile(spec, args.target)
    if params is None:
        params = program.init_params(0 if args.seed is None else args.seed)
    y = program.forward(params, x)
    if args.output is not None:
        write_atomic(args.output, lambda f: np.save(f, y))
        print(f"wrote {args.output}: outputs of shape {y.shape}", file=sys.stderr)
    else:
        print(np.array2string(y, precision=6, threshold=200))
    return EXIT_OK


def _model(args: argparse.Namespace) -> tuple[Spec, dict[str, np.ndarray] | None]:
    """The spec to run and its parameters: a checkpoint's own (``run CKPT``), those of
    ``--params`` (a checkpoint of this spec, or an .npz of named arrays), or None for seeded
    random ones."""
    if args.spec.endswith(".npz"):
        for flag, value in (("--params", args.params), ("--seed", args.seed)):
            if value is not None:
                raise KanccError(f"{flag}: the checkpoint {args.spec} holds the parameters")
        checkpoint = load_checkpoint(args.spec)
        return checkpoint.spec, checkpoint.params
    spec = load_spec(args.spec)
    if args.params is None:
        return spec, None
    arrays = read_arrays(args.params, "--params")
    if is_checkpoint(arrays):
        checkpoint = checkpoint_of(arrays, args.params, spec)
        return with_fitted_of(spec, checkpoint), checkpoint.params
    return spec, _named_params(args.params, arrays, spec)


def _input_rows(path: str, width: int) -> np.ndarray:
    """--input: one real array of shape (batch, width) (a vector for one input); 0 rows
    give an empty output."""
    x = read_arrays(path, "--input")
    if not isinstance(x, np.ndarray):
        raise KanccError(f"--input {path}: expected one array (.npy), got an archive")
    if x.ndim == 1 and width == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != width or not _is_real(x):
        raise KanccError(f"--input {path}: expected a real array of shape (batch, {width}), "
                         f"got {x.dtype} {x.shape}")
    return x


def _is_real(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.number) and \
        not np.issubdtype(array.dtype, np.complexfloating)


def _named_params(path: str, arrays: Arrays, spec: Spec) -> dict[str, np.ndarray]:
    """The parameters of an .npz archive of named arrays, checked against the model's."""
    if not isinstance(arrays, dict):
        raise KanccError(f"--params {path}: expected an .npz archive of named arrays (or a "
                         "checkpoint)")
    shapes = {d.name: d.shape for d in spec_parameters(spec)}
    missing, extra = sorted(set(shapes) - set(arrays)), sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise KanccError(f"--params {path}: missing {missing or 'nothing'}, "
                         f"unexpected {extra or 'nothing'}")
    params = {}
    for name, shape in shapes.items():
        value = arrays[name]
        if value.shape != shape or not _is_real(value):
            raise KanccError(f"--params {path}: {name} is {value.dtype} {value.shape}, the "
                             f"model needs a real array of shape {shape}")
        if not fits_dtype(value, spec.dtype):
            raise KanccError(f"--params {path}: {name} holds NaN, Inf or values beyond "
                             f"{spec.dtype}'s range")
        params[name] = value.astype(spec.dtype)
    return params


def eval_command(args: argparse.Namespace) -> int:
    if not args.checkpoint.endswith(".npz"):
        raise KanccError(f"{args.checkpoint}: eval takes a checkpoint (the .npz kancc train "
                         "writes), which holds the model and its trained parameters")
    checkpoint = load_checkpoint(args.checkpoint)
    spec = checkpoint.spec
    data = load_data(args.data, spec.widths[0], spec.widths[-1],
                     labels=spec.train.loss == "cross_entropy")
    run_anywhere(args.target)  # after the inputs are checked: it may load torch and triton
    prediction = compile(spec, args.target).forward(checkpoint.params, data.x)
    warn_outside_domain(spec, checkpoint.params, data.x, args.data)
    scores = metrics(spec.train.loss, prediction, data.y)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{spec.name} on {args.data} ({data.n} rows):")
        for name, value in scores.items():
            print(f"  {name:<14} {value:.6g}")
    return EXIT_OK


def check_command(args: argparse.Namespace) -> int:
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise KanccError(f"--targets: unknown target(s) {', '.join(unknown)}")
    for target in targets:
        run_anywhere(target)
    if args.samples < 1:
        raise KanccError(f"--samples must be at least 1, got {args.samples}")
    spec = load_spec(args.spec)
    print(header(spec.name, args.samples), flush=True)
    report = differential_check(spec, samples=args.samples, seed=args.seed, targets=targets,
                                on_result=lambda c: print(c.line(), flush=True))
    print("\n".join(report.closing_lines()))
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def train_command(args: argparse.Namespace) -> int:
    spec, params = _training_start(args)
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
        spec = replace(_with_overrides(raw, given), origin=spec.origin)
    output = args.output if args.output is not None else f"{spec.name}.ckpt.npz"
    run_anywhere(args.target)
    result = train(spec, args.data, target=args.target, params=params, checkpoint=output,
                   log=None if args.quiet else sys.stderr)
    print(f"{spec.name}: {result.message}")
    return EXIT_OK if result.status == "done" else EXIT_CHECK_FAILED


def _training_start(args: argparse.Namespace) -> tuple[Spec, dict[str, np.ndarray] | None]:
    """The spec to train and its starting parameters: a spec (with --init's checkpoint, or
    seeded), or a checkpoint (its spec, continued from its parameters)."""
    if args.spec.endswith(".npz"):
        if args.init is not None:
            raise KanccError(f"--init: the checkpoint {args.spec} holds the parameters")
        checkpoint = load_checkpoint(args.spec)
        data = checkpoint.spec.data
        if args.data is None and data is not None and data.source not in SYNTHETIC:
            raise KanccError(f"{args.spec}: give --data: the checkpoint does not know the "
                             f"folder its spec read {data.source} from")
        return checkpoint.spec, checkpoint.params
    spec = load_spec(args.spec)
    if args.init is None:
        return spec, None
    start = load_checkpoint(args.init, spec)
    return with_fitted_of(spec, start), start.params


def _with_overrides(raw: dict[str, Any], given: dict[str, object]) -> Spec:
    """The spec ``raw`` (holding the command line's values); an error in one of them names
    its flag."""
    try:
        return load_spec(raw)
    except SpecError as exc:
        key = exc.path.removeprefix("train.")
        if key not in given:
            raise
        raise SpecError(exc.path, f"{exc.message} (from --{key.replace('_', '-')})") from None


def _cli_value(text: str) -> object:
    """A command-line override as the spec checker expects it: an int when it is one, else
    the text (numbers such as "1e-3" or "1/3" are parsed exactly by the checker)."""
    try:
        return int(text)
    except ValueError:
        return text


def plot_command(args: argparse.Namespace) -> int:
    written = plot_checkpoint(load_checkpoint(args.checkpoint), args.output)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def analyze_command(args: argparse.Namespace) -> int:
    if args.batch is not None and args.gpu is None:
        raise KanccError("--batch needs --gpu (the batch of a predicted GPU time)")
    if args.gpu is not None:
        if args.plot or args.params:
            raise KanccError("--gpu predicts kernel times; --plot and --params do not apply")
        spec = load_checkpoint(args.spec).spec if args.spec.endswith(".npz") else \
            load_spec(args.spec)
        batch = 256 if args.batch is None else args.batch
        sys.stdout.write(gpu_report(spec, args.gpu.upper(), batch))
        return EXIT_OK
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


def refine_command(args: argparse.Namespace) -> int:
    checkpoint = load_checkpoint(args.checkpoint)
    coarse = checkpoint.spec
    if is_factorized(coarse):
        raise KanccError(f"{args.checkpoint}: refine needs full B-spline layers; this model "
                         "has Tucker layers or LoTRA adapters")
    if (args.data is not None or args.knots is not None) and args.at is None:
        raise KanccError("--data and --knots go with --at quantiles")
    if args.spec:
        fine = replace(load_spec(args.spec), train=coarse.train, data=coarse.data,
                       scaling=coarse.scaling)
    elif args.at == "quantiles":
        if args.data is None:
            raise KanccError("--at quantiles needs --data: the rows whose layer inputs place "
                             "the knots")
        if args.knots is not None and args.knots < 1:
            raise KanccError(f"--knots must be at least 1, got {args.knots}")
        data = load_data(args.data, coarse.widths[0], coarse.widths[-1],
                         labels=coarse.train.loss == "cross_entropy")
        fine = quantile_refinement(coarse, checkpoint.params, data.x, args.knots)
    else:
        fine = refine_spec(coarse, 2 if args.factor is None else args.factor)
    params = prolong_params(coarse, fine, checkpoint.params)
    save_checkpoint(args.output, fine, params, checkpoint.history)
    grids = "/".join(str(b.grid) for b in fine.layers)
    print(f"wrote {args.output}: grids {grids}")
    return EXIT_OK


def import_command(args: argparse.Namespace) -> int:
    name = re.sub(r"\W", "_", Path(args.source).name.split(".")[0]) or "imported"
    name = name if name[0].isalpha() else f"model_{name}"
    if args.peer == "efficient-kan":
        spec, params = from_efficient_kan(read_efficient_kan_state(args.source), name)
    else:
        spec, params = read_pykan_checkpoint(args.source)
    spec_path = args.spec_out or str(Path(args.output).with_suffix("").with_suffix("")) + ".toml"
    existed = Path(spec_path).exists()
    write_text_atomic(spec_path, spec_to_toml(spec))
    try:
        save_checkpoint(args.output, spec, params)
    except BaseException:
        if not existed:  # nothing half-written: a spec without its checkpoint goes too
            Path(spec_path).unlink(missing_ok=True)
        raise
    grids = "/".join(f"{b.grid} cells degree {b.degree}" for b in spec.layers)
    print(f"wrote {args.output} and {spec_path}: {spec.name} {list(spec.widths)}, {grids}")
    return EXIT_OK


def passes_command(args: argparse.Namespace) -> int:
    out = io.StringIO()
    out.write("passes:\n")
    for p in PASSES.values():
        options = describe_options(p.options)
        out.write(f"  {p.name:<16} {p.summary}{'  ' + options if options else ''}\n")
        for name, doc in option_docs(p.options):
            out.write(f"  {'':<16}   {name}: {doc}\n")
    out.write("pipelines:\n")
    for name, text in PIPELINES.items():
        out.write(f"  {name:<16} {text}\n")
    sys.stdout.write(out.getvalue())
    return EXIT_OK
