"""Placement of tables and weights: hot rows first, HBM then host; the Zipf arithmetic against direct sums."""

from __future__ import annotations

import pytest

from accelsim.errors import MappingError
from accelsim.ir import Graph, Op, OpKind, Weight
from accelsim.mapping.placement import gathered_tables, harmonic, place

from ..conftest import make_arch

# These cases place tables in main memories of a few hundred bytes to tens of KiB; the chip's scratchpad is cut to
# 3 x 256 B so it is not larger than that main memory (refused since probe p125 #2; placement never reads it)
TINY_SRAM = {"ifmap": "256B", "filter": "256B", "ofmap": "256B"}


def _arch(**kw):
    return make_arch(sram=TINY_SRAM, **kw)


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
    arch = _arch(hbm_capacity=64_000)
    p = place(g, arch, {"t.weight": 128_000}, gathered_tables(g), reserved={})
    split = p.tables["t.weight"]
    assert split.rows_at["hbm"] == 500 and split.hits_at["hbm"] == pytest.approx(0.5)


def test_zipf_table_puts_hot_rows_in_hbm():
    # Zipf α = 1 over 1,000 rows; HBM holds 15 rows (1,920 B of 128 B rows): the 15 hottest, rows 1 .. 15, serving
    # H_15 / H_1000 of the look-ups = 3.318229 / 7.485471 = 0.44329
    g = _table_graph(1000, 10, access="zipf", alpha=1.0)
    arch = _arch(hbm_capacity=15 * 128)
    p = place(g, arch, {"t.weight": 1000 * 128}, gathered_tables(g), reserved={})
    split = p.tables["t.weight"]
    assert split.rows_at["hbm"] == 15
    assert split.hits_at["hbm"] == pytest.approx(sum(1 / r for r in range(1, 16)) / sum(1 / r for r in range(1, 1001)))
    # the same room under uniform access serves only 15/1000 of the look-ups
    u = _table_graph(1000, 10)
    assert place(u, arch, {"t.weight": 128_000}, gathered_tables(u), reserved={}).tables["t.weight"].hits_at["hbm"] \
        == pytest.approx(15 / 1000)


def test_a_zipf_chunk_cut_at_a_levels_end_gives_it_the_mass_of_its_hottest_rows():
    # Zipf α = 1 over 1,000 rows of 128 B; HBM holds 10 rows (1,280 B): rows 1 .. 10, so the range [8, 15] is cut
    # after rows 8, 9, 10. HBM serves H_10 / H_1000 of the look-ups (direct sums), not H_7 + 3/8 of the range's
    # mass (H_15 − H_7), which would count its rows as equally hot
    g = _table_graph(1000, 10, access="zipf", alpha=1.0)
    p = place(g, _arch(hbm_capacity=10 * 128), {"t.weight": 1000 * 128}, gathered_tables(g), reserved={})
    split = p.tables["t.weight"]
    h = [0.0]
    for r in range(1, 1001):
        h.append(h[-1] + 1 / r)
    assert split.rows_at["hbm"] == 10
    assert split.hits_at["hbm"] == pytest.approx(h[10] / h[1000], rel=1e-8)  # harmonic(): relative error below 1e-8
    assert h[10] / h[1000] - (h[7] + 3 / 8 * (h[15] - h[7])) / h[1000] > 0.004  # the row-count split was that low
    # a third level takes the range's rest with the rest of its mass: rows 11-15 in cxl (640 B of room)
    arch = _arch(hbm_capacity=10 * 128, host_capacity=1_000_000,
                     levels={"cxl": {"after": "hbm", "capacity": 5 * 128, "bandwidth": "16GB/s"}})
    split = place(g, arch, {"t.weight": 1000 * 128}, gathered_tables(g), reserved={}).tables["t.weight"]
    assert split.rows_at == {"hbm": 10, "cxl": 5}
    assert split.hits_at["cxl"] == pytest.approx((h[15] - h[10]) / h[1000], rel=1e-8)


def _tables_graph(tables, gathers, alpha, dim=64):
    """One embedding_bag per (name, rows), each gathering ``gathers`` rows of its own Zipf(α) table."""
    ops = [Op(n, OpKind.EMBEDDING, (f"ids.{n}",), ((1, gathers),), (1, dim), "fp16", (Weight(f"{n}.weight", (rows, dim)),),
              0, 0, None, 0, {"fn": "embedding_bag", "gather_rows": gathers, "access": "zipf", "zipf_alpha": alpha})
           for n, rows in tables]
    return Graph("g", ops, {f"ids.{n}": (1, gathers) for n, _ in tables})


