"""A fused attention split over a TPU core's arrays is cut as cost.systolic.price runs it: off a GPU a GQA group's
query heads are the rows of its KV head's GEMMs (probe p116 #1, `attention.gemms(op, pack=True)`), so 8 query heads
on 1 KV head take the cycles of the same 8 rows as one head (before: 45,410 against 45,910 cycles, the split
pricing each array's share by the per-head one-row GEMMs)."""

from __future__ import annotations

import accelsim

BASE = {"model": "attention", "kv_len": 1024, "head_dim": 128, "attention": "fused"}


def _attention(**kw) -> tuple[int, dict]:
    rep = accelsim.simulate({**BASE, **kw}, "tpu-v6e", batch=64).to_dict()
    op = next(o for o in rep["ops"] if o["kind"] == "attention")
    return rep["total_cycles"], op


def test_gqa_decode_is_split_as_its_packed_gemms():
    gqa_total, gqa = _attention(heads=8, kv_heads=1, q_len=1)
    one_total, one = _attention(heads=1, kv_heads=1, q_len=8)
    # both are 64 GEMM pairs of 8 rows: QK^T 8 x 1024 x 128 and PV 8 x 128 x 1024, count = batch 64 x 1 KV head
    assert gqa["mapping"]["gemm"] == one["mapping"]["gemm"] == [[8, 1024, 128, 64], [8, 128, 1024, 64]]
    # cut along the count over tpu-v6e's 4 MXUs (256 x 256, ws, preloading the next fold as one streams): 16 pairs
    # an array. Each GEMM has ceil(128 / 256) x ceil(1024 / 256) = 4 folds starting max(8 rows, 256 preload) cycles
    # apart; a run pays 256 of first preload, and its last fold, with no next preload (probe p169 #1), streams its
    # 8 rows and skews and drains 256 + 256 - 2: 256 + (16 x 4 - 1) x 256 + 8 + 510 - 1 = 16,901 a GEMM (17,149
    # when the last fold was charged 256). (Before the GQA fix the 8-head op was cut as 512 one-row GEMMs.)
    per_array = 2 * (256 + (16 * 4 - 1) * 256 + 8 + 256 + 256 - 3)
    assert per_array == 33_802
    for op in (gqa, one):
        assert op["mapping"]["split"] == "count" and op["mapping"]["units"] == 4
        assert op["compute_cycles"] == per_array
    assert gqa_total == one_total
