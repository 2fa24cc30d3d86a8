"""Gathers: embedding look-ups and SPMM (GNN aggregation) read only the rows they gather, each the access granules
it covers at the level it lives in (:func:`row_bytes`), so their bytes follow the look-ups, not the table size."""

from __future__ import annotations

import functools
import math

import numpy as np

from ..draws import (  # noqa: F401 (re-exported: gather.distinct_rows, ... as before)
    ZIPF_BUCKET,
    ZIPF_EXACT,
    distinct_rows,
    expected_distinct,
    zipf_distinct_rows,
    zipf_groups,
)


def row_bytes(row: int, granule: int) -> int:
    """Bytes moved, on average, to read one ``row``-byte row of a table whose rows lie back to back, at a level of
    ``granule``-byte accesses (naturally aligned blocks): row r starts at byte r·row, so over the rows its offset in
    a block runs through the multiples of g = gcd(row, granule), and a row covers (row + granule − g) / granule
    blocks on average: row + granule − g bytes. A row that is a multiple of the granule moves itself (128 B at 64 B:
    128); a 20-B row at 64 B straddles a boundary in 16 of every 64 offsets, 1.25 blocks, 80 B, not one 64-B block
    (probe p71 #4: the rounding up to whole blocks assumed every row started on one); 400 B: 448 (gcd 16)."""
    return row + granule - math.gcd(row, granule)


def gathered(rows_by_level: dict[str, int], row: int, grains: dict[str, int]) -> dict[str, int]:
    """Bytes read at each level when ``rows_by_level[level]`` rows of ``row`` bytes are gathered there."""
    return {lv: n * row_bytes(row, grains[lv]) for lv, n in rows_by_level.items() if n}


# pytorch_index_select: torch.nn.functional.embedding is index_select (pytorch/pytorch aten/src/ATen/native/
# Embedding.cpp -> aten/src/ATen/native/cuda/Indexing.cu index_select_out_cuda_impl), which launches both of its
# kernels with min(ceil(n / 128), 8 x SMs) blocks of min(n, 128) threads (:func:`index_select_blocks`); for at most
# 16 indices it runs indexSelectSmallIndex, n = the row, each thread walking the indices one after the other (load
# the index, then its row's elements, store them)
SMALL_INDEX_MAX = 16
SMALL_INDEX_BLOCK = 128
SMALL_INDEX_BLOCKS_PER_SM = 8


