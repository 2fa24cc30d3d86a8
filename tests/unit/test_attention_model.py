"""FlashAttention cost model (accelsim/cost/attention.py): block counts, causal skipping, GQA packing, split-KV and the
per-block cycles on the a100 preset, each checked against a hand calculation written out below."""

from __future__ import annotations

import dataclasses
import math

import pytest

import accelsim
from accelsim import __version__
from accelsim.builders.micro import AttentionParams, attention
from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.cost import systolic
from accelsim.engine import simulate
from accelsim.ir import OpKind
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report

from .attention_ops import fused_attention_op

A100 = load_arch("a100")


def _op(**kw):
    return fused_attention_op({"batch": 1, "heads": 32, "kv_heads": 32, "q_len": 512, "kv_len": 512, "head_dim": 128}, **kw)


def _price(**kw):
    return systolic.price(_op(**kw), A100.core.systolic, A100)


def test_kv_blocks_causal_is_half_plus_diagonal():
    # 512 queries in 64-row tiles (8 tiles) against 512 keys in 128-key blocks (4 blocks):
    # non-causal 8 x 4 = 32 blocks. Causal: tile t sees keys < (t + 1)·64, so ⌈(t + 1)·64 / 128⌉ blocks:
    # 1, 1, 2, 2, 3, 3, 4, 4 = 20 = half of 32 (16) plus the 4 blocks the diagonal cuts through.
    assert fa.kv_blocks(512, 512, False, 64, 128) == 32
    assert fa.kv_blocks(512, 512, True, 64, 128) == 20
    # bottom-right alignment: 64 new queries after 448 cached keys see all 512 keys (4 blocks), as non-causal
    assert fa.kv_blocks(64, 512, True, 64, 128) == fa.kv_blocks(64, 512, False, 64, 128) == 4


def test_block_n_follows_head_dim():
    # flash-attention run_mha_fwd_splitkv_dispatch: kBlockN 256 (head_dim <= 64), 128 (<= 128), else 64
    assert [fa.block_n(d) for d in (64, 128, 256)] == [256, 128, 64]


def test_num_splits_hand_cases():
    # 216 slots (108 SMs x 2 CTAs). 173 CTAs >= 0.8 x 216 = 172.8: no split.
    assert fa.num_splits(173, 216, 128) == 1
    # 8 CTAs, 128 blocks: a split count s is eligible when ⌈128/s⌉ differs from ⌈128/(s-1)⌉; wave efficiency of
    # s splits is 8s/216 below one wave. Best eligible: s = 26 (⌈128/26⌉ = 5 != ⌈128/25⌉ = 6), 208/216 = 0.963;
    # threshold 0.85 x 0.963 = 0.819; s = 22 (eligible, 176/216 = 0.815) falls short, 23..25 are not eligible.
    assert fa.num_splits(8, 216, 128) == 26
    # 1 CTA, 128 blocks: s/216 is largest at s = 128 (0.593, threshold 0.504); eligible s >= 0.504 x 216 = 109
    # is only 128 (109..127 all give 2 blocks, like 108), so 128 splits of one block each.
    assert fa.num_splits(1, 216, 128) == 128
    # FlashAttention-3 (hopper/heuristics.h) weighs every split count: 8 CTAs on 132 SMs, 32 blocks: 8s/132 is best
    # at s = 16 (0.970), threshold 0.825, first reached at s = 14 (112/132 = 0.848), which FlashAttention-2 skips
    # (⌈32/14⌉ = ⌈32/13⌉ = 3) for s = 16
    assert fa.num_splits(8, 132, 32, eligible_only=False) == 14 and fa.num_splits(8, 132, 32) == 16
    # FlashAttention-3 under vLLM (varlen, dynamic split): that heuristic over one sequence's CTAs bounds the count,
    # then prepare_varlen_num_blocks takes ⌈n / ⌈all blocks x 1.1 / SMs⌉⌉. Batch 1, 8 KV heads, 32 blocks: bound 14,
    # blocks_per_sm ⌈8 x 32 x 1.1 / 132⌉ = 3, ⌈32 / 3⌉ = 11 splits. Batch 8: the bound is still 14 (batch read as
    # 1), blocks_per_sm ⌈64 x 32 x 1.1 / 132⌉ = 18, ⌈32 / 18⌉ = 2
    assert fa.fa3_splits(8, 1, 32, 132, 5) == 11 and fa.fa3_splits(64, 8, 32, 132, 5) == 2


def test_block_cycles_on_a100():
    # per 64 x 128 block with head_dim 128: S = Q·Kᵀ and O += P·V are 2 x 64·128·128 MACs on the SM's
    # 32 x 32 = 1024 MAC/clk array: 2048 cycles; but the split kernel's 4 warps each read their 16 query rows and
    # the whole K and V blocks from shared memory to feed them, (64 + 2 x 4 x 128) x 128 x 2 = 278,528 B at the
    # SM's 128 B per clock (core.sram.bytes_per_cycle): 2176 cycles. The softmax of 64·128 = 8192 scores at 80
    # lane-cycles each on 512 lanes: 1280 cycles.
    d = _price().details
    assert d["block"] == [64, 128]
    assert fa.cta_warps(fa.FLASH["flash2"], 64, 128, 128) == 4
    assert fa.operand_bytes(64, 128, 128, 4, 2) == 278528
    assert d["block_tensor_cycles"] == d["block_operand_cycles"] == 2176
    assert d["block_softmax_cycles"] == 1280


PROLOGUE = 3461  # test_prologue_on_a100


def test_prologue_on_a100():
    # before its first MMA a CTA reads its sequence length and then its first block-table entry, two dependent
    # L2 hits (200 ns x 1.41 GHz = 282 cycles each), waits one HBM latency (600 ns x 1.41 GHz = 846 cycles; the float
    # product is 846.0000000000001, which units.time_cycles takes as 846) and loads its 64 x 128
    # bf16 query tile (16384 B) at an SM's share of HBM (2039 GB/s x 0.9 / 1.41 GHz / 108 = 12.05 B/clk: 1359.5
    # cycles) and its first 128 x 128 K block (32768 B) at an SM's share of the L2 (7219.2 GB/s / 1.41 GHz / 108
    # = 47.41 B/clk: 691.2 cycles): 2 x 282 + 846 + ⌈2050.7⌉ = 3461
    s = fa.shape(_op())
    assert fa.prologue(s, 64, 128, 2, A100) == PROLOGUE


