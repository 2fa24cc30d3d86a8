"""Transformer workload builders: params against published counts, MACs and KV-cache bytes against hand formulas.

Every expected number is a published figure (cited) or a hand calculation written out here. Each large graph is
built once per module (the ``graph`` fixture caches by name and parameters).
"""

from __future__ import annotations

import math

import pydantic
import pytest

from accelsim.builders import build_workload
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.ir import OpKind

from ..conftest import graph_builds

FP16 = 2  # bytes per element


@pytest.fixture(scope="module")
def graph():
    return graph_builds(default_dtype="fp16")


def _ops(g, kind: OpKind, fn: str | None = None):
    return [op for op in g if op.kind is kind and (fn is None or op.fn == fn)]


# ---- published parameter counts ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params"), [
    # Hugging Face model.num_parameters() of BertModel (with pooler): bert-base-uncased / bert-large-uncased
    ("bert_base", 109_482_240),
    ("bert_large", 335_141_888),
    # Hugging Face GPT2LMHeadModel "gpt2" (LM head tied to wte, counted once)
    ("gpt2", 124_439_808),
    # torchvision ViT_B_16_Weights.IMAGENET1K_V1 num_params
    ("vit_b_16", 86_567_656),
    # Hugging Face LlamaForCausalLM, meta-llama/Llama-2-{7b,13b,70b}-hf
    ("llama2_7b", 6_738_415_616),
    ("llama2_13b", 13_015_864_320),
    ("llama2_70b", 68_976_648_192),
    # Hugging Face CLIPModel openai/clip-vit-base-patch32
    ("clip_vit_b32", 151_277_313),
    # segment-anything sam_model_registry[...]: sum(p.numel() for p in sam.parameters())
    ("sam_vit_b", 93_735_472),
    ("sam_vit_h", 641_090_608),
    # Hugging Face WhisperForConditionalGeneration openai/whisper-base (proj_out tied to embed_tokens). HF holds the
    # encoder's sinusoidal table as a frozen nn.Embedding(1500, 512), so its 768,000 values are in this count.
    ("whisper_base", 72_593_920),
    # Hugging Face openai/whisper-large-v3 num_parameters() (its safetensors total). By hand from its config.json
    # (d 1280, 32 + 32 layers, FFN 5120, vocab 51866, 128 mel bins): encoder conv1 128·1280·3 + 1280 = 492,800,
    # conv2 1280·1280·3 + 1280 = 4,916,480, positions 1500·1280 = 1,920,000, 32 layers × (attention 4·d² + 3·d (k has
    # no bias) + 2 LayerNorms 4·d + MLP 8·d² + 5·d = 19,676,160), final LayerNorm 2,560: 636,968,960; decoder
    # embed_tokens 51866·1280 = 66,388,480 (proj_out tied), positions 448·1280 = 573,440, 32 layers × (2 attentions
    # 13,114,880 + 3 LayerNorms 7,680 + MLP 13,113,600 = 26,236,160), final LayerNorm 2,560: 906,521,600
    ("whisper_large_v3", 1_543_490_560),
    # Hugging Face CLIPModel openai/clip-vit-large-patch14 num_parameters(). By hand: vision patch conv 3·14²·1024 =
    # 602,112, class 1,024, positions 257·1024 = 263,168, pre/post LayerNorms 4,096, 24 layers × (4·d² + 4·d + 4·d +
    # 8·d² + 5·d = 12,596,224); visual_projection 1024·768; text 49408·768 + 77·768 + 12 × 7,087,872 + 1,536 =
    # 123,060,480; text_projection 768·768; logit_scale 1
    ("clip_vit_l14", 427_616_513),
])
def test_params_equal_published(graph, name, params):
    assert graph(name).params == params