def index_select_blocks(n: int, cores: int) -> int:
    """Thread blocks index_select_out_cuda_impl launches over ``n`` elements on ``cores`` SMs (at least one)."""
    return max(1, min(-(-n // SMALL_INDEX_BLOCK), SMALL_INDEX_BLOCKS_PER_SM * cores))


# measured as INDEX_SELECT_INSTRUCTIONS below, from gather_rows_small in benchmarks/kernels/index_select.cu: one
# index's pass of indexSelectSmallIndex with one element per thread (the index load and its asserted bounds check,
# then four divisions for the output's and the table's offsets, the reciprocals again recomputed after the
# assertion's call); 113 instructions on sm_80 / sm_89, 118 on sm_90, 121 on sm_100
SMALL_INDEX_INSTRUCTIONS = 113


def small_index_threads(row: int, cores: int) -> int:
    """Threads of PyTorch's small-index gather on its busiest SM for rows of ``row`` elements."""
    return -(-index_select_blocks(row, cores) // cores) * min(row, SMALL_INDEX_BLOCK)


def small_index_chains(indices: int, row: int, cores: int) -> int | None:
    """Dependent index -> table round trips each thread of PyTorch's small-index gather makes for ``indices``
    rows of ``row`` elements on ``cores`` SMs (None: more than 16 indices, the large-index kernel)."""
    if indices <= 0 or indices > SMALL_INDEX_MAX or row <= 0:
        return None
    threads = index_select_blocks(row, cores) * min(row, SMALL_INDEX_BLOCK)
    return indices * -(-row // threads)


# pytorch_index_select: more than 16 indices run indexSelectLargeIndex: its blocks (n = the output's elements)
# walk the output in a grid-stride loop, one element per thread per iteration: the element's row index
# (an L2 hit), then the table element (from main memory), then its store. The loop body is INDEX_SELECT_INSTRUCTIONS
# instructions per thread: measured, the SASS of gather_rows in benchmarks/kernels/index_select.cu (a transcription
# of the kernel as index_select_out_cuda_impl instantiates it for a contiguous 2-D table: DstDim = SrcDim = 2,
# IdxDim = -2, IndexIsMajor, 32-bit index math) compiled by nvcc 13.0 -O3 for sm_80, sm_89 and sm_90 (138 for
# sm_100), counted by benchmarks/kernels/count_sass.py: six 32-bit divisions by the run-time sizes (the element's
# row and column; IndexToOffset's modulo and quotient of sizes[1] and modulo of sizes[0], for the output and the
# table) that the compiler cannot hoist out of the loop past CUDA_KERNEL_ASSERT's call (c10/macros/Macros.h: kept
# "even when NDEBUG is defined"), each an I2F, a reciprocal and an F2I plus about a dozen integer instructions.
INDEX_SELECT_INSTRUCTIONS = 134


def large_index_loop(elements: int, cores: int, resident_threads: int) -> tuple[int, int]:
    """(iterations, threads on the busiest SM) of PyTorch's large-index gather moving ``elements`` elements on
    ``cores`` SMs that hold ``resident_threads`` threads each."""
    blocks = index_select_blocks(elements, cores)
    threads = min(-(-blocks // cores) * SMALL_INDEX_BLOCK, resident_threads)
    return -(-elements // (blocks * SMALL_INDEX_BLOCK)), threads


def repeated_hits(gathers: int, rows: int, row_bytes: int, resident: int) -> float:
    """Fraction of ``gathers`` uniform look-ups into a table of ``rows`` rows of ``row_bytes`` that find their row
    in a cache of ``resident`` bytes because the same call read it before: the call reads
    D = rows x (1 - (1 - 1/rows)^gathers) distinct rows (the expected number of distinct values in ``gathers``
    uniform draws), so 1 - D / gathers of its look-ups repeat a row; by the LRU rule a repeat still finds its row
    when the call's D rows fit the cache, else with probability resident / (D x row_bytes)."""
    if gathers <= 1 or rows <= 0 or row_bytes <= 0 or resident <= 0:
        return 0.0
    distinct = distinct_rows(gathers, rows)
    repeats = 1.0 - distinct / gathers
    return max(0.0, repeats) * min(1.0, resident / (distinct * row_bytes))


def che_time(counts: np.ndarray, probs: np.ndarray, capacity: float) -> float:
    """Che's characteristic time T of an LRU cache of ``capacity`` rows under independent look-ups, row i with
    probability p_i: the T (in look-ups) with Σ_i (1 − exp(−p_i T)) = capacity (the rows expected to have been
    looked up in the last T look-ups fill the cache); inf when the cache holds every row."""
    if capacity >= counts.sum():
        return math.inf

    def filled(t: float) -> float:
        return float(np.dot(counts, -np.expm1(-probs * t)))

    lo, hi = capacity, 2.0 * capacity  # filled(t) ≤ t, so T ≥ capacity
    while filled(hi) < capacity:
        lo, hi = hi, 2.0 * hi
    for _ in range(60):  # bisection on log T: relative width 2^−60 of the bracket's ratio
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if filled(mid) < capacity else (lo, mid)
    return math.sqrt(lo * hi)


def che_hit_ratio(counts: np.ndarray, probs: np.ndarray, capacity: float, lookups: float = math.inf) -> float:
    """The share of look-ups that hit an LRU cache of ``capacity`` rows (Che, Tung and Wang 2002; Fricker, Robert
    and Roberts 2012), rows grouped as :func:`zipf_groups` gives them. A row stays cached for T look-ups after its
    last use (:func:`che_time`), so a look-up of row i hits when row i was looked up in the T before it. In steady
    state (``lookups`` inf) that is Σ_i p_i (1 − exp(−p_i T)). A call of g = ``lookups`` look-ups starting from a
    cold cache counts only the uses within it: the look-up at x has min(x, T) look-ups behind it, so row i hits
    p_i ∫_0^g (1 − exp(−p_i min(x, T))) dx times = p_i m − (1 − exp(−p_i m)) + p_i (g − T)⁺ (1 − exp(−p_i T)),
    m = min(g, T), of the g; with T ≥ g it is 1 − D / g, D = Σ_i (1 − exp(−p_i g)) the rows the call touches."""
    if capacity <= 0 or lookups <= 0:
        return 0.0
    t = che_time(counts, probs, capacity)
    if math.isinf(lookups):
        return 1.0 if math.isinf(t) else float(np.dot(counts * probs, -np.expm1(-probs * t)))
    m = min(lookups, t)
    hits = probs * m + np.expm1(-probs * m)
    if t < lookups:
        hits = hits + probs * (lookups - t) * -np.expm1(-probs * t)
    return max(0.0, float(np.dot(counts, hits)) / lookups)


@functools.lru_cache(maxsize=1024)
def zipf_cache_hits(rows: int, alpha: float, lookups: int, capacity: int) -> float:
    """The share of one call's ``lookups`` Zipf(``alpha``) look-ups into a table of ``rows`` rows that an LRU cache
    of ``capacity`` rows, cold when the call starts, serves (:func:`che_hit_ratio`)."""
    if rows <= 0 or lookups <= 1 or capacity <= 0:
        return 0.0
    return che_hit_ratio(*zipf_groups(rows, alpha), capacity, lookups)
