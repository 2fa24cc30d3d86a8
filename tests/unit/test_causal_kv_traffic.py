"""A causal fused attention off a GPU (and a GPU's fallback) streams K/V once per query block its ifmap buffer holds
(:func:`accelsim.cost.attention.kv_passes`), each pass reading only the K/V blocks at or below its diagonal, the
blocks its compute walks (:func:`accelsim.mapping.traffic.causal_kv_reads`); every number is worked by hand."""

from __future__ import annotations

import dataclasses

import accelsim
from accelsim.mapping.traffic import causal_kv_reads

from .attention_ops import fused_attention_op

# a 128 x 128 os array (query blocks outer, K/V blocks of 128 keys) and split 64 KiB buffers, double-buffered: a
# 32,768-B ifmap tile and a 32,768-B filter tile, so K/V (more than that) stream once per query block
ARCH = {"name": "t", "clock": "1GHz", "dtype": "bf16", "cores": 1,
        "core": {"systolic": {"rows": 128, "cols": 128, "dataflow": "os", "preload_overlap": False},
                 "vector": {"lanes": 1024},
                 "sram": {"ifmap": "64KiB", "filter": "64KiB", "ofmap": "64KiB", "double_buffered": True}},
        "hbm": {"capacity": "8GiB", "bandwidth": "100GB/s", "latency": "0ns"}}
SHAPE = {"model": "attention", "attention": "fused", "dtype": "bf16", "heads": 1, "kv_heads": 1,
         "q_len": 512, "kv_len": 512, "head_dim": 128}
ONE_HEAD = {"heads": 1, "kv_heads": 1, "batch": 1}


def test_a_causal_pass_reads_only_the_kv_blocks_up_to_its_diagonal():
    q = k = v = out = 512 * 128 * 2  # one head of 512 x 128 bf16: 131,072 B each
    # Q's 131,072 B over a 32,768-B ifmap tile: 4 query blocks of 128, so K/V stream 4 times (K + V 262,144 B
    # do not fit the 32,768-B filter tile)
    full = accelsim.simulate({**SHAPE, "causal": False}, ARCH).to_dict()["ops"][0]
    assert full["mapping"]["tiling"] == {"kv_passes": 4}
    assert full["bytes"]["hbm"] == q + 4 * (k + v) + out == 1_310_720
    # causal: query block t (queries 128t … 128t + 127) sees keys ≤ 128t + 127, K/V blocks 0 … t of 128 keys:
    # 1 + 2 + 3 + 4 = 10 of the 16 blocks, each 128 keys x 128 x 2 B of K and of V (65,536 B): 2.5 reads, not 4
    causal = accelsim.simulate({**SHAPE, "causal": True}, ARCH).to_dict()["ops"][0]
    assert causal["mapping"]["causal_walk"]["block"] == [128, 128]
    assert causal["mapping"]["tiling"] == {"kv_passes": 4, "kv_reads": 10 / 4}
    assert causal["bytes"]["hbm"] == q + 10 * 65_536 + out == 917_504
    # the scratchpad: its fills are the memory's bytes, so it sheds the same 6 blocks
    assert full["bytes"]["sram"] - causal["bytes"]["sram"] > 6 * 65_536


def test_kept_keys_bottom_right_aligned_windowed_and_uneven_blocks():
    op = fused_attention_op(ONE_HEAD, q_len=512, kv_len=1024, head_dim=128, causal=True)
    # bottom-right aligned: query i sees keys ≤ i + 512; block t of 128 queries up to key 640 + 128t − 1, whole
    # 128-key blocks: 640 + 768 + 896 + 1024 = 3,328 of 4 x 1,024 keys
    assert causal_kv_reads(op, 4, 128) == 3328 / 1024 == 3.25
    # 3 passes: queries 0-169, 170-340, 341-511 (⌊t·512/3⌋), keys up to 682, 853, 1024, rounded up to the 128-key
    # block: 768 + 896 + 1024 = 2,688
    assert causal_kv_reads(op, 3, 128) == 2688 / 1024
    # a 256-token window: block t's first query (position 512 + 128t) sees keys from 257 + 128t, in the block from
    # key 256 + 128t: 640 + 128t − (256 + 128t) = 384 keys a block
    windowed = dataclasses.replace(op, attrs={**op.attrs, "window": 256})
    assert causal_kv_reads(windowed, 4, 128) == 4 * 384 / 1024 == 1.5
    # (n + 1) / 2 of n passes when the blocks align: 4,096 tokens, 32 passes of 128 queries over 128-key blocks
    square = fused_attention_op(ONE_HEAD, q_len=4096, kv_len=4096, head_dim=128, causal=True)
    assert causal_kv_reads(square, 32, 128) == 33 / 2


def test_k_and_v_that_stay_in_the_filter_buffer_are_read_once_either_way():
    # 64 queries and keys: K + V 32,768 B fit the 32,768-B filter tile and stay; nothing to cut
    shape = {**SHAPE, "q_len": 64, "kv_len": 64}
    full, causal = (accelsim.simulate({**shape, "causal": c}, ARCH).to_dict()["ops"][0] for c in (False, True))
    assert full["mapping"]["tiling"] == causal["mapping"]["tiling"] == {"kv_passes": 1}
    assert full["bytes"]["hbm"] == causal["bytes"]["hbm"] == 4 * 64 * 128 * 2
