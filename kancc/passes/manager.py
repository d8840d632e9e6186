"""PassManager: run a pipeline, verify between passes, record and dump every stage.

Dumps follow LLVM/MLIR's flags: ``print_after_all``, ``print_after`` / ``print_before`` (pass
names), ``dump_dir`` (one numbered ``.kir`` file per stage, ``00-input.kir`` first).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TextIO

from kancc.errors import KanccError, PassError
from kancc.ir import Graph, VerifyError, parse, to_text, verify
from kancc.storage.atomic_files import write_text_atomic

from .pass_types import ParamMap, Params, PassResult, identity
from .registry import Step

Stage = tuple[str, str]  # (pass label, IR text after it); the first is ("input", ...)


@dataclass(frozen=True)
class DumpOptions:
    print_after_all: bool = False
    print_after: frozenset[str] = frozenset()
    print_before: frozenset[str] = frozenset()
    dump_dir: Path | None = None
    stream: TextIO | None = None  # default: sys.stderr at the time of writing


@dataclass(frozen=True)
class PipelineResult:
    graph: Graph
    stage_graphs: tuple[tuple[str, Graph], ...]  # ("input", graph), then one per pass
    param_maps: tuple[ParamMap, ...] = field(default=())
    inverse_maps: tuple[ParamMap | None, ...] = field(default=())

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """The IR text of every stage, rendered on first use."""
        return tuple((label, to_text(graph)) for label, graph in self.stage_graphs)

    def map_params(self, params: Params) -> Params:
        """Carry spec-level parameters through every pass's param map, in order."""
        for param_map in self.param_maps:
            params = param_map(params)
        return params

    def unmap_params(self, params: Params) -> Params:
        """The inverse of ``map_params``: program parameters back at the spec level."""
        labels = [label for label, _ in self.stage_graphs[1:]]
        for label, inverse in reversed(list(zip(labels, self.inverse_maps))):
            if inverse is None:
                raise KanccError(f"pass {label!r} changes the parameters irreversibly; "
                                 "its program's parameters have no spec-level form")
            params = inverse(params)
        return params


class PassManager:
    def __init__(self, steps: Sequence[Step], *, dump: DumpOptions | None = None,
                 check_roundtrip: bool = False) -> None:
        self.steps = tuple(steps)
        self.dump = dump or DumpOptions()
        self.check_roundtrip = check_roundtrip
        known = {s.pass_.name for s in self.steps}
        for name in sorted(self.dump.print_after | self.dump.print_before):
            if name not in known:
                raise KanccError(f"--print-ir-after/--print-ir-before {name!r}: no such pass in "
                                 f"the pipeline ({', '.join(s.label for s in self.steps)})")

    def run(self, graph: Graph) -> PipelineResult:
        try:
            verify(graph)
        except VerifyError as exc:
            raise PassError(f"the input graph does not verify: {exc}") from None
        stages: list[tuple[str, Graph]] = [("input", graph)]
        param_maps, inverse_maps = [], []
        self._write_stage(0, "input", graph)
        for index, step in enumerate(self.steps, start=1):
            name = step.pass_.name
            if name in self.dump.print_before:
                self._print(f"IR before {step.label} ({index}/{len(self.steps)})", graph)
            result = self._run_step(index, step, graph)
            graph = result.graph
            stages.append((step.label, graph))
            param_maps.append(result.param_map)
            inverse_maps.append(identity if result.param_map is identity else result.inverse)
            if self.dump.print_after_all or name in self.dump.print_after:
                self._print(f"IR after {step.label} ({index}/{len(self.steps)})", graph)
            self._write_stage(index, name, graph)
        return PipelineResult(graph, tuple(stages), tuple(param_maps), tuple(inverse_maps))

    def _where(self, index: int) -> str:
        before = ", ".join(s.label for s in self.steps[:index - 1]) or "nothing"
        label = self.steps[index - 1].label
        return f"pass '{label}' ({index} of {len(self.steps)}; after {before})"

    def _run_step(self, index: int, step: Step, graph: Graph) -> PassResult:
        try:
            result = step.pass_.run(graph, step.settings())
        except KanccError as exc:
            raise PassError(f"{self._where(index)} failed: {exc}") from None
        except Exception as exc:
            exc.add_note(f"kancc: raised in {self._where(index)}")
            raise
        try:
            verify(result.graph)
        except VerifyError as exc:
            raise PassError(f"{self._where(index)} produced IR that does not verify: {exc}") \
                from None
        if self.check_roundtrip and parse(to_text(result.graph)) != result.graph:
            raise PassError(f"{self._where(index)}: IR text does not parse back to the same graph")
        return result

    def _print(self, title: str, graph: Graph) -> None:
        stream = self.dump.stream or sys.stderr
        stream.write(f"// ----- {title} -----\n{to_text(graph)}")
        stream.flush()

    def _write_stage(self, index: int, name: str, graph: Graph) -> None:
        if self.dump.dump_dir is not None:
            write_text_atomic(Path(self.dump.dump_dir) / f"{index:02d}-{name}.kir", to_text(graph))