def test_two_zipf_tables_share_a_level_by_the_marginal_rule():
    # Zipf α = 1, 10 look-ups a pass each: table a of 100 rows, table b of 1,000, rows of 128 B (64 fp16); HBM
    # holds 22 rows (2,816 B). Row r of table t is looked up 10 · 1 / (r · H(R_t)) times a pass, so the 22 hottest
    # rows are the 22 smallest r · H(R_t), H_100 = 5.187378, H_1000 = 7.485471 (direct sums):
    #   a: 5.19 10.37 15.56 20.75 25.94 31.12 36.31 41.50 46.69 51.87 57.06 62.25 67.44 | 72.62 (row 14)
    #   b: 7.49 14.97 22.46 29.94 37.43 44.91 52.40 59.88 67.37 | 74.85 (row 10)
    # 13 + 9 = 22 rows at or below 67.44, the next (a's row 14) at 72.62: a keeps 13 rows, b 9. (Geometric row
    # ranges [1], [2, 3], [4, 7], [8, 15] taken whole by their mean density, as placement did until probe p172
    # #3, gave a 15 and b 7: a[1] 0.193, b[1] 0.134, a[2,3] 0.080, b[2,3] 0.056, a[4,7] 0.037, b[4,7] 0.025,
    # a[8,15] 0.017 per look-up per row fill 1 + 1 + 2 + 2 + 4 + 4 + 8 = 22 rows, leaving b's rows 8 and 9, hotter
    # than a's 14 and 15, out)
    h = [0.0]
    for r in range(1, 1001):
        h.append(h[-1] + 1 / r)
    assert h[100] == pytest.approx(5.187378) and h[1000] == pytest.approx(7.485471)
    assert 9 * h[1000] < 13 * h[100] < 14 * h[100] < 10 * h[1000]  # the cut falls between 67.44 and 72.62
    g = _tables_graph((("a", 100), ("b", 1000)), 10, 1.0)
    sizes = {"a.weight": 100 * 128, "b.weight": 1000 * 128}
    p = place(g, _arch(hbm_capacity=22 * 128), sizes, gathered_tables(g), reserved={})
    a, b = p.tables["a.weight"], p.tables["b.weight"]
    assert (a.rows_at["hbm"], b.rows_at["hbm"]) == (13, 9)
    assert a.hits_at["hbm"] == pytest.approx(h[13] / h[100], rel=1e-8)
    assert b.hits_at["hbm"] == pytest.approx(h[9] / h[1000], rel=1e-8)
    # host look-ups a pass: 10 · ((1 − H_13 / H_100) + (1 − H_9 / H_1000)) = 10.090, fewer than the ranges' 15 and
    # 7 rows left, 10 · ((1 − H_15 / H_100) + (1 − H_7 / H_1000)) = 10.139
    host = 10 * ((1 - a.hits_at["hbm"]) + (1 - b.hits_at["hbm"]))
    assert host == pytest.approx(10.090, abs=5e-4)
    assert 10 * ((1 - h[15] / h[100]) + (1 - h[7] / h[1000])) == pytest.approx(10.139, abs=5e-4)
    assert [a.bytes_at(sizes["a.weight"], "host"), b.bytes_at(sizes["b.weight"], "host")] == [87 * 128, 991 * 128]


def test_zipf_rows_denser_than_a_weight_go_before_it_and_the_rest_after():
    # Zipf α = 1, 10 look-ups a pass over 100 rows of 128 B: row r is read 10 / (r · H_100) = 1.928 / r times a
    # pass per byte held, so only row 1 is denser than a weight (read once a pass, density 1). HBM holds 8 rows'
    # bytes (1,024 B): row 1 (128 B), then the weight w (640 B), then rows 2 and 3 (0.964, 0.643) in the 256 B left
    g = _tables_graph((("a", 100),), 10, 1.0)
    assert 10 / sum(1 / r for r in range(1, 101)) == pytest.approx(1.928, abs=5e-4)
    p = place(g, _arch(hbm_capacity=8 * 128), {"a.weight": 100 * 128, "w": 5 * 128}, gathered_tables(g),
              reserved={})
    assert p.level["w"] == "hbm" and p.tables["a.weight"].rows_at["hbm"] == 3
    # 6 rows' bytes: row 1 and the weight leave 0 B, so rows 2 .. 100 stay in host
    p = place(g, _arch(hbm_capacity=6 * 128), {"a.weight": 100 * 128, "w": 5 * 128}, gathered_tables(g),
              reserved={})
    assert p.level["w"] == "hbm" and p.tables["a.weight"].rows_at["hbm"] == 1


def test_dense_weights_go_first_and_overflow_to_host():
    g = _table_graph(10, 10)  # gathers every row: not a "gathered table", a dense tensor
    arch = _arch(hbm_capacity=1000, host_capacity=10_000)
    p = place(g, arch, {"a": 600, "b": 600, "c": 300}, {}, reserved={})
    assert p.level == {"a": "hbm", "b": "host", "c": "hbm"}
    with pytest.raises(MappingError, match=r"need 11600 B but hbm \(1000 B\) and host \(10000 B\) hold 11000 B; 600 B more"):
        place(g, arch, {"a": 600, "b": 11_000}, {}, reserved={})
    # one memory: it "holds" (600 + 600 = 1200 B need, 200 B more than its 1000 B)
    with pytest.raises(MappingError, match=r"need 1200 B but hbm \(1000 B\) holds 1000 B; 200 B more"):
        place(g, _arch(hbm_capacity=1000, host=False), {"a": 600, "b": 600}, {}, reserved={})


