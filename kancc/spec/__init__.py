"""kancc.spec: model specs (TOML text or a dict) -> a validated, typed, exact ``Spec``.

One module per table ([model] in load.py, [basis] and [[layers]], [train], [data],
[finetune]); each declares its keys once (``keys.py``), reads them through the one
``Checker`` and writes them back next to the reader. ``refinement.py`` makes finer specs.
"""

from .basis_table import BasisSpec
from .data_table import DataSpec
from .finetune_table import FinetuneSpec
from .load import Spec, SpecSource, load_spec, loads_spec, spec_to_dict
from .train_table import KaczmarzSpec, MultilevelSpec, TrainSpec

__all__ = ["BasisSpec", "DataSpec", "FinetuneSpec", "KaczmarzSpec", "MultilevelSpec", "Spec",
           "SpecSource", "TrainSpec", "load_spec", "loads_spec", "spec_to_dict"]
