"""Fused attention (one ATTENTION op): its QKᵀ and PV GEMMs on the array, the softmax on the vector unit
overlapped with them (the op takes the larger of the two), and FlashAttention-style K/V streaming."""

from __future__ import annotations

from ..hardware import Arch
from ..ir import Gemm, Op
from . import vector


def gemms(op: Op) -> list[Gemm]:
    """The op's two GEMMs: QKᵀ, then PV."""
    return [op.gemm, op.pv_gemm]


def softmax_cycles(op: Op, arch: Arch) -> int:
    """Cycles of the in-kernel softmax on the core's vector unit."""
    vu = arch.core.vector
    return vector.cycles(op.vector_elems, vu.cost("softmax"), vu.lanes)


def kv_passes(q_bytes: int, kv_bytes: int, ifmap_budget: int, filter_budget: int) -> int:
    """Times K and V are streamed: once per block of queries that fits the ifmap buffer, unless one head's K and
    V (``kv_bytes``) fit the filter buffer and stay."""
    return 1 if kv_bytes <= filter_budget else max(1, -(-q_bytes // max(ifmap_budget, 1)))
