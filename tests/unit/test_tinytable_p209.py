"""A look-up into a small table read many times moves its distinct rows from main memory once (probe p209 #1, p206
#3; accelsim/mapping/traffic.py ``_cache_hits``): T uniform look-ups into R rows read D = R(1 − (1 − 1/R)^T)
distinct rows (cost/gather.py ``distinct_rows``, the rule ``repeated_hits`` prices the gather's latency by), and
when those fit the innermost cache's resident share, or on an arch without a cache the scratchpad buffer that would
hold them, the T − D repeats are served on chip; a table whose distinct rows do not fit keeps every look-up.

T5-small's ``encoder.position_bias`` (HF T5Attention.compute_bias): a (32 buckets, 8 heads) table looked up
Lq · Lk times, each row 8 heads × the dtype's bytes. Swin-T's ``relative_position_bias`` (torchvision): a
((2 · 7 − 1)² = 169, 3 heads) table looked up 49 · 49 = 2,401 times per window block. A row of ``row`` bytes at a
level of ``g``-byte accesses moves row + g − gcd(row, g) bytes (cost/gather.py ``row_bytes``).
"""

from __future__ import annotations

import math

import pytest

import accelsim


def _op(rep: dict, name: str) -> dict:
    return next(o for o in rep["ops"] if o["name"] == name)


def _moved(row: int, g: int) -> int:
    return row + g - math.gcd(row, g)


def test_distinct_rows_of_a_tiny_table():
    from accelsim.cost import gather

    # 32 rows drawn 262,144 times: (31/32)^262,144 = e^(262,144 · ln(31/32)) ≈ e^(−8,323) = 0, so D = 32
    assert gather.distinct_rows(262_144, 32) == 32.0
    # 169 rows drawn 2,401 times: (168/169)^2,401 = e^(−14.22) ≈ 6.6e-7: D = 169 · (1 − 6.6e-7) ≈ 168.9999
    assert gather.distinct_rows(2_401, 169) == pytest.approx(169 * (1 - (168 / 169) ** 2_401), rel=1e-12)
    assert 168.999 < gather.distinct_rows(2_401, 169) < 169


def test_t5_position_bias_on_h100_reads_the_32_rows_from_hbm_once():
    arch = accelsim.load_arch("h100")
    rep = accelsim.simulate({"model": "t5_small"}, arch, plots=False).to_dict()
    op = _op(rep, "encoder.position_bias")
    # bf16: a row is 8 heads × 2 B = 16 B; 512 · 512 = 262,144 look-ups; 32 distinct rows, each one 64-B HBM access:
    # 2,048 B, plus the (1, 8, 512, 512) bf16 output written to HBM, 4,194,304 B (it was 262,144 × 64 + 4,194,304 =
    # 20,971,520: every look-up an HBM access)
    hbm_g, l2_g = arch.memory("hbm").access_bytes, arch.memory("l2").access_bytes
    assert hbm_g == 64
    out = 512 * 512 * 8 * 2
    assert op["bytes"]["hbm"] == 32 * _moved(16, hbm_g) + out == 4_196_352
    # L2 serves the 262,112 repeats (each a row_bytes(16, 128) = 128-B access of its 128-B lines) and passes the
    # misses and the output through
    assert op["bytes"]["l2"] == (262_144 - 32) * _moved(16, l2_g) + 32 * _moved(16, hbm_g) + out


def test_t5_position_bias_on_a_scratchpad_arch_reads_the_table_once():
    # tpu-v4 (no cache): the 32 rows DMA'd into the scratchpad once, 32 × 64 B, the output staying on chip
    rep = accelsim.simulate({"model": "t5_small"}, "tpu-v4", plots=False).to_dict()
    assert _op(rep, "encoder.position_bias")["bytes"]["hbm"] == 32 * 64 == 2_048
    # edge-npu, int8, src_len 2048: rows of 8 B (one 64-B burst each), 32 of them, plus the (1, 8, 2048, 2048) int8
    # output: 2,048 + 33,554,432 (it was 2048² × 64 + 33,554,432 = 301,989,888)
    wl = accelsim.load_workload("t5_small", ["src_len=2048", "tgt_len=1"])
    rep = accelsim.simulate(wl, "edge-npu", plots=False).to_dict()
    assert _op(rep, "encoder.position_bias")["bytes"]["hbm"] == 32 * 64 + 2048 * 2048 * 8 == 33_556_480


def test_swin_relative_position_bias_on_edge_npu_reads_its_169_rows_once():
    # int8, 3 heads: 3-B rows, each 3 + 64 − gcd(3, 64) = 66 B of bursts; D = 169 (rounded, 168.9999) of the 2,401
    # look-ups: 169 × 66 = 11,154 B (it was 2,401 × 66 = 158,466), the output staying on chip
    rep = accelsim.simulate({"model": "swin_t"}, "edge-npu", plots=False).to_dict()
    assert _op(rep, "features.1.0.attn.relative_position_bias")["bytes"]["hbm"] == 169 * _moved(3, 64) == 11_154


def test_a_table_whose_distinct_rows_do_not_fit_the_cache_keeps_every_look_up():
    # embedding_bag on h100, 1M rows of 1,024 bf16 (2,048 B), 40,960 look-ups: D = 10^6 · (1 − (1 − 10^-6)^40,960)
    # ≈ 40,133 rows, 82 MB, more than L2's 26,214,400-B resident share: every look-up from HBM (2,048-B rows are
    # 32 whole 64-B accesses), as before; the output (2,048, 1,024) bf16 and the int64 ids and offsets besides
    from accelsim.cost import resident_bytes

    arch = accelsim.load_arch("h100")
    distinct = 1_000_000 * (1 - (1 - 1e-6) ** 40_960)
    assert distinct * 2_048 > resident_bytes(arch, "l2") == 26_214_400
    rep = accelsim.simulate({"model": "embedding_bag", "dim": 1024}, arch, plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["bytes"]["hbm"] == 40_960 * 2_048 + 2_048 * 1_024 * 2 + 40_960 * 8 + 2_049 * 8


def test_a_learned_position_tables_rows_are_each_read_once():
    # GPT-2's wpe (1024 x 768 bf16, rows of 1,536 B) at seq_len 512 reads rows 0..511, each once (transformers'
    # position_ids = arange): no look-up repeats a row, so the uniform rule's D = 1024 (1 - (1 - 1/1024)^512) ≈ 403
    # distinct rows would undercount. HBM: the 512 rows read (512 x 1,536 = 786,432 B, whole 64-B accesses) and the
    # (1, 512, 768) bf16 output written (786,432 B)
    from accelsim import simulate

    report = simulate({"model": "gpt2", "seq_len": 512}, "h100").to_dict()
    (wpe,) = [op for op in report["ops"] if op["name"] == "transformer.wpe"]
    assert wpe["bytes"]["hbm"] == 512 * 1536 + 512 * 768 * 2
