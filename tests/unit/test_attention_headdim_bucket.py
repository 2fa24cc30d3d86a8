"""FlashAttention's compiled head-dim buckets (accelsim/cost/attention.py ``mma_head_dim``, probe p102 #1): a head dim
runs on the kernel compiled for the next bucket at or above it, whose tiles, MMAs, shared-memory operand reads and
residency are the bucket's, while the op's HBM / L2 bytes and its MACs stay at its own head dim.

Bucket lists (cited in attention.py): PyTorch's bundled FlashAttention-2 (flash2_dense) HEADDIM_SWITCH 32, 64, 96, 128,
160, 192, 224, 256; vLLM's FlashAttention-2 build (flash2) 32, 40, 64, 72, 80, 96, 128, 160, 192, 256;
FlashAttention-3's run_mha_fwd (flash3) 64, 96, 128, 192, 256; TensorRT-LLM-gen (trtllm_gen) per exact head dim."""

from __future__ import annotations

import dataclasses
import math

from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.cost import systolic

from .attention_ops import fused_attention_op

H100 = load_arch("h100")
H100_DENSE = H100.model_copy(update={"core": H100.core.model_copy(update={"attention_kernel": "flash2_dense"})})


def _op(d: int, **kw):
    """The probe's shape: batch 2, 16 heads, 4096 queries and keys, non-causal, bf16."""
    return fused_attention_op({"batch": 2, "heads": 16, "kv_heads": 16, "q_len": 4096, "kv_len": 4096,
                               "head_dim": d, "causal": False}, **kw)


def _details(d: int, arch=H100_DENSE, **kw) -> dict:
    return systolic.price(_op(d, **kw), arch.core.systolic, arch).details


def test_bucket_of_each_kernel():
    torch_fa2, vllm_fa2, fa3 = fa.FLASH["flash2_dense"], fa.FLASH["flash2"], fa.FLASH["flash3"]
    # PyTorch's FA2: 40 -> 64 (SD 1.5), 72 -> 96 (DiT-XL/2), 80 -> 96 (SAM ViT-H, SD 1.5's second level), 200 -> 224
    assert [fa.mma_head_dim(torch_fa2, _op(d)) for d in (8, 32, 40, 64, 72, 80, 96, 200, 256)] == \
        [32, 32, 64, 64, 96, 96, 96, 224, 256]
    # vLLM's FA2 build compiles 40, 72 and 80 themselves, and has no 224 (200 -> 256)
    assert [fa.mma_head_dim(vllm_fa2, _op(d)) for d in (40, 48, 72, 80, 88, 200)] == [40, 64, 72, 80, 96, 256]
    # FA3 starts at 64 and has no 160: 32 -> 64, 80 -> 96, 160 -> 192
    assert [fa.mma_head_dim(fa3, _op(d)) for d in (32, 80, 128, 160, 224)] == [64, 96, 128, 192, 256]
    # TensorRT-LLM-gen's cubins are per exact head dim: no padding
    assert fa.mma_head_dim(fa.FLASH["trtllm_gen"], _op(40)) == 40


def test_d40_costs_the_mma_cycles_of_d64_on_pytorch_fa2():
    # h100 flash2_dense, unsplit (1024 CTAs fill 80 % of 2 x 132 slots): head_dim 40 runs the hdim-64 kernel,
    # dense_tile(64) = 128 x 128 (as at 40). Per block the MMAs are 2 x 128·128·64 MACs on the SM's 2048 MAC/clk at
    # warp_mma 0.67: ceil(2 x 128 x 128 x 64 / 2048 / 0.67) = ceil(1024 / 0.67) = 1529 cycles (raw d 40 gave
    # ceil(640 / 0.67) = 956). Shared-memory operands (4 warps): (128 + 2 x 4 x 128) x 64 x 2 B = 147,456 B at
    # 128 B/clk = 1152 cycles (raw: 720).
    d40, d64 = _details(40), _details(64)
    assert d40["block"] == d64["block"] == [128, 128]
    assert d40["block_tensor_cycles"] == d64["block_tensor_cycles"] == math.ceil(2 * 128 * 128 * 64 / 2048 / 0.67) == 1529
    assert d40["block_operand_cycles"] == d64["block_operand_cycles"] == 147456 // 128 == 1152
    assert d40["ctas_per_sm"] == d64["ctas_per_sm"] == 2
    assert d40["mma_head_dim"] == 64 and "mma_head_dim" not in d64  # only a padded op names it