def test_three_memories_fill_inner_first_and_split_a_table_across_all():
    # hbm 32,000 B, cxl 48,000 B, host the rest; a uniform 1,000-row table of 128 B rows (128,000 B) read 10 rows
    # per pass: 250 rows fit hbm, the next 375 cxl, 375 stay in host; the look-ups split 25 % / 37.5 % / 37.5 %
    g = _table_graph(1000, 10)
    arch = _arch(hbm_capacity=32_000, host_capacity=1_000_000,
                     levels={"cxl": {"after": "hbm", "capacity": 48_000, "bandwidth": "16GB/s"}})
    assert arch.memories == ("hbm", "cxl", "host")
    split = place(g, arch, {"t.weight": 128_000}, gathered_tables(g), reserved={}).tables["t.weight"]
    assert split.rows_at == {"hbm": 250, "cxl": 375} and split.last == "host"
    assert split.hits_at["hbm"] == pytest.approx(0.25) and split.hits_at["cxl"] == pytest.approx(0.375)
    assert split.gathered(1000) == {"hbm": 250, "cxl": 375, "host": 375}
    assert [split.bytes_at(128_000, lv) for lv in ("hbm", "cxl", "host")] == [32_000, 48_000, 48_000]
    # dense tensors: a (600 B) fits hbm (1,000 B), b (600 B) then only cxl (800 B), c (300 B) hbm's rest
    arch = _arch(hbm_capacity=1000, host_capacity=10_000,
                     levels={"cxl": {"after": "hbm", "capacity": 800, "bandwidth": "16GB/s"}})
    p = place(g, arch, {"a": 600, "b": 600, "c": 300, "d": 700}, {}, reserved={})
    assert p.level == {"a": "hbm", "b": "cxl", "c": "hbm", "d": "host"}


def test_unfused_attention_overflow_names_attention_fused():
    # llama3_8b (1 layer) at a 32,768-token prompt, unfused: one layer's scores are 32 heads · 32,768² · 2 B =
    # 68.7 GB, and the softmax reads them and writes them in fp32 (transformers' eager softmax(...,
    # dtype=torch.float32), probe p185 #2: 68.7 + 137.4 = 206.2 GB; the causal mask's 137 GB with its 2.1 GB mask
    # were the largest before) on an 80 GiB HBM; a fused (FlashAttention-style) kernel holds no score matrix, so the
    # refusal names workload.attention: fused
    from accelsim.api import simulate
    from accelsim.errors import MappingError

    with pytest.raises(MappingError) as e:
        simulate({"base": "llama3_8b", "layers": 1, "seq_len": 32768}, "h100", plots=False)
    msg = str(e.value)
    assert "\n" not in msg and "self_attn.softmax'" in msg and "workload.attention: fused" in msg
    assert f"'model.layers.0.self_attn.softmax', {32 * 32768**2 * (2 + 4)} B" in msg
    # a GEMM whose operands overflow a small HBM is no attention: no such advice
    with pytest.raises(MappingError) as e:
        simulate({"model": "gemm", "m": 8192, "n": 8192, "k": 8192}, {"base": "h100", "hbm": {"capacity": "100MB"}},
                 plots=False)
    assert "workload.attention" not in str(e.value)


def test_a_zipf_table_wholly_in_hbm_serves_exactly_every_look_up():
    # Zipf α = 1.05 over 40,000 rows of 128 B (5,120,000 B) in 8 MB of HBM: every chunk fits, so HBM serves all the
    # look-ups, 1.0 exactly (the chunks' masses, differences of harmonic sums, added to 0.9999999999999999)
    g = _table_graph(40_000, 10, access="zipf", alpha=1.05)
    split = place(g, _arch(hbm_capacity=8_000_000), {"t.weight": 40_000 * 128}, gathered_tables(g),
                  reserved={}).tables["t.weight"]
    assert split.rows_at["hbm"] == 40_000 and split.hits_at["hbm"] == 1.0
    assert split.levels() == ("hbm",)


def test_a_table_split_by_rows_is_placed_in_both_memories_in_the_report():
    # embedding_bag's 1M rows × 128 bf16 = 256,000,000 B table with 64 MiB of HBM: part of its rows in HBM, the
    # rest on host; report.json's placement names both, innermost first, as `tables` splits it
    from accelsim import simulate
    from accelsim.config import load_arch, load_workload

    rep = simulate(load_workload("embedding_bag"), load_arch("tpu-v4", ["hbm.capacity=64MiB"])).to_dict()
    split = rep["tables"]["embedding_bag.weight"]
    assert 0 < split["rows_in_hbm"] < 1_000_000 and rep["placement"]["embedding_bag.weight"] == "hbm+host"
