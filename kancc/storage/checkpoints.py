"""Checkpoints: parameters + the spec they belong to + the compiler version, in one .npz.

    param:layers.0.coef ...   the parameters (spec-level layout, (in, out, n_b))
    spec                      the spec as JSON (``spec_to_dict``: exact numbers as "p/q")
    kancc_version             the version that wrote it
    history                   (steps, 3) float64: step, training loss, validation loss (NaN
                              where not measured)

Written atomically, read with ``allow_pickle=False``. Loading into a model checks the spec
and names the first field that differs.

A LoTRA checkpoint ([finetune] method = "lotra") stores the adapter parameters only. Its
spec names the pretrained checkpoint by a path relative to the adapter's folder and by the
SHA-256 of its contents; loading reads the pretrained parameters from there and refuses a
missing file, other contents, or a pretrained model that is not the adapter's model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeGuard

import numpy as np

from kancc.errors import KanccError, SpecError
from kancc.frontend.param_names import stored_parameters
from kancc.spec import Spec, load_spec, spec_to_dict
from kancc.version import VERSION

from .array_files import Arrays, read_arrays
from .atomic_files import write_atomic

PREFIX = "param:"
MAX_STEP = 1e15  # a history's step numbers: a run of more steps is not plausible


@dataclass(frozen=True)
class Checkpoint:
    spec: Spec
    params: dict[str, np.ndarray] = field(repr=False)
    version: str
    history: np.ndarray = field(repr=False)
    path: str = ""


def save_checkpoint(path: str | os.PathLike[str], spec: Spec,
                    params: Mapping[str, np.ndarray], history: np.ndarray | None = None) -> None:
    """Write ``params`` of ``spec``; of a fine-tuned model, with its pretrained checkpoint's
    path (relative to ``path``'s folder) and hash, and for LoTRA the adapter only."""
    if spec.finetune is not None:
        pretrained = pretrained_path(spec)
        where = os.path.relpath(pretrained.resolve(), Path(path).resolve().parent)
        spec = replace(spec, finetune=replace(spec.finetune, pretrained=where,
                                              sha256=file_sha256(pretrained)))
        stored = stored_parameters(spec)
        params = {name: value for name, value in params.items() if name in stored}
    arrays = {PREFIX + name: np.asarray(value) for name, value in params.items()}
    arrays["spec"] = np.array(json.dumps(spec_to_dict(spec), sort_keys=True))
    arrays["kancc_version"] = np.array(VERSION)
    arrays["history"] = np.zeros((0, 3)) if history is None else np.asarray(history, float)
    write_atomic(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def load_checkpoint(path: str | os.PathLike[str], spec: Spec | None = None) -> Checkpoint:
    """Read a checkpoint; with ``spec``, refuse one whose model differs (naming the field).
    A LoTRA checkpoint comes with its pretrained parameters (W_pt) merged in."""
    return checkpoint_of(read_arrays(path, "checkpoint"), path, spec)


def checkpoint_of(arrays: Arrays, path: str | os.PathLike[str],
                  spec: Spec | None = None) -> Checkpoint:
    """``load_checkpoint`` of arrays already read from ``path`` (read_arrays)."""
    checkpoint = _stored_checkpoint(arrays, path)
    stored = checkpoint.spec
    if stored.finetune is not None and stored.finetune.lotra:
        try:
            pretrained = load_pretrained(stored).params
        except KanccError as exc:
            raise KanccError(f"checkpoint {os.fspath(path)}: {exc}") from None
        checkpoint = replace(checkpoint, params={**pretrained, **checkpoint.params})
    if spec is not None:
        check_matches(checkpoint, spec)
    return checkpoint


def _stored_checkpoint(archive: Arrays, path: str | os.PathLike[str]) -> Checkpoint:
    """The arrays of one checkpoint file, checked, as stored (a LoTRA checkpoint: its
    adapters only)."""
    where = f"checkpoint {os.fspath(path)}"
    if not is_checkpoint(archive):
        raise KanccError(f"{where}: not a kancc checkpoint (an .npz with spec and "
                         "kancc_version entries)")
    try:
        raw = json.loads(str(archive["spec"]))
    except (ValueError, RecursionError) as exc:  # JSON that does not parse (or nests absurdly)
        raise KanccError(f"{where}: damaged: its spec is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise KanccError(f"{where}: damaged: its spec is not a table")
    try:
        stored = load_spec(raw)
    except SpecError as exc:
        raise KanccError(f"{where}: damaged: its spec: {exc}") from None
    params = {name[len(PREFIX):]: value for name, value in archive.items()
              if name.startswith(PREFIX)}
    history = archive.get("history", np.zeros((0, 3)))
    version = archive["kancc_version"]
    if version.shape != () or version.dtype.kind != "U" or len(str(version)) > 100:
        raise KanccError(f"{where}: damaged: kancc_version is not a version string")
    if stored.finetune is not None:  # its pretrained path is relative to this file
        stored = replace(stored, origin=os.fspath(path))
    _check_contents(where, stored, params, history)
    return Checkpoint(stored, params, str(version), history.astype(np.float64),
                      os.fspath(path))


def _check_contents(where: str, spec: Spec, params: dict[str, np.ndarray],
                    history: np.ndarray) -> None:
    """Every stored parameter of the spec (LoTRA: the adapter's), of its shape, real and
    finite; a (k, 3) history."""
    expected = stored_parameters(spec)
    if set(params) != set(expected):
        raise KanccError(f"{where}: damaged: parameters {sorted(params)}, its spec needs "
                         f"{sorted(expected)}")
    for name, shape in expected.items():
        value = params[name]
        if value.shape != shape or value.dtype.kind not in "fiu":
            raise KanccError(f"{where}: damaged: {name} is {value.dtype} {value.shape}, its "
                             f"spec needs a real array of shape {shape}")
        if not np.isfinite(value).all():
            raise KanccError(f"{where}: {name} holds NaN or Inf")
        if not fits_dtype(value, spec.dtype):
            raise KanccError(f"{where}: {name} holds values beyond {spec.dtype}'s range")
    if history.ndim != 2 or history.shape[1] != 3 or history.dtype.kind not in "fiu":
        raise KanccError(f"{where}: damaged: history is {history.dtype} {history.shape}, "
                         "expected (steps, 3) numbers")
    steps, losses = history[:, 0].astype(np.float64), history[:, 1:].astype(np.float64)
    if not np.all((steps >= 0) & (steps <= MAX_STEP)):
        raise KanccError(f"{where}: damaged: history steps must lie in 0..{MAX_STEP:.0e}")
    if not np.all(np.isnan(losses) | (losses >= 0)):
        raise KanccError(f"{where}: damaged: history losses must be NaN (not measured) or "
                         "non-negative")


def fits_dtype(value: np.ndarray, dtype: str) -> bool:
    """Whether ``value`` is finite in ``dtype`` (1e300 is not in float32: the model would
    compute with Inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(value.astype(dtype)).all())


def is_checkpoint(arrays: Arrays) -> TypeGuard[dict[str, np.ndarray]]:
    """Whether arrays read from a file are a kancc checkpoint's."""
    return isinstance(arrays, dict) and "spec" in arrays and "kancc_version" in arrays


def model_fields(spec: Spec) -> dict[str, object]:
    """The fields that fix the parameters' meaning, by spec path."""
    fields: dict[str, object] = {"model.layers": list(spec.widths), "model.dtype": spec.dtype}
    for index, basis in enumerate(spec.layers):
        for key in ("kind", "degree", "grid"):
            fields[f"layers[{index}].{key}"] = getattr(basis, key)
        # uniform knots and the same points listed explicitly are the same model
        rows = basis.extended_rows if basis.per_input else basis.grid_rows
        fields[f"layers[{index}].knots"] = "; ".join(
            "[" + ", ".join(str(v) for v in row) + "]" for row in rows)
        fields[f"layers[{index}].tucker"] = list(basis.tucker) if basis.tucker else "none"
        fields[f"layers[{index}].base"] = basis.base
    return fields


def check_matches(checkpoint: Checkpoint, spec: Spec) -> None:
    ours, theirs = model_fields(spec), model_fields(checkpoint.spec)
    chosen = {f"layers[{i}].knots" for i, b in enumerate(spec.layers) if b.auto_domain}
    for key, value in ours.items():
        if key not in chosen and theirs.get(key) != value:
            raise KanccError(f"checkpoint {checkpoint.path} does not match the spec: {key} is "
                             f"{theirs.get(key)} in the checkpoint but {value} in the spec")


def with_fitted_of(spec: Spec, checkpoint: Checkpoint) -> Spec:
    """``spec`` with what training fitted into the checkpoint's: its [scaling] maps and the
    domains of layers the spec leaves "auto". Its parameters mean nothing without them, so
    maps that differ (a spec with maps the checkpoint was trained without, or other ones)
    are refused; no [scaling] in the spec means the checkpoint's."""
    stored = checkpoint.spec
    if spec.scaling is not None and spec.scaling != stored.scaling:
        held = "other [scaling] maps" if stored.scaling is not None else "no [scaling] maps"
        raise KanccError(f"checkpoint {checkpoint.path} does not match the spec: the spec "
                         f"has a [scaling] table, the checkpoint was trained with {held}")
    layers = tuple(theirs if ours.auto_domain else ours
                   for ours, theirs in zip(spec.layers, stored.layers))
    return replace(spec, scaling=stored.scaling, layers=layers)


def pretrained_path(spec: Spec) -> Path:
    """Where a fine-tuning spec's pretrained checkpoint is: relative to the spec's file."""
    assert spec.finetune is not None
    path = Path(spec.finetune.pretrained)
    if not path.is_absolute() and spec.origin is not None:
        path = Path(spec.origin).parent / path
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_pretrained(spec: Spec) -> Checkpoint:
    """The checkpoint ``[finetune] pretrained`` names, checked: it exists, has the pinned
    contents (finetune.sha256), and holds this spec's model with full layers."""
    assert spec.finetune is not None
    path = pretrained_path(spec)
    field_name = "finetune.pretrained"
    if not path.is_file():
        raise KanccError(f"{field_name}: {os.fspath(path)}: no such file")
    pinned = spec.finetune.sha256
    if pinned is not None and file_sha256(path) != pinned:
        raise KanccError(f"{field_name}: {os.fspath(path)} has other contents than the one "
                         f"fine-tuned (sha256 {file_sha256(path)[:12]}..., expected "
                         f"{pinned[:12]}...)")
    # not load_checkpoint: a LoTRA checkpoint naming itself would recurse
    checkpoint = _stored_checkpoint(read_arrays(path, "checkpoint"), path)
    if checkpoint.spec.finetune is not None and checkpoint.spec.finetune.lotra:
        raise KanccError(f"{field_name}: {os.fspath(path)} is itself a LoTRA adapter; "
                         "fine-tune from a full model")
    try:
        check_matches(checkpoint, spec)
    except KanccError as exc:
        raise KanccError(f"{field_name}: {exc}") from None
    return checkpoint
