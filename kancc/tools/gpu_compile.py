"""Compile Triton kernels for real GPUs on a machine without one: the compile check.

Triton's interpreter accepts much that its compiler rejects and says nothing about
registers, so every kernel kancc emits is also compiled, as it is launched, for sm_80 (A100)
and sm_90a (H100/H200), and its resource use read from ptxas:

1. ``record_launches`` runs a workload under the interpreter with each ``@triton.jit``
   kernel it can see wrapped, and records every launch's argument kinds (``*fp32``,
   ``i32``, ...) and constexpr values: exactly what the compiler specializes on.
2. ``compile_launches`` compiles each distinct launch with ``triton.compile`` in child
   processes (the interpreter is chosen per process, and a child without it gets real
   ``JITFunction``s), then runs the bundled ``ptxas -v`` on the PTX (registers, stack
   frame, spill stores and loads: the cubin's STACK cannot tell a spill from a frame, so
   ptxas runs a second time, after Triton's own run) and scans the PTX for ``mma``/``wgmma``
   (tensor cores).

Triton's own on-disk cache (``~/.triton/cache``) makes a second run cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from kancc.errors import KanccError
from kancc.storage import import_file

ARCHITECTURES = (80, 90)  # sm_80 (A100), sm_90a (H100/H200)
POINTER_KINDS = {"float32": "*fp32", "float64": "*fp64", "int32": "*i32", "int64": "*i64",
                 "bool": "*i1"}
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
LAUNCH_OPTIONS = ("num_warps", "num_stages")
MAX_JOBS = 8
REGISTERS = re.compile(r"Used (\d+) registers")


@dataclass(frozen=True)
class Launch:
    """One kernel as launched: where its source is (a file or an importable module), its
    name there, its arguments' kinds and its constexpr values."""

    source: str
    kernel: str
    signature: tuple[tuple[str, str], ...]
    constexprs: tuple[tuple[str, Any], ...]
    options: tuple[tuple[str, Any], ...] = ()  # launch options: num_warps, num_stages
    aligned: tuple[str, ...] = ()  # arguments a launch specializes as divisible by 16

    @property
    def label(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.constexprs)
        return f"{self.kernel}({values})"


@dataclass(frozen=True)
class Compiled:
    """What the compiler made of one launch for one architecture."""

    launch: Launch
    arch: int
    error: str = ""
    registers: int = 0
    stack: int = 0  # bytes of stack frame
    spill_stores: int = 0  # bytes
    spill_loads: int = 0
    tensor_cores: str = ""  # the tensor-core instruction in the PTX: "wgmma", "mma" or ""

    @property
    def spills(self) -> bool:
        return self.spill_stores > 0 or self.spill_loads > 0


def _argument_kind(value: Any) -> str:
    """The compiler's name for the kind of one runtime argument."""
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -2**31 <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    dtype = str(getattr(value, "dtype", "")).removeprefix("torch.")
    if dtype in POINTER_KINDS:
        return POINTER_KINDS[dtype]
    raise KanccError(f"cannot name the kind of a kernel argument of type {type(value).__name__}")