def _llama_by_hand(layers: int, d: int, heads: int, kv_heads: int, d_ff: int, vocab: int = 32000) -> int:
    # per layer: q, o (d·d each) and k, v (d·d·kv_heads/heads each) = 2·d²·(1 + kv_heads/heads);
    # gate, up, down = 3·d·d_ff; two RMSNorm weights = 2·d. Plus embed_tokens and lm_head (2·vocab·d) and the final
    # norm (d).
    attn = 2 * d * d + 2 * d * (d * kv_heads // heads)
    return layers * (attn + 3 * d * d_ff + 2 * d) + 2 * vocab * d + d


def test_llama2_params_by_hand(graph):
    # Llama-2-7b-hf config: 32 layers, hidden 4096, 32 heads (32 KV heads), intermediate 11008
    assert _llama_by_hand(32, 4096, 32, 32, 11008) == 6_738_415_616 == graph("llama2_7b").params
    # Llama-2-70b-hf config: 80 layers, hidden 8192, 64 heads, 8 KV heads, intermediate 28672
    assert _llama_by_hand(80, 8192, 64, 8, 28672) == 68_976_648_192 == graph("llama2_70b").params
    # Llama-2-13b-hf: 40 layers, hidden 5120, 40 heads, intermediate 13824
    assert _llama_by_hand(40, 5120, 40, 40, 13824) == 13_015_864_320


def test_transformer_base_params_by_hand(graph):
    # Vaswani et al. 2017, Table 3 "base": d_model 512, d_ff 2048, h 8, N = 6 encoder and 6 decoder layers;
    # §3.4: one weight matrix shared by both embeddings and the pre-softmax linear; §5.1: shared BPE vocab 37000.
    d, ff, vocab = 512, 2048, 37000
    attn = 4 * (d * d + d)  # q, k, v, out projections with biases: 1,050,624
    ffn = d * ff + ff + ff * d + d  # 2,099,712
    ln = 2 * d  # post-LN after every sublayer (weight and bias)
    # torch.nn.Transformer adds a final LayerNorm after the encoder stack and after the decoder stack
    encoder = 6 * (attn + ln + ffn + ln) + ln  # 6 × 3,152,384 + 1,024 = 18,915,328
    decoder = 6 * (2 * (attn + ln) + ffn + ln) + ln  # self + cross attention: 6 × 4,204,032 + 1,024 = 25,225,216
    # sum(p.numel() for p in torch.nn.Transformer(512, 8, 6, 6, 2048).parameters()): 44,140,544, the model without
    # embeddings or generator
    assert encoder + decoder == 18_915_328 + 25_225_216 == 44_140_544
    embedding = vocab * d  # 18,944,000, counted once
    assert encoder + decoder + embedding == 63_084_544  # ≈ the paper's 65 M (Table 3) with this vocabulary
    g = graph("transformer_base")
    assert g.params == encoder + decoder + embedding
    assert g["encoder.norm"].inputs == ("encoder.layers.5.norm2",) and g["decoder.norm"].inputs[0].endswith("norm3")
    assert g["generator"].inputs == ("decoder.norm",)


def _sam_by_hand(dim: int, depth: int, heads: int, n_global: int) -> int:
    # segment_anything/modeling: ImageEncoderViT (window 14, global blocks use the 64×64 grid), PromptEncoder(256),
    # MaskDecoder(TwoWayTransformer(depth 2, 256, mlp 2048, 8 heads), downsample 2 for the cross attentions)
    hd, e = dim // heads, 256
    block = 2 * 2 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (2 * 4 * dim * dim + 4 * dim + dim)
    rel = lambda size: 2 * (2 * size - 1) * hd  # rel_pos_h and rel_pos_w  # noqa: E731
    encoder = (3 * 16 * 16 * dim + dim) + 64 * 64 * dim + depth * block \
        + (depth - n_global) * rel(14) + n_global * rel(64) \
        + (dim * e + 2 * e + e * e * 9 + 2 * e)  # neck: 1×1 conv, LN2d, 3×3 conv, LN2d (convs without bias)
    # point_embeddings 4×256, not_a_point_embed, no_mask_embed; mask_downscaling: conv 1→4 k2 (20), LN2d(4) (8),
    # conv 4→16 k2 (272), LN2d(16) (32), conv 16→256 k1 (4,352) = 4,684
    prompt = 4 * e + e + e + 4_684
    self_attn = 4 * (e * e + e)  # 263,168
    cross = 3 * (e * 128 + 128) + (128 * e + e)  # internal width 128: 131,712
    layer = self_attn + 2 * cross + (e * 2048 + 2048 + 2048 * e + e) + 4 * 2 * e
    transformer = 2 * layer + cross + 2 * e
    upscaling = (e * 64 * 4 + 64) + 2 * 64 + (64 * 32 * 4 + 32)  # conv-transpose k2, LN2d(64), conv-transpose k2
    hyper = 4 * ((e * e + e) * 2 + e * 32 + 32)
    iou_head = (e * e + e) * 2 + e * 4 + 4
    decoder = e + 4 * e + transformer + upscaling + hyper + iou_head
    return encoder + prompt + decoder


def test_sam_params_by_structure(graph):
    assert _sam_by_hand(768, 12, 12, 4) == 93_735_472 == graph("sam_vit_b").params
    assert _sam_by_hand(1280, 32, 16, 4) == 641_090_608 == graph("sam_vit_h").params
    # the mask branch that runs instead of no_mask_embed does not change the count
    assert graph("sam_vit_b", mask_prompt=True).params == 93_735_472


# ---- MACs against published figures and hand formulas ----------------------------------------------------------
def test_vit_macs_published(graph):
    # torchvision ViT_B_16_Weights.IMAGENET1K_V1: 17.56 GFLOPS (multiply-accumulates, fvcore convention)
    assert graph("vit_b_16").macs == pytest.approx(17.56e9, rel=0.005)


def test_llama2_7b_prefill_macs_by_hand(graph):
    s, layers, d, d_ff, vocab = 128, 32, 4096, 11008, 32000
    linear_per_token = layers * (4 * d * d + 3 * d * d_ff) + vocab * d  # q, k, v, o; gate, up, down; LM head
    attention = layers * 2 * s * s * d  # QKᵀ and PV: heads·S·S·head_dim each, heads·head_dim = d
    assert graph("llama2_7b", seq_len=s).macs == s * linear_per_token + attention


def test_llama2_70b_prefill_and_decode_macs_by_hand(graph):
    layers, d, d_ff, vocab, heads, kv_heads = 80, 8192, 28672, 32000, 64, 8
    # per layer: q and o d² each, k and v d²·kv_heads/heads each (GQA), gate/up/down 3·d·d_ff; plus the LM head
    linear_per_token = layers * (2 * d * d + 2 * d * (d * kv_heads // heads) + 3 * d * d_ff) + vocab * d
    s = 64
    assert graph("llama2_70b", seq_len=s).macs == s * linear_per_token + layers * 2 * s * s * d
    # decode: one token against 4095 cached + itself; QKᵀ and PV are 64 heads·4096·128 each per layer
    assert graph("llama2_70b", phase="decode", kv_len=4095).macs == linear_per_token + layers * 2 * 4096 * d


def test_gpt2_lm_head_on_every_position(graph):
    g = graph("gpt2", seq_len=256)
    head = g["lm_head"]
    assert head.kind is OpKind.LINEAR and head.out_shape == (1, 256, 50257)
    assert head.macs == 256 * 50257 * 768
    assert head.weights[0].name == "transformer.wte.weight"  # tied: Graph.params counts it once
    assert g.params == 124_439_808


def test_decode_lm_head_on_new_token_only(graph):
    assert graph("llama2_7b", phase="decode", kv_len=511)["lm_head"].gemm.m == 1
    assert graph("llama2_7b", seq_len=32)["lm_head"].gemm.m == 32


# ---- attention micro-workload ----------------------------------------------------------------------------------
def test_attention_micro_macs_by_hand():
    g = build_workload("attention", {"heads": 8, "kv_heads": 8, "q_len": 64, "kv_len": 96, "head_dim": 32,
                                     "batch": 2})
    # batch·heads·q_len·kv_len·(d_qk + d_v) = 2·8·64·96·(32 + 32)
    assert g.macs == 2 * 8 * 64 * 96 * 64 == 6_291_456
    scores, soft, ctx = g.ops
    assert (scores.kind, soft.kind, ctx.kind) == (OpKind.MATMUL, OpKind.SOFTMAX, OpKind.MATMUL)
    assert (scores.gemm.m, scores.gemm.n, scores.gemm.k, scores.gemm.count) == (64, 96, 32, 16)
    assert (ctx.gemm.m, ctx.gemm.n, ctx.gemm.k, ctx.gemm.count) == (64, 32, 96, 16)
    assert soft.vector_elems == 2 * 8 * 64 * 96 and soft.flops == 5 * 2 * 8 * 64 * 96
    assert g.params == 0


def test_gqa_keeps_macs_and_shrinks_kv_bytes():
    base = {"heads": 64, "q_len": 128, "kv_len": 1024, "head_dim": 128}
    mha = build_workload("attention", {**base, "kv_heads": 64}, default_dtype="fp16")
    gqa = build_workload("attention", {**base, "kv_heads": 8}, default_dtype="fp16")
    # 64·128·1024·(128 + 128) either way
    assert mha.macs == gqa.macs == 64 * 128 * 1024 * 256
    kv_bytes = lambda g: sum(math.prod(g.inputs[n]) for n in ("k", "v")) * FP16  # noqa: E731
    assert kv_bytes(mha) == 2 * 64 * 1024 * 128 * FP16
    assert kv_bytes(mha) == kv_bytes(gqa) * (64 // 8)
    # the score matmul's k operand is the real K: (1, kv_heads, kv_len, head_dim)
    assert gqa["scores"].in_shapes[1] == (1, 8, 1024, 128) and gqa["scores"].gemm.count == 64


def test_fused_attention_op():
    g = build_workload("attention", {"heads": 4, "kv_heads": 2, "q_len": 16, "kv_len": 32, "head_dim": 8,
                                     "attention": "fused"})
    (op,) = g.ops
    assert op.kind is OpKind.ATTENTION and op.fn == "attention" and op.inputs == ("q", "k", "v")
    assert (op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count) == (16, 32, 8, 4)
    assert op.attrs["pv_gemm"] == (16, 8, 32, 4)
    assert op.macs == 4 * 16 * 32 * (8 + 8)
    assert op.vector_elems == 4 * 16 * 32 and op.flops == 2 * op.macs + 5 * 4 * 16 * 32
    assert {k: op.attrs[k] for k in ("heads", "kv_heads", "q_len", "kv_len", "head_dim", "batch")} == \
        {"heads": 4, "kv_heads": 2, "q_len": 16, "kv_len": 32, "head_dim": 8, "batch": 1}


@pytest.mark.parametrize(("name", "params"), [
    ("bert_base", {}), ("gpt2", {"seq_len": 64}), ("vit_b_16", {}), ("transformer_base", {}),
    ("llama2_7b", {"phase": "decode", "kv_len": 100}), ("clip_vit_b32", {}), ("sam_vit_b", {}),
    ("whisper_base", {}), ("whisper_base", {"phase": "decode", "kv_len": 5}),
])
def test_fused_and_unfused_agree(graph, name, params):
    unfused, fused = graph(name, attention="unfused", **params), graph(name, attention="fused", **params)
    assert fused.params == unfused.params
    assert fused.macs == unfused.macs
    n_fused = len(_ops(fused, OpKind.ATTENTION))
    assert n_fused > 0 and not _ops(fused, OpKind.SOFTMAX)
    assert len(_ops(unfused, OpKind.SOFTMAX)) == n_fused


# ---- KV cache ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "sdpa"), [
    # PyTorch programs calling scaled_dot_product_attention (torchvision's MultiheadAttention, transformers' CLIP and
    # Whisper, segment-anything, diffusers' and timm's processors): attr sdpa on every fused attention
    ("vit_b_16", {}, True), ("clip_vit_b32", {}, True), ("sam_vit_b", {}, True), ("whisper_base", {}, True),
    ("whisper_base", {"phase": "decode", "kv_len": 5}, True), ("sd15", {"part": "unet"}, True),
    ("sd15", {"part": "vae_decoder", "image_size": 128}, True), ("sdxl", {"part": "text_encoder"}, True),
    ("dit_xl_2", {}, True), ("flux1_schnell", {"part": "transformer", "image_size": 256}, True),
    ("flux1_schnell", {"part": "vae_decoder", "image_size": 256}, True),
    # the LLM builders keep the serving engine's kernel (core.attention_kernel)
    ("llama2_7b", {"phase": "decode", "kv_len": 100}, False), ("gpt2", {"seq_len": 64}, False),
])
def test_pytorch_programs_mark_their_attention_sdpa(graph, name, params, sdpa):
    ops = _ops(graph(name, attention="fused", **params), OpKind.ATTENTION)
    assert ops and {bool(op.attrs.get("sdpa")) for op in ops} == {sdpa}


def test_llama2_7b_decode_kv_cache(graph):
    g = graph("llama2_7b", phase="decode", kv_len=511)
    assert g.inputs["input"] == (1, 1)
    caches = [f"model.layers.{i}.self_attn.{kv}_cache" for i in range(32) for kv in "kv"]
    assert g.meta["kv_cache"] == sorted(caches)
    assert all(g.inputs[c] == (1, 32, 511, 128) for c in caches)  # (batch, kv_heads, kv_len, head_dim)
    # K and V · 32 layers · 32 heads · 128 · (511 + 1) tokens · 2 bytes
    assert g.meta["kv_cache_bytes"] == 2 * 32 * 32 * 128 * 512 * 2 == 268_435_456
    assert g.meta["phase"] == "decode" and g.meta["tokens"] == 1
    # attention reads a concat view of (cache, new K after RoPE); the new K/V are appended
    scores = g["model.layers.0.self_attn.scores"]
    k_all = g[scores.inputs[1]]
    assert k_all.kind is OpKind.CONCAT and k_all.inputs == ("model.layers.0.self_attn.k_cache",
                                                            "model.layers.0.self_attn.k_rope")
    assert scores.gemm.n == 512
    appends = _ops(g, OpKind.KV_APPEND)
    assert len(appends) == 64
    k_app = g["model.layers.0.self_attn.k_append"]
    assert k_app.inputs == ("model.layers.0.self_attn.k_rope",) and k_app.out_shape == (1, 32, 1, 128)
    assert k_app.attrs["cache"] == "model.layers.0.self_attn.k_cache"
    assert k_app.flops == 0 and k_app.vector_elems == 0


def test_llama2_70b_decode_gqa_cache(graph):
    g = graph("llama2_70b", phase="decode", kv_len=4095, batch=2)
    assert g.inputs["model.layers.79.self_attn.v_cache"] == (2, 8, 4095, 128)
    # K and V · 80 layers · batch 2 · 8 KV heads · 128 · 4096 tokens · 2 bytes
    assert g.meta["kv_cache_bytes"] == 2 * 80 * 2 * 8 * 128 * 4096 * 2
    assert g.meta["tokens"] == 2


def test_llama2_prefill_fills_the_cache(graph):
    g = graph("llama2_7b", seq_len=128)
    # besides the token ids, the causal mask every layer's eager attention adds to its scores: (1, 1, 128, 128)
    assert g.meta["kv_cache"] == [] and g.inputs == {"input": (1, 128), "attention_mask": (1, 1, 128, 128)}
    assert g.meta["phase"] == "prefill" and g.meta["tokens"] == 1  # the next token of each sequence
    appends = _ops(g, OpKind.KV_APPEND)
    assert len(appends) == 64 and all(op.out_shape == (1, 32, 128, 128) for op in appends)
    assert g.meta["kv_cache_bytes"] == 2 * 32 * 32 * 128 * 128 * 2  # K and V, 32 layers, 128 tokens, fp16
    scores = g["model.layers.0.self_attn.scores"]
    assert scores.inputs == ("model.layers.0.self_attn.q_rope", "model.layers.0.self_attn.k_rope")
    rope = g["model.layers.0.self_attn.q_rope"]
    assert rope.kind is OpKind.ELEMENTWISE and rope.flops == 3 * 32 * 128 * 128


def test_whisper_phases(graph):
    pre = graph("whisper_base")
    # 30 s · 100 mel frames; conv2 (k3, s2, p1): floor((3000 + 2 − 3) / 2) + 1 = 1500 encoder frames
    assert pre.inputs["input"] == (1, 80, 3000)
    conv2 = pre["model.encoder.conv2"]
    assert conv2.out_shape == (1, 512, 1500)
    assert (conv2.gemm.m, conv2.gemm.n, conv2.gemm.k, conv2.gemm.count) == (1500, 512, 3 * 512, 1)
    # prefill caches: self K/V of the first token and cross K/V of 1500 frames, 6 layers, 8 heads · 64, fp16
    assert pre.meta["kv_cache_bytes"] == 6 * 2 * 8 * 64 * (1 + 1500) * 2
    dec = graph("whisper_base", phase="decode", kv_len=10)
    assert dec.inputs["model.decoder.layers.0.self_attn.k_cache"] == (1, 8, 10, 64)
    assert dec.inputs["model.decoder.layers.0.encoder_attn.v_cache"] == (1, 8, 1500, 64)
    assert len(dec.meta["kv_cache"]) == 6 * 4
    assert dec.meta["kv_cache_bytes"] == 6 * 2 * 8 * 64 * (10 + 1 + 1500) * 2
    # the cross K/V come from the cache: no k/v projections and nothing appended for them in decode
    assert "model.decoder.layers.0.encoder_attn.k_proj" not in dec
    assert len(_ops(dec, OpKind.KV_APPEND)) == 6 * 2
    # decoder MACs of one step by hand: per layer self q/k/v/o 4·512², cross q/o 2·512², fc 2·512·2048;
    # attention 8 heads · 64 · 2 · (11 self + 1500 cross) keys; tied output projection 51865·512
    per_layer = 6 * 512 * 512 + 2 * 512 * 2048 + 2 * 512 * (11 + 1500)
    assert dec.macs == 6 * per_layer + 51865 * 512


def test_sam_windows_and_rel_pos(graph):
    g = graph("sam_vit_b")
    # block 0 is windowed: 64×64 padded to 70×70 → 5·5 = 25 windows of 14·14 = 196 tokens
    s0 = g["image_encoder.blocks.0.attn.scores"]
    assert (s0.gemm.m, s0.gemm.n, s0.gemm.k, s0.gemm.count) == (196, 196, 64, 25 * 12)
    assert g["image_encoder.blocks.0.attn.qkv"].gemm.m == 25 * 196
    # block 2 is global: 4096 tokens
    s2 = g["image_encoder.blocks.2.attn.scores"]
    assert (s2.gemm.m, s2.gemm.n, s2.gemm.count) == (4096, 4096, 12)
    rel_h = g["image_encoder.blocks.0.attn.rel_h"]
    assert rel_h.weights[0].shape == (27, 64) and g["image_encoder.blocks.2.attn.rel_w"].weights[0].shape == (127, 64)
    # einsum bhwc,hkc->bhwk: 25 windows · 12 heads · 14 · 14 · 14 · 64 MACs
    assert rel_h.kind is OpKind.MATMUL and rel_h.macs == 25 * 12 * 14 ** 3 * 64
    # mask decoder: 5 output tokens + 1 click + 1 padding point attend to the 64×64 image embedding
    t2i = g["mask_decoder.transformer.layers.0.cross_attn_token_to_image.scores"]
    assert (t2i.gemm.m, t2i.gemm.n, t2i.gemm.k, t2i.gemm.count) == (7, 4096, 16, 8)
    assert g["mask_decoder.masks"].out_shape == (1, 4, 256 * 256)


# ---- embeddings and element-wise conventions ---------------------------------------------------------------------
def test_bert_embeddings_and_pooler(graph):
    g = graph("bert_base", seq_len=64, batch=2)
    word = g["embeddings.word_embeddings"]
    assert word.kind is OpKind.EMBEDDING and word.attrs["gather_rows"] == 2 * 64 and word.flops == 0
    assert word.weights[0].shape == (30522, 768)
    pos = g["embeddings.position_embeddings"]
    assert pos.attrs["gather_rows"] == 64 and pos.weights[0].shape == (512, 768) and pos.out_shape == (1, 64, 768)
    q = g["encoder.layer.0.attention.self.query"]
    assert (q.gemm.m, q.gemm.n, q.gemm.k) == (2 * 64, 768, 768) and q.flops == 2 * q.macs + 2 * 64 * 768
    ln = g["encoder.layer.0.attention.output.LayerNorm"]
    assert ln.fn == "layernorm" and ln.flops == 5 * 2 * 64 * 768 and ln.params == 2 * 768
    assert g["encoder.layer.0.intermediate.act"].flops == 8 * 2 * 64 * 3072
    assert g.ops[-1].fn == "tanh" and g.ops[-1].out_shape == (2, 768)


def test_llama_norms_and_swiglu(graph):
    g = graph("llama2_7b", seq_len=16)
    norm = g["model.layers.0.input_layernorm"]
    assert norm.fn == "rmsnorm" and norm.flops == 4 * 16 * 4096 and norm.params == 4096
    assert g["model.layers.0.mlp.act_fn"].fn == "silu" and g["model.layers.0.mlp.act_fn"].flops == 4 * 16 * 11008
    mul = g["model.layers.0.mlp.mul"]
    assert mul.kind is OpKind.ELEMENTWISE and mul.inputs == ("model.layers.0.mlp.act_fn", "model.layers.0.mlp.up_proj")


@pytest.mark.parametrize(("name", "params", "elems", "per_elem"), [
    ("softmax", {"rows": 32, "cols": 100}, 32 * 100, 5),
    ("layernorm", {"rows": 32, "cols": 100}, 32 * 100, 5),
    ("gelu", {"elements": 1000, "batch": 3}, 3 * 1000, 8),
])
def test_vector_micro_workloads(name, params, elems, per_elem):
    (op,) = build_workload(name, params).ops
    assert op.vector_elems == elems and op.flops == per_elem * elems and op.macs == 0


def test_builder_multiple_inputs_and_conv1d():
    b = TransformerBuilder("t", {"input": (2, 80, 100), "ids": (2, 5)})
    y = b.conv1d("input", 16, 3, stride=2, padding=1, groups=2, name="c")
    # floor((100 + 2 − 2 − 1) / 2) + 1 = 50; Gemm m = N·L_out, n = C_out/groups, k = k·C_in/groups, count = groups
    op = b.build()[y.removesuffix(".bias_add")]  # the conv (y: its eager bias add, layers._eager_bias)
    assert op.out_shape == (2, 16, 50)
    assert (op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count) == (100, 8, 3 * 40, 2)
    assert op.params == 16 * 40 * 3 + 16
    assert set(b.build().inputs) == {"input", "ids"}


def test_whisper_large_v3_reads_128_mel_bins(graph):
    pre = graph("whisper_large_v3")
    # config.json num_mel_bins 128 (base: 80): conv1 is Conv1d(128, 1280, 3, padding=1), conv2 halves 3000 frames
    assert pre.inputs["input"] == (1, 128, 3000)
    assert [w.shape for w in pre["model.encoder.conv1"].weights] == [(1280, 128, 3), (1280,)]
    assert pre["model.encoder.conv2"].out_shape == (1, 1280, 1500)
    # encoder MACs by hand: conv1 3000·1280·128·3 = 1,474,560,000; conv2 1500·1280·1280·3 = 7,372,800,000; each of
    # 32 layers 1500·12·1280² (q, k, v, out, fc1, fc2) + 2·1500²·1280 (scores, context) = 35,251,200,000
    encoder = sum(op.macs for op in pre if op.name.startswith("model.encoder."))
    assert encoder == 1_474_560_000 + 7_372_800_000 + 32 * 35_251_200_000
    # a decode step holds every weight (model.decoder.held_weights): the whole model's count
    assert graph("whisper_large_v3", phase="decode", kv_len=10).params == 1_543_490_560


def test_clip_vit_l14_macs_match_open_clip_profile(graph):
    g = graph("clip_vit_l14")
    # 224 / 14 = 16 patches a side: 16² + 1 = 257 positions; bias-free 14×14 patch conv
    assert g["vision_model.embeddings.position_embedding"].weights[0].shape == (257, 1024)
    assert g["vision_model.embeddings.patch_embedding"].weights[0].shape == (1024, 3, 14, 14)
    # open_clip's model profile (docs, profiler_results.csv), ViT-L-14 at 224: image 162.03, text 13.3 GFLOPs,
    # two FLOPs a MAC, to two and one decimals
    image = sum(op.macs for op in g if op.name.startswith(("vision_model.", "visual_projection")))
    text = sum(op.macs for op in g if op.name.startswith(("text_model.", "text_projection")))
    assert abs(2 * image / 1e9 - 162.03) < 0.005
    assert abs(2 * text / 1e9 - 13.3) < 0.05


@pytest.mark.parametrize(("name", "layers"), [("clip_vit_b32", 12 + 12), ("clip_vit_l14", 24 + 12)])
def test_clip_defaults_to_sdpa_as_transformers_loads_it(graph, name, layers):
    # probe p251 #3: transformers' CLIPPreTrainedModel declares _supports_sdpa, so from_pretrained picks
    # attn_implementation "sdpa" and CLIPAttention calls scaled_dot_product_attention (modeling_clip.py: the eager
    # path only when _attn_implementation == "eager"): one fused ATTENTION op a layer (config.json: 12 vision + 12
    # text layers for B/32, 24 + 12 for L/14), no separate score matmuls; "unfused" keeps the eager path
    g = graph(name)
    assert len(_ops(g, OpKind.ATTENTION)) == layers and not _ops(g, OpKind.SOFTMAX)
    eager = graph(name, attention="unfused")
    assert not _ops(eager, OpKind.ATTENTION) and len(_ops(eager, OpKind.SOFTMAX)) == layers
    assert g.macs == eager.macs and g.params == eager.params


@pytest.mark.parametrize(("name", "layers"), [("whisper_base", 6), ("whisper_large_v3", 32)])
def test_whisper_defaults_to_sdpa_as_transformers_loads_it(graph, name, layers):
    # probe p284 #1: transformers' WhisperPreTrainedModel declares _supports_sdpa = True (modeling_whisper.py,
    # huggingface/transformers 5c48f71a), and from_pretrained without attn_implementation sets "sdpa" for such a
    # class (modeling_utils.py _check_and_enable_sdpa, 040ba146), so every WhisperAttention is WhisperSdpaAttention.
    # config.json: 6 encoder + 6 decoder layers (whisper-base), 32 + 32 (large-v3). A prefill has one self-attention
    # per encoder layer and a self- plus a cross-attention per decoder layer, layers + 2·layers fused ATTENTION ops;
    # a decode step the decoder's 2·layers. 'unfused' keeps the eager path: a softmax per attention instead.
    from accelsim.config import load_workload

    for params, attentions in (({}, layers + 2 * layers), ({"phase": "decode", "kv_len": 64}, 2 * layers)):
        g = graph(name, **params)
        assert len(_ops(g, OpKind.ATTENTION)) == attentions and not _ops(g, OpKind.SOFTMAX)
        eager = graph(name, attention="unfused", **params)
        assert not _ops(eager, OpKind.ATTENTION) and len(_ops(eager, OpKind.SOFTMAX)) == attentions
        assert g.macs == eager.macs and g.params == eager.params
    assert load_workload(name).params["attention"] == "fused"  # the preset file the CLI runs says so too


# ---- validation: one error naming the key ----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "loc"), [
    ("attention", {"heads": 32, "kv_heads": 5}, ("kv_heads",)),
    ("bert_base", {"seq_len": 513}, ("seq_len",)),
    ("bert_large", {"seq_len": 1024}, ("seq_len",)),
    ("gpt2", {"seq_len": 1025}, ("seq_len",)),
    ("clip_vit_b32", {"seq_len": 78}, ("seq_len",)),
    ("clip_vit_l14", {"image_size": 224 + 32}, ("image_size",)),  # 256 is no multiple of the 14-pixel patch
    ("llama2_7b", {"decode_steps": -1}, ("decode_steps",)),
    ("llama2_7b", {"phase": "generate"}, ("phase",)),
    ("llama2_7b", {"seq_len": 0}, ("seq_len",)),
    ("whisper_base", {"audio_s": 0}, ("audio_s",)),
    ("whisper_base", {"audio_s": 31}, ("audio_s",)),
    ("whisper_base", {"kv_len": 448}, ("kv_len",)),  # position 448 is past the 448-row table
    ("vit_b_16", {"image_size": 230}, ("image_size",)),
    ("sam_vit_h", {"points": 0}, ("points",)),
])
def test_bad_params_name_the_key(name, params, loc):
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload(name, params)
    assert [e["loc"] for e in info.value.errors()] == [loc]


