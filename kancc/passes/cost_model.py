"""A roofline cost model of the fused-layer kernels: bytes, FLOPs and predicted time on a
named GPU, for the gather and the dense-tile ("dot") strategies (ir/schedule_attrs.py), next to
the dense GEMM of the same contraction. The schedule pass asks it which strategy each
kernel gets; ``kancc analyze --gpu`` prints it.

Assumptions (DESIGN.md 4; every number is a prediction until a GPU measures it):
- A kernel takes max(HBM bytes / bandwidth, compute), compute being the busiest SM's
  work: programs are dealt to SMs in waves (ceil(programs / SMs)), and one program's time
  is the largest of its tensor-core FLOPs, CUDA-core FLOPs and gathered loads at one SM's
  share of the chip's rate (these overlap; their sum would be the pessimistic bound).
- Gathers hit L1/L2 (coefficients are read once from HBM); an SM serves 32 gathered
  lane-loads per cycle (one warp-wide load instruction).
- float32 dot tiles use tf32x3 (three TF32 products): a third of the TF32 rate.
- Launch latency (2-5 us a kernel) is not modeled; CUDA graphs hide it.
- The dense GEMM is [B, in*n_b] @ [in*n_b, out] with the basis already on-chip: its FLOPs
  at the tensor rate of the dtype, its bytes those of coefficients, input and output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kancc.ir.schedule_attrs import (
    FORWARD_PROGRAMS,
    MAX_DOT_NB,
    TARGET_PROGRAMS,
    dot_tile,
    gather_tile,
    pow2_at_least,
)

LANE_LOADS_PER_CYCLE = 32


@dataclass(frozen=True)
class Gpu:
    name: str
    sms: int
    clock_hz: float
    bandwidth: float  # HBM bytes/s
    fp32: float  # CUDA-core FLOP/s
    tf32: float  # tensor-core FLOP/s (dense)
    fp64: float
    fp64_tensor: float

    def tensor_rate(self, dtype: str) -> float:
        """FLOP/s of a dot tile in ``dtype`` (float32: tf32x3 = three TF32 products)."""
        return self.tf32 / 3 if dtype == "f32" else self.fp64_tensor

    def cuda_rate(self, dtype: str) -> float:
        return self.fp32 if dtype == "f32" else self.fp64


GPUS = {g.name: g for g in (
    Gpu("H100", 132, 1.98e9, 3.35e12, 67e12, 495e12, 34e12, 67e12),
    Gpu("H200", 132, 1.98e9, 4.8e12, 67e12, 495e12, 34e12, 67e12),
    Gpu("A100", 108, 1.41e9, 2.0e12, 19.5e12, 156e12, 9.7e12, 19.5e12),
)}


@dataclass(frozen=True)
class Layer:
    """What the cost of a fused layer's kernels depends on."""

    batch: int
    n_in: int
    n_out: int
    nb: int
    r: int  # live basis functions per input
    dtype: str  # "f32" | "f64"

    @property
    def size(self) -> int:
        return 4 if self.dtype == "f32" else 8


@dataclass(frozen=True)
class Estimate:
    programs: int
    bytes: float
    flops: float  # useful FLOPs: 2 B in r out
    seconds: float
    bound: str  # what limits it: "memory", "tensor", "fp32", "loads"


@dataclass(frozen=True)
class _Work:
    """One program's work and the kernel's HBM traffic."""

    programs: int
    tensor_flops: float
    cuda_flops: float
    lane_loads: float
    hbm_bytes: float


def _predict(gpu: Gpu, layer: Layer, work: _Work) -> Estimate:
    waves = math.ceil(work.programs / gpu.sms)
    per_sm = {"tensor": work.tensor_flops / (gpu.tensor_rate(layer.dtype) / gpu.sms),
              "fp32": work.cuda_flops / (gpu.cuda_rate(layer.dtype) / gpu.sms),
              "loads": work.lane_loads / (LANE_LOADS_PER_CYCLE * gpu.clock_hz)}
    limit = max(per_sm, key=lambda key: per_sm[key])
    compute = waves * per_sm[limit]
    memory = work.hbm_bytes / gpu.bandwidth
    useful = 2.0 * layer.batch * layer.n_in * layer.r * layer.n_out
    bound = "memory" if memory >= compute else limit
    return Estimate(work.programs, work.hbm_bytes, useful, max(memory, compute), bound)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _row_splits(batch: int, block_b: int, programs: int) -> int:
    """Row slices of a vjp_coef launch (the wrappers' formula)."""
    splits = max(1, min(_cdiv(batch, block_b), _cdiv(TARGET_PROGRAMS, programs)))
    per = _cdiv(_cdiv(batch, splits), block_b) * block_b
    return max(1, _cdiv(batch, per))


