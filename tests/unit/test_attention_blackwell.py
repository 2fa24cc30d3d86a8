"""Fused attention on the b200 preset as TensorRT-LLM-gen's kernels (accelsim/cost/attention.py ``trtllm_gen``),
the kernels vLLM's FlashInfer backend runs on sm100: decode packs the GQA group into 8/16/32 rows and launches no
copy or combine kernel, splits every decode step to fill the SMs, and prefill walks 256-row query tiles against
128-key blocks. Each number is a hand calculation written out below from the rules cited in attention.py.

b200 figures used: 148 SMs, a 64 x 64 array (4096 MACs per clock per SM), 512 vector lanes, flash_softmax 32 (exp2 at
16/clk/SM: 512 / 16 lane-cycles per score)
lane-cycles per score.
"""

from __future__ import annotations

import pytest

from accelsim.config import load_arch
from accelsim.cost import attention as fa

from .attention_ops import fused_attention_op

B200 = load_arch("b200")


def _op(**kw):
    return fused_attention_op({"batch": 1, "heads": 32, "kv_heads": 8, "q_len": 1, "kv_len": 4096, "head_dim": 128}, **kw)


def _details(arch=B200, **kw):
    return fa.price(_op(**kw), arch.core.systolic, arch).details


@pytest.mark.parametrize("name", ["b200", "dgx-b200"])
def test_blackwell_presets_run_trtllm_gen_and_the_others_keep_theirs(name):
    # vLLM ranks FLASHINFER first on compute capability 10.x; dgx-b200 inherits b200's core
    assert load_arch(name).core.attention_kernel == "trtllm_gen"
    assert load_arch("h100").core.attention_kernel == "flash3"
    assert load_arch("a100").core.attention_kernel == "flash2"


def test_fill_splits_rule_by_hand():
    # numCtasPerSeqKv = min(ceil(kv_len / 256), max(1, floor(148 / CTAs))):
    # b8 h32/8 decode: 64 CTAs -> floor(148 / 64) = 2, under the 4096 / 256 = 16 units
    assert fa.fill_splits(64, 148, 16) == 2
    # b1 h32/8 at 4096 keys: floor(148 / 8) = 18, capped by the 16 units of 256 keys
    assert fa.fill_splits(8, 148, 16) == 16
    # ... at 16384 keys: 64 units, so 18
    assert fa.fill_splits(8, 148, 64) == 18
    # b64 h32/8: 512 CTAs already fill 148 SMs: no split (and never below one)
    assert fa.fill_splits(512, 148, 64) == 1


def test_gqa_decode_packs_the_group_and_splits_to_fill_the_sms():
    # b8, 32 query heads on 8 KV heads (group 4 -> an 8-row tile), 4096 keys: 8 x 8 = 64 CTAs unsplit, 2 splits
    # (above) -> 128 CTAs of 128-key blocks; a block is 2 x 8 x 128 x 128 MACs / 4096 = 64 tensor cycles and
    # 8 x 128 scores x 32 / 512 lanes = 64 softmax cycles
    d = _details(batch=8)
    assert (d["kernel"], d["block"], d["gqa_packed"]) == ("trtllm_gen", [8, 128], True)
    assert (d["split_kv"], d["ctas"]) == (2, 128)
    assert (d["block_tensor_cycles"], d["block_softmax_cycles"]) == (64, 64)
    # each KV head's 4096 / 128 = 32 blocks, 16 per split
    assert d["kv_blocks"] == 8 * 8 * 32 and d["blocks_per_cta"] == 16
    # b1 at 16384 keys: 8 CTAs, floor(148 / 8) = 18 splits of ceil(128 / 18) = 8 blocks
    d = _details(kv_len=16384)
    assert (d["split_kv"], d["ctas"], d["blocks_per_cta"]) == (18, 144, 8)


@pytest.mark.parametrize("heads, kv_heads, rows", [(32, 8, 8), (32, 4, 8), (64, 4, 16), (64, 2, 32)])
def test_decode_tile_rows_follow_the_group(heads, kv_heads, rows):
    # group <= 8: 8 rows; <= 16: 16 (SwapsMmaAbForGeneration); larger groups: 32 (KeepsMmaAbForGeneration), one
    # CTA per KV head in each case (the whole group fits its tile)
    d = _details(heads=heads, kv_heads=kv_heads, batch=64)
    assert d["block"] == [rows, 128]
    assert d["ctas"] == 64 * kv_heads * d["split_kv"]


