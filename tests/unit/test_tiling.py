"""Tiling worked by hand: traffic = bytes · (reads per byte), reads = the counts of the enclosing loops an operand
does not depend on (k innermost; loops of count 1 drop out)."""

import pytest

from accelsim.errors import MappingError
from accelsim.mapping.tiling import tile_gemm


def test_everything_fits_moves_compulsory_bytes():
    t = tile_gemm(64, 64, 64, 100, 100, 100, 1000, 1000, 1000)
    assert (t.nm, t.nn, t.nk, t.a_reads, t.b_reads) == (1, 1, 1, 1, 1)
    assert t.traffic(100, 100, 100) == 300


def test_filter_split_keeps_reads_at_one():
    # B = 4096 B into 1024 B buffers → 4 column tiles (nn = 4); A (4096 B) fits whole and stays for all four,
    # each B tile is read once: traffic = 4096 + 4096 + 4096 = 12288
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 8192, 1024, 8192)
    assert (t.nm, t.nn, t.nk) == (1, 4, 1)
    assert (t.a_reads, t.b_reads) == (1, 1)
    assert t.traffic(4096, 4096, 4096) == 12288


def test_nothing_fits_picks_the_least_traffic_split():
    # 4096 B each, 1024 B buffers.
    # nk=1: nm=nn=4 (4096/4 = 1024 each): loops m(4), n(4): A read once, B 4× → 4096 + 16384 + 4096 = 24576
    # nk=2: nm=nn=2 (4096/(2·2) = 1024): loops m(2), n(2), k(2): A read 2× (n encloses k), B 2× (m)
    #       → 8192 + 8192 + 4096 = 20480 (the minimum)
    # nk≥4: the C tile forces nm·nn ≥ 4 again and one operand is read 4× → 24576
    t = tile_gemm(64, 64, 64, 4096, 4096, 4096, 1024, 1024, 1024)
    assert (t.nm, t.nn, t.nk) == (2, 2, 2)
    assert (t.a_reads, t.b_reads) == (2, 2)
    assert t.traffic(4096, 4096, 4096) == 20480


def test_resident_operand_needs_no_buffer():
    # A already on chip (0 bytes): only B (4096 B, 1024 B buffer → 4 tiles, read once) and C move
    t = tile_gemm(64, 64, 64, 0, 4096, 0, 0, 1024, 0)
    assert t.traffic(0, 4096, 0) == 4096


def test_tile_that_cannot_fit_names_the_op():
    with pytest.raises(MappingError, match="'conv9'"):
        tile_gemm(4, 4, 4, 64, 64, 64, 0, 0, 0, "conv9")
