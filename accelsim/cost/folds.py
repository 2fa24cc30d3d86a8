"""SCALE-Sim's analytical compute model of a systolic array: one function, parametrised by a dataflow table.

A GEMM with output M×N and reduction K on an R×C array maps S_r×S_c operand dimensions onto the array and
streams T in time:

    os: (S_r, S_c, T) = (M, N, K)      ws: (K, N, M)      is: (K, M, N)

It runs F_r = ⌈S_r/R⌉ × F_c = ⌈S_c/C⌉ folds one after another; each fold costs

    τ = R + C + T − 2            (os: skew in, T MACs per PE, skew out)
    τ = 2R + C + T − 2           (ws, is: R extra cycles to preload the stationary operand)

whether full or not, and SCALE-Sim reports a layer's compute cycles as F_r·F_c·τ − 1 (its cycle counter
starts at zero). These equal SCALE-Sim 3.0's COMPUTE_REPORT "Total Cycles" with no memory stalls. A batch of
``count`` such GEMMs (a batched matmul, a convolution's groups) runs as ``count`` layers one after another; on an
array that overlaps the next fold's preload (``overlap``) its GEMMs are more folds of one pipeline
(:func:`run_cycles`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Dataflow:
    """How a dataflow maps (M, N, K) onto array rows, array columns and time, and its per-fold preload."""

    spatial_rows: str  # which of "m", "n", "k" runs along the array rows
    spatial_cols: str
    temporal: str
    preload_rows: int  # 1: the stationary operand is preloaded (R cycles per fold); 0: none
    stationary: str  # operand held in the PEs: "a" (ifmap), "b" (filter) or "c" (ofmap)


DATAFLOWS: dict[str, Dataflow] = {
    "os": Dataflow("m", "n", "k", 0, "c"),
    "ws": Dataflow("k", "n", "m", 1, "b"),
    "is": Dataflow("k", "m", "n", 1, "a"),
}


@dataclass(frozen=True, slots=True)
class Folds:
    """A GEMM's mapping on an array: fold counts, cycles per fold and total compute cycles (SCALE-Sim's)."""

    rows: int  # F_r
    cols: int  # F_c
    fold_cycles: int  # τ (with overlap: the steady-state cycles per fold)
    cycles: int  # F_r·F_c·τ − 1 (SCALE-Sim)
    mapping_efficiency: float  # mean fraction of PEs holding work over the folds


@lru_cache(maxsize=65536)
def folds(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, overlap: bool = False) -> Folds:
    """SCALE-Sim's fold count and compute cycles of an m×n (reduction k) GEMM on a rows×cols array.

    With ``overlap`` (an array that double-buffers its stationary operand, as the TPU's matrix unit does with
    weights) the next fold's R-cycle preload runs while the current fold streams, so folds start max(T, R) apart
    after the first preload. The last fold has no next fold to wait for: it streams its T rows and skews and
    drains (R + C − 2). The layer takes R (first preload) + (F − 1)·max(T, R) + T + R + C − 2 − 1 cycles for ws/is,
    and (F − 1)·max(T, R) + T + R + C − 2 − 1 for os, where F = F_r·F_c: os preloads nothing, but a fold's R×C
    outputs leave by the C column ports one row a cycle, R cycles of drain the next fold's T overlaps only where
    T ≥ R (256×256×1 on 32×32: 63·max(1, 32) + 1 + 32 + 32 − 3 = 2,078, not 64·1 + 61 = 125). One fold (F = 1)
    has nothing to overlap and costs SCALE-Sim's τ − 1 (ws 2R + C + T − 3), so the overlap never makes a GEMM
    slower (probe p169 #1). SCALE-Sim models no such overlap (``overlap=False``).
    """
    if min(m, n, k, rows, cols) <= 0:
        raise ValueError(f"GEMM and array sizes must be > 0 (got m={m}, n={n}, k={k}, rows={rows}, cols={cols})")
    df = DATAFLOWS[dataflow]
    dims = {"m": m, "n": n, "k": k}
    s_r, s_c, t = dims[df.spatial_rows], dims[df.spatial_cols], dims[df.temporal]
    f_r = -(-s_r // rows)
    f_c = -(-s_c // cols)
    tau = rows * df.preload_rows + rows + cols + t - 2
    efficiency = (s_r * s_c) / (f_r * rows * f_c * cols)
    if not overlap:
        return Folds(f_r, f_c, tau, f_r * f_c * tau - 1, efficiency)
    preload = rows * df.preload_rows
    steady = max(t, rows)  # ws/is: the next fold's R-cycle preload; os: this fold's R-cycle output drain
    # the last fold streams T, not max(T, R): no later fold's preload (ws/is) or stream (os) waits on it
    total = preload + (f_r * f_c - 1) * steady + t + rows + cols - 2 - 1
    return Folds(f_r, f_c, steady, total, efficiency)


def run_cycles(f: Folds, count: int, overlap: bool) -> int:
    """Compute cycles of ``count`` GEMMs of mapping ``f`` (from :func:`folds` with the same ``overlap``) run one
    after another on one array. Without overlap each is a SCALE-Sim layer (its own fill, folds and drain, − 1):
    count·(F·τ − 1). With it a GEMM of the batch is F more folds of the same pipeline (the next GEMM's first
    stationary tile preloads while the last fold of this one streams, as the next fold's does within a GEMM), so
    the count·F folds pay the first preload and the last fold's stream, skew and drain once: f.cycles +
    (count − 1)·F·max(T, R) (ws/is: the preload; os: the output drain), e.g. ws
    R + (count·F − 1)·max(T, R) + T + R + C − 3."""
    if not overlap or count == 0:
        return count * f.cycles
    return f.cycles + (count - 1) * f.rows * f.cols * f.fold_cycles


def cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str, count: int = 1,
           overlap: bool = False) -> int:
    """Compute cycles of ``count`` m×n×k GEMMs run one after another on one array (:func:`run_cycles`)."""
    return run_cycles(folds(m, n, k, rows, cols, dataflow, overlap), count, overlap)
