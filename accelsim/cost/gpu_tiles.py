"""GPU-style work split of a GEMM: thread-block output tiles in waves over the cores, and split-K.

The output is cut into ``tile.m`` × ``tile.n`` tiles, each computed whole (over all of K) by one core; an edge
tile costs a full tile's folds (tile quantisation) and tiles run on the cores in waves. A GEMM with fewer output
tiles than cores has its K cut into slices computed on different cores (split-K, as cuBLAS does), none shorter
than :data:`SPLIT_K_MIN`, and the partial sums are added (fp32 partials written and read at the cache level).
"""

from __future__ import annotations

from ..hardware import Arch, SystolicArray
from ..ir import Gemm
from . import folds

SPLIT_K_MIN = 256  # shortest K slice of a split-K GEMM (cuBLAS splits K only for long reductions)


def price(g: Gemm, sa: SystolicArray, arch: Arch) -> tuple[int, dict]:
    """Cycles of all of ``g``'s output tiles (tiles × splits × cycles of one tile) and the tiling details."""
    tile = arch.core.tile
    assert tile is not None
    tm, tn = min(tile.m, g.m), min(tile.n, g.n)
    tiles = g.count * -(-g.m // tile.m) * -(-g.n // tile.n)
    splits = max(1, min(arch.cores // tiles, g.k // SPLIT_K_MIN)) if tiles < arch.cores else 1
    k_slice = -(-g.k // splits)
    f = folds.folds(tm, tn, k_slice, sa.rows, sa.cols, sa.dataflow, sa.preload_overlap)
    return tiles * splits * (f.cycles + 1), {"output_tiles": tiles * splits, "tile": [tm, tn],
                                             "tile_cycles": f.cycles + 1, "split_k": splits, "k_slice": k_slice}


def cache_bytes(details: dict, out_bytes: int, elem: int) -> int:
    """Bytes the cores' tiles read from and write to the shared cache: each output tile's A and B panels, the
    output, and with split-K the fp32 partial sums written and read."""
    tm, tn = details["tile"]
    partials = (details["split_k"] - 1) * out_bytes * 2
    return details["output_tiles"] * (tm + tn) * details["k_slice"] * elem + out_bytes + partials
