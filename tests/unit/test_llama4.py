"""Llama 4 (``hf``, Llama4ForConditionalGeneration / Llama4ForCausalLM): parameter counts, the NoPE and chunked layers,
the MoE and dense feed-forwards, the vision encoder's work per tile, and the refusals.

Every expected figure is worked out below from the published configs' sizes (workloads/llama4_scout.yaml; Maverick:
Scout's text shape with 128 experts in every other layer and no QK norm) and the structure of transformers'
modeling_llama4 (Llama4TextDecoderLayer, Llama4TextMoe, Llama4VisionModel, Llama4VisionPixelShuffleMLP,
Llama4MultiModalProjector). Meta's model cards: Scout 109 B total and 17 B active parameters, Maverick 400 B and 17 B.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.ir import OpKind

H, VOCAB, FFN, FFN_MLP, LAYERS = 5120, 202048, 8192, 16384, 48
ATTN = 2 * H * 40 * 128 + 2 * H * 8 * 128  # q and o (40 heads of 128), k and v (8 KV heads)
NORMS = 2 * H  # input and post-attention RMSNorms (the QK norm has no weight)
EXPERT = 3 * H * FFN  # gate_up_proj (2 · 8192) and down_proj
DENSE = 3 * H * FFN_MLP
HEAD = 2 * VOCAB * H + H  # embeddings, untied lm_head, final norm
# vision: 1408 wide, 34 layers, MLP 5632, 16 heads of 88, 336² tiles of 14² patches (24 × 24 = 576, plus a class token)
D, V_FFN, V_LAYERS, PATCHES = 1408, 5632, 34, 576
V_LAYER = 4 * (D * D + D) + (D * V_FFN + V_FFN) + (V_FFN * D + D) + 2 * 2 * D
VISION = (588 * D) + D + (PATCHES + 1) * D + 2 * 2 * D + V_LAYERS * V_LAYER + (V_FFN * 4096 + 4096 * 4096)
PROJECTOR = 4096 * H


def _scout(**params):
    w = load_workload("llama4_scout")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def _maverick(**params):
    w = load_workload("llama4_scout")
    text = {**w.params["text_config"], "interleave_moe_layer_step": 2, "num_local_experts": 128,
            "use_qk_norm": False}
    return build_workload(w.model, {**w.params, "text_config": text, "name": "llama4_maverick", "dtype": "bf16",
                                    **params})


def test_parameter_counts_are_the_published_totals():
    scout = LAYERS * (ATTN + NORMS + H * 16 + 16 * EXPERT + EXPERT) + HEAD + VISION + PROJECTOR
    g = _scout(seq_len=8)
    assert g.params == g.meta["model_params"] == scout == 108_641_793_536
    assert round(scout / 1e9) == 109
    active = scout - 15 * EXPERT * LAYERS - VISION - PROJECTOR  # one routed expert and the shared one; no encoder
    assert g.meta["moe"]["active_params"] == active and round(active / 1e9) == 17
    # Maverick: 24 MoE layers (1, 3, ..., 47) of 128 experts and a shared one, 24 dense layers of 16384
    maverick = (24 * (ATTN + NORMS + H * 128 + 129 * EXPERT) + 24 * (ATTN + NORMS + DENSE) + HEAD + VISION
                + PROJECTOR)
    m = _maverick(seq_len=8)
    assert m.params == maverick and abs(maverick / 400e9 - 1) < 0.005  # "400 B"
    assert round(m.meta["moe"]["active_params"] / 1e9) == 17
    assert m["model.layers.0.feed_forward.gate_proj"].weights[0].shape == (FFN_MLP, H)
    assert m["model.layers.1.feed_forward.router"].weights[0].shape == (128, H)


def test_three_layers_of_four_rotate_and_norm_q_and_k_and_attend_within_chunks():
    g = _scout(phase="decode", kv_len=20000, layers=4)
    names = {op.name for op in g.ops}
    for i in range(3):  # RoPE layers: RoPE, then the weightless QK norm; their keys chunked to 8,192 tokens: the
        # step at position 20,000 attends within its chunk (16,384 … 20,000), 20000 mod 8192 = 3,616 cached and its own
        assert {f"model.layers.{i}.self_attn.{x}" for x in ("q_rope", "k_rope", "q_norm", "k_norm")} <= names
        assert g[f"model.layers.{i}.self_attn.q_norm"].weights == ()
        assert g[f"model.layers.{i}.self_attn.scores"].gemm.n == 3617
    assert not any(n.startswith("model.layers.3.self_attn.") and n.endswith(("_rope", "_norm")) for n in names)
    assert g["model.layers.3.self_attn.scores"].gemm.n == 20001  # the NoPE layer attends to every token
    assert not any(op.name.endswith("q_norm") for op in _maverick(seq_len=8, layers=2).ops)  # use_qk_norm false


def test_a_tile_runs_the_vision_encoder_and_gives_144_tokens():
    g = _scout(seq_len=400, images=2, layers=1)
    tower = [op for op in g.ops if op.name.startswith(("model.vision_model.", "model.multi_modal_projector."))]
    tokens = PATCHES + 1
    # per tile: the patch projection 576 · 588 · 1408; per layer the four projections 577 · 4 · 1408², the MLP
    # 2 · 577 · 1408 · 5632, the scores and context 2 · 16 heads · 577² · 88; the adapter on 144 tokens of 5632
    # (fc1 to 4096, fc2 to 4096); the projector 144 · 4096 · 5120
    layer = tokens * 4 * D * D + 2 * tokens * D * V_FFN + 2 * 16 * tokens * tokens * 88
    per_tile = PATCHES * 588 * D + V_LAYERS * layer + 144 * (V_FFN * 4096 + 4096 * 4096) + 144 * 4096 * H
    assert sum(op.macs for op in tower) == 2 * per_tile
    assert g["model.vision_model.pixel_shuffle"].out_shape == (2, 144, 4 * D)  # 24² patches → 12² tokens of 4·1408
    assert g["model.masked_scatter"].in_shapes == ((1, 400, H), (1, 2 * 144, H))
    assert g.params == _scout(seq_len=400, layers=1).params  # the encoder's weights read instead of held


@pytest.mark.parametrize("vision, message", [
    ({"vision_output_dim": 7680}, "vision_output_dim: 7680 must equal projector_output_dim"),
    ({"pixel_shuffle_ratio": 0.3}, "pixel_shuffle_ratio: 0.3 must be 1/n"),
    ({"vision_feature_layer": -2}, "vision_feature_layer"),
])
def test_vision_settings_the_encoder_cannot_take_are_refused(vision, message):
    w = load_workload("llama4_scout")
    with pytest.raises(ValidationError, match=f"vision_config.{message}"):
        build_workload(w.model, {**w.params, "vision_config": {**w.params["vision_config"], **vision}})


def test_a_text_only_llama4_config_builds_the_decoder_alone():
    w = load_workload("llama4_scout")
    g = build_workload("hf", {"config": {"architectures": ["Llama4ForCausalLM"], **w.params["text_config"]},
                              "seq_len": 8, "layers": 1})
    assert not any(op.name.startswith("model.vision") for op in g.ops)
    assert g.meta["model_params"] == 1 * (ATTN + NORMS + H * 16 + 17 * EXPERT) + HEAD  # its first layer only
    with pytest.raises(ValidationError, match=r"no_rope_layers: expected 48 entries"):
        build_workload("hf", {"config": {"architectures": ["Llama4ForCausalLM"], "no_rope_layers": [1, 0]}})
    assert [op.kind for op in g.ops if op.name.endswith("router_topk")] == [OpKind.ELEMENTWISE]


# a small Llama 4 text model with 16-token chunks: layers 0-2 chunked (RoPE), layer 3 global (NoPE); 2 KV heads of 64
SMALL = {"architectures": ["Llama4ForCausalLM"], "hidden_size": 256, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 64, "num_hidden_layers": 4, "vocab_size": 100, "num_local_experts": 2,
         "intermediate_size": 128, "intermediate_size_mlp": 256, "attention_chunk_size": 16}
KV_TOKEN = 2 * 2 * 64 * 2  # k and v, 2 KV heads of 64, bf16: bytes one token takes in one layer's cache


def _small(**params):
    return build_workload("hf", {"config": SMALL, "dtype": "bf16", **params})


def test_a_prompt_attends_within_its_chunks():
    # transformers' chunked_attention mask: a query at position i sees the keys of its own chunk up to i. 40 tokens
    # in chunks of 16: two whole chunks as one causal attention of batch 2 × 16 tokens, the last 8 as another
    g = _small(seq_len=40, attention="fused")
    whole, last = g["model.layers.0.self_attn.chunks.attention"], g["model.layers.0.self_attn.last_chunk.attention"]
    assert (whole.attrs["batch"], whole.attrs["q_len"], whole.attrs["kv_len"], whole.attrs["causal"]) == (2, 16, 16, True)
    assert (last.attrs["batch"], last.attrs["q_len"], last.attrs["kv_len"]) == (1, 8, 8)
    assert g["model.layers.3.self_attn.attention"].attrs["kv_len"] == 40  # the NoPE layer: every token
    # the scores' MACs: 4 heads of 64 over (2 · 16² + 8²) query-key pairs, not 40²
    unfused = _small(seq_len=40)
    macs = sum(op.gemm.macs for op in unfused.ops if op.name.startswith("model.layers.0.") and op.name.endswith(".scores"))
    assert macs == 4 * 64 * (2 * 16 * 16 + 8 * 8)
    # the cache after the prompt: a chunked layer counts at most a chunk's 16 tokens (transformers caches it as a
    # sliding window of 16; vLLM reserves a chunk and the step's tokens), the global layer all 40
    assert g.meta["kv_cache_bytes"] == (3 * 16 + 40) * KV_TOKEN
    # a prompt of whole chunks only: no partial chunk; one chunk or less: ordinary causal attention
    assert not any("last_chunk" in op.name for op in _small(seq_len=32).ops)
    assert _small(seq_len=16, attention="fused")["model.layers.0.self_attn.attention"].attrs["kv_len"] == 16


def test_a_decode_step_reads_its_chunks_tokens():
    # position 37 lies in chunk 32 … 47: it reads 37 mod 16 = 5 cached tokens and its own; the cache holds the last
    # 15 and the new one (as a window of 16), the global layer's 38
    g = _small(phase="decode", kv_len=37)
    assert g["model.layers.0.self_attn.scores"].attrs["kv_len"] == 6
    assert g.inputs["model.layers.0.self_attn.k_cache"] == (1, 2, 5, 64)
    assert g["model.layers.3.self_attn.scores"].attrs["kv_len"] == 38
    assert g.meta["kv_cache_bytes"] == (3 * 16 + 38) * KV_TOKEN
    # position 32 opens a chunk: no cached token is read; its ops are the other steps' (k_all an identity view), as
    # a serving run's decode steps must be
    opens = _small(phase="decode", kv_len=32)
    assert opens["model.layers.0.self_attn.scores"].attrs["kv_len"] == 1
    assert "model.layers.0.self_attn.k_cache" not in opens.inputs
    assert opens["model.layers.0.self_attn.k_all"].kind is OpKind.RESHAPE
    assert opens.meta["kv_cache_bytes"] == (3 * 16 + 33) * KV_TOKEN
    assert [op.name for op in opens.ops] == [op.name for op in g.ops]


def test_chunked_attention_reads_the_cache_in_its_dtype():
    # with an fp8 KV cache the chunks' attention runs in fp8 as any cached layer's does
    g = _small(seq_len=40, attention="fused", kv_cache_dtype="fp8")
    assert g["model.layers.0.self_attn.chunks.attention"].dtype == "fp8"
    assert g["model.layers.0.self_attn.last_chunk.attention"].dtype == "fp8"