def test_d72_runs_the_hdim96_kernel():
    # head_dim 72 -> 96: dense_tile(96) on an H100 (not sm8x) is 128 x 64; MMAs ceil(2 x 128 x 64 x 96 / 2048 / 0.67)
    # = ceil(768 / 0.67) = 1147 (raw 72: ceil(576 / 0.67) = 860); operands (128 + 2 x 4 x 64) x 96 x 2 = 122,880 B
    # = 960 cycles
    d72, d96 = _details(72), _details(96)
    assert d72["block"] == d96["block"] == [128, 64]
    assert d72["block_tensor_cycles"] == d96["block_tensor_cycles"] == math.ceil(768 / 0.67) == 1147
    assert d72["block_operand_cycles"] == d96["block_operand_cycles"] == 122880 // 128 == 960


def test_bytes_and_macs_stay_at_the_real_head_dim():
    # the op's MACs are the model's: QKᵀ and PV, 2 x (2 x 16) x 4096 x 4096 x 40 = 42,949,672,960, not 64's
    op = _op(40)
    assert op.macs == 2 * 2 * 16 * 4096 * 4096 * 40 == 42949672960
    assert _details(40)["mac_fraction"] == 1.0
    # the CTAs' L2 traffic (Q / O tiles and K / V blocks, attention.cache_bytes) scales with the real head dim:
    # the same blocks and CTAs at 40 and 64, so 40 / 64 of it (the predicated loads read no padding)
    d40, d64 = _details(40), _details(64)
    assert (d40["ctas"], d40["kv_blocks"]) == (d64["ctas"], d64["kv_blocks"])
    assert fa.cache_bytes(_op(40), d40) * 64 == fa.cache_bytes(_op(64), d64) * 40


def test_residency_at_the_bucket():
    # vLLM's FA2 (flash2) on an L40S (100 KiB = 102,400 B of shared memory), head_dim 44: the hdim-64 split kernel's
    # 64 x 256 tile (block_n(64) = 256) holds (64 + 2 x 256) x 64 x 2 = 73,728 B: one CTA per SM. At the raw 44 it
    # would be 50,688 B, two (101,376 B) fitting
    l40s = load_arch("l40s")
    d = _details(44, l40s, q_len=2048, kv_len=2048)
    assert d["block"] == [64, 256] and d["mma_head_dim"] == 64
    assert d["ctas_per_sm"] == 102400 // 73728 == 1
    assert fa.resident_ctas(fa.FLASH["flash2"], 64, 256, 44, 2, l40s) == 2  # what the raw head dim would give


def test_shared_memory_refusal_at_the_bucket():
    # mi210 (64 KiB = 65,536 B of LDS) on flash2, head_dim 168 -> vLLM's 192 kernel: its 64 x 64 tile (block_n(192)
    # = 64) needs (64 + 2 x 64) x 192 x 2 = 73,728 B > 65,536: refused (at the raw 168 it would be 64,512 B)
    mi210 = load_arch("mi210")
    why = fa.unsupported(_op(168), mi210)
    assert why == ("its 64 x 64 tile at head_dim 168 (its 192 kernel) needs 73728 B of shared memory, a core (SM; CU "
                   "on AMD: its LDS) has 65536 B")
    assert fa.unsupported(_op(160), mi210) is None  # 160 is a bucket: (64 + 128) x 160 x 2 = 61,440 B fits


def test_fa3_pads_to_its_buckets():
    # h100's own attention_kernel, flash3: head_dim 80 -> 96; its 16-bit tile at <= 96 is 192 x 128
    # (tile_size_fwd_sm90: headdim <= 96: {192, is_local || paged_kv_non_TMA ? 128 : 144}; this test had 128 x 128,
    # the <= 128 branch's, before probe p175 #3 found the <= 96 branch missing); its MMAs at 75 % of the peak:
    # ceil(2 x 192 x 128 x 96 / 2048 / 0.75) = ceil(2304 / 0.75) = 3072 (raw 80: 2560)
    d80, d96 = _details(80, H100), _details(96, H100)
    assert d80["kernel"] == "flash3" and d80["block"] == d96["block"] == [192, 128]
    assert d80["block_tensor_cycles"] == d96["block_tensor_cycles"] == 3072
    assert d80["mma_head_dim"] == 96


def test_latent_attention_is_not_bucketed():
    # a latent attention (shared_kv: FlashMLA's own 576-wide kernel) keeps its head dim even on a bucketed kernel
    op = _op(64)
    mla = dataclasses.replace(op, attrs={**op.attrs, "head_dim": 576, "shared_kv": True})
    assert fa.mma_head_dim(fa.FLASH["flash3"], mla) == 576


def test_backward_keeps_the_bucket():
    # the backward is priced from the forward's model (price_backward), at the same compiled head dim
    op = _op(40)
    grad = dataclasses.replace(op, attrs={**op.attrs, "fn": "attention_grad"})
    d = fa.price_backward(grad, H100_DENSE.core.systolic, H100_DENSE).details
    assert d["mma_head_dim"] == 64
