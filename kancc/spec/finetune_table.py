"""The optional ``[finetune]`` table of a spec: start from a pretrained checkpoint, with
low tensor-rank adaptation (LoTRA) or full fine-tuning.

    [finetune]
    pretrained = "pre.ckpt.npz"   # a checkpoint of the same model, relative to the spec's folder
    method = "lotra"              # W = W_pt + core x1 U1 x2 U2 x3 U3, W_pt frozen; or "full"
    tucker = 0.25                 # lotra: adapter ranks ceil(cr * (in, out, n_b)) per layer
    lr = [1e-2, 2e-4, 1e-2, 1e-3] # lotra, optional: rates of (core, U1, U2, U3) for every
                                  # layer; default (Theorem 2): train.lr * (1, 1/in, 1, 1/n_b)
    layers = [1]                  # lotra, optional: the layers with an adapter (default all);
                                  # the others are fine-tuned in full
    sha256 = "..."                # optional: refuse a pretrained file with other contents

"full" fine-tunes every coefficient from the pretrained values (the LoTRA paper's
baseline); the model tables must describe the pretrained model (checked field by field when
training).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kancc.numerics.hosvd import COMPONENTS

from .checker import Checker
from .keys import (
    ArrayOf,
    Choice,
    HexDigest,
    Integer,
    Number,
    Text,
    key,
    read_table,
    table_to_dict,
)

FINETUNE_METHODS = ("lotra", "full")
LOTRA_ONLY_KEYS = ("tucker", "lr", "layers")
MAX_LAYERS = 64  # of a model (load.py checks the indices against the model's depth)


@dataclass(frozen=True)
class FinetuneSpec:
    pretrained: str = key("", Text(), "the pretrained checkpoint, relative to the spec's "
                                      "folder",
                          required="missing: give the pretrained checkpoint (.ckpt.npz) to "
                                   "start from")
    method: str = key("lotra", Choice(FINETUNE_METHODS),
                      "lotra (frozen W_pt plus a Tucker adapter) or full")
    tucker: Fraction | None = key(None, Number(Fraction(0), Fraction(1), low_open=True,
                                               why=" (the adapter's compression ratio cr)"),
                                  "lotra: the adapter's compression ratio cr; ranks "
                                  "ceil(cr * (in, out, n_b))")
    lr: tuple[Fraction, Fraction, Fraction, Fraction] | None = key(
        None, ArrayOf(Number(Fraction(0), low_open=True), "rates (core, U1, U2, U3)",
                      length=len(COMPONENTS)),
        "lotra: rates of (core, U1, U2, U3); default train.lr * (1, 1/in, 1, 1/n_b)")
    layers: tuple[int, ...] | None = key(
        None, ArrayOf(Integer(0), "layer indices", max_length=MAX_LAYERS,
                      empty="give at least one layer, or leave the key out (every layer)"),
        "lotra: the layers that get an adapter (default every layer); the others are "
        "fine-tuned in full (the LoTRA paper adapts only the hidden layer of its PDE models)")
    sha256: str | None = key(None, HexDigest(64), "refuse a pretrained file with other "
                                                     "contents")

    @property
    def lotra(self) -> bool:
        return self.method == "lotra"

    def adapts(self, layer: int) -> bool:
        """Whether layer ``layer`` holds a LoTRA adapter (its W_pt frozen)."""
        return self.lotra and (self.layers is None or layer in self.layers)

    @property
    def cr(self) -> Fraction | None:
        """The adapter's compression ratio (the key ``tucker``)."""
        return self.tucker


def parse_finetune(check: Checker, raw: object) -> FinetuneSpec:
    values = read_table(check, raw, "finetune", FinetuneSpec)
    if values.get("method", "lotra") == "lotra":
        if "tucker" not in values:
            raise check.fail("finetune.tucker", "missing: give the adapter's compression "
                                                "ratio cr in (0, 1], e.g. 0.25")
    else:
        for name in LOTRA_ONLY_KEYS:
            if name in values:
                raise check.fail(f"finetune.{name}", 'applies to method = "lotra" only')
    return FinetuneSpec(**values)


def finetune_to_dict(spec: FinetuneSpec) -> dict[str, Any]:
    return table_to_dict(spec)
