"""Qwen3 in the ``hf`` workload: the config reader, QK-norm ops (TransformerBuilder ``qk_norm``), the qwen3_32b preset."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hfconfig import parse
from accelsim.builders.tlayers import KVCache, TransformerBuilder
from accelsim.config import load_workload
from accelsim.errors import ConfigError
from accelsim.ir import OpKind

from .test_hf import PUBLISHED

# Qwen/Qwen3-32B config.json (https://huggingface.co/Qwen/Qwen3-32B/blob/main/config.json), every field as published
QWEN3_32B = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 5120,
    "initializer_range": 0.02, "intermediate_size": 25600, "max_position_embeddings": 40960,
    "max_window_layers": 64, "model_type": "qwen3", "num_attention_heads": 64, "num_hidden_layers": 64,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
    "use_cache": True, "use_sliding_window": False, "vocab_size": 151936}
RMSNORM_FLOPS = 4  # per element, as the builder counts every RMSNorm (tlayers: square, mean, rsqrt-scale, weight)


def test_reader_takes_the_published_config():
    lm = parse(QWEN3_32B)
    assert (lm.hidden, lm.layers, lm.heads, lm.kv_heads, lm.head_dim, lm.ffn, lm.vocab) == (
        5120, 64, 64, 8, 128, 25600, 151936)
    assert lm.qk_norm and lm.eps == 1e-6 and lm.bias == (False,) * 4 and not lm.tied and lm.window(63) == 0
    # Qwen3Config defaults: head_dim 128 (not hidden / heads = 80), attention_bias false
    small = parse({k: v for k, v in QWEN3_32B.items() if k not in ("head_dim", "attention_bias")})
    assert small.head_dim == 128 and small.bias == (False,) * 4
    # attention_bias biases q, k, v and o (Qwen3Attention's four nn.Linear)
    assert parse({**QWEN3_32B, "attention_bias": True}).bias == (True,) * 4
    # Qwen2 keeps its q/k/v biases and has no QK-norm
    qwen2 = {k: v for k, v in QWEN3_32B.items() if k != "attention_bias"}
    qwen2 = parse({**qwen2, "architectures": ["Qwen2ForCausalLM"], "head_dim": None})
    assert not qwen2.qk_norm and qwen2.bias == (True, True, True, False)


def test_reader_sliding_window_as_qwen2():
    on = parse({**QWEN3_32B, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 60})
    assert [on.window(i) for i in (0, 59, 60, 63)] == [0, 0, 4096, 4096]  # from max_window_layers on
    # absent sliding_window: Qwen3Config's default 4096
    absent = {k: v for k, v in QWEN3_32B.items() if k != "sliding_window"}
    absent = parse({**absent, "use_sliding_window": True, "max_window_layers": 28})
    assert absent.window(63) == 4096 and absent.window(27) == 0
    assert parse({**QWEN3_32B, "num_hidden_layers": 2}).windows == (0, 0)


# layer_types left this list (probe p167 #2): Qwen3Config declares it and transformers 5 writes it into every config
# it saves, so it is read now (tests/unit/test_hf_saved_keys_p167.py); SmolLM3's no_rope_layers takes its place
@pytest.mark.parametrize("field", ["qk_layernorm", "num_experts", "no_rope_layers"])
def test_unknown_fields_are_still_rejected(field):
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": {**QWEN3_32B, field: True}})
    assert f"{field}: unsupported field for Qwen3ForCausalLM" in str(e.value)


def test_layer_types_not_a_list_is_refused():
    with pytest.raises(ConfigError, match=r"layer_types: expected 64 entries, each 'sliding_attention' or "
                                          r"'full_attention' \(got True\)"):
        load_workload({"model": "hf", "config": {**QWEN3_32B, "layer_types": True}})


def test_preset_params_hand_sum_and_model_card():
    w = load_workload("qwen3_32b")
    g = build_workload(w.model, {**w.params, "seq_len": 1})
    assert g.meta["model_params"] == g.params == PUBLISHED["qwen3_32b"] == 32_762_123_264
    # the model card (https://huggingface.co/Qwen/Qwen3-32B): 32.8 B parameters, 31.2 B without the embeddings
    # (embed_tokens and the untied lm_head, 2 · 151936 · 5120)
    assert round(g.params / 1e9, 1) == 32.8
    assert round((g.params - 2 * 151936 * 5120) / 1e9, 1) == 31.2
    assert len([op for op in g.ops if op.fn == "rmsnorm"]) == 64 * 4 + 1  # input, post-attention, q, k; final


def _layer0(g, op):
    return g[f"model.layers.0.self_attn.{op}"]


def test_qk_norm_ops_shapes_flops_and_order():
    s = 4
    g = build_workload("hf", {"config": QWEN3_32B, "seq_len": s, "num_hidden_layers": 1})
    q, k = _layer0(g, "q_norm"), _layer0(g, "k_norm")
    assert (q.kind, q.fn, k.kind, k.fn) == (OpKind.NORM, "rmsnorm", OpKind.NORM, "rmsnorm")
    assert q.out_shape == (1, 64, s, 128) and k.out_shape == (1, 8, s, 128)  # per head: (batch, heads, tokens, d)
    assert [(w.name, w.shape) for w in q.weights] == [("model.layers.0.self_attn.q_norm.weight", (128,))]
    assert [(w.name, w.shape) for w in k.weights] == [("model.layers.0.self_attn.k_norm.weight", (128,))]
    assert q.flops == RMSNORM_FLOPS * 1 * 64 * s * 128 and k.flops == RMSNORM_FLOPS * 1 * 8 * s * 128
    assert q.attrs["eps"] == k.attrs["eps"] == 1e-6 and q.attrs["dim"] == 3  # over head_dim
    # after the projections (q_proj has 64 · 128 = 8192 outputs), before RoPE, and the cache holds normed keys
    assert _layer0(g, "q_proj").gemm.n == 8192 and _layer0(g, "k_proj").gemm.n == 8 * 128
    assert q.inputs == ("model.layers.0.self_attn.q",) and k.inputs == ("model.layers.0.self_attn.k",)
    assert _layer0(g, "q_rope").inputs == (q.name,) and _layer0(g, "k_rope").inputs == (k.name,)
    assert _layer0(g, "k_append").inputs == ("model.layers.0.self_attn.k_rope",)


@pytest.mark.parametrize("attention", ["fused", "unfused"])
def test_decode_tensor_parallel_kv_cache(attention):
    kv, tp = 16, 2
    g = build_workload("hf", {"config": QWEN3_32B, "phase": "decode", "kv_len": kv, "tensor_parallel": tp,
                              "attention": attention, "num_hidden_layers": 2})
    q, k = _layer0(g, "q_norm"), _layer0(g, "k_norm")
    assert q.out_shape == (1, 64 // tp, 1, 128) and k.out_shape == (1, 8 // tp, 1, 128)  # this chip's heads
    assert q.weights[0].shape == (128,)  # replicated, not split
    assert q.flops == RMSNORM_FLOPS * 32 * 128 and k.flops == RMSNORM_FLOPS * 4 * 128
    assert g.inputs["model.layers.1.self_attn.k_cache"] == (1, 8 // tp, kv, 128)


def test_qwen3_32b_decode_simulates():
    from accelsim.api import simulate

    for arch, tp in (("h100", 1), ("dgx-h100", 2)):  # tensor parallelism needs a multi-chip arch
        r = simulate({"base": "qwen3_32b", "phase": "decode", "kv_len": 16, "decode_steps": 0,
                      "tensor_parallel": tp}, arch).to_dict()
        assert r["workload"]["architecture"] == "Qwen3ForCausalLM" and r["params"] == PUBLISHED["qwen3_32b"]
        norms = [op for op in r["ops"] if op["name"].endswith(("self_attn.q_norm", "self_attn.k_norm"))]
        assert len(norms) == 2 * 64 and r["seconds"] > 0
        # one decode token, this chip's 64/tp query heads of 128, 4 FLOPs per element
        assert norms[0]["flops"] == RMSNORM_FLOPS * (64 // tp) * 128


@pytest.mark.parametrize("fused_qkv, static", [(None, False), ("qkv_proj", False), (None, True)])
def test_builder_qk_norm_with_fused_projection_and_static_cache(fused_qkv, static):
    b = TransformerBuilder("t", {"input": (2, 3, 64)})
    cache = KVCache(past=5, static=True) if static else None
    b.multihead_attention("input", heads=4, kv_heads=2, head_dim=16, bias=False, fused_qkv=fused_qkv, rope=True,
                          cache=cache, qk_norm=1e-5)
    g = b.build()
    assert g["q_norm"].out_shape == (2, 4, 3, 16) and g["q_norm"].flops == RMSNORM_FLOPS * 2 * 4 * 3 * 16
    # a static (cross-attention) cache holds keys already normed: no k_norm
    assert ("k_norm" in g) is not static
    # q/k/v projections (fused or not: 64 in, (4 + 2 + 2)·16 out; static: q only), o_proj 64·64, and one (16,)
    # norm weight per normed tensor
    qkv = 64 * 4 * 16 if static else 64 * (4 + 2 + 2) * 16
    assert g.params == qkv + 64 * 64 + (16 if static else 2 * 16)


def test_qk_norm_off_by_default():
    b = TransformerBuilder("t", {"input": (1, 3, 64)})
    b.multihead_attention("input", heads=4, head_dim=16, bias=False, rope=True)
    assert not [op for op in b.build().ops if op.kind is OpKind.NORM]
    g = build_workload("hf", {"config": {**QWEN3_32B, "architectures": ["Qwen2ForCausalLM"]}, "seq_len": 2,
                              "num_hidden_layers": 1})
    assert "model.layers.0.self_attn.q_norm" not in g


# Qwen/Qwen3-30B-A3B config.json (https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json)
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 40960,
    "max_window_layers": 48, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768,
    "norm_topk_prob": True, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_key_value_heads": 4, "output_router_logits": False, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936}
EXPERT_30B = 3 * 2048 * 768  # one expert's gate_proj, up_proj, down_proj
LAYER_30B = (2048 * 32 * 128 + 2 * 2048 * 4 * 128 + 32 * 128 * 2048  # q, k, v, o (32 heads of 128, 4 KV heads)
             + 2 * 128 + 2 * 2048  # q_norm, k_norm; input and post-attention RMSNorms
             + 128 * 2048 + 128 * EXPERT_30B)  # router gate (no bias), 128 experts; no shared expert
QWEN3_30B_A3B_PARAMS = 2 * 151936 * 2048 + 48 * LAYER_30B + 2048  # untied embeddings and lm_head, final norm


def test_qwen3_moe_params_equal_the_model_card():
    g = build_workload("hf", {"config": QWEN3_30B_A3B, "seq_len": 1})
    assert g.meta["model_params"] == QWEN3_30B_A3B_PARAMS == 30_532_122_624
    # model card (https://huggingface.co/Qwen/Qwen3-30B-A3B): 30.5 B in total, 3.3 B activated, 29.9 B non-embedding
    assert round(QWEN3_30B_A3B_PARAMS / 1e9, 1) == 30.5
    assert round((QWEN3_30B_A3B_PARAMS - 2 * 151936 * 2048) / 1e9, 1) == 29.9
    active = QWEN3_30B_A3B_PARAMS - 48 * (128 - 8) * EXPERT_30B  # a token reads 8 of the 128 experts
    # 3,353,032,704: the card's "3.3B" is this figure cut (not rounded) to one decimal
    assert g.meta["moe"]["active_params"] == active and active // 10**8 == 33
    assert g.meta["moe"]["top_k"] == 8 and g.meta["moe"]["moe_layers"] == 48
    assert g["model.layers.0.mlp.gate"].weights[0].shape == (128, 2048)
    assert "model.layers.0.self_attn.q_norm" in g and not [op for op in g.ops if "shared_expert" in op.name]


def test_qwen3_moe_reader_defaults_dense_layers_and_fields():
    lm = parse({**QWEN3_30B_A3B, "num_hidden_layers": 4, "mlp_only_layers": [0], "decoder_sparse_step": 1})
    assert lm.qk_norm and lm.moe.sparse_layers == {1, 2, 3} and lm.moe.shared_ffn == 0 and lm.ffn == 6144
    # Qwen3MoeConfig has no head_dim default: hidden / heads; experts 128, top-8, moe_intermediate_size 768
    bare = {k: v for k, v in QWEN3_30B_A3B.items()
            if k not in ("head_dim", "num_experts", "num_experts_per_tok", "moe_intermediate_size")}
    lm = parse(bare)
    assert lm.head_dim == 2048 // 32 and (lm.moe.experts, lm.moe.top_k, lm.moe.ffn) == (128, 8, 768)
    # a sliding window (use_sliding_window) covers every layer: max_window_layers is not read by Qwen3-MoE
    lm = parse({**QWEN3_30B_A3B, "use_sliding_window": True, "sliding_window": 1024})
    assert {lm.window(i) for i in range(48)} == {1024}
    with pytest.raises(ConfigError, match="shared_expert_intermediate_size: unsupported field for Qwen3Moe"):
        load_workload({"model": "hf", "config": {**QWEN3_30B_A3B, "shared_expert_intermediate_size": 5632}})


def test_qwen3_moe_dense_layer_params():
    # layer 0 dense (Qwen3MoeMLP, intermediate_size 6144) instead of router + 128 experts
    dense = build_workload("hf", {"config": {**QWEN3_30B_A3B, "mlp_only_layers": [0]}, "seq_len": 1})
    assert dense.meta["model_params"] == QWEN3_30B_A3B_PARAMS - (128 * 2048 + 128 * EXPERT_30B) + 3 * 2048 * 6144


def test_qwen3_moe_decode_tensor_parallel_simulates():
    from accelsim.api import simulate

    r = simulate({"model": "hf", "config": {**QWEN3_30B_A3B, "num_hidden_layers": 2}, "phase": "decode",
                  "kv_len": 16, "tensor_parallel": 2}, "dgx-h100").to_dict()
    norm = next(op for op in r["ops"] if op["name"] == "model.layers.1.self_attn.k_norm")
    assert norm["flops"] == RMSNORM_FLOPS * (4 // 2) * 128 and r["seconds"] > 0  # this chip's 2 KV heads
