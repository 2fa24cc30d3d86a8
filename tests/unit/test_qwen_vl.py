"""Qwen2.5-VL and Qwen3-VL (``hf``): parameter counts, tokens per image as the processor resizes it, Qwen2.5-VL's
window attention and Qwen3-VL's DeepStack.

Counts worked out below from workloads/qwen2_5_vl_7b.yaml and qwen3_vl_8b.yaml (the published configs) and
transformers' modules (Qwen2_5_VisionTransformerPretrainedModel: Conv3d patch embedding without bias, RMSNorms, a
biased qkv / proj and SwiGLU MLP, the merger's ln_q and two linears; Qwen3VLVisionModel: the same with a biased
patch embedding, LayerNorms, a biased GELU MLP, a 2304-row position table and three DeepStack mergers). Published:
Qwen2.5-VL-7B 8.29 B parameters, 676.6 M in the vision tower; Qwen3-VL-8B 8.767 B, 576.4 M vision, 8.191 B language
model (the checkpoints' tensor totals). Token counts: Qwen2VLImageProcessor's smart_resize with the published
preprocessor limits.
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


def test_qwen2_5_vl_7b_count():
    h, ffn, out = 1280, 3420, 3584
    block = 2 * h + _lin(h, 3 * h) + _lin(h, h) + 2 * _lin(h, ffn) + _lin(ffn, h)  # RMSNorms, qkv, proj, SwiGLU
    vision = 3 * 2 * 14 * 14 * h + 32 * block + h + _lin(4 * h, 4 * h) + _lin(4 * h, out)  # patches, merger
    H, kv = 3584, 4 * 128
    layer = _lin(H, H) + 2 * _lin(H, kv) + H * H + 3 * H * 18944 + 2 * H  # q/k/v biases, o_proj none
    text = 2 * 152064 * H + 28 * layer + H
    g = _preset("qwen2_5_vl_7b", seq_len=8)
    assert g.meta["model_params"] == vision + text == 8_292_166_656
    assert round(vision / 1e5) == 6766  # 676.6 M


def test_qwen3_vl_8b_count():
    h, ffn, out = 1152, 4304, 4096
    block = 4 * h + _lin(h, 3 * h) + _lin(h, h) + _lin(h, ffn) + _lin(ffn, h)  # LayerNorms with biases
    merger = 2 * h + _lin(4 * h, 4 * h) + _lin(4 * h, out)
    deepstack = 2 * 4 * h + _lin(4 * h, 4 * h) + _lin(4 * h, out)  # its LayerNorm is 4h wide
    vision = _lin(3 * 2 * 16 * 16, h) + 2304 * h + 27 * block + merger + 3 * deepstack
    H = 4096
    layer = H * H + 2 * H * 1024 + H * H + 2 * 128 + 3 * H * 12288 + 2 * H  # QK-norm, no biases
    text = 2 * 151936 * H + 36 * layer + H
    g = _preset("qwen3_vl_8b", seq_len=8)
    assert g.meta["model_params"] == vision + text
    assert round(vision / 1e5) == 5764 and round(text / 1e6) == 8191 and round((vision + text) / 1e6) == 8767


@pytest.mark.parametrize(("preset", "side", "tokens"), [
    ("qwen2_5_vl_7b", 448, 256),   # 32 × 32 patches of 14, 2 × 2 merged
    ("qwen2_5_vl_7b", 1024, 1369),  # rounded to 1036 (37 × 28): 74² patches
    ("qwen3_vl_8b", 448, 196),     # 28 × 28 patches of 16
    ("qwen3_vl_8b", 1024, 1024),
    ("qwen3_vl_8b", 224, 64),      # below min_pixels 256²: scaled up to 256
])
def test_tokens_per_image_follow_the_processor(preset, side, tokens):
    g = _preset(preset, seq_len=4096, layers=1, images=2, image_size=side)
    assert g.meta["image_tokens"] == 2 * tokens
    assert g["model.image_features"].out_shape[1] == 2 * tokens


def test_qwen2_5_vl_attends_in_windows_but_on_four_layers():
    g = _preset("qwen2_5_vl_7b", seq_len=512, layers=1, images=1)  # 448²: 32 × 32 patches, 16 windows of 8 × 8
    windowed = g["model.visual.blocks.0.attn.scores"]
    assert windowed.gemm.count == 16 * 16 and (windowed.gemm.m, windowed.gemm.n) == (64, 64)  # windows × heads
    full = g["model.visual.blocks.7.attn.scores"]
    assert full.gemm.count == 16 and (full.gemm.m, full.gemm.n) == (1024, 1024)
    assert {"model.visual.window_reorder", "model.visual.window_restore"} <= {op.name for op in g.ops}


def test_qwen2_5_vl_edge_windows_are_as_long_as_their_patches():
    """1024² resizes to 1036² (a multiple of 28): 74 × 74 patches, 37 × 37 merged tokens. transformers'
    get_window_index pads to 40 × 40 merged tokens in windows of 4 (112 px / 14 / 2) and drops the padding, so each
    side has 9 windows of 8 patches and one of 74 − 72 = 2: 81 windows of 64 patches, 18 of 8 · 2 = 16 and one of
    4. Score MACs = Σ tokens² · head_dim · heads = (81·64² + 18·16² + 4²) · 80 · 16 = 336,400 · 1,280 (the
    modelled 100 windows of 64² gave 409,600 · 1,280, 22 % more)."""
    g = _preset("qwen2_5_vl_7b", seq_len=2048, layers=1, images=1, image_size=1024)
    attn = "model.visual.blocks.0.attn"
    shapes = {w: (g[f"{attn}.{w}.scores"].gemm.count, g[f"{attn}.{w}.scores"].gemm.m) for w in ("full", "edge",
                                                                                                    "corner")}
    assert shapes == {"full": (81 * 16, 64), "edge": (18 * 16, 16), "corner": (16, 4)}  # windows × heads, tokens
    per_matmul = (81 * 64 ** 2 + 18 * 16 ** 2 + 4 ** 2) * 80 * 16
    assert per_matmul == 430_592_000
    for which in ("scores", "context"):
        assert sum(g[f"{attn}.{w}.{which}"].macs for w in ("full", "edge", "corner")) == per_matmul
    assert g[f"{attn}.ctx"].out_shape == (1, 16, 74 * 74, 80)  # every patch once, none padded


def test_qwen3_vl_deepstack_adds_to_the_first_three_layers():
    g = _preset("qwen3_vl_8b", seq_len=512, layers=4, images=1)
    names = {op.name for op in g.ops}
    assert [f"model.layers.{i}.deepstack_add" in names for i in range(4)] == [True, True, True, False]
    add = g["model.layers.1.deepstack_add"]
    assert add.inputs[1] == "model.deepstack_features.1" and add.flops == 196 * 4096
    assert g["model.visual.deepstack_merger_list.0.norm"].weights[0].shape == (4 * 1152,)  # after the 2 × 2 concat
    assert g["model.visual.merger.norm"].weights[0].shape == (1152,)  # before it
    text_only = _preset("qwen3_vl_8b", seq_len=512, layers=4)
    assert not any("deepstack" in op.name for op in text_only.ops)


def test_image_size_is_refused_for_encoders_of_a_fixed_size():
    with pytest.raises(ConfigError, match="image_size: Gemma3ForConditionalGeneration's processor resizes every"):
        load_workload({"base": "gemma3_27b", "image_size": 512})


def test_sub_config_errors_name_their_field():
    with pytest.raises(ConfigError, match="vision_config.out_hidden_size: 2048 must be the decoder's hidden_size"):
        load_workload({"base": "qwen3_vl_8b", "vision_config": {"out_hidden_size": 2048}})
    with pytest.raises(ConfigError, match="text_config.num_key_value_heads: 7 must divide num_attention_heads"):
        load_workload({"base": "qwen3_vl_8b", "text_config": {"num_key_value_heads": 7}})


def test_a_prompt_with_images_is_not_layer_sampled():
    # a run samples two layers and extrapolates when identical_layers says every layer is alike: not for a prompt
    # with images (the encoder's layers are not the decoder's; Qwen3-VL's first three layers add DeepStack features)
    from accelsim.builders.hf import HfParams, identical_layers

    for preset in ("qwen3_vl_8b", "qwen2_5_vl_7b"):
        w = load_workload(preset)
        assert identical_layers(HfParams(**{**w.params, "layers": 6, "images": 1})) is None
        assert identical_layers(HfParams(**{**w.params, "layers": 6})) == (0, 6, 1)  # a text prompt
        assert identical_layers(HfParams(**{**w.params, "layers": 6, "images": 1, "phase": "decode"})) == (0, 6, 1)


def test_sampled_and_whole_runs_agree_with_images():
    from accelsim.api import simulate

    runs = [simulate({"base": "internvl3_8b", "layers": 4, "images": 1, "decode_steps": 2}, "h100",
                     layer_samples=sampled).to_dict() for sampled in (True, False)]
    assert runs[0]["macs"] == runs[1]["macs"] and runs[0]["total_cycles"] == runs[1]["total_cycles"]


def test_the_vision_tower_splits_its_heads_under_tensor_parallelism():
    # Megatron-style, as the decoder: qkv column-split by heads (16 / 2), proj and the MLP's down row-split with an
    # all-reduce each, the merger's MLP too
    g = _preset("qwen2_5_vl_7b", seq_len=512, layers=1, images=1, tensor_parallel=2)
    assert g["model.visual.blocks.0.attn.qkv"].out_shape == (1, 1024, 3 * 1280 // 2)  # a windowed layer
    assert g["model.visual.blocks.7.attn.qkv"].out_shape == (1, 1024, 3 * 1280 // 2)  # a full one
    collectives = [op for op in g.ops if op.name.startswith("model.visual.") and op.kind.name == "COLLECTIVE"]
    reduces = [op.name for op in collectives if op.fn == "all_reduce"]
    assert len(reduces) == 2 * 32 + 1  # attention and MLP in each of 32 layers, the merger
    # and each layer's qkv all-gathered before the heads are sliced back out (vLLM's Qwen2_5_VisionAttention
    # .split_qkv, all_gather_interleave): this test counted every collective as an all-reduce before probe p154 #1
    gathers = [op for op in collectives if op.fn == "all_gather"]
    assert len(gathers) == 32 and {op.out_shape for op in gathers} == {(1, 1024, 3 * 1280)}
