"""GPU-style work split of a GEMM: thread-block output tiles in waves over the cores, and split-K.

The output is cut into ``m`` × ``n`` tiles, each computed whole (over all of K, or of its K slice) by one core; an
edge tile costs a full tile's folds (tile quantisation) and tiles run on the cores in waves (the emitter deals
them round robin, so the busiest core holds ⌈tiles/cores⌉). A preset may list other tile shapes its GEMM library
ships (``core.tile.shapes``); the GEMM takes the shape with the fewest estimated cycles (waves × one tile's
cycles, or its shared-cache or main-memory bytes at that level's bandwidth when larger), as a library heuristic
picks the fastest kernel. A shape whose ``stages`` pipeline buffers do not fit the core's shared memory is not
offered. A GEMM with fewer output tiles than cores has its K cut into slices computed on different cores
(split-K, as cuBLAS does), none shorter than :data:`SPLIT_K_MIN`.

One tile's cycles are the array's folds over its K slice (K divided by the unit's rate multiplier for the op's
dtype, :func:`accelsim.hardware.dtype_rate`) plus the thread block's fixed cost, from the model's own
quantities: the prologue waits for its first K-stage, (m + n) × ``k`` operands, one main-memory round trip away
(shared-cache plus main-memory latency) and arriving at the core's share of the shared cache's bandwidth; the
epilogue writes the m × n output tile at that share and waits one shared-cache latency. With split-K each slice
also writes its fp32 partial tile and the reduction reads it back (2 × m × n × 4 bytes at the core's share).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..hardware import Arch, OutputTile, SystolicArray
from ..ir import Gemm
from . import folds

SPLIT_K_MIN = 256  # shortest K slice of a split-K GEMM (cuBLAS splits K only for long reductions)
PARTIAL_BYTES = 4  # split-K partial sums are fp32


class _Shape(NamedTuple):
    est: float  # estimated cycles of the whole GEMM (the choice's key)
    details: dict


def shapes(tile: OutputTile) -> list[tuple[int, int]]:
    """The tile shapes a GEMM may use: ``(m, n)`` first, then ``tile.shapes``."""
    return [(tile.m, tile.n), *((s[0], s[1]) for s in tile.shapes if (s[0], s[1]) != (tile.m, tile.n))]


def price(g: Gemm, sa: SystolicArray, arch: Arch, elem: int = 2, rate: float = 1.0) -> tuple[int, dict]:
    """Cycles of all of ``g``'s output tiles (tiles × splits × cycles of one tile) and the tiling details, for
    the tile shape with the fewest estimated cycles; ``rate`` multiplies the array's MACs per clock."""
    tile = arch.core.tile
    assert tile is not None
    smem = arch.core.sram.total_bytes
    best: _Shape | None = None
    for tm0, tn0 in shapes(tile):
        fits = tile.stages * (tm0 + tn0) * tile.k * elem <= smem
        if not fits and best is not None:
            continue
        s = _shape(g, sa, arch, tm0, tn0, elem, rate)
        if best is None or s.est < best.est:
            best = s
    assert best is not None
    d = best.details
    return d["output_tiles"] * d["tile_cycles"], d


def _shape(g: Gemm, sa: SystolicArray, arch: Arch, tm0: int, tn0: int, elem: int, rate: float) -> _Shape:
    """One tile shape's split of ``g``: its tiles, split-K, one tile's cycles and the GEMM's estimated cycles."""
    tile = arch.core.tile
    assert tile is not None
    tm, tn = min(tm0, g.m), min(tn0, g.n)
    tiles = g.count * -(-g.m // tm0) * -(-g.n // tn0)
    splits = max(1, min(arch.cores // tiles, g.k // SPLIT_K_MIN)) if tiles < arch.cores else 1
    k_slice = -(-g.k // splits)
    f = folds.folds(tm, tn, max(1, math.ceil(k_slice / rate)), sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
    n = tiles * splits
    fixed = fixed_cycles(arch, tm, tn, elem, splits > 1)
    tile_cycles = max(f.cycles + 1, math.ceil(_latency_bound(arch, tm0, tn0, k_slice, elem, n))) + fixed
    details = {"output_tiles": n, "tile": [tm, tn], "tile_cycles": tile_cycles, "fixed_cycles": fixed,
               "split_k": splits, "k_slice": k_slice}
    est = -(-n // arch.cores) * tile_cycles
    out_bytes = g.count * g.m * g.n * elem
    if arch.caches:
        est = max(est, cache_bytes(details, out_bytes, elem) / arch.bytes_per_cycle(arch.caches[0]))
    operands = g.count * (g.m * g.k + g.k * g.n) * elem + out_bytes
    est = max(est, operands / arch.bytes_per_cycle(arch.main_memory))
    return _Shape(est, details)


def _latency_bound(arch: Arch, tm: int, tn: int, k_slice: int, elem: int, n: int) -> float:
    """Fewest cycles of one tile's main loop when its K-stages wait on main memory: ``stages − 1`` stages in
    flight per thread block (Little's law), ⌈k_slice / k⌉ stages, the thread blocks resident on a core (as many
    as its shared memory holds, at most its share of the tiles) overlapping their waits."""
    tile = arch.core.tile
    assert tile is not None
    if not arch.caches or tile.stages < 2:
        return 0.0
    round_trip = arch.latency_cycles(arch.caches[0]) + arch.latency_cycles(arch.main_memory)
    stage_bytes = tile.stages * (tm + tn) * tile.k * elem
    resident = max(1, min(-(-n // arch.cores), arch.core.sram.total_bytes // max(stage_bytes, 1)))
    return -(-k_slice // tile.k) * round_trip / (tile.stages - 1) / resident


def fixed_cycles(arch: Arch, tm: int, tn: int, elem: int, split: bool) -> int:
    """One thread block's fixed cycles: the prologue's first K-stage from main memory, the epilogue's output
    tile, and with split-K its fp32 partial tile written and read back (module docstring)."""
    tile = arch.core.tile
    assert tile is not None
    if not arch.caches:
        return 0
    l2 = arch.caches[0]
    per_core = arch.bytes_per_cycle(l2) / arch.cores
    if math.isinf(per_core):
        return 0
    round_trip = arch.latency_cycles(l2) + arch.latency_cycles(arch.main_memory)
    prologue = round_trip + (tm + tn) * tile.k * elem / per_core
    epilogue = arch.latency_cycles(l2) + tm * tn * elem / per_core
    partials = 2 * tm * tn * PARTIAL_BYTES / per_core if split else 0.0
    return math.ceil(prologue + epilogue + partials)


def cache_bytes(details: dict, out_bytes: int, elem: int) -> int:
    """Bytes the cores' tiles read from and write to the shared cache: each output tile's A and B panels, the
    output, and with split-K the fp32 partial sums written and read."""
    tm, tn = details["tile"]
    partials = (details["split_k"] - 1) * out_bytes * 2
    return details["output_tiles"] * (tm + tn) * details["k_slice"] * elem + out_bytes + partials