def test_limits_themselves_are_accepted(graph):
    assert graph("bert_base", seq_len=512)["embeddings.position_embeddings"].attrs["gather_rows"] == 512
    assert graph("whisper_base", phase="decode", kv_len=447).inputs["model.decoder.layers.5.self_attn.k_cache"] == \
        (1, 8, 447, 64)
    assert build_workload("attention", {"heads": 64, "kv_heads": 8}).macs == 64 * 512 * 512 * 256


# ---- whole-model params of partial graphs (meta["model_params"]) ---------------------------------------------
def test_whisper_decode_step_holds_the_whole_model(graph):
    dec = graph("whisper_base", phase="decode", kv_len=10)
    # the step reads only decoder weights (no encoder op, no cross-attention k/v projection) ...
    assert "model.encoder.conv1" not in dec and "model.decoder.layers.0.encoder_attn.k_proj" not in dec
    # ... but the encoder's and the cross K/V projections' weights stay resident, carried by a view: HF
    # openai/whisper-base, 72,593,920 params, every tensor of the prefill graph, none read twice
    held = dec["model.decoder.held_weights"]
    assert held.kind is OpKind.RESHAPE and held.macs == 0
    pre = graph("whisper_base")
    names = {w.name for op in pre.ops for w in op.weights}
    assert {w.name for op in dec.ops for w in op.weights} == names
    assert dec.params == pre.params == dec.meta["model_params"] == 72_593_920
    # held by hand: the encoder 2 convs (80·512·3 + 512, 512·512·3 + 512), 1500·512 positions, 6 layers of
    # q/v/o 512²+512, k 512², 2 LayerNorms 2·1024, fc1 512·2048+2048, fc2 2048·512+512, final LayerNorm 1024;
    # the decoder's cross k (512²) and v (512² + 512) in 6 layers
    layer = 4 * 512 * 512 + 3 * 512 + 2 * 1024 + 2 * 512 * 2048 + 2048 + 512
    encoder = 80 * 512 * 3 + 512 + 512 * 512 * 3 + 512 + 1500 * 512 + 6 * layer + 1024
    assert held.params == encoder + 6 * (2 * 512 * 512 + 512) == 23_739_392