def test_causal_halves_the_work():
    # 8192-token prefill, 32 heads: 128 query tiles x 64 key blocks = 8192 blocks per head non-causal; causal
    # Σ_t ⌈(t+1)/2⌉ = 2 x (1 + ... + 64) = 4160 blocks. 32 x 128 = 4096 CTAs (> 16 per SM: averaged), each
    # 2176 + 1280 = 3456 cycles per block (test_block_cycles_on_a100) plus the 3461-cycle prologue: non-causal 64
    # blocks each, causal 4160/128 = 32.5 on average.
    full, causal = _price(q_len=8192, kv_len=8192), _price(q_len=8192, kv_len=8192, causal=True)
    assert full.details["kv_blocks"] == 32 * 8192 and causal.details["kv_blocks"] == 32 * 4160
    assert full.details["ctas"] == causal.details["ctas"] == 4096
    assert full.details["tile_cycles"] == 64 * 3456 + PROLOGUE
    assert causal.details["tile_cycles"] == -(-(4160 * 3456 + 128 * PROLOGUE) // 128)
    assert 0.5 < causal.cycles / full.cycles < 0.52


def test_few_waves_are_scheduled_longest_last():
    # 2048-token causal prefill, 8 heads: 8 x 32 = 256 CTAs (under 16 per SM: list-scheduled on 108 SMs). Tile t
    # walks ⌈(t+1)/2⌉ blocks; one head's tiles launch in order, so the last heads' heavy tiles (up to 16 blocks)
    # end the op later than the average share of one SM (Σ = 8 x 272 blocks / 108).
    d = _price(heads=8, kv_heads=1, q_len=2048, kv_len=2048, causal=True).details
    assert d["ctas"] == 256 and d["output_tiles"] == 108
    assert fa.makespan([5, 1], 1, 2) == 5 and fa.makespan([1, 1, 1], 2, 2) == 3
    average = -(-(8 * 272 * 3456 + 256 * PROLOGUE) // 108)
    assert d["tile_cycles"] >= average
    assert d["tile_cycles"] >= 16 * 3456 + PROLOGUE


def test_gqa_decode_packs_the_group_and_splits_kv():
    # decode, 32 query heads on 8 KV heads: each KV head's 4 query heads are one tile's rows, so 8 CTAs per
    # sample; 16384 cached keys = 128 blocks; 8 CTAs on 216 slots -> 26 splits (test_num_splits_hand_cases),
    # 8 x 26 = 208 CTAs of ⌈128/26⌉ = 5 blocks.
    d = _price(q_len=1, kv_len=16384, kv_heads=8).details
    assert d["gqa_packed"] and d["split_kv"] == 26
    assert d["ctas"] == 208 and d["blocks_per_cta"] == 5
    # then the combine kernel: the 26 log-sum-exps at once (one L2 latency, 200 ns x 1.41 GHz = 282 cycles), then
    # 26 partials one after another, each an L2 latency plus a 128 x 4 B fp32 partial row at 47.41 B/clk
    # (⌈10.8⌉ = 11): 282 + 26 x 293 = 7900 cycles
    assert fa.combine_cycles(26, 128, A100) == 282 + 26 * 293
    # without GQA a decode step is one (padded) tile per query head and is not split
    d = _price(q_len=1, kv_len=16384).details
    assert not d["gqa_packed"] and d["split_kv"] == 1 and d["ctas"] == 32


def test_flash3_combine_pipelines_its_partial_loads():
    """FlashAttention-3's combine (hopper/flash_fwd_combine_kernel.h, kStages = 4) issues the log-sum-exps and the
    partials of splits 0-2 together, then in iteration s the load of split s + 3 before it waits for split s
    (cp_async_wait<3>): after the first latency the partials land 4 per L2 latency. FlashAttention-2's
    combine_attn_seqk_parallel reads one split's partial, adds it, then the next (probe p269 #1)."""
    h100 = load_arch("h100")
    assert fa.FLASH["flash3"].combine_stages == 4 and fa.FLASH["flash2"].combine_stages == 0
    # h100: L2 latency 200 ns x 1.83 GHz = 366 cycles; a head-dim-64 fp32 partial row, 256 B, at the SM's share of
    # the L2 (11,452 GB/s / 1.83 GHz / 132 SMs = 47.41 B/clk) takes ⌈5.4⌉ = 6 cycles
    # 56 splits (gpt-oss-120b's TP-8 decode at 8,192 keys): splits 0-2 with the log-sum-exps in one latency, the
    # other 53 in ⌈53 / 4⌉ = 14 more: 15 x 366 + 56 x 6 = 5,826 cycles (3.18 us), where one latency per split
    # (FlashAttention-2's rule) is 366 + 56 x (366 + 6) = 21,198 (11.58 us)
    assert fa.combine_cycles(56, 64, h100, 4) == 15 * 366 + 56 * 6 == 5826
    assert fa.combine_cycles(56, 64, h100) == 366 + 56 * (366 + 6) == 21198
    # up to 3 splits ride on the log-sum-exps' latency; the 4th to 7th take one more, the 8th a third
    assert fa.combine_cycles(3, 64, h100, 4) == 366 + 3 * 6
    assert fa.combine_cycles(7, 64, h100, 4) == 2 * 366 + 7 * 6
    assert fa.combine_cycles(8, 64, h100, 4) == 3 * 366 + 8 * 6
    # the decode op that probe p269 found slower on 1 KV head (8x less K/V) than on 8: gpt-oss-120b's full layer,
    # 64 query heads of head dim 64 at 8,192 keys on h100; TP 8 leaves 8 query heads on 1 KV head per chip
    one, eight = (systolic.price(fused_attention_op({"batch": 1, "heads": h, "kv_heads": kv, "q_len": 1,
                                                     "kv_len": 8192, "head_dim": 64}), h100.core.systolic, h100)
                  for h, kv in ((8, 1), (64, 8)))
    # (its SMs each run one CTA, so an SM's tile_cycles is the op's time: 33,178 against 26,770 before)
    assert one.details["split_kv"] > eight.details["split_kv"] > 1
    assert one.details["output_tiles"] <= h100.cores and eight.details["output_tiles"] <= h100.cores
    assert one.details["tile_cycles"] < eight.details["tile_cycles"]


def test_gqa_reads_kv_once_per_kv_head():
    # the kernel's HBM bytes: Q and O (b·h·q·d each), K and V once per KV head (b·kv_heads·kv·d each), however
    # many query-tile CTAs read them (through the L2). 512 tokens, head_dim 128, bf16: q·d·2 B = 131072 B.
    per_head = 512 * 128 * 2
    for kv_heads in (32, 4):
        graph = attention(AttentionParams(heads=32, kv_heads=kv_heads, q_len=512, kv_len=512, head_dim=128,
                                          attention="fused", dtype="bf16", causal=True))
        tg = lower(graph, A100, Options())
        report = build_report(graph, A100, tg, simulate(tg), name="t", workload={}, version=__version__)
        assert report["ops"][0]["bytes"]["hbm"] == (2 * 32 + 2 * kv_heads) * per_head


def test_a_latent_attention_reads_its_one_kv_tensor_once():
    # DeepSeek's latent decode as FlashMLA runs it: one KV head of 576 features, the values its first 512
    # (shared_kv). MACs = b·h·q·kv·(576 + 512); the kernel's HBM bytes are q (b·h·q·576), the output (b·h·q·512)
    # and the latent cache once (b·kv·576), all bf16: 2 · 128 heads · 2 tokens · 4096 keys · 1088 = 2,281,701,376
    # MACs; (128·2·576 + 128·2·512 + 4096·576) · 2 B = 5,275,648 B
    params = dict(batch=1, heads=128, kv_heads=1, q_len=2, kv_len=4096, head_dim=576, v_head_dim=512,
                  attention="fused", dtype="bf16", causal=True)
    shared = attention(AttentionParams(**params, shared_kv=True))
    assert set(shared.inputs) == {"q", "k"}
    op = next(op for op in shared.ops if op.kind is OpKind.ATTENTION)
    assert op.macs == 128 * 2 * 4096 * (576 + 512) and op.out_shape == (1, 128, 2, 512)
    tg = lower(shared, A100, Options())
    report = build_report(shared, A100, tg, simulate(tg), name="t", workload={}, version=__version__)
    assert report["ops"][-1]["bytes"]["hbm"] == (128 * 2 * 576 + 128 * 2 * 512 + 4096 * 576) * 2
    # separate values of 512 features: the same MACs, and the values' 4096 · 512 · 2 B read besides
    pair = attention(AttentionParams(**params))
    tg = lower(pair, A100, Options())
    report = build_report(pair, A100, tg, simulate(tg), name="t", workload={}, version=__version__)
    assert report["ops"][-1]["bytes"]["hbm"] == (128 * 2 * 576 + 128 * 2 * 512 + 4096 * (576 + 512)) * 2
    with pytest.raises(ValueError, match="v_head_dim .* must be ≤ head_dim"):
        AttentionParams(**{**params, "v_head_dim": 640}, shared_kv=True)


def test_kv_cache_write_adds_one_append_of_the_new_tokens():
    # decode over 4096 cached tokens with 8 KV heads of 128: the one new token's K and V are written first
    # (2 x 8 x 1 x 128 elements), then attention reads the whole cache: the 4095 past tokens and the written one
    graph = attention(AttentionParams(batch=2, heads=32, kv_heads=8, q_len=1, kv_len=4096, head_dim=128,
                                      attention="fused", kv_cache_write=True))
    kinds = [op.kind for op in graph.ops if op.kind is not OpKind.RESHAPE]
    assert kinds == [OpKind.KV_APPEND, OpKind.CONCAT, OpKind.CONCAT, OpKind.ATTENTION]
    append = graph.ops[0]
    assert append.inputs == ("k_new", "v_new")
    assert append.out_shape == (2, 2, 8, 1, 128)
    assert graph.inputs["k"] == (2, 8, 4095, 128)
    shapes = {op.name: op.out_shape for op in graph.ops}
    att = graph.ops[-1]
    assert att.kind is OpKind.ATTENTION
    assert [shapes[x] for x in att.inputs[1:3]] == [(2, 8, 4096, 128)] * 2


def test_an_fp8_kv_cache_halves_the_cache_bytes_and_runs_the_fused_kernel_in_fp8():
    # decode, 2 sequences over 4096 tokens, 8 KV heads of 128, bf16 activations and an fp8 cache: the append writes
    # the new token's K and V at 1 B (2 x 2 x 8 x 128 = 4096 B) and the fused kernel reads the cache at 1 B
    # (K and V 2 x 2 x 8 x 4096 x 128 = 16777216 B; bf16: twice) and writes its output in bf16
    p = dict(batch=2, heads=32, kv_heads=8, q_len=1, kv_len=4096, head_dim=128, attention="fused",
             kv_cache_write=True, dtype="bf16")
    fp8, bf16 = (attention(AttentionParams(**p, **kw)) for kw in ({"kv_cache_dtype": "fp8"}, {}))
    ops = {op.name: op for op in fp8.ops}
    assert ops["kv_append"].dtype == "fp8" and ops["kv_append"].out_bytes == 2 * 2 * 8 * 128
    att = ops["attention"]
    assert att.dtype == "fp8" and att.out_dtype == "bf16" and att.out_bytes == 2 * 32 * 128 * 2
    assert fp8.info.kv_cache_dtype == "fp8" and bf16.info.kv_cache_dtype is None
    h100 = load_arch("h100")
    reports = []
    for graph in (fp8, bf16):
        tg = lower(graph, h100, Options(execution="cuda_graph"))
        reports.append({o["name"]: o for o in build_report(graph, h100, tg, simulate(tg), name="t", workload={},
                                                            version=__version__)["ops"]})
    cache = 2 * 2 * 8 * 4096 * 128
    assert reports[0]["attention"]["bytes"]["hbm"] >= cache and reports[1]["attention"]["bytes"]["hbm"] >= 2 * cache
    assert reports[0]["attention"]["bytes"]["hbm"] < 2 * cache
    # the fused kernel prices its MMAs at fp8's tensor rate (h100.yaml rates: fp8 2 x bf16) in FlashAttention-3's
    # 8-bit blocks (tile_size_fwd_sm90, hd 128, paged: 128 x 160): a decode block takes 2 x 128 x 160 x 128 /
    # (2048 x 2) MAC/clk = 1280 cycles, the bf16 128 x 128 block 2 x 128 x 128 x 128 / 2048 = 2048
    assert [r["attention"]["mapping"]["block_tensor_cycles"] for r in reports] == [1280, 2048]


def test_kv_cache_write_runs_before_the_attention_kernel():
    # the attention kernel reads the K/V the append wrote (as vLLM's flash kernel reads the paged cache), so on a
    # GPU it starts after the append ends, plus the 0.87 us kernel_dispatch of a100.yaml: 1227 cycles at 1.41 GHz
    graph = attention(AttentionParams(heads=8, kv_heads=8, q_len=128, kv_len=128, attention="fused",
                                      kv_cache_write=True, dtype="bf16"))
    tg = lower(graph, A100, Options(execution="cuda_graph"))
    report = build_report(graph, A100, tg, simulate(tg), name="t", workload={}, version=__version__)
    ops = {op["name"]: op for op in report["ops"]}
    assert ops["attention"]["start_cycle"] >= ops["kv_append"]["end_cycle"]
    assert report["kernel_dispatch_s"] == pytest.approx(2 * 1227 / 1.41e9)
    with pytest.raises(ValueError, match="kv_len"):
        AttentionParams(q_len=8, kv_len=4, kv_cache_write=True)


def test_flash3_tiles_and_overlap_on_h100():
    # h100 runs FlashAttention-3: causal hd-128 tiles of 128 x 128 (tile_size_fwd_sm90), one CTA per SM, and the
    # softmax overlapped with the MMAs: a block costs max(2 x 128·128·128 / 2048 MAC/clk = 2048 at the 75 % of the
    # tensor peak FlashAttention-3's MMAs sustain at best (its paper: up to 740 TFLOPS, 75 % utilization) = ⌈2730.7⌉,
    # softmax of 128·128 scores at 64 lane-cycles on 512 lanes = 2048) = 2731 cycles, where FlashAttention-2 adds them
    h100 = load_arch("h100")
    op = _op(q_len=8192, kv_len=8192, causal=True)
    d = systolic.price(op, h100.core.systolic, h100).details
    assert d["kernel"] == "flash3" and d["block"] == [128, 128]
    assert d["block_tensor_cycles"] == math.ceil(2 * 128 * 128 * 128 / (h100.core.systolic.rows
                                                                          * h100.core.systolic.cols) / 0.75) == 2731
    assert d["block_softmax_cycles"] == 128 * 128 * 64 // 512
    # 64 query tiles; tile t sees keys < (t+1)·128: t+1 blocks; 32 heads x Σ(t+1) = 32 x 2080 blocks
    assert d["kv_blocks"] == 32 * 2080
    # FlashAttention-3 does not split 4 or fewer K/V blocks
    assert fa.num_splits(1, 132, 4, min_blocks=5) == 1
    # the 75 % is a prefill figure: a decode step's block (one query row per head here, MHA) keeps the peak rate,
    # 2 x 128 rows x 128 keys x 128 / 2048 = 2048 cycles. A paged KV cache is read without TMA (get_pagedkv_tma:
    # a page of 16 or 64 tokens is no multiple of kBlockN, and seqlen_q x group = 1 <= kBlockM), so the
    # non-causal hd-128 kernel takes tile_size_fwd_sm90's 128-key blocks (paged_kv_non_TMA), not 176
    dec = systolic.price(_op(q_len=1, kv_len=4096), h100.core.systolic, h100).details
    assert dec["block"] == [128, 128] and dec["block_tensor_cycles"] == 2 * 128 * 128 * 128 // 2048 == 2048
    assert systolic.price(_op(head_dim=64), h100.core.systolic, h100).details["block"] == [192, 128]


def test_flash3_16bit_tiles_follow_every_head_dim_branch_of_tile_size_fwd_sm90():
    """Dao-AILab/flash-attention hopper/tile_size.h tile_size_fwd_sm90, element_size 2, as vLLM calls it over a
    paged KV cache read without TMA (paged_kv_non_TMA; is_local: a sliding window): headdim <= 64: {192, is_causal ?
    128 : ...}; <= 96: {192, is_local || paged_kv_non_TMA ? 128 : 144}; <= 128: {128, ... paged_kv_non_TMA ? 128};
    <= 192: {128, paged_kv_non_TMA || is_local ? 96 : ...}; larger: {128, is_local ? 64 : 80}. Probe p175 #3:
    head_dim 80 (phi-2) and 96 ran 128 x 128, a gemma local layer at head_dim 256 128 x 80."""
    k = fa.FLASH["flash3"]

    def tile(d, window=0):
        return k.tile(fa.Shape(1, 8, 4096, 4096, d, True, False, window=window))

    assert tile(64) == (192, 128)
    assert tile(80) == tile(96) == (192, 128)  # was 128 x 128
    assert tile(96, window=512) == (192, 128)
    assert tile(128) == (128, 128)
    assert tile(192) == tile(192, window=512) == (128, 96)
    assert tile(256) == (128, 80)
    assert tile(256, window=512) == (128, 64)  # was 128 x 80
    # through the model: phi-2's head_dim 80 runs FA3's 96 kernel (mma_head_dim) on 192 x 128 tiles
    h100 = load_arch("h100")
    d = systolic.price(_op(head_dim=80, q_len=4096, kv_len=4096, causal=True), h100.core.systolic, h100).details
    assert d["block"] == [192, 128] and d["mma_head_dim"] == 96
    # 4096 / 192 = 21.3 -> 22 query tiles; tile t sees keys < min(4096, 192(t + 1)): ⌈192(t + 1) / 128⌉ blocks,
    # 32 K/V blocks for the last: Σ_{t<21} ⌈1.5(t + 1)⌉ + 32 = 352 + 32 = 384 a head
    assert sum(-(-192 * (t + 1) // 128) for t in range(21)) == 352
    assert d["kv_blocks"] == 32 * 384
    # the tile fits the SM: (192 + 2 x 128) x 96 x 2 B = 86,016 B of 228 KiB
    assert fa.unsupported(_op(head_dim=80), h100) is None


def test_an_fp8_attention_writes_its_output_in_bf16():
    # FlashAttention-3's FP8 forward takes fp8 Q, K and V and writes O in bf16 (hopper/flash_api.cpp mha_fwd:
    # out_type = BFloat16 for Float8_e4m3fn): a prefill of 1 x 16 heads x 512 queries x hd 128 in fp8 reads
    # Q at 1 B (16 x 512 x 128 = 1048576 B) and writes O at 2 B (2097152 B), not 1 B
    g = attention(AttentionParams(batch=1, heads=16, kv_heads=16, q_len=512, kv_len=512, head_dim=128,
                                  attention="fused", dtype="fp8"))
    att = g.ops[-1]
    assert att.kind is OpKind.ATTENTION and att.dtype == "fp8" and att.out_dtype == "bf16"
    assert att.in_bytes == 3 * 16 * 512 * 128 and att.out_bytes == 2 * 16 * 512 * 128 == 2097152
    # a builder's own out_dtype stands, and the rule is the fused kernel's: the unfused ops keep their dtype
    assert dataclasses.replace(att, attrs={**att.attrs, "out_dtype": "fp8"}).out_bytes == 16 * 512 * 128
    unfused = attention(AttentionParams(batch=1, heads=16, kv_heads=16, q_len=512, kv_len=512, head_dim=128,
                                        dtype="fp8"))
    assert all(op.out_dtype == "fp8" for op in unfused.ops)


def test_fp8_attention_runs_its_mmas_at_the_fp8_rate():
    # h100's tensor cores do fp8 at twice the bf16 rate (datasheet: 1978.9 vs 989.4 TFLOPS dense; the preset's
    # rates.fp8 = 2), as FlashAttention-3's FP8 forward does, in its 8-bit tiles (hopper/tile_size.h
    # tile_size_fwd_sm90, element_size 1, hd 128 with a paged cache: 128 x 160, causal or not): a block's MMAs take
    # ⌈2 x 128·160·128 / (2048 x 2) / 0.75⌉ = 1707 cycles where the bf16 128 x 128 block takes 2731; the softmax
    # costs per score alike, 160 / 128 of the bf16 block's
    h100 = load_arch("h100")
    bf16, fp8 = (systolic.price(_op(q_len=8192, kv_len=8192, causal=True, dtype=dt), h100.core.systolic,
                                h100).details for dt in ("bf16", "fp8"))
    assert fp8["block"] == [128, 160] and bf16["block"] == [128, 128]
    assert fp8["block_tensor_cycles"] == math.ceil(2 * 128 * 160 * 128 / (2048 * 2) / 0.75) == 1707
    assert fp8["block_softmax_cycles"] * 128 == bf16["block_softmax_cycles"] * 160
    # a100's flash2 (FlashAttention-2) takes no fp8 (its README: fp16 and bf16), and the A100 has no fp8 tensor
    # rate: an fp8 attention there (an fp8 KV cache) runs flash2 at the bf16 rate it writes, K/V dequantised on read,
    # as serving stacks run it (probe p252 #2: it used to go to the fused fallback, 1.46x under flash2 at that rate)
    d = systolic.price(_op(dtype="fp8"), A100.core.systolic, A100).details
    assert "flash_unsupported" not in d and d["kernel"] == "flash2" and d["kv_dequant"] == "fp8"
    assert d["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0}


def test_flash2_ctas_per_sm_are_what_the_shared_memory_holds():
    # FlashAttention-2's split-KV CTA keeps its 64-row query tile and one 128-key K and V block (hd 128): (64 + 2 x
    # 128) x 128 x 2 B = 80 KiB. An A100 SM's 164 KiB hold two; an L40S (Ada) SM's 100 KiB one. At hd 256 (64-key
    # blocks) a CTA takes (64 + 128) x 256 x 2 B = 96 KiB: one on the A100 too
    l40s = load_arch("l40s")
    assert (64 + 2 * 128) * 128 * 2 == 81920
    assert systolic.price(_op(), A100.core.systolic, A100).details["ctas_per_sm"] == 2
    assert systolic.price(_op(), l40s.core.systolic, l40s).details["ctas_per_sm"] == 1
    assert systolic.price(_op(head_dim=256), A100.core.systolic, A100).details["ctas_per_sm"] == 1
    # the split heuristic still counts FlashAttention-2's 2 slots per SM (set_params_splitkv: num_SMs * 2): a
    # GQA decode of 4096 keys with 8 KV heads (8 packed CTAs unsplit) splits by it alike on both
    dec = {"q_len": 1, "kv_len": 4096, "heads": 32, "kv_heads": 8}
    assert (systolic.price(_op(**dec), l40s.core.systolic, l40s).details["split_kv"]
            == fa.num_splits(8, 2 * l40s.cores, 4096 // 128))


def test_backward_is_the_forward_kernel_model_times_its_work_and_slowdown():
    """A fused attention's backward (fn attention_grad: S recomputed, dV, dP, dQ, dK, 2.5x the forward's MACs) is
    priced from the forward kernel's model of the same shape, so a causal backward skips the blocks above the
    diagonal as the forward does: its cycles are the forward's × 2.5 × 1.16 (the backward's published throughput
    against the forward's: FA3 paper H100 FA2 370 / 318, FA3 646 / 559; FA2 paper A100 73 % / 63 %)."""
    op = _op()
    grad = dataclasses.replace(op, attrs={**op.attrs, "fn": "attention_grad"})
    assert fa.flash(op, A100) and not fa.flash(grad, A100) and fa.flash(grad, A100, "attention_grad")
    fwd = systolic.price(op, A100.core.systolic, A100)
    bwd = systolic.price(grad, A100.core.systolic, A100)
    tile = math.ceil(fwd.details["tile_cycles"] * 2.5 * 1.16)
    assert bwd.cycles == fwd.details["output_tiles"] * tile and bwd.details["kernel"] == "flash2_backward"
    # causal: the same blocks as the causal forward (about half and the diagonal), not the full square
    causal = dataclasses.replace(grad, attrs={**grad.attrs, "causal": True, "q_len": 4096, "kv_len": 4096})
    full = dataclasses.replace(causal, attrs={**causal.attrs, "causal": False})
    c, f = (systolic.price(x, A100.core.systolic, A100) for x in (causal, full))
    assert c.details["kv_blocks"] < 0.55 * f.details["kv_blocks"] and c.cycles < 0.6 * f.cycles
    # its L2 traffic counts twice the forward's block bytes (Q and dO in, dQ's sums through the L2)
    assert bwd.details["block_passes"] == 2


def test_split_kv_combine_is_a_kernel_of_its_own():
    # decode of one sequence over 4096 keys with 8 KV heads: 8 CTAs split their K/V; the combine kernel and the
    # output copy of the swapped GQA layout are kernels of their own, each starting a100's kernel_dispatch
    # (0.87 us x 1.41 GHz = 1227 cycles) after the kernel before it, like any dependent kernel
    op = _op(heads=32, kv_heads=8, q_len=1, kv_len=4096)
    d = fa.price(op, A100.core.systolic, A100).details
    no_gap = A100.model_copy(update={"kernel_dispatch": 0.0})
    assert d["split_kv"] > 1
    assert d["tile_cycles"] - fa.price(op, no_gap.core.systolic, no_gap).details["tile_cycles"] == 2 * 1227
    # each such kernel: the dispatch, one HBM load latency before its first data (846, test_prologue_on_a100) and
    # one L2 latency after its last write (200 ns = 282: a GPU's stores are done in its write-back L2), as the
    # engine prices every op: 1227 + 846 + 282 = 2355
    assert fa.kernel_cycles(A100) == 2355


def test_mac_fraction_counts_the_blocks_the_kernel_computes():
    # a100 FlashAttention-2, hd 128: 128 x 64 tiles (test_causal_halves_the_work). 8192² causal: 4160 blocks of
    # 128 x 64 scores per head of 8192 x 8192 = 4160 · 8192 / 8192² = 0.5078; non-causal all 8192 blocks: 1
    assert _price(q_len=8192, kv_len=8192, causal=True).details["mac_fraction"] == pytest.approx(4160 / 8192)
    assert _price(q_len=8192, kv_len=8192).details["mac_fraction"] == 1.0
    # 100 keys: one 64-key block is padded past them (2 blocks = 128 keys > 100): clamped at every MAC, 1
    assert _price(q_len=128, kv_len=100).details["mac_fraction"] == 1.0


def test_causal_prefill_mac_utilization_counts_the_macs_computed():
    # h100 flash3 causal 8192² prefill (test_flash3_tiles_and_overlap_on_h100): 2080 of the 64 x 64 blocks of
    # 128 x 128 per head are computed, 2080/4096 of the op's MACs. mac_utilization counted all 32 · 8192² · 128 · 2
    # MACs of the op and came out above the array's busy fraction; counted as computed it cannot exceed it
    h100 = load_arch("h100")
    graph = attention(AttentionParams(batch=1, heads=32, kv_heads=32, q_len=8192, kv_len=8192, head_dim=128,
                                      attention="fused", dtype="bf16", causal=True))
    tg = lower(graph, h100, Options())
    rep = build_report(graph, h100, tg, simulate(tg), name="causal", workload={}, version=__version__)
    op = next(o for o in rep["ops"] if o["kind"] == "attention")
    assert op["macs"] == 2 * 32 * 8192 * 8192 * 128 and op["mapping"]["mac_fraction"] == pytest.approx(2080 / 4096)
    peak = h100.peak_macs_per_cycle
    assert rep["mac_utilization"] == pytest.approx(op["macs"] * 2080 / 4096 / (peak * rep["total_cycles"]))
    assert rep["mac_utilization"] <= rep["utilization"]["core*.systolic0"]


def test_warp_mma_share_slows_only_kernels_of_warp_mmas():
    # core.systolic.warp_mma: the share of the tensor peak warp-level mma.sync sustains. FlashAttention-2 is built
    # on it, FlashAttention-3 issues Hopper's wgmma; the h100 preset's 0.67 comes from the FlashAttention-3 paper's
    # FA2 bar (370 TFLOPS, 8k tokens, head dim 128), a100's warp MMAs are its peak (1.0)
    from accelsim.builders.micro import AttentionParams, attention
    from accelsim.config import load_arch
    from accelsim.cost import attention as fa

    h100, a100 = load_arch("h100"), load_arch("a100")
    assert h100.core.systolic.warp_mma == 0.67 and a100.core.systolic.warp_mma == 1.0
    g = attention(AttentionParams(batch=2, heads=16, kv_heads=16, head_dim=128, q_len=8192, kv_len=8192,
                                  attention="fused", dtype="bf16"))
    op = next(o for o in g.ops if o.kind.name == "ATTENTION")

    def cycles(kernel: str, share: float) -> int:
        sa = h100.core.systolic.model_copy(update={"warp_mma": share})
        arch = h100.model_copy(update={"core": h100.core.model_copy(update={"systolic": sa,
                                                                              "attention_kernel": kernel})})
        return fa.price(op, sa, arch).cycles

    assert cycles("flash3", 0.67) == cycles("flash3", 1.0)  # wgmma: untouched
    # the dense kernel's 128 x 64 blocks: the MMAs take 1 / 0.67 = 1.49x as long (2 x 128·64·128 / 2048 / 0.67 =
    # 1528 cycles, above the (128 + 2 x 4 x 64) x 128 x 2 / 128 = 1280 its operands take from shared memory);
    # softmax, loads and the prologue do not, so the kernel less than that
    slow, full = cycles("flash2_dense", 0.67), cycles("flash2_dense", 1.0)
    assert 1.0 < slow / full < 1 / 0.67
    # the split kernel's 64 x 128 blocks are bound by their operands' 2176 cycles of shared memory either way
    # (2 x 64·128·128 / 2048 / 0.67 = 1528): the share does not show
    assert cycles("flash2", 0.67) == cycles("flash2", 1.0)


def test_a_packed_prefill_tiles_query_head_pairs_and_keeps_the_causal_blocks():
    # FlashAttention-3 as vLLM calls it packs a prefill's GQA group into its tiles' rows (hopper/flash_api.cpp
    # get_pack_gqa: always for a paged KV cache read without TMA). 512 queries of a group of 4: 2048 rows, query-major
    # (row r: query r // 4), 128 rows per tile hold 32 queries; causal tile t sees keys < 32(t + 1):
    # ⌈32(t + 1) / 128⌉ = 1,1,1,1,2,2,2,2,3,3,3,3,4,4,4,4 = 40 blocks, the same as the 4 heads unpacked (4 x (1+2+3+4))
    assert fa.tile_blocks(2048, 512, True, 128, 128, group=4) == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4
    assert fa.kv_blocks(2048, 512, True, 128, 128, group=4) == 4 * fa.kv_blocks(512, 512, True, 128, 128) == 40
    # group 1 is the unpacked rule
    assert fa.tile_blocks(512, 512, True, 64, 128) == fa.tile_blocks(512, 512, True, 64, 128, group=1)


def test_flash3_packs_a_short_prefill_and_flash2_does_not():
    # 16 new tokens of 64 query heads on one KV head, batch 256 (a chunk of short prompts, or a speculative verify):
    # packed, each sample's 16 x 64 = 1024 (query, head) rows fill ⌈1024 / 128⌉ = 8 tiles of FlashAttention-3's
    # 128-row tile (head_dim 256: 128 x 80): 256 x 8 = 2048 CTAs. FlashAttention-2 (a100) runs one 64-row tile per
    # query head, 16 of its rows used: 256 x 64 = 16384 CTAs
    kw = {"batch": 256, "heads": 64, "kv_heads": 1, "q_len": 16, "kv_len": 16, "head_dim": 256, "causal": True}
    h100 = load_arch("h100")
    d3 = fa.price(_op(**kw), h100.core.systolic, h100).details
    assert d3["block"] == [128, 80] and d3["ctas"] == 256 * 8 and d3["gqa_packed"] and d3["tile_rows"] == 1024
    d2 = fa.price(_op(**kw), A100.core.systolic, A100).details
    assert d2["ctas"] == 256 * 64 and not d2["gqa_packed"]
    # an MHA prefill has nothing to pack
    mha = fa.price(_op(**{**kw, "kv_heads": 64}), h100.core.systolic, h100).details
    assert mha["ctas"] == 256 * 64 and not mha["gqa_packed"]


def test_dense_flash2_entry_splits_a_multi_head_decode():
    """FlashAttention-2's dense mha_fwd (PyTorch's SDPA FLASH backend) weighs split-KV on every call; the varlen
    entry a serving engine calls (the ``flash2`` model) splits only a GQA decode whose groups it swaps in. A
    LLaMA-2-7B decode step (batch 1, 32 heads of 128, MHA) over 4096 keys on an H200: 1 × 32 × 1 query blocks
    against 2 × 132 CTA slots, 4096 / 128 = 32 K/V blocks. num_splits_heuristic: 32 < 0.8 × 264, so it weighs 1 … 32
    splits; wave efficiency 32·s / 264 while 32·s < 264, best 256 / 264 = 0.970 (s = 8, 16, 32); the fewest eligible
    splits within 85 % of it (0.824): s = 7 (224 / 264 = 0.848; ⌈32/7⌉ = 5 ≠ ⌈32/6⌉ = 6, eligible)."""
    s = fa.Shape(1, 32, 1, 4096, 128, False, False)
    assert fa.kv_splits(s, fa.FLASH["flash2_dense"], 32, 264, 128, 132) == 7
    assert fa.kv_splits(s, fa.FLASH["flash2"], 32, 264, 128, 132) == 1
    # mha_fwd swaps a GQA decode's groups in as views (no copy kernels), mha_varlen_fwd copies the query
    packed = fa.Shape(2, 32, 4, 4096, 128, False, True)
    arch = load_arch("h200")
    assert fa.swap_copies(packed, 2, arch) and not fa.FLASH["flash2_dense"].gqa_swap and fa.FLASH["flash2"].gqa_swap


def test_dense_entry_runs_the_non_split_kernel_tile_flash_attention_launches():
    """FlashAttention-2's mha_fwd runs an unsplit call on the non-split kernel, whose tile the launcher picks by head
    dim (flash_fwd_launch_template.h run_mha_fwd_hdim*, no dropout): 128 × 64 at head dim 128 on an A100 or H100;
    on compute capability 8.6 / 8.9 (100 KB of shared memory per SM: the L40S) 64 × 64 causal, 128 × 32 not;
    128 × 128 at head dim 64; at 256, 128 × 64 when a block may take 2·256·(128 + 2·64) = 131,072 B and the SM has
    under 4·256·(64 + 2·64) = 196,608 B (the A100's 164 KiB), else 64 × 64 (the H100's 228 KiB: "2 CTAs per SM")."""
    def tile(d, causal, smem_kib):
        return fa.dense_tile(fa.Shape(1, 16, 2048, 2048, d, causal, False), smem_kib * 1024)

    assert tile(128, True, 228) == tile(128, False, 164) == (128, 64)
    assert tile(128, True, 100) == (64, 64) and tile(128, False, 100) == (128, 32)
    assert tile(64, True, 228) == (128, 128)
    assert tile(256, False, 164) == (128, 64) and tile(256, False, 228) == (64, 64)
    # a prefill with enough CTAs is unsplit: its details carry the non-split tile; the split kernel's is 64 × 128
    h100 = load_arch("h100")
    dense = h100.model_copy(update={"core": h100.core.model_copy(update={"attention_kernel": "flash2_dense"})})
    split = h100.model_copy(update={"core": h100.core.model_copy(update={"attention_kernel": "flash2"})})
    op = _op(batch=2, heads=16, kv_heads=16, q_len=8192, kv_len=8192)
    assert systolic.price(op, dense.core.systolic, dense).details["block"] == [128, 64]
    assert systolic.price(op, split.core.systolic, split).details["block"] == [64, 128]


def test_a_lone_fa2_cta_pays_its_own_softmax():
    """FlashAttention-2 serialises a block's MMAs and softmax within a warp and relies on its second CTA per SM to
    keep the tensor cores busy (fa.lone_block): at full load a block costs the SM tensor + softmax (2048 + 1280 =
    3328 cycles on an A100, test_block_cycles_on_a100); a CTA alone on its SM issues those 3328 cycles of MMAs and
    then waits through its own 1280 of softmax: 4608. Kernels that overlap the two inside a CTA are unchanged."""
    assert fa.lone_block(2048, 1280, fa.FLASH["flash2"]) == 2048 + 2 * 1280
    assert fa.lone_block(2048, 1280, fa.FLASH["flash2_dense"]) == 4608
    assert fa.lone_block(2048, 1280, fa.FLASH["flash3"]) == 2048  # ping-pong warpgroups: max(tensor, softmax)
    # 128 queries of 8 heads: 2 query tiles x 8 heads = 16 CTAs on 108 SMs, each alone, of one 128-key block (from
    # the L2: kv_load 974 hides behind the math). The block's MMAs take 2176 cycles (test_block_cycles_on_a100),
    # alone 2176 + 2 x 1280 = 4736; its path max(3456 / 2, 974) + max(1728 + 1280, 974) = 4736. Cycles:
    # max(4736 + 3461, 3461 + 4736) (the 3461-cycle prologue, test_prologue_on_a100); at full load the same CTA
    # would take 3456 + 3461.
    d = _price(heads=8, kv_heads=8, q_len=128, kv_len=128).details
    assert d["ctas"] == 16 and d["ctas_per_sm"] == 2
    assert d["tile_cycles"] == 4736 + PROLOGUE
    # 64 heads of a 2048-token prefill: 64 x 32 = 2048 CTAs, 2 per SM: the full-load figure per block
    full = _price(heads=64, kv_heads=64, q_len=2048, kv_len=2048).details
    assert full["tile_cycles"] == 16 * 3456 + PROLOGUE


def test_a_partial_wave_prices_the_ctas_alone_on_their_sms_alone():
    """A partial wave of m CTAs, SMs < m < 2 x SMs, puts one CTA on 2 x SMs - m SMs, which runs alone
    (fa.lone_block), and two on the others, which share theirs until the shorter ends (CtaCost.schedule,
    CtaCost.shared_run). Probe p175 #2: every CTA of 128 on a100's 108 SMs was priced at the shared rate, so 4 heads
    of a 2048-token causal prefill (128 CTAs) ran 76,575 cycles against 3 heads' (96 CTAs) 82,675."""
    # 2048 tokens: tile t (64 rows) walks ceil((t + 1) / 2) blocks of 128 keys, 1, 1, 2, 2, ..., 16, 16 a head.
    # Alone a block costs 2176 + 2 x 1280 = 4736, shared 2176 + 1280 = 3456, plus the 3461-cycle prologue
    # (test_a_lone_fa2_cta_pays_its_own_softmax, test_prologue_on_a100).
    three = _price(heads=3, kv_heads=3, q_len=2048, kv_len=2048, causal=True).details
    assert three["ctas"] == 96 and three["tile_cycles"] == 16 * 4736 + PROLOGUE == 79_237
    # 4 heads, 128 CTAs on 108 SMs: CTA i on SM i, then CTAs 108-127 (head 3's tiles 12-31) second on SMs 0-19,
    # beside head 0's tiles 0-19. SM 19: tile 19 (10 blocks, shared 10 x 3456 + 3461 = 38,021) and tile 31 (16
    # blocks, shared 58,757, alone 79,237) both at half the SM until tile 19 ends at 2 x 38,021; tile 31 then has
    # 1 - 38,021 / 58,757 of its work left, alone: 76,042 + ceil(20,736 x 79,237 / 58,757) = 76,042 + 27,964
    shared_19, shared_31, alone_31 = 10 * 3456 + PROLOGUE, 16 * 3456 + PROLOGUE, 16 * 4736 + PROLOGUE
    assert (shared_19, shared_31, alone_31) == (38_021, 58_757, 79_237)
    sm19 = 2 * shared_19 + math.ceil((shared_31 - shared_19) * alone_31 / shared_31)
    four = _price(heads=4, kv_heads=4, q_len=2048, kv_len=2048, causal=True).details
    assert four["ctas"] == 128 and four["tile_cycles"] == sm19 == 104_006
    assert four["tile_cycles"] >= three["tile_cycles"]
    # two equal CTAs sharing an SM end together at twice the shared cost, as the SM's cycles for them add
    cost = fa.CtaCost(3456, PROLOGUE, 3456, 0, 1.0, 2, A100, lone=(4736, 4736))
    assert cost.shared_run([4, 4], 200) == 2 * (4 * 3456 + PROLOGUE)
    assert cost.shared_run([4], 200) == 4 * 4736 + PROLOGUE


def test_fa2_operands_from_shared_memory_by_tile_and_warps():
    """Every FlashAttention-2 warp reads its own query rows and the whole K and V block from shared memory
    (fa.operand_bytes); at 128 B per clock per SM (core.sram.bytes_per_cycle) that bounds a block's MMAs."""
    dense = fa.FLASH["flash2_dense"]
    # the launcher's warps: 8 for the non-split 128 x 64 tile above head dim 128, else 4 (the split kernel's too)
    assert fa.cta_warps(dense, 128, 64, 256) == 8 and fa.cta_warps(dense, 128, 64, 128) == 4
    assert fa.cta_warps(dense, 64, 64, 256) == 4 and fa.cta_warps(fa.FLASH["flash2"], 64, 64, 256) == 4
    # an A100's dense kernel at head dim 256 (128 x 64, 8 warps): (128 + 2 x 8 x 64) x 256 x 2 = 589,824 B, 4608
    # cycles at 128 B/clk, where its tensor cores take 2 x 128·64·256 / 1024 = 4096
    assert fa.operand_bytes(128, 64, 256, 8, 2) == 589824
    a100_dense = A100.model_copy(update={"core": A100.core.model_copy(update={"attention_kernel": "flash2_dense"})})
    d = systolic.price(_op(batch=4, heads=16, kv_heads=16, head_dim=256, q_len=4096, kv_len=4096),
                       a100_dense.core.systolic, a100_dense).details
    assert d["block"] == [128, 64] and d["block_tensor_cycles"] == d["block_operand_cycles"] == 4608
    # an H100's at head dim 128 (128 x 64, 4 warps): 163,840 B = 1280 cycles under its 1528 of warp MMAs (0.67)
    h100 = load_arch("h100")
    h100_dense = h100.model_copy(update={"core": h100.core.model_copy(update={"attention_kernel": "flash2_dense"})})
    d = systolic.price(_op(batch=2, heads=16, kv_heads=16, q_len=8192, kv_len=8192), h100_dense.core.systolic,
                       h100_dense).details
    assert d["block_operand_cycles"] == 1280 and d["block_tensor_cycles"] == math.ceil(2 * 128 * 64 * 128 / 2048 / 0.67)


def test_flash_kernels_run_only_what_they_support():
    """A FlashAttention kernel prices an op only where it runs it (fa.unsupported): head dims up to 256
    (Dao-AILab/flash-attention README, "All head dimensions up to 256"; PyTorch's check_head_dim_size_flash),
    fp16 / bf16 (FlashAttention-3 and TensorRT-LLM-gen also fp8; every backward fp16 / bf16 only), and a query
    tile with one K and V block in the SM's shared memory. Otherwise the op is priced as the fused model of non-GPU
    cores and says why (mapping.flash_unsupported); DeepSeek's latent attention (shared_kv, 576 wide) stands for
    FlashMLA and is never refused."""
    h100 = load_arch("h100")
    # the VAE's mid-block attention: one head of 512, 16384 tokens (a 1024-pixel image's 128 x 128 latent)
    vae = _op(heads=1, kv_heads=1, head_dim=512, q_len=16384, kv_len=16384)
    assert fa.unsupported(vae, h100) == "head_dim 512 > 256"
    d = systolic.price(vae, h100.core.systolic, h100)
    assert "kernel" not in d.details and d.details["flash_unsupported"] == "flash3: head_dim 512 > 256"
    # the non-GPU model (docs/architecture.md, SCALE-Sim's folds) on h100's 64 x 32 output-stationary array:
    # QKᵀ (16384 x 16384 x 512): ⌈16384/64⌉ x ⌈16384/32⌉ = 256 x 512 folds of 64 + 32 + 512 - 2 = 606 cycles, less 1:
    # 79,429,631; PV (16384 x 512 x 16384): 256 x 16 folds of 64 + 32 + 16384 - 2 = 16478, less 1: 67,493,887. The
    # softmax, 16384² scores x 120 lane-cycles / 512 lanes = 62,914,560 (h100.yaml's softmax: PyTorch's
    # cunn_SoftMaxForward instruction mix, 30 instructions an element at 128 a clock = 30 x 512 / 128; it was the
    # built-in 10), overlaps them
    assert d.cycles == 256 * 512 * 606 - 1 + 256 * 16 * 16478 - 1
    assert d.details["softmax_cycles"] == 16384 ** 2 * (30 * 512 // 128) // 512
    # dtypes: fp32 on no kernel; fp8 on FlashAttention-3, not on FlashAttention-2 (a100's flash2) nor any backward
    assert fa.unsupported(_op(dtype="fp32"), h100) == "dtype fp32 (it takes fp16, bf16, fp8)"
    fp8 = _op(kv_cache_dtype="fp8")
    assert fp8.dtype == "fp8" and fa.unsupported(fp8, h100) is None
    assert systolic.price(fp8, h100.core.systolic, h100).details["kernel"] == "flash3"
    # flash2 takes no fp8 but runs an fp8 cache dequantised to its bf16 output dtype (probe p252 #2; it was refused
    # here and priced by the fused fallback); the backward takes fp16 / bf16 only
    assert fa.unsupported(fp8, A100) is None and fa.compute_dtype(fp8, A100) == "bf16"
    assert fa.unsupported(fp8, h100, backward=True) == "dtype fp8 (it takes fp16, bf16)"
    # shared memory: flash2's 64 x 128 tile at head dim 128 holds (64 + 2 x 128) x 128 x 2 B = 81,920 B, more than
    # an SM of 64 KiB (65,536 B)
    small = load_arch({"base": "a100", "core": {"sram": {"unified": "64KiB"}}})
    assert fa.unsupported(_op(), small) == ("its 64 x 128 tile at head_dim 128 needs 81920 B of shared memory, a "
                                            "core (SM; CU on AMD: its LDS) has 65536 B")
    assert fa.unsupported(_op(), A100) is None
    # DeepSeek's absorbed decode: one latent KV head of 576, values its first 512 features
    mla = _op(heads=128, kv_heads=1, head_dim=576, v_head_dim=512, shared_kv=True, q_len=1, kv_len=4096)
    assert fa.unsupported(mla, h100) is None
    assert systolic.price(mla, h100.core.systolic, h100).details["kernel"] == "flash3"


def test_a_run_whose_attention_cannot_run_flash_says_so():
    rep = accelsim.simulate({"model": "attention", "attention": "fused", "heads": 1, "kv_heads": 1, "head_dim": 512,
                             "q_len": 1024, "kv_len": 1024, "dtype": "bf16"}, "h100").to_dict()
    assert [n for n in rep["notes"] if "do not fit the modelled FlashAttention kernel (flash3: head_dim 512 > 256)" in n]
    assert "memory-efficient" in rep["notes"][0]
    assert "ROCm" not in rep["notes"][0]  # only a tile beyond the shared memory (an LDS) names ROCm's kernel


def test_mi210_flash2_tile_needs_more_than_its_lds_and_a_larger_one_runs_in_waves():
    """docs/architecture.md ("What a FlashAttention kernel can run"): mi210's 64 KiB LDS refuses flash2 at head_dim
    64 and a run says so; with 128 KiB the kernel runs, one CTA per CU, so the op's CTAs run in waves."""
    w = {"model": "attention", "attention": "fused", "heads": 16, "kv_heads": 16, "q_len": 1024, "kv_len": 1024,
         "head_dim": 64, "dtype": "bf16"}
    # flash2's split kernel at head_dim 64: 64 query rows, 256-key blocks: (64 + 2 x 256) x 64 x 2 B = 73,728 B
    rep = accelsim.simulate(w, "mi210").to_dict()
    assert rep["ops"][0]["mapping"]["flash_unsupported"] == (
        "flash2: its 64 x 256 tile at head_dim 64 needs 73728 B of shared memory, a core (SM; CU on AMD: its LDS) has 65536 B")
    note = [n for n in rep["notes"] if "do not fit the modelled FlashAttention kernel (flash2: its 64 x 256 tile" in n]
    # the LDS does not refuse ROCm's own FlashAttention (Composable Kernel's smaller tiles; probe p116 #3): the note
    # says so, and no longer that the op "cannot run FlashAttention"
    assert len(note) == 1 and "ROCm's own FlashAttention" in note[0] and "cannot run" not in note[0]
    # 128 KiB = 131,072 B holds 131,072 // 73,728 = 1 CTA; 16 heads x 1024 / 64 = 256 CTAs: ⌈256 / 104 CUs⌉ = 3 waves
    m = accelsim.simulate(w, {"base": "mi210", "core": {"sram": {"unified": "128KiB"}}}).to_dict()["ops"][0]["mapping"]
    assert (m["kernel"], m["ctas_per_sm"], m["ctas"]) == ("flash2", 1, 256)
    assert "flash_unsupported" not in m


def test_pytorch_sdpa_attention_runs_pytorchs_kernel_not_the_serving_engines():
    """An op a PyTorch program calls through scaled_dot_product_attention (attr sdpa) runs core.sdpa_kernel: PyTorch's
    bundled FlashAttention-2 (flash2_dense) on the NVIDIA presets, whose core.attention_kernel is vLLM's (h100
    flash3, a100 flash2, b200 trtllm_gen); an arch naming none (the AMD presets) keeps its attention_kernel."""
    engine = _op(heads=8, kv_heads=8, q_len=4096, kv_len=4096)
    sdpa = dataclasses.replace(engine, attrs={**engine.attrs, "sdpa": True})
    for name, served in (("h100", "flash3"), ("a100", "flash2"), ("b200", "trtllm_gen"), ("l40s", "flash2")):
        arch = load_arch(name)
        assert (fa.kernel(sdpa, arch).name, fa.kernel(engine, arch).name) == ("flash2_dense", served)
        assert systolic.price(sdpa, arch.core.systolic, arch).details["kernel"] == "flash2_dense"
    mi300x = load_arch("mi300x")
    assert mi300x.core.sdpa_kernel is None and fa.kernel(sdpa, mi300x).name == mi300x.core.attention_kernel
    # an SDPA op FlashAttention-2 cannot run says so with PyTorch's kernel's name
    big = _op(heads=1, kv_heads=1, head_dim=512, q_len=4096, kv_len=4096)
    big = dataclasses.replace(big, attrs={**big.attrs, "sdpa": True})
    h100 = load_arch("h100")
    assert systolic.price(big, h100.core.systolic, h100).details["flash_unsupported"] == (
        "flash2_dense: head_dim 512 > 256")
