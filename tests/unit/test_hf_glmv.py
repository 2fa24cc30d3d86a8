"""GLM-4.1V (``hf``, Glm4vForConditionalGeneration) and GLM-4.5V (Glm4vMoeForConditionalGeneration): parameter
counts, tokens per image as the processor resizes it, and a prefill with an image.

Counts worked out below from workloads/glm4_1v_9b.yaml (transformers 5.25's Glm4vConfig defaults, which its docstring
says match zai-org/GLM-4.1V-9B-Thinking) and transformers' modules: Glm4vVisionModel (a biased Conv3d patch embedding
of 3 × 2 × 14² values, RMSNorm post_conv_layernorm, a 24² position table, 24 blocks of two RMSNorms, an unbiased
qkv and proj and an unbiased SwiGLU MLP out_hidden_size (4096) wide, RMSNorm post_layernorm, a biased 2 × 2 Conv2d
``downsample`` to 4096, and Glm4vVisionPatchMerger: proj, LayerNorm, a SwiGLU MLP of intermediate_size 13,696) and
Glm4vTextModel (GLM-4-0414's layer: q / k / v biases, one gate_up_proj, four RMSNorms; an untied head). The totals
are transformers' ``num_parameters()`` of Glm4vForConditionalGeneration(Glm4vConfig()) built on the meta device:
10,292,777,472 (892,498,432 in ``model.visual``), and of Glm4vMoeForConditionalGeneration(Glm4vMoeConfig(
text_config={"head_dim": 128})): 107,743,695,360. Tokens: Glm4vImageProcessor's smart_resize (factor 28, the class's
size bounds 112² … 28² × 15,000 on the image's two frames), run on each side below: 448 → 448 (256 tokens), 1024 →
1036 (1369), 3000 → 2408 (7396), 64 → 84 (9).
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError


def _preset(name, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def _lin(i, o, bias=True):
    return i * o + (o if bias else 0)


D, OUT, MERGER_FFN = 1536, 4096, 13696  # the vision width, its SwiGLU width (out_hidden_size), the merger's
BLOCK = 2 * D + _lin(D, 3 * D, False) + _lin(D, D, False) + 3 * D * OUT  # norm1/2, qkv, proj, gate/up/down
TOWER = _lin(3 * 2 * 14 * 14, D) + D + 24 * 24 * D + 24 * BLOCK + D  # patch_embed, post_conv_ln, positions, post_ln
MERGER = _lin(4 * D, OUT) + OUT * OUT + 2 * OUT + 3 * OUT * MERGER_FFN  # downsample, proj, LayerNorm, SwiGLU
VISION = TOWER + MERGER


def test_glm4_1v_9b_count():
    assert BLOCK == 28_314_624 and MERGER == 25_169_920 + 185_081_856 and VISION == 892_498_432
    H, kv = 4096, 2 * 128
    layer = _lin(H, H) + 2 * _lin(H, kv) + H * H + 3 * H * 13696 + 4 * H  # q/k/v biases, gate_up, down, 4 norms
    text = 2 * 151552 * H + 40 * layer + H  # embed_tokens, lm_head (untied), norm
    g = _preset("glm4_1v_9b", seq_len=8)
    assert g.meta["model_params"] == VISION + text == 10_292_777_472


def test_glm4_5v_count():
    # GLM-4.5V: Glm4vMoeConfig's defaults (GLM-4.5-Air's decoder: 46 layers, 96 / 8 heads, 128 experts of 1408, one
    # shared, the first layer dense) with the published head_dim 128; the same vision tower
    H, q, kv, E, f = 4096, 96 * 128, 8 * 128, 128, 1408
    attn = _lin(H, q) + 2 * _lin(H, kv) + q * H
    dense = attn + 3 * H * 10944 + 2 * H
    moe = attn + E * 3 * H * f + E * H + 3 * H * f + 2 * H  # experts, router, shared expert, 2 norms
    text = 2 * 151424 * H + dense + 45 * moe + H
    doc = {"model": "hf", "architectures": ["Glm4vMoeForConditionalGeneration"], "text_config": {"head_dim": 128},
           "seq_len": 8}
    w = load_workload(doc)
    g = build_workload(w.model, {**w.params, "dtype": "bf16"})
    assert g.meta["model_params"] == VISION + text == 107_743_695_360
    with pytest.raises(ConfigError, match="text_config.num_attention_heads: 96 must divide hidden_size"):
        load_workload({**doc, "text_config": {}})  # transformers' class default: 4096 // 96 = 42 features a head


@pytest.mark.parametrize(("side", "tokens"), [(448, 256), (1024, 1369), (3000, 7396), (64, 9)])
def test_tokens_per_image_follow_the_processor(side, tokens):
    g = _preset("glm4_1v_9b", seq_len=8192, layers=1, images=1, image_size=side)
    assert g.meta["image_tokens"] == tokens
    assert g["model.image_features"].out_shape[1] == tokens
    assert g["model.visual.patch_embed.proj"].out_shape[1] == 4 * tokens  # 2 × 2 patches a token


def test_the_tower_follows_transformers_modules():
    g = _preset("glm4_1v_9b", seq_len=512, layers=1, images=1)  # 448²: 32 × 32 patches
    weights = {w.name: w.shape for op in g.ops for w in op.weights}
    assert weights["model.visual.embeddings.position_embedding.weight"] == (576, D)
    assert weights["model.visual.downsample.weight"] == (OUT, 4 * D)  # the 2 × 2 Conv2d as one linear
    assert weights["model.visual.merger.gate_proj.weight"] == (MERGER_FFN, OUT)
    assert weights["model.visual.blocks.0.mlp.gate_proj.weight"] == (OUT, D)
    assert "model.visual.blocks.0.attn.qkv.bias" not in weights and "model.visual.blocks.0.attn.proj.bias" not in weights
    scores = g["model.visual.blocks.0.attn.scores"]
    assert scores.gemm.count == 12 and (scores.gemm.m, scores.gemm.n) == (1024, 1024)  # every patch, 12 heads


def test_a_prefill_with_an_image_simulates():
    from accelsim.api import simulate

    p, t = 1024, 256  # a 448² image: patches, tokens
    tower = (p * 1176 * D + 24 * (p * D * 3 * D + 2 * 12 * p * p * 128 + p * D * D + 3 * p * D * OUT)
             + t * 4 * D * OUT + t * OUT * OUT + 3 * t * OUT * MERGER_FFN)  # patches, blocks, downsample, merger
    block = 7_247_757_312 + 3_221_225_472 + 2_415_919_104 + 19_327_352_832  # qkv, scores and context, proj, MLP
    assert tower == 1_849_688_064 + 24 * block + 6_442_450_944 + 4_294_967_296 + 43_083_890_688 == 828_765_110_272
    run = simulate({"base": "glm4_1v_9b", "layers": 2, "images": 1}, "h100").to_dict()
    assert run["macs"] > tower
    text = simulate({"base": "glm4_1v_9b", "layers": 2}, "h100").to_dict()
    assert run["macs"] - text["macs"] == tower  # the text pass runs the same 512 tokens through the decoder
