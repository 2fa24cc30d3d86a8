"""FlashAttention decode on a GPU preset (accelsim/cost/attention.py): the K/V load chain of one CTA, how the CTAs of
a wave share their SM and the memory bandwidth, and the copy kernels of the swapped GQA layout, each checked
against a hand calculation on the a100 preset written out below.

a100 figures used: HBM latency 600 ns x 1.41 GHz -> 846 cycles (the float product 846.0000000000001: units.time_cycles),
L2 latency 200 ns -> 282 cycles, L2 5120 B/clk / 108 SMs = 47.407 B/clk per SM, HBM sustained 2039 GB/s x 0.9 /
1.41 GHz = 1301.49 B/clk (12.05 per SM), kernel_dispatch 0.87 us -> 1227 cycles.
"""

from __future__ import annotations

from accelsim.builders.micro import AttentionParams, attention
from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.ir import OpKind

A100 = load_arch("a100")
HBM_BPC = 2039e9 * 0.9 / 1.41e9


def _shape(**kw):
    params = {"batch": 1, "heads": 32, "kv_heads": 8, "q_len": 1, "kv_len": 128, "head_dim": 128,
              "attention": "fused", "dtype": "bf16", **kw}
    graph = attention(AttentionParams(**params))
    op = next(op for op in graph.ops if op.kind is OpKind.ATTENTION)
    return op, fa.shape(op)


def test_kv_load_is_a_latency_plus_the_block_at_the_sms_port():
    # a 128-key block of head_dim 128 in bf16 is 32768 B; at 47.407 B/clk per SM: 691.2 -> 692 cycles.
    # A packed decode tile is its KV head's only reader: HBM, 846 + 692 = 1538. A prefill tile finds the block in
    # the L2 (another query tile of the head brought it): 282 + 692 = 974.
    _, decode = _shape()
    _, prefill = _shape(q_len=512, kv_len=512, kv_heads=32)
    assert fa.kv_load(decode, 128, 2, A100) == 1538
    # a decode step without GQA (one query row per head, FlashAttention-2 does not pack or split it) is also its
    # KV head's only reader
    _, mha_decode = _shape(kv_heads=32)
    assert not mha_decode.packed and mha_decode.sole
    assert fa.kv_load(mha_decode, 128, 2, A100) == 1538
    assert fa.kv_load(prefill, 128, 2, A100) == 974


def test_block_path_exposes_the_loads_fa2_cannot_hide():
    # FlashAttention-2, one K or V block in flight: V waits behind S = Q·Kᵀ (2048 / 2 = 1024 cycles), the next K
    # behind softmax + P·V (1280 + 1024 = 2304): max(1024, 1538) + max(2304, 1538) = 3842 for a decode block from
    # HBM, more than the SM's 3328 cycles of math; from the L2 (974) both loads hide: 1024 + 2304 = 3328.
    flash2 = fa.FLASH["flash2"]
    assert fa.block_path(2048, 1280, 1538, flash2) == 3842
    assert fa.block_path(2048, 1280, 974, flash2) == 3328
    # FlashAttention-3's two-stage pipeline overlaps K and V with the (overlapped) math: max(2048, 2 x 1539 / 2)
    assert fa.block_path(2048, 1280, 1539, fa.FLASH["flash3"]) == 2048


def test_cta_cost_lone_chain_versus_shared_bandwidth():
    # a CTA of 10 blocks (prologue 4216, 3328 cycles of math and a 3843-cycle path per block, 65536 B of K and V
    # per block from HBM):
    cost = fa.CtaCost(3328, 4216, 3843, 65536, HBM_BPC, 2, A100)
    # 50 CTAs running (one per SM): its critical path 4216 + 10 x 3843 = 42646 exceeds its math (37496) and its
    # bytes at 1/50 of the bandwidth (10 x 65536 x 50 / 1301.49 = 25177)
    assert cost(10, 50) == 4216 + 10 * 3843
    # a full wave (216 CTAs, 2 per SM): the bytes at 1/216 of the bandwidth, shared by the SM's 2 CTAs:
    # 10 x 65536 x 216 / 2 / 1301.49 = 54382.6
    assert cost(10, 216) == 54383
    # 256 CTAs on 216 slots: the first 216 run as a full wave, the last 40 alone on their SMs (lone chain)
    waves = cost.in_waves([1] * 256, 216)
    assert waves[:216] == [cost(1, 216)] * 216 and waves[216:] == [cost(1, 40)] * 40
    assert cost(1, 216) == 3328 + 4216 and cost(1, 40) == 4216 + 3843


