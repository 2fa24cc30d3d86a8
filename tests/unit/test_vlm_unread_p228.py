"""Probe p228 #2 and #3: the image keys a pass does not read are listed in report.json's ``workload.unread``
(graph meta ``unread_params``), as docs/configuration.md's ``hf`` row promises for the keys a model does not read.

- ``tower_layers`` changes LLaVA's CLIP tower only (``Vision.to_feature_layer``: the layers up to
  ``vision_feature_layer``, vLLM's ``init_vision_tower_for_llava``); "other encoders: unchanged". llama3_8b has no
  encoder and Qwen2.5-VL's has no feature layer, so neither reads it (``accelsim serve`` sets it on every model).
- ``image_size`` sizes the images a pass encodes; a text-only pass (``images: 0``) encodes none, so the key is
  unread there (the probe: Qwen2.5-VL at image_size 1024 and no image ran the text prefill's MACs, 3.6726e12, and
  said nothing)."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "layers": 1, **params})


def test_tower_layers_is_unread_without_llavas_tower():
    assert "tower_layers" in _graph("llama3_8b", tower_layers="feature").meta["unread_params"]
    assert "tower_layers" in _graph("qwen2_5_vl_7b", tower_layers="feature").meta["unread_params"]


def test_llava_reads_tower_layers_and_feature_drops_a_layer():
    full = _graph("llava_1_5_7b", images=1)
    cut = _graph("llava_1_5_7b", images=1, tower_layers="feature")
    assert "tower_layers" not in cut.meta["unread_params"]
    # read: LLaVA-1.5 takes vision_feature_layer -2 of CLIP ViT-L/14's 24 layers, so vLLM builds 23; the cut tower
    # does strictly less work (one ViT-L layer on 577 tokens, and no post_layernorm)
    assert cut.macs < full.macs


def test_image_size_is_unread_in_a_text_only_pass_and_read_with_an_image():
    text = _graph("qwen2_5_vl_7b", image_size=1024)
    assert "image_size" in text.meta["unread_params"]
    assert text.macs == _graph("qwen2_5_vl_7b").macs  # no image encoded: the same text prefill at any image_size
    # with an image the key is read: a 1024² image is (1036/28)² = 37² = 1,369 merged tokens (smart_resize rounds
    # 1024 to a multiple of 28), 4 × 1,369 = 5,476 patches, against 448²'s (448/28)² = 256 merged tokens
    big = _graph("qwen2_5_vl_7b", images=1, image_size=1024, seq_len=2048)
    small = _graph("qwen2_5_vl_7b", images=1, seq_len=2048)
    assert "image_size" not in big.meta["unread_params"]
    assert big.macs > small.macs
