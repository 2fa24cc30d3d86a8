"""Probe p154: image encoders as the serving engine (vLLM) builds them."""

from __future__ import annotations

import pytest

from accelsim.config import build_graph, load_workload
from accelsim.config.serving import EngineConfig
from accelsim.serving.cost import engine_model

# CLIP ViT-L/14-336 (LLaVA-1.5's vision_config): width 1024, MLP 4096, 16 heads of 64, (336 / 14)² + 1 = 577 tokens
_D, _F, _H, _L = 1024, 4096, 16, 577
# one encoder layer's MACs: q, k, v, out (4·L·D²), fc1 and fc2 (2·L·D·F), scores and context (2·H·L²·(D / H))
_LAYER_MACS = 4 * _L * _D * _D + 2 * _L * _D * _F + 2 * _H * _L * _L * (_D // _H)
# one layer's weights: q, k, v, out with biases, fc1 and fc2 with biases, two LayerNorms (weight and bias)
_LAYER_PARAMS = 4 * (_D * _D + _D) + (_D * _F + _F) + (_F * _D + _D) + 2 * 2 * _D


def _tower(*extra: str) -> tuple[set[str], int, int, list[str]]:
    g = build_graph(load_workload("llava_1_5_7b", ["workload.images=1", *extra]), "bf16")
    ops = [op for op in g.ops if op.name.startswith("model.vision_tower.")]
    layers = {op.name.split(".layers.")[1].split(".")[0] for op in ops if ".layers." in op.name}
    params = sum(w.shape[0] * (w.shape[1] if len(w.shape) > 1 else 1) for op in ops for w in op.weights
                 if len(w.shape) <= 2)
    return layers, sum(op.macs or 0 for op in ops), params, [op.name for op in ops if "post_layernorm" in op.name]


def test_llava_tower_layer_macs_hand_count():
    assert _LAYER_MACS == 7_942_178_816  # 2,420,113,408 + 4,840,226,816 + 681,838,592 (probe p154 #2)
    assert _LAYER_PARAMS + 2 * _D == 12_598_272  # with post_layernorm's weight and bias


def test_llava_tower_to_the_feature_layer_as_vllm_builds_it():
    # transformers runs all 24 CLIP layers and takes hidden_states[-2]; vLLM's init_vision_tower_for_llava builds
    # the tower "only up to the deepest required feature layer": _get_layer_index(-2, 24) = 24 - 2 + 1 = 23 layers,
    # require_post_norm False (no post_layernorm)
    layers, macs, params, post = _tower()
    cut_layers, cut_macs, cut_params, cut_post = _tower("workload.tower_layers=feature")
    assert len(layers) == 24 and post and _tower("workload.tower_layers=all")[:2] == (layers, macs)
    assert len(cut_layers) == 23 and not cut_post
    assert macs - cut_macs == _LAYER_MACS
    assert params - cut_params == _LAYER_PARAMS + 2 * _D  # layer 23 and post_layernorm


def test_serving_builds_llava_as_vllm_unless_the_model_says():
    spec = load_workload("llava_1_5_7b")
    assert engine_model(spec, EngineConfig()).params["tower_layers"] == "feature"
    spec = load_workload("llava_1_5_7b", ["workload.tower_layers=all"])
    assert engine_model(spec, EngineConfig()).params["tower_layers"] == "all"


@pytest.mark.parametrize("workload", ["qwen2_5_vl_7b", "mistral_small_3_1_24b"])
def test_tower_layers_leaves_other_encoders_whole(workload):
    # Qwen-VL has no vision_feature_layer; Mistral 3 takes -1, the last layer: every layer either way
    def ops(*extra: str) -> list:
        g = build_graph(load_workload(workload, ["workload.images=1", "workload.seq_len=2048", *extra]), "bf16")
        return [(op.name, op.macs) for op in g.ops]
    assert ops() == ops("workload.tower_layers=feature")


# Llama 4 (probe p154 #3): transformers' Llama4ImageProcessorFast, max_patches 16, resize_to_max_canvas False, tiles
# of 336². A square image of side s fits a k × k canvas at scale k·336 / s; get_best_fit takes the smallest scale ≥ 1
# (k = ⌈s / 336⌉) while k ≤ √16 = 4, else the largest (k = 4); more than one tile adds a global tile.
@pytest.mark.parametrize("side, tiles", [
    (100, 1), (336, 1),           # one tile (upscaled to 336² where smaller), no global tile
    (337, 2 * 2 + 1), (672, 2 * 2 + 1),
    (673, 3 * 3 + 1), (1008, 3 * 3 + 1),
    (1024, 4 * 4 + 1),            # 3 × 336 = 1008 < 1024: the 4 × 4 canvas (1344²), the image padded into it
    (1344, 4 * 4 + 1), (5000, 4 * 4 + 1),  # larger: downscaled to 4 × 4 tiles
])
def test_llama4_tiles_as_the_processor_cuts_them(side, tiles):
    from accelsim.builders.hfspec import llama4_tiles
    assert llama4_tiles(side, 336) == tiles


def _llama4(*extra: str) -> tuple[dict, dict]:
    g = build_graph(load_workload("llama4_scout", ["workload.images=1", "workload.seq_len=4096", *extra]), "bf16")
    return {op.name: op for op in g.ops}, g.meta


def test_llama4_image_size_runs_the_tower_on_each_tile():
    one, one_meta = _llama4()  # no image_size: an image is one 336² tile (images counts tiles, as before)
    ops, meta = _llama4("workload.image_size=1024")
    assert one_meta["image_positions"] == 144  # (336 / 14)² = 576 patches, pixel shuffle 0.5: 12² = 144
    assert meta["image_positions"] == meta["image_tokens"] == 17 * 144 == 2448
    assert ops["model.image_features"].out_shape == (1, 2448, 5120)
    tower = [n for n in ops if n.startswith(("model.vision_model.", "model.multi_modal_projector."))]
    assert tower == [n for n in one if n.startswith(("model.vision_model.", "model.multi_modal_projector."))]
    # each tile its own pass through the tower: 17 × the one-tile MACs
    assert sum(ops[n].macs or 0 for n in tower) == 17 * sum(one[n].macs or 0 for n in tower)


def test_llama4_image_size_needs_the_prompt_for_its_tiles():
    from accelsim.errors import ConfigError
    with pytest.raises(ConfigError, match="1 images of 2448 tokens need seq_len ≥ 2448"):
        build_graph(load_workload("llama4_scout", ["workload.images=1", "workload.image_size=1024"]), "bf16")


def test_internvl_image_size_refusal_says_what_to_give():
    from accelsim.errors import ConfigError
    with pytest.raises(ConfigError, match="GotOcr2ImageProcessor; vLLM's cuts up to 12 448² tiles"):
        load_workload("internvl3_8b", ["workload.images=1", "workload.image_size=672"])
