"""Gathers: embedding look-ups and SPMM (GNN aggregation) read only the rows they gather, each rounded up to
the access granule of the level it lives in, so their bytes follow the look-ups, not the table size."""

from __future__ import annotations


def row_bytes(row: int, granule: int) -> int:
    """Bytes moved to read one ``row``-byte row at a level of ``granule``-byte accesses."""
    return -(-row // granule) * granule


def gathered(rows_by_level: dict[str, int], row: int, grains: dict[str, int]) -> dict[str, int]:
    """Bytes read at each level when ``rows_by_level[level]`` rows of ``row`` bytes are gathered there."""
    return {lv: n * row_bytes(row, grains[lv]) for lv, n in rows_by_level.items() if n}


# pytorch_index_select: torch.nn.functional.embedding is index_select (pytorch/pytorch aten/src/ATen/native/
# Embedding.cpp -> aten/src/ATen/native/cuda/Indexing.cu index_select_out_cuda_impl), which runs
# indexSelectSmallIndex for at most 16 indices: min(ceil(row / 128), 8 x SMs) blocks of min(row, 128) threads,
# each thread walking the indices one after the other (load the index, then its row's elements, store them)
SMALL_INDEX_MAX = 16
SMALL_INDEX_BLOCK = 128
SMALL_INDEX_BLOCKS_PER_SM = 8


def small_index_chains(indices: int, row: int, cores: int) -> int | None:
    """Dependent index -> table round trips each thread of PyTorch's small-index gather makes for ``indices``
    rows of ``row`` elements on ``cores`` SMs (None: more than 16 indices, the large-index kernel)."""
    if indices <= 0 or indices > SMALL_INDEX_MAX or row <= 0:
        return None
    threads = min(-(-row // SMALL_INDEX_BLOCK), SMALL_INDEX_BLOCKS_PER_SM * cores) * min(row, SMALL_INDEX_BLOCK)
    return indices * -(-row // threads)
