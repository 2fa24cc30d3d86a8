"""DeepSeek-V3.2 (``hf``, DeepseekV32ForCausalLM): the lightning indexer's parameters and ops, and the sparse latent
attention over the top-k tokens.

Figures worked out below from workloads/deepseek_v3_2.yaml (the published config: DeepSeek-V3's sizes and 64 index
heads of 128, top-2048) and transformers' DeepseekV32Indexer (wq_b on the query latent, wk, a LayerNorm k_norm with
a bias, weights_proj; RoPE on the first qk_rope_head_dim features), DeepSeek's reference code and vLLM (the indexer
replicated on every tensor-parallel chip; FlashMLA's sparse kernels attend to the selected latents only).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.ir import OpKind

INDEXER = 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64  # wq_b, wk, k_norm (weight, bias), weights_proj


def _model(**params):
    w = load_workload("deepseek_v3_2")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_count_is_v3s_and_an_indexer_a_layer():
    assert INDEXER == 13_959_424
    g = _model(seq_len=8)
    assert g.meta["model_params"] == 671_026_404_352 + 61 * INDEXER == 671_877_929_216  # V3: test_deepseek.py


def test_a_long_decode_step_reads_its_top_k_latents_and_scores_every_token():
    past = 100_000
    g = _model(phase="decode", kv_len=past, layers=1, tensor_parallel=8)
    attn = g["model.layers.0.self_attn.attention"]
    assert attn.kind is OpKind.ATTENTION and attn.gemm.n == 2048  # the 2,047 read latents and the new one
    assert attn.inputs[-1] == "model.layers.0.self_attn.indexer.topk"  # it waits for (and reads) the indices
    assert g.inputs["model.layers.0.self_attn.kv_cache"] == (1, 1, 2047, 576)
    # the index keys as vLLM stores them whatever the KV dtype (DeepseekV32IndexerCache: head_dim + head_dim //
    # quant_block_size * 4 = 128 + 128 // 128 × 4 = 132 B a token, fp8 values and an fp32 scale): 66 bf16 elements
    # (probe p155 #1: was 128 bf16 values, 256 B)
    assert g.inputs["model.layers.0.self_attn.indexer.k_cache"] == (1, 1, past, 132 // 2)
    logits = g["model.layers.0.self_attn.indexer.logits"]
    assert (logits.gemm.m, logits.gemm.n, logits.gemm.k) == (64, past + 1, 128)  # 64 heads against every token
    # the cache holds every token: the latent (512 + 64) in bf16 and the 132-byte index key
    assert g.meta["kv_cache_bytes"] == (past + 1) * ((576 * 2) + 132)
    # replicated under tensor parallelism: the whole 64-head query projection on each of the 8 chips
    assert g["model.layers.0.self_attn.indexer.wq_b"].weights[0].shape == (64 * 128, 1536)
    short = _model(phase="decode", kv_len=1000, layers=1)
    assert short["model.layers.0.self_attn.attention"].gemm.n == 1001  # fewer tokens than top-k: all of them


def test_a_long_prompt_attends_densely_to_2048_tokens_then_sparsely():
    g = _model(seq_len=4096, layers=1, attention="fused")
    head, tail = g["model.layers.0.self_attn.attention"], g["model.layers.0.self_attn.attention_selected"]
    assert (head.gemm.m, head.gemm.n, head.attrs["causal"]) == (2048, 2048, True)  # the first 2,048 queries
    assert (tail.gemm.m, tail.gemm.n, tail.attrs["causal"]) == (2048, 2048, False)  # 2,048 selected tokens each
    assert head.gemm.k == tail.gemm.k == 512 + 64  # absorbed: the latent and the rotary key
    logits = g["model.layers.0.self_attn.indexer.logits"]
    assert logits.gemm.n == (4096 + 1) // 2  # causal: a query scores its earlier tokens, 2,048.5 on average
    heads = _model(seq_len=4096, layers=1, attention="fused", mla="heads")  # transformers: dense, masked
    assert heads["model.layers.0.self_attn.attention"].gemm.n == 4096


def test_training_is_refused():
    with pytest.raises(ValidationError, match="training is not modelled for DeepseekV32ForCausalLM"):
        _model(mode="training")


def test_an_fp8_cache_makes_the_indexer_fp8():
    # vLLM keeps the index keys in FP8 (a scale per 128) and scores them with DeepGEMM's fp8_mqa_logits
    g = _model(phase="decode", kv_len=4096, layers=1, kv_cache_dtype="fp8")
    logits = g["model.layers.0.self_attn.indexer.logits"]
    assert logits.dtype == "fp8" and logits.attrs["out_dtype"] == "bf16"  # the scores written in the compute dtype
    assert logits.out_bytes == 4097 * 2
    assert g["model.layers.0.self_attn.indexer.k_append"].dtype == "fp8"
    assert g["model.layers.0.self_attn.indexer.wq_b"].dtype == "bf16"  # the projections stay in the compute dtype


def test_the_caches_take_the_bytes_vllm_stores():
    # probe p155 #1. vLLM (DeepseekV32ForCausalLM.verify_and_update_config) turns an fp8 kv_cache_dtype into
    # fp8_ds_mla, whose entry (flashmla_sparse get_kv_cache_shape: (blocks, block_size, 656)) is 512 fp8 latent values
    # + 4 fp32 scales (16 B) + 64 RoPE values in bf16 (128 B) = 656 B; the index key is 128 fp8 + one fp32 scale =
    # 132 B at any KV dtype. Per token and layer: fp8 656 + 132 = 788 B (was 576 + 128 = 704), bf16 1152 + 132 =
    # 1284 B (was 1408)
    fp8 = _model(phase="decode", kv_len=1023, layers=4, kv_cache_dtype="fp8")
    assert fp8.meta["kv_cache_bytes"] == 4 * 1024 * (656 + 132) == 3_227_648
    assert fp8.inputs["model.layers.0.self_attn.kv_cache"] == (1, 1, 1023, 656)
    assert fp8.inputs["model.layers.0.self_attn.indexer.k_cache"] == (1, 1, 1023, 132)
    attn = fp8["model.layers.0.self_attn.attention"]
    assert attn.gemm.k == 512 + 64  # the keys attention reads: the latent and the rotary key, not the scales
    bf16 = _model(phase="decode", kv_len=1023, layers=4)
    assert bf16.meta["kv_cache_bytes"] == 4 * 1024 * (576 * 2 + 132) == 5_259_264
    # DeepSeek-V3 (no indexer) keeps a plain 576-value latent in fp8: one byte each
    v3 = build_workload("hf", {**load_workload("deepseek_v3").params, "dtype": "bf16", "phase": "decode",
                               "kv_len": 1023, "layers": 4, "kv_cache_dtype": "fp8"})
    assert v3.meta["kv_cache_bytes"] == 4 * 1024 * 576


def test_a_sparse_decode_step_reads_whole_fp8_ds_mla_entries():
    # leftover #2: vLLM's flashmla_sparse.py: "each token's KV cache is 656 Bytes": 512 float8_e4m3 NoPE values,
    # 4 float32 scales (16 B), 64 bfloat16 RoPE values (128 B). FlashMLA's sparse fp8 decode kernel loads the whole
    # entry of each selected token (the scales to dequantize the latent, the RoPE part in 16 bits); the scores still
    # use 576 values. It read 576 B a selected token.
    g = _model(phase="decode", kv_len=8191, layers=1, kv_cache_dtype="fp8", attention="fused")
    attn = g["model.layers.0.self_attn.attention"]
    assert attn.in_shapes[1] == (1, 1, 2048, 656) and attn.attrs["key_width"] == 656
    assert attn.gemm.k == 576 and attn.gemm.n == 2048  # the scores: 576-wide keys, top-2048
    # the bf16 cache has no scales: 576 values of 2 B, no key_width
    bf16 = _model(phase="decode", kv_len=8191, layers=1, attention="fused")["model.layers.0.self_attn.attention"]
    assert bf16.in_shapes[1] == (1, 1, 2048, 576) and "key_width" not in bf16.attrs
    # a sparse prompt's two fused ops read whole entries too
    pre = _model(seq_len=4096, layers=1, attention="fused", kv_cache_dtype="fp8")
    for name in ("attention", "attention_selected"):
        op = pre[f"model.layers.0.self_attn.{name}"]
        assert op.attrs["key_width"] == 656 and op.in_shapes[1][3] == 656 and op.gemm.k == 576


def test_the_sparse_fp8_decode_bytes_on_h200():
    # One decode step past top-k on h200 (bf16 compute, fp8 cache, batch 1, one layer): the attention reads
    #   the 2,047 selected cached entries 2,047 × 656 = 1,342,832 B (it was 2,047 × 576 = 1,179,072)
    #   the new token's entry from its producers in bf16: latent 512 × 2 + RoPE key 64 × 2 + the 80-element
    #     scales view 80 × 2 = 1,312 B (was 576/656 of it, 1,154 B)
    #   the RoPE query 128 heads × 64 × 2 = 16,384 B (the absorbed query comes from L2), the output 128 × 512 × 2
    #     = 131,072 B
    # HBM: 1,342,832 + 1,312 + 16,384 + 131,072 = 1,491,600 B (was 1,327,682)
    # L2 (cost.attention.cache_bytes): 14 CTAs' query and output tiles 2 × 14 × 128 × 576 × 1 B = 2,064,384, its
    # 16 K/V blocks of 128 whole entries 16 × 128 × 656 = 1,343,488 and the output 131,072: 3,538,944 B (was
    # 3,375,104, with 576 B keys)
    import accelsim
    w = load_workload("deepseek_v3_2")
    params = {**w.params, "dtype": "bf16", "phase": "decode", "kv_len": 8191, "layers": 1, "attention": "fused",
              "kv_cache_dtype": "fp8"}
    rep = accelsim.simulate({"model": "hf", **params}, "h200", plots=False).to_dict()
    op = next(o for o in rep["ops"] if o["name"] == "model.layers.0.self_attn.attention")
    assert op["mapping"]["kv_blocks"] == 16 and op["mapping"]["ctas"] == 14
    assert op["bytes"]["hbm"] == 2047 * 656 + (512 + 64 + 80) * 2 + 128 * 64 * 2 + 128 * 512 * 2 == 1_491_600
    assert op["bytes"]["l2"] == 2 * 14 * 128 * 576 + 16 * 128 * 656 + 128 * 512 * 2 == 3_538_944