def _is_one(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 1


def _divisible_by_16(value: Any) -> bool:
    """What a real launch specializes on (Triton's get_int/tensor_specialization): an int,
    or a tensor's address, divisible by 16."""
    if isinstance(value, (bool, float)):
        return False
    if isinstance(value, int):
        return value % 16 == 0
    return hasattr(value, "data_ptr") and value.data_ptr() % 16 == 0


class _Recorder:
    """Stands in for one interpreted kernel: records each launch, then runs it."""

    def __init__(self, kernel: Any, source: str, name: str, launches: list[Launch],
                 execute: bool) -> None:
        self.kernel, self.source, self.name = kernel, source, name
        self.launches, self.execute = launches, execute

    def __getitem__(self, grid: Any) -> Any:
        def launch(*args: Any, **kwargs: Any) -> Any:
            self.launches.append(self._launch(args, kwargs))
            return self.kernel[grid](*args, **kwargs) if self.execute else None
        return launch

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.kernel(*args, **kwargs)  # a device function called from a kernel

    def _launch(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Launch:
        import inspect

        kwargs = dict(kwargs)  # the launch itself still gets its options
        options = tuple((k, kwargs.pop(k)) for k in LAUNCH_OPTIONS if k in kwargs)
        fn = self.kernel.fn
        bound = inspect.signature(fn).bind(*args, **kwargs)
        signature, constexprs, aligned = [], [], []
        for name, parameter in inspect.signature(fn).parameters.items():
            value = bound.arguments[name]
            if "constexpr" in str(parameter.annotation) or _is_one(value):
                signature.append((name, "constexpr"))  # a launch makes an int 1 a constant
                constexprs.append((name, value))
                continue
            signature.append((name, _argument_kind(value)))
            if _divisible_by_16(value):
                aligned.append(name)
        return Launch(self.source, self.name, tuple(signature), tuple(constexprs), options,
                      tuple(aligned))


@contextlib.contextmanager
def record_launches(module: ModuleType, source: str | None = None, execute: bool = True
                    ) -> Iterator[list[Launch]]:
    """Within the block, every launch of a kernel of ``module`` (a module attribute that is
    an interpreted ``@triton.jit`` function) is recorded into the yielded list. ``source``
    is how the compiling child finds the module: its file (the default) or its name.
    ``execute=False`` records without running the kernels (their outputs stay as allocated:
    for shapes the interpreter would take minutes over)."""
    from triton.runtime.interpreter import InterpretedFunction

    where = source or str(module.__file__)
    launches: list[Launch] = []
    kernels = {name: value for name, value in vars(module).items()
               if isinstance(value, InterpretedFunction)}
    if not kernels:
        raise KanccError(f"{module.__name__} has no interpreted Triton kernels: recording "
                         "needs Triton's interpreter (kancc.use_triton_interpreter())")
    try:
        for name, kernel in kernels.items():
            setattr(module, name, _Recorder(kernel, where, name, launches, execute))
        yield launches
    finally:
        for name, kernel in kernels.items():
            setattr(module, name, kernel)


def distinct(launches: Sequence[Launch]) -> list[Launch]:
    """The launches once each, in first-seen order."""
    return list(dict.fromkeys(launches))


def compile_launches(launches: Sequence[Launch], archs: Sequence[int] = ARCHITECTURES,
                     jobs: int | None = None, timeout_s: float = 1800.0) -> list[Compiled]:
    """Compile each distinct launch for each architecture in ``jobs`` child processes (no
    interpreter there; default: one per CPU, at most MAX_JOBS: each child holds torch and
    triton, a few hundred MB) and read its resource use."""
    todo = distinct(launches)
    jobs = max(1, min(jobs or MAX_JOBS, os.cpu_count() or 1, len(todo)))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    command = [sys.executable, "-c",
               "from kancc.tools.gpu_compile import compile_from_stdin; compile_from_stdin()"]
    children = []
    for job in range(jobs):
        share = todo[job::jobs]
        with tempfile.TemporaryFile("w+") as request:  # read whole before the next starts
            json.dump({"launches": [asdict(launch) for launch in share],
                       "archs": list(archs)}, request)
            request.seek(0)
            children.append((share, subprocess.Popen(
                command, stdin=request, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env)))
    results = []
    for share, child in children:
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for _, other in children:
                other.kill()
            raise KanccError(f"compiling took over {timeout_s:.0f} s; stopped") from None
        if child.returncode != 0:
            raise KanccError(f"the compiling process failed:\n{err[-4000:]}")
        for item in json.loads(out):
            results.append(Compiled(share[item.pop("index")], **item))
    return results


def compile_from_stdin() -> None:
    """The child's side of ``compile_launches``: JSON in on stdin, JSON out on stdout."""
    request = json.loads(sys.stdin.read())
    results = []
    for index, raw in enumerate(request["launches"]):
        launch = Launch(raw["source"], raw["kernel"], tuple(map(tuple, raw["signature"])),
                        tuple(map(tuple, raw["constexprs"])), tuple(map(tuple, raw["options"])),
                        tuple(raw["aligned"]))
        for arch in request["archs"]:
            results.append({"index": index, "arch": arch, **_compile_one(launch, arch)})
    sys.stdout.write(json.dumps(results))


def _kernel_of(launch: Launch) -> Any:
    """The kernel, as a real ``JITFunction`` (this process has no interpreter)."""
    import importlib

    if launch.source.endswith(".py"):
        path = Path(launch.source)
        return getattr(import_file(path.stem, path), launch.kernel)
    return getattr(importlib.import_module(launch.source), launch.kernel)


def _compile_one(launch: Launch, arch: int) -> dict[str, Any]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    try:
        kernel = _kernel_of(launch)
        aligned = {(kernel.arg_names.index(name),): [["tt.divisibility", 16]]
                   for name in launch.aligned}
        source = ASTSource(fn=kernel, signature=dict(launch.signature),
                           constexprs=dict(launch.constexprs), attrs=aligned)
        compiled = triton.compile(source, target=GPUTarget("cuda", arch, 32),
                                  options=dict(launch.options))
    except Exception as exc:  # the compiler's own error is the finding
        return {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
    ptx = compiled.asm["ptx"]
    return {**_ptxas_usage(ptx, arch), "tensor_cores": _tensor_core_instruction(ptx)}


def _tensor_core_instruction(ptx: str) -> str:
    """The PTX's tensor-core instruction: wgmma (Hopper's warpgroup MMA), mma (mma.sync,
    sm_80 and later) or the empty string."""
    if re.search(r"\bwgmma\.", ptx):
        return "wgmma"
    return "mma" if re.search(r"\bmma\.", ptx) else ""


def _ptxas_usage(ptx: str, arch: int) -> dict[str, int]:
    """Registers, stack frame and spill bytes of the one kernel in ``ptx``, from ``ptxas -v``
    (Triton's bundled ptxas, with the flags Triton passes it). A stack frame without spills
    is not a spill: libdevice's sin and cos keep their range reduction there."""
    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    name = "sm_90a" if arch == 90 else f"sm_{arch}"
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "kernel.ptx"
        source.write_text(ptx)
        log = subprocess.run([str(tool), "-v", "--regAllocOptLevel=2", f"--gpu-name={name}",
                              str(source), "-o", str(Path(folder) / "kernel.cubin")],
                             capture_output=True, text=True, check=True).stderr
    frame, registers = FRAME.search(log), REGISTERS.search(log)
    if frame is None or registers is None:
        raise KanccError(f"ptxas -v printed no resource lines:\n{log}")
    stack, stores, loads = (int(g) for g in frame.groups())
    return {"registers": int(registers.group(1)), "stack": stack, "spill_stores": stores,
            "spill_loads": loads}
