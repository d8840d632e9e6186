"""The optional ``[finetune]`` table of a spec: start from a pretrained checkpoint (seed 004).

    [finetune]
    pretrained = "pre.ckpt.npz"   # a checkpoint of the same model, relative to the spec's folder
    method = "lotra"              # W = W_pt + core x1 U1 x2 U2 x3 U3, W_pt frozen; or "full"
    tucker = 0.25                 # lotra: adapter ranks ceil(cr * (in, out, n_b)) per layer
    lr = [1e-2, 2e-4, 1e-2, 1e-3] # lotra, optional: rates of (core, U1, U2, U3) for every
                                  # layer; default (Theorem 2): train.lr * (1, 1/in, 1, 1/n_b)
    sha256 = "..."                # optional: refuse a pretrained file with other contents

"full" fine-tunes every coefficient from the pretrained values (the seed's baseline); the
model tables must describe the pretrained model (checked field by field when training).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

FINETUNE_KEYS = ("pretrained", "method", "tucker", "lr", "sha256")
METHODS = ("lotra", "full")
COMPONENTS = ("core", "u1", "u2", "u3")


@dataclass(frozen=True)
class FinetuneSpec:
    pretrained: str  # as written; resolved against the spec's folder (kancc.finetune)
    method: str = "lotra"
    cr: Fraction | None = None  # lotra: the adapter's compression ratio
    lr: tuple[Fraction, Fraction, Fraction, Fraction] | None = None  # (core, U1, U2, U3)
    sha256: str | None = None

    @property
    def lotra(self) -> bool:
        return self.method == "lotra"


def parse_finetune(check: Any, raw: object) -> FinetuneSpec:
    table: Mapping[str, Any] = check.table(raw, "finetune", FINETUNE_KEYS)
    pretrained = table.get("pretrained")
    if not isinstance(pretrained, str) or not pretrained.strip():
        raise check.fail("finetune.pretrained", "missing: give the pretrained checkpoint "
                                                "(.ckpt.npz) to start from")
    method = check.choice(table.get("method", "lotra"), "finetune.method", METHODS)
    cr = lr = None
    if method == "lotra":
        if "tucker" not in table:
            raise check.fail("finetune.tucker", "missing: give the adapter's compression "
                                                "ratio cr in (0, 1], e.g. 0.25")
        cr = check.number(table["tucker"], "finetune.tucker")
        if not 0 < cr <= 1:
            raise check.fail("finetune.tucker", f"cr must be in (0, 1], got {float(cr):g}")
        if "lr" in table:
            rates = check.array(table["lr"], "finetune.lr")
            if len(rates) != len(COMPONENTS):
                raise check.fail("finetune.lr", "give 4 rates (core, U1, U2, U3), got "
                                                f"{len(rates)}")
            lr = tuple(check.number(v, f"finetune.lr[{i}]") for i, v in enumerate(rates))
            for i, rate in enumerate(lr):
                if rate <= 0:
                    raise check.fail(f"finetune.lr[{i}]", f"must be positive, got {rate}")
    else:
        for key in ("tucker", "lr"):
            if key in table:
                raise check.fail(f"finetune.{key}", 'applies to method = "lotra" only')
    sha256 = table.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or len(sha256) != 64 or
                               any(c not in "0123456789abcdef" for c in sha256)):
        raise check.fail("finetune.sha256", "must be 64 lowercase hex digits")
    return FinetuneSpec(pretrained, method, cr, lr, sha256)  # type: ignore[arg-type]


def finetune_to_dict(spec: FinetuneSpec) -> dict[str, Any]:
    table: dict[str, Any] = {"pretrained": spec.pretrained, "method": spec.method}
    if spec.cr is not None:
        table["tucker"] = str(spec.cr)
    if spec.lr is not None:
        table["lr"] = [str(v) for v in spec.lr]
    if spec.sha256 is not None:
        table["sha256"] = spec.sha256
    return table
