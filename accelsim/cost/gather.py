"""Gathers: embedding look-ups and SPMM (GNN aggregation) read only the rows they gather, each rounded up to
the access granule of the level it lives in, so their bytes follow the look-ups, not the table size."""

from __future__ import annotations


def row_bytes(row: int, granule: int) -> int:
    """Bytes moved to read one ``row``-byte row at a level of ``granule``-byte accesses."""
    return -(-row // granule) * granule


def gathered(rows_by_level: dict[str, int], row: int, grains: dict[str, int]) -> dict[str, int]:
    """Bytes read at each level when ``rows_by_level[level]`` rows of ``row`` bytes are gathered there."""
    return {lv: n * row_bytes(row, grains[lv]) for lv, n in rows_by_level.items() if n}
