"""Mistral Small 3.1 (``hf``, Mistral3ForConditionalGeneration: the Pixtral encoder) and InternVL3
(InternVLForConditionalGeneration: InternViT on 448² tiles): parameter counts and image tokens.

Counts worked out below from workloads/mistral_small_3_1_24b.yaml and internvl3_8b.yaml (the published configs) and
transformers' PixtralVisionModel (a bias-free patch conv, ln_pre, RMSNorm layers with bias-free attention and a
gated MLP), Mistral3MultiModalProjector (RMSNorm, the 2 × 2 patch merger, linear_1 / linear_2 without biases),
InternVLVisionModel (a biased patch conv, cls_token, 1,025 positions, LayerNorm layers with biased attention,
projection_layer, fc1 / fc2 and two layer scales) and InternVLMultiModalProjector (LayerNorm, two biased linears);
both checkpoints keep their own lm_head. Mistral AI: 24 B; OpenGVLab: InternVL3-8B, a 300 M encoder. Tokens:
PixtralImageProcessor (at most 1540, rounded up to 28), one 448² tile 256.
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError


def _model(name, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_mistral_small_3_1_count():
    d, ffn = 1024, 4096
    tower = 3 * 14 * 14 * d + d + 24 * (4 * d * d + 3 * d * ffn + 2 * d)
    projector = d + 4 * d * d + d * 5120 + 5120 * 5120
    h = 5120
    text = 2 * 131072 * h + 40 * (2 * h * 4096 + 2 * h * 1024 + 3 * h * 32768 + 2 * h) + h  # untied head
    assert tower == 403_305_472 and projector == 35_652_608
    total = _model("mistral_small_3_1_24b", seq_len=8).meta["model_params"]
    assert total == tower + projector + text == 24_011_361_280 and round(total / 1e9) == 24


@pytest.mark.parametrize(("side", "tokens"), [(448, 256), (1024, 1369), (1540, 3025), (3000, 3025), (100, 16)])
def test_pixtral_tokens_follow_the_processor(side, tokens):
    # at most 1540, rounded up to a multiple of 28: (side'' / 28)² tokens (1024 -> 1036; 100 -> 112)
    g = _model("mistral_small_3_1_24b", seq_len=4096, layers=1, images=1, image_size=side)
    assert g.meta["image_tokens"] == tokens
    assert g["model.vision_tower.patch_conv"].out_shape[1] == 4 * tokens  # the encoder sees 2 × 2 patches a token


def test_internvl3_8b_count_and_tiles():
    d = 1024
    layer = 2 * d + 3 * (d * d + d) + (d * d + d) + (d * 4096 + 4096) + (4096 * d + d) + 2 * 2 * d  # + 2 LayerNorms
    tower = (3 * 14 * 14 * d + d) + d + 1025 * d + 24 * layer
    h = 3584
    projector = 2 * 4096 + (4096 * h + h) + (h * h + h)
    attn = (h * h + h) + 2 * (h * 512 + 512) + h * h
    text = 2 * 151674 * h + 28 * (attn + 3 * h * 18944 + 2 * h) + h
    assert tower == 304_012_288 and projector == 27_540_480
    assert _model("internvl3_8b", seq_len=8).meta["model_params"] == tower + projector + text == 7_944_373_760
    g = _model("internvl3_8b", seq_len=4096, layers=1, images=10)  # a 1024² image: 3 × 3 tiles and a thumbnail
    assert g.meta["image_tokens"] == 10 * 256
    assert g["model.vision_tower.encoder.layer.23.mlp.fc2"].out_shape == (10, 1025, 1024)  # the class token too
    with pytest.raises(ConfigError, match="image_size: InternVLForConditionalGeneration's processor resizes"):
        load_workload({"base": "internvl3_8b", "image_size": 1024})


def test_pixtral_row_breaks_take_prompt_positions():
    # a 448² image: 16 rows of 16 [IMG] tokens, each row ending in [IMG_BREAK] (the last [IMG_END]): 272 positions
    assert _model("mistral_small_3_1_24b", seq_len=272, layers=1, images=1).meta["image_tokens"] == 256
    with pytest.raises(ValueError, match="1 images of 272 tokens need seq_len ≥ 272"):
        _model("mistral_small_3_1_24b", seq_len=271, layers=1, images=1)


def test_a_decode_steps_images_are_in_its_cached_prompt():
    # a decode step's prompt is its kv_len cached tokens (seq_len is not read): LLaVA-1.5's 2 images of 576 tokens
    # need kv_len ≥ 2 · 576 = 1,152, whatever seq_len says
    g = _model("llava_1_5_7b", phase="decode", kv_len=3000, seq_len=1024, images=2, layers=1)
    assert g.meta["phase"] == "decode"  # built (refused before: "need seq_len ≥ 1152 (got 1024)")
    # Qwen2.5-VL at 1024²: 1036 / 28 = 37 merged patches a side, 37² = 1,369 tokens; 2 need 2,738 > kv_len 100
    with pytest.raises(ConfigError) as e:
        load_workload({"base": "qwen2_5_vl_7b", "phase": "decode", "kv_len": 100, "seq_len": 4000, "images": 2,
                       "image_size": 1024})
    (issue,) = e.value.issues
    assert issue.key == "workload.images" and issue.value == 2  # the one "(got 2)" is images' own; kv_len's in the text
    assert issue.msg == "2 images of 1369 tokens need kv_len ≥ 2738, and kv_len is 100"
    assert str(issue).count("(got") == 1