def test_tensor_parallel_shard_carries_the_unsharded_params(graph):
    shard = graph("bert_base", tensor_parallel=2)
    # the shard holds half of each layer's q/k/v/o weights (at least 12 · 4·768²/2 fewer than the model) ...
    assert shard.params <= 109_482_240 - 12 * 4 * 768 * 768 // 2
    # ... its model is still HF bert-base-uncased BertModel with pooler, 109,482,240 params
    assert shard.meta["model_params"] == 109_482_240


def test_whole_graphs_carry_no_separate_model_params(graph):
    # a graph that is the whole model needs no second count: its params are the model's
    assert "model_params" not in graph("bert_base").meta
    assert "model_params" not in graph("whisper_base").meta
    assert "model_params" not in graph("llama2_7b", phase="decode", kv_len=16).meta  # decode reads every weight


def test_gpt_pipeline_stage_and_shard_carry_the_narayanan_count():
    # GPT-3 XL shape (the gpt defaults): h 2048, l 24, V 51200, s 2048, ffn 4h. Narayanan et al. 2021:
    # 12·l·h²·(1 + 13/(12h) + (V + s)/(12·l·h)) = 12lh² + 13lh + (V + s)h, plus the final LayerNorm's 2h
    h, n_layers, v, s = 2048, 24, 51200, 2048
    whole = 12 * n_layers * h * h + 13 * n_layers * h + (v + s) * h + 2 * h
    assert whole == 1_317_654_528
    stage = build_workload("gpt", {"pipeline_parallel": 4, "pipeline_stage": 1})
    assert stage.params == 6 * (12 * h * h + 13 * h)  # a middle stage: its 6 layers only
    assert stage.meta["model_params"] == whole
    assert build_workload("gpt", {"tensor_parallel": 2, "pipeline_parallel": 2}).meta["model_params"] == whole
    assert build_workload("gpt", {}).params == whole and "model_params" not in build_workload("gpt", {}).meta