def _input_splits(layer: Layer, bb: int, bp: int, bq: int) -> int:
    """Programs sharing one output tile's input sum in the dot forward (its wrapper's
    formula, backends/triton/dot_kernels.py, re-rounded to whole input blocks as there)."""
    b, p = layer.batch, layer.n_in
    tiles = _cdiv(b, bb) * _cdiv(layer.n_out, bq)
    splits = max(1, min(_cdiv(p, bp * 4), FORWARD_PROGRAMS // tiles, p * layer.nb // (4 * b)))
    return _cdiv(p, _cdiv(_cdiv(p, splits), bp) * bp)


def gather_work(layer: Layer, kernel: str) -> _Work:
    b, p, q, r, s = layer.batch, layer.n_in, layer.n_out, layer.r, layer.size
    bb, bp, bq, basis = gather_tile(kernel, p, q, layer.nb, r, layer.dtype)
    coef = p * q * layer.nb * s
    if kernel == "layer":
        per = bb * bq * p * r
        return _Work(_cdiv(b, bb) * _cdiv(q, bq), 0, 2 * per, per, coef + (b * p + b * q) * s)
    if kernel == "vjp_input":
        per = bb * bp * q * r
        return _Work(_cdiv(b, bb) * _cdiv(p, bp), 0, 2 * per, per + bb * q,
                     coef + (2 * b * p + b * q) * s)
    tiles = p * _cdiv(q, bq) * _cdiv(layer.nb, basis)
    splits = _row_splits(b, bb, tiles)
    rows = _cdiv(_cdiv(b, splits), bb) * bb
    return _Work(tiles * splits, 0, 2 * rows * bq * basis, rows * (bq + 1),
                 coef * splits + (b * p + b * q) * s)


def dot_work(layer: Layer, kernel: str) -> _Work:
    b, p, q, r, s = layer.batch, layer.n_in, layer.n_out, layer.r, layer.size
    bb, bp, bq, nb_pad = dot_tile(kernel, p, q, layer.nb, layer.dtype)
    coef = p * q * layer.nb * s
    k_padded = _cdiv(p, bp) * bp * nb_pad
    spread = r * nb_pad  # CUDA-core operations to place one input's r values in its tile
    if kernel == "layer":
        tiles = _cdiv(b, bb) * _cdiv(q, bq)
        splits = _input_splits(layer, bb, bp, bq)
        k_split = _cdiv(k_padded, splits)
        return _Work(tiles * splits, 2.0 * bb * k_split * bq, bb * k_split * r,
                     k_split * bq, coef + (b * p + b * q * (2 * splits - 1)) * s)
    if kernel == "vjp_input":
        q_padded = _cdiv(q, bq) * bq
        return _Work(_cdiv(b, bb) * _cdiv(p, bp), 2.0 * bb * bp * nb_pad * q_padded,
                     bb * bp * (spread + 2 * nb_pad), bp * nb_pad * q_padded,
                     coef + (2 * b * p + b * q) * s)
    tiles = _cdiv(p, bp) * _cdiv(q, bq)
    splits = _row_splits(b, bb, tiles)
    rows = _cdiv(_cdiv(b, splits), bb) * bb
    return _Work(tiles * splits, 2.0 * bp * nb_pad * bq * rows, rows * bp * spread,
                 rows * (bp + bq), coef * splits + (b * p + b * q) * s)


WORK = {"gather": gather_work, "dot": dot_work}


def estimate(gpu: Gpu, layer: Layer, kernel: str, strategy: str) -> Estimate:
    return _predict(gpu, layer, WORK[strategy](layer, kernel))


def dense_gemm_seconds(gpu: Gpu, layer: Layer, kernel: str) -> float:
    """The roofline of the kernel's contraction as one dense GEMM (basis on-chip)."""
    b, p, q, nb, s = layer.batch, layer.n_in, layer.n_out, layer.nb, layer.size
    flops = 2.0 * b * p * nb * q
    moved = {"layer": p * q * nb + b * p + b * q, "vjp_input": p * q * nb + 2 * b * p + b * q,
             "vjp_coef": p * q * nb + b * p + b * q}[kernel] * s
    rate = gpu.tf32 if layer.dtype == "f32" else gpu.fp64_tensor
    return max(flops / rate, moved / gpu.bandwidth)


def choose(layer: Layer, kernel: str, gpu: str) -> str:
    """The strategy with the smaller predicted time (gather on a tie), with two rules the
    compile check set: gather wherever the padded basis exceeds MAX_DOT_NB (dot tiles spill
    there), and dot for every other vjp_coef (the gather vjp_coef's broadcast-and-reduce
    tile spills 4-16 bytes on sm_80 at some small shapes, whatever the warp count; it is
    CUDA-core work the dot kernel does on tensor cores)."""
    if pow2_at_least(layer.nb) > MAX_DOT_NB:
        return "gather"
    if kernel == "vjp_coef":
        return "dot"
    times = {s: estimate(GPUS[gpu], layer, kernel, s).seconds for s in ("gather", "dot")}
    return "dot" if times["dot"] < times["gather"] else "gather"