def test_mha_decode_is_split_too():
    # FlashAttention-2 splits only a packed GQA decode; trtllm-gen's generation kernel splits any decode step:
    # b1, 32 heads, one row each: 32 CTAs -> floor(148 / 32) = 4 splits of 32 / 4 = 8 blocks
    d = _details(kv_heads=32)
    assert not d["gqa_packed"]
    assert (d["block"], d["split_kv"], d["ctas"], d["blocks_per_cta"]) == ([8, 128], 4, 128, 8)
    # FlashAttention-3 (h100) splits any call: 32 CTAs, 32 blocks of 128 keys on 132 SMs; its heuristic's best
    # wave efficiency is 4 splits (128/132 = 0.97) and the dynamic count ⌈32 / ⌈32 x 32 x 1.1 / 132⌉⌉ = ⌈32 / 9⌉ = 4
    assert _details(load_arch("h100"), kv_heads=32)["split_kv"] == 4
    # a100 (FlashAttention-2) does not split the MHA decode
    assert _details(load_arch("a100"), kv_heads=32)["split_kv"] == 1


def test_decode_launches_no_copy_or_combine_kernel():
    # FlashAttention-2 (a100) copies the swapped query and output and launches a combine kernel after a split,
    # each kernel_dispatch after the one before; trtllm-gen reads the query in place and reduces its splits in the
    # kernel, so a split GQA decode on b200 does not depend on kernel_dispatch at all
    for kw in ({"batch": 8}, {"batch": 1, "kv_len": 16384}):
        d = _details(**kw)
        assert d["split_kv"] > 1
        no_gap = B200.model_copy(update={"kernel_dispatch": 0.0})
        assert d["tile_cycles"] == _details(no_gap, **kw)["tile_cycles"]
    a100 = load_arch("a100")
    no_gap = a100.model_copy(update={"kernel_dispatch": 0.0})
    assert _details(a100, batch=8)["tile_cycles"] > _details(no_gap, batch=8)["tile_cycles"]


def test_causal_prefill_walks_256_row_tiles_to_the_diagonal():
    # q_len = kv_len = 4096, causal, 32 heads: 4096 / 256 = 16 query tiles per head; tile t sees keys up to
    # (t + 1) x 256, i.e. 2 (t + 1) blocks of 128: 2 x (1 + ... + 16) = 272 blocks per head, 32 x 272 = 8704
    d = _details(q_len=4096, causal=True)
    assert (d["block"], d["ctas"], d["split_kv"]) == ([256, 128], 16 * 32, 1)
    assert d["kv_blocks"] == 8704
    # the MACs it computes: 272 blocks x 256 x 128 scores of 4096 x 4096 per head = 0.53125
    assert d["mac_fraction"] == pytest.approx(272 * 256 * 128 / 4096**2)
    # a block: 2 x 256 x 128 x 128 / 4096 = 2048 tensor cycles at the 71 % of the peak the kernel's MMAs sustain at
    # best (FlashAttention-4's published 71 % on B200) = ⌈2884.5⌉; 256 x 128 x 32 / 512 = 2048 softmax cycles (the
    # exp2s on 16 MUFU lanes per SM), overlapped with the MMAs: the MMAs decide
    assert (d["block_tensor_cycles"], d["block_softmax_cycles"]) == (2885, 2048)
    # head_dim 256: one 128-row query tile per CTA (mStepQ 128)
    assert _details(q_len=4096, causal=True, head_dim=256)["block"] == [128, 128]


def test_prefill_is_one_cta_per_sm_with_three_kv_stages():
    # one CTA per SM (TMEM and shared memory) for both kernels; the K/V loads in flight: three tile buffers in the
    # context kernel (CUTLASS 77's 16-bit StageCountKV), four 32 KiB tiles in the decode kernel's 141968 B
    k = fa.FLASH["trtllm_gen"]
    assert (k.ctas_per_sm, k.kv_stages, k.decode.ctas_per_sm, k.decode.kv_stages) == (1, 3, 1, 4)
    assert 4 * 128 * 128 * 2 <= 141968 < 5 * 128 * 128 * 2
    # path of a block with 4 loads of 1000 cycles in flight and 64 + 128 cycles of overlapped math:
    # max(max(64, 128), ceil(2 x 1000 / 4)) = 500
    assert fa.block_path(64, 128, 1000, k.decode) == 500
