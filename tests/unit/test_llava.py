"""LLaVA-1.5 (``hf``, LlavaForConditionalGeneration): the parameter count and the image tokens.

Counts worked out below from workloads/llava_1_5_7b.yaml (the published config; absent text fields: LlamaConfig's
defaults) and transformers' CLIPVisionModel (a bias-free patch conv, a class embedding, 577 learned positions,
pre_layrnorm, 24 layers of biased q/k/v/out_proj and fc1/fc2 with two LayerNorms, post_layernorm) and
LlavaMultiModalProjector (linear_1, GELU, linear_2, biased). llava-hf/llava-1.5-7b-hf: 7.06 B parameters.
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError


def _model(**params):
    w = load_workload("llava_1_5_7b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_count():
    d, ffn, grid = 1024, 4096, 336 // 14
    layer = 2 * 2 * d + 4 * (d * d + d) + (d * ffn + ffn) + (ffn * d + d)
    tower = d + 3 * 14 * 14 * d + (grid * grid + 1) * d + 2 * d + 24 * layer + 2 * d
    projector = (d * 4096 + 4096) + (4096 * 4096 + 4096)
    h, vocab = 4096, 32064
    text = 2 * vocab * h + 32 * (2 * h + 4 * h * h + 3 * h * 11008) + h
    assert tower == 303_507_456 and projector == 20_979_712
    assert _model(seq_len=8).meta["model_params"] == tower + projector + text == 7_063_427_072


def test_an_image_takes_576_tokens_through_the_projector():
    g = _model(images=2, layers=1, seq_len=2048)
    assert g.meta["image_tokens"] == 2 * 576
    assert g["model.multi_modal_projector.linear_2"].out_shape == (2, 576, 4096)
    assert g["model.vision_tower.vision_model.encoder.layers.23.mlp.fc2"].out_shape == (2, 577, 1024)
    full = _model(images=1, layers=1, vision_feature_select_strategy="full")  # the class token kept
    assert full.meta["image_tokens"] == 577
    with pytest.raises(ConfigError, match="image_seq_length: 576 must be the tower's 577 feature tokens"):
        load_workload({"base": "llava_1_5_7b", "vision_feature_select_strategy": "full", "image_seq_length": 576})
