"""Gemma 3 with its image encoder (``hf``, Gemma3ForConditionalGeneration): parameter counts, the vision tower's
work per image, the image tokens in the prompt, and the refusals.

Every expected figure is worked out below from the published configs' sizes (workloads/gemma3_27b.yaml; the 4B and
12B text_config sizes of google/gemma-3-4b-it and -12b-it) and the structure of transformers' SiglipVisionModel and
Gemma3MultiModalProjector; the rounded totals are the Gemma 3 technical report's (arXiv:2503.19786, table 1).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload

VISION = {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "num_attention_heads": 16,
          "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": False}
TEXT = {  # text_config of each published size (the fields the files write; the rest are Gemma3TextConfig's defaults)
    "4b": {"hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34, "sliding_window": 1024},
    "12b": {"hidden_size": 3840, "intermediate_size": 15360, "num_attention_heads": 16, "num_hidden_layers": 48,
            "num_key_value_heads": 8, "sliding_window": 1024},
    "27b": {"head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "num_attention_heads": 32,
            "num_hidden_layers": 62, "num_key_value_heads": 16, "query_pre_attn_scalar": 168, "sliding_window": 1024},
}
# SigLIP-So400m at 896² with patches of 14: a 64 × 64 grid of 4096 patches, 1152 wide, MLP 4304, 27 layers
D, FFN, PATCHES, LAYERS, PATCH_IN = 1152, 4304, 64 * 64, 27, 3 * 14 * 14
LAYER = 4 * (D * D + D) + (D * FFN + FFN) + (FFN * D + D) + 2 * 2 * D  # q/k/v/out, fc1, fc2, two LayerNorms
TOWER = (PATCH_IN * D + D) + PATCHES * D + LAYERS * LAYER + 2 * D  # patch conv, positions, layers, post_layernorm


def _config(size: str) -> dict:
    return {"architectures": ["Gemma3ForConditionalGeneration"], "mm_tokens_per_image": 256,
            "text_config": TEXT[size], "vision_config": VISION}


def _graph(size: str, **params):
    return build_workload("hf", {"config": _config(size), "dtype": "bf16", **params})


def _non_embedding_text(hidden: int, heads: int, kv: int, head_dim: int, ffn: int, layers: int) -> int:
    """q/k/v/o, a GeGLU MLP (gate, up, down), four sandwich RMSNorms and q_norm / k_norm a layer; the final norm."""
    attn = hidden * heads * head_dim + 2 * hidden * kv * head_dim + heads * head_dim * hidden
    return layers * (attn + 3 * hidden * ffn + 4 * hidden + 2 * head_dim) + hidden


def test_the_vision_tower_and_the_decoders_match_the_reports_parameter_counts():
    assert round(TOWER / 1e6) == 417  # table 1: a 417 M vision encoder for every size
    text = {"4b": _non_embedding_text(2560, 8, 4, 256, 10240, 34),  # Gemma3TextConfig: 8 heads, 4 KV heads of 256
            "12b": _non_embedding_text(3840, 16, 8, 256, 15360, 48),
            "27b": _non_embedding_text(5376, 32, 16, 128, 21504, 62)}
    published = {"4b": 3209, "12b": 10759, "27b": 25600}  # table 1: non-embedding parameters, millions
    for size, hidden in (("4b", 2560), ("12b", 3840), ("27b", 5376)):
        assert round(text[size] / 1e6) == published[size]
        g = _graph(size, seq_len=8)
        # the embedding table (262,208 rows, Gemma3TextConfig's vocabulary; tied head) and the projector's
        # RMSNorm and (1152, hidden) projection beside the tower
        assert g.params == g.meta["model_params"] == 262208 * hidden + text[size] + TOWER + D + D * hidden
    assert load_workload("gemma3_27b").params["vision_config"] == VISION
    # the top-level tie_word_embeddings (Gemma3Config's, true by default) unties the head: one more table
    untied = _graph("4b", seq_len=8, tie_word_embeddings=False)
    assert untied.params == _graph("4b", seq_len=8).params + 262208 * 2560
    w = load_workload("gemma3_27b")
    assert build_workload(w.model, {**w.params, "seq_len": 8}).params == _graph("27b", seq_len=8).params


def test_a_text_prompt_holds_the_tower_and_a_prompt_with_images_runs_it():
    text = _graph("4b", seq_len=600)
    held = text["model.vision_tower"]
    assert held.fn == "unused_params" and held.macs == 0
    assert not any(op.name.startswith("model.multi_modal_projector") for op in text.ops)
    g = _graph("4b", seq_len=600, images=2, batch=3)  # 6 images
    n = 6
    tower = [op for op in g.ops if op.name.startswith("model.vision_tower.")]
    # per image: the patch conv 4096 · 1152 · 588; per layer the four projections 4096 · 4 · 1152², the MLP
    # 2 · 4096 · 1152 · 4304, the scores and context 2 · 16 heads · 4096² · 72 (non-causal)
    conv = PATCHES * D * PATCH_IN
    layer = PATCHES * 4 * D * D + 2 * PATCHES * D * FFN + 2 * 16 * PATCHES * PATCHES * 72
    assert sum(op.macs for op in tower) == n * (conv + LAYERS * layer)
    proj = g["model.multi_modal_projector.mm_input_projection"]  # 256 pooled tokens an image, 1152 → 2560
    assert proj.macs == n * 256 * D * 2560
    assert g["model.multi_modal_projector.avg_pool"].out_shape == (n, D, 16, 16)  # 64 / √256 = 4 × 4 pooling
    merge = g["model.masked_scatter"]
    assert merge.in_shapes == ((3, 600, 2560), (3, 2 * 256, 2560)) and merge.out_shape == (3, 600, 2560)
    assert g.meta["image_tokens"] == n * 256
    assert g.params == text.params  # the same weights, read instead of held
    # a decode step of that prompt reads no image: the tower is held again (its tokens are in the KV cache)
    step = _graph("4b", seq_len=600, images=2, phase="decode", kv_len=600)
    assert step["model.vision_tower"].fn == "unused_params" and "pixel_values" not in step.inputs


def test_a_quantised_decoder_keeps_its_vision_tower_in_the_compute_dtype():
    g = _graph("4b", seq_len=512, images=1, weight_dtype="int4")
    assert all(w.dtype == "int4" for w in g["model.layers.0.mlp.gate_proj"].weights)
    vision = [w for op in g.ops if op.name.startswith(("model.vision_tower", "model.multi_modal_projector"))
              for w in op.weights]
    assert vision and all(w.dtype is None and w.group_size == 0 for w in vision)


@pytest.mark.parametrize("params, message", [
    # (a check of the workload's own key: pydantic's error at that key, "images\n  Value error, ...")
    ({"seq_len": 300, "images": 2}, r"images\n.*2 images of 256 tokens need seq_len ≥ 512, and seq_len is 300 \[type=value_error, input_value=2"),
    ({"seq_len": 8, "text_config": {**TEXT["4b"], "hidden_size": 0}}, r"text_config\.hidden_size: expected an"),
    ({"seq_len": 8, "vision_config": {**VISION, "vision_use_head": True}}, r"vision_config\.vision_use_head"),
    ({"seq_len": 8, "mm_tokens_per_image": 200}, "mm_tokens_per_image: 200 must be a square"),
    ({"seq_len": 8, "text_config": {**TEXT["4b"], "use_bidirectional_attention": True}},
     r"text_config\.use_bidirectional_attention"),
])
def test_bad_settings_are_refused_naming_the_field(params, message):
    with pytest.raises(ValidationError, match=message):
        _graph("4b", **params)


def test_a_text_only_gemma_refuses_images():
    w = load_workload("gemma3_1b")
    with pytest.raises(ValidationError, match=r"images\n.*Gemma3ForCausalLM has no image encoder"):
        build_workload(w.model, {**w.params, "images": 1})
