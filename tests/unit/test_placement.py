"""Placement of tables and weights: hot rows first, HBM then host; the Zipf arithmetic against direct sums."""

from __future__ import annotations

import pytest

from accelsim.errors import MappingError
from accelsim.ir import Graph, Op, OpKind, Weight
from accelsim.mapping.placement import gathered_tables, harmonic, place

from ..conftest import make_arch


def test_harmonic_numbers_match_direct_sums():
    # small n: exact; large n: the Euler–Maclaurin tail against the direct sum (an independent reference)
    assert harmonic(10, 1.0) == pytest.approx(7381 / 2520)  # H_10 = 7381/2520
    for alpha in (0.8, 1.0, 1.05, 1.5):
        direct = sum(r ** -alpha for r in range(1, 200_001))
        assert harmonic(200_000, alpha) == pytest.approx(direct, rel=1e-6)


def _table_graph(rows, gathers, access="uniform", alpha=1.0, dim=64):
    w = Weight("t.weight", (rows, dim))
    op = Op("t", OpKind.EMBEDDING, ("ids",), ((1, gathers),), (1, dim), "fp16", (w,), 0, 0, None, 0,
            {"fn": "embedding_bag", "gather_rows": gathers, "access": access, "zipf_alpha": alpha})
    return Graph("g", [op], {"ids": (1, gathers)})


def test_uniform_table_split_serves_hits_in_proportion_to_rows():
    # 1,000 rows × 64 fp16 = 128,000 B; 64,000 B of HBM room → 500 rows in HBM, half the look-ups hit HBM
    g = _table_graph(1000, 10)
    arch = make_arch(hbm_capacity=64_000)
    p = place(g, arch, {"t.weight": 128_000}, gathered_tables(g), reserved_hbm=0)
    split = p.tables["t.weight"]
    assert split.hbm_rows == 500 and split.hbm_hits == pytest.approx(0.5)


def test_zipf_table_puts_hot_rows_in_hbm():
    # Zipf α = 1 over 1,000 rows; HBM holds 15 rows (1,920 B of 128 B rows): the chunks [1], [2,3], [4,7],
    # [8,15] fit, serving H_15 / H_1000 of the look-ups = 3.318229 / 7.485471 = 0.44329
    g = _table_graph(1000, 10, access="zipf", alpha=1.0)
    arch = make_arch(hbm_capacity=15 * 128)
    p = place(g, arch, {"t.weight": 1000 * 128}, gathered_tables(g), reserved_hbm=0)
    split = p.tables["t.weight"]
    assert split.hbm_rows == 15
    assert split.hbm_hits == pytest.approx(sum(1 / r for r in range(1, 16)) / sum(1 / r for r in range(1, 1001)))
    # the same room under uniform access serves only 15/1000 of the look-ups
    u = _table_graph(1000, 10)
    assert place(u, arch, {"t.weight": 128_000}, gathered_tables(u), reserved_hbm=0).tables["t.weight"].hbm_hits \
        == pytest.approx(15 / 1000)


def test_dense_weights_go_first_and_overflow_to_host():
    g = _table_graph(10, 10)  # gathers every row: not a "gathered table", a dense tensor
    arch = make_arch(hbm_capacity=1000, host_capacity=10_000)
    p = place(g, arch, {"a": 600, "b": 600, "c": 300}, {}, reserved_hbm=0)
    assert p.level == {"a": "hbm", "b": "host", "c": "hbm"}
    with pytest.raises(MappingError, match=r"need 11600 B but HBM \(1000 B\) and host memory \(10000 B\)"):
        place(g, arch, {"a": 600, "b": 11_000}, {}, reserved_hbm=0)