def test_swap_copies_follow_the_reshape_rule():
    # mha_varlen_fwd reshapes q (batch, kv_heads x group) -> (batch x group, kv_heads): a view when batch or
    # kv_heads is 1, else a copy; the swapped output is always copied into the caller's buffer.
    one = fa.kernel_cycles(A100)
    # a100's kernel_dispatch 0.87 us (1227 cycles), an HBM load latency (846) and an L2 store latency (282)
    assert one == 1227 + 846 + 282
    # batch 1, 32 query heads of 128 bf16 features: 8192 B, read and written at 1301.49 B/clk: 12.6 -> 13 cycles
    assert fa.swap_copies(_shape()[1], 2, A100) == [one + 13]
    # batch 8, 8 KV heads: the query copy too; 8 x 8192 B both ways: 100.7 -> 101 cycles each
    assert fa.swap_copies(_shape(batch=8)[1], 2, A100) == [one + 101] * 2
    # batch 8, one KV head: q's reshape is a view
    assert len(fa.swap_copies(_shape(batch=8, kv_heads=1)[1], 2, A100)) == 1
    # not packed (prefill, or decode without GQA): no copies
    assert fa.swap_copies(_shape(q_len=64, kv_len=64)[1], 2, A100) == []
    assert fa.swap_copies(_shape(kv_heads=32)[1], 2, A100) == []


def test_small_decode_is_its_ctas_critical_path_plus_the_copy():
    # one sequence, 32 query heads on 8 KV heads, 128 cached keys: 8 CTAs of one block (4 packed rows), no split.
    # Prologue: 2 x 282 + 846 + ⌈(4 x 128 x 2 + 32768) B / 12.05 B/clk⌉ = 564 + 846 + 2805 = 4215. Each CTA is
    # alone on its SM, so no second CTA's MMAs fill its softmax (fa.lone_block): its block takes the 2176 + 1280
    # cycles of MMA issue the full-load figure charges (2176: the MMAs' operands from shared memory,
    # test_attention_model.test_block_cycles_on_a100), then its own 1280 of softmax: 4736, and its path
    # max((2176 + 1280) / 2, 1538) + max(1728 + 1280, 1538) = 1728 + 3008 = 4736. max(4736 + 4215, 4215 + 4736) =
    # 8951; then the output copy (2355 + 13 = 2368, above).
    op, s = _shape()
    assert fa.prologue(s, 64, 128, 2, A100) == 4215
    assert fa.lone_block(2176, 1280, fa.FLASH["flash2"]) == 4736
    d = fa.price(op, A100.core.systolic, A100).details
    assert d["ctas"] == 8 and d["split_kv"] == 1 and d["output_tiles"] == 8
    assert d["tile_cycles"] == 8951 + 2368


def test_flash3_packs_gqa_without_copy_kernels():
    # FlashAttention-3 (h100) packs the group inside the kernel: a packed decode that does not split (one block,
    # fewer than the 5 FlashAttention-3 splits) launches no other kernel, so kernel_dispatch does not enter it;
    # on a100 (FlashAttention-2) the output copy does, once (0.87 us = 1227 cycles)
    op, _ = _shape()
    for arch, extra in ((load_arch("h100"), 0), (A100, 1227)):
        no_gap = arch.model_copy(update={"kernel_dispatch": 0.0})
        d = fa.price(op, arch.core.systolic, arch).details
        assert d["gqa_packed"] and d["split_kv"] == 1
        assert d["tile_cycles"] - fa.price(op, no_gap.core.systolic, no_gap).details["tile_cycles"] == extra


def test_a_sequence_shorter_than_a_block_loads_only_its_own_keys():
    # FlashAttention's K/V tile copy issues no load for a row past the sequence's end (flash-attention utils.h
    # copy, max_MN = actual_seqlen_k - n_block * kBlockN): a 16-token cache in a 128-key block moves 16 rows.
    # 16 x 128 x 2 B = 4096 B at 47.407 B/clk per SM: 86.4 -> 87 cycles; + the HBM latency 846 = 933 (a full
    # block: 1538, test above)
    _, short = _shape(kv_len=16)
    assert fa.block_keys(short, 128) == 16
    assert fa.kv_load(short, 128, 2, A100) == 846 + 87
    # the K/V bytes the CTAs read from the L2: 1 CTA (one KV head's packed 4-row tile; batch 1, 8 KV heads: 8 CTAs)
    # reads its query and writes its output tile, 4 rows x 128 x 2 B each, and K and V of its one block, 16 keys:
    # 8 x (2 x 1024 + 2 x 16 x 256) = 81920 B (the whole 128-key block would be 8 x (2048 + 65536) = 540672)
    op, _ = _shape(kv_len=16)
    d = fa.price(op, A100.core.systolic, A100).details
    assert d["ctas"] == 8 and d["kv_blocks"] == 8 and d["block"] == [64, 128]
    assert fa.cache_bytes(op, d) == 8 * (2 * 4 * 128 * 2 + 2 * 16 * 128 * 2)


def test_a_shorter_cache_is_never_slower():
    # the same CTAs over 1, 16 and 128 cached keys (one block each): fewer bytes, never more time; a large batch
    # (2048 sequences x 8 KV heads = 16384 CTAs), where each CTA's block load is on the critical path of its wave
    op = {kv: _shape(batch=2048, kv_len=kv)[0] for kv in (1, 16, 128)}
    t = {kv: fa.price(o, A100.core.systolic, A100).cycles for kv, o in op.items()}
    assert t[1] < t[16] < t[128]