def test_gpt_whole_model_count_follows_any_ffn():
    # ffn 3h (not 4h): per layer q/k/v/o 4h² + 4h, MLP 2·h·f + f + h, two LayerNorms 4h; the stage's count of the
    # whole model must equal the unstaged graph's
    p = {"hidden": 256, "heads": 4, "layers": 4, "ffn": 768, "seq_len": 64, "vocab": 1024}
    h, f = 256, 768
    by_hand = 4 * (4 * h * h + 4 * h + 2 * h * f + f + h + 4 * h) + (1024 + 64) * h + 2 * h
    assert build_workload("gpt", p).params == by_hand
    assert build_workload("gpt", {**p, "pipeline_parallel": 2, "pipeline_stage": 1}).meta["model_params"] == by_hand


def test_a_prefill_reports_the_cache_it_writes_and_says_when_it_does_not_fit():
    from accelsim.api import simulate
    # LLaMA-2-7B, 512 prompt tokens: K and V · 32 layers · 4096 · 512 tokens · 2 bytes = 268,435,456 B in HBM, where
    # the kv_append ops write it (no cache input to place)
    small = simulate({"model": "llama2_7b", "phase": "prefill", "seq_len": 512, "attention": "fused"}, "h100")
    assert small.to_dict()["memory"]["hbm"]["kv_cache"] == 2 * 32 * 4096 * 512 * 2
    assert not any("does not fit" in n for n in small.to_dict()["notes"])
    # 8 prompts of 32,768 tokens: 2 · 32 · 4096 · 32,768 · 8 · 2 = 137,438,953,472 B of cache on an 80 GiB H100
    big = simulate({"model": "llama2_7b", "phase": "prefill", "seq_len": 32768, "batch": 8, "attention": "fused"},
                   "h100").to_dict()
    assert big["memory"]["hbm"]["kv_cache"] == 2 * 32 * 4096 * 32768 * 8 * 2
    assert big["memory"]["hbm"]["fraction"] > 1
    assert any(n.startswith("hbm would hold") and "does not fit" in n for n in big["notes"])
