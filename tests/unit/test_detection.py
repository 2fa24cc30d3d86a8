"""DETR R50 (builders/detection.py) against facebookresearch/detr and Carion et al. 2020.

Published figures: DETR's main.py logs ``number of params: 41302368`` for ``detr_resnet50`` (the parameters with
requires_grad: the backbone's conv1 and layer1 are frozen, and FrozenBatchNorm2d keeps its scale and shift as
buffers); the paper's Table 1 gives 41 M params and 86 GFLOPs (detectron2's flop_count_operators, one FLOP a
multiply-accumulate, averaged over the first 100 COCO val2017 images at DETR's eval resize: shorter side 800). Every
other number is a hand calculation written out beside it.
"""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import build_workload


@pytest.fixture(scope="module")
def graph():
    cache = {}

    def get(**params: object):
        key = tuple(sorted(params.items()))
        if key not in cache:
            cache[key] = build_workload("detr_resnet50", params)
        return cache[key]

    return get


def _frozen(name: str) -> bool:
    """A weight DETR does not train: the stem conv, layer1, and every FrozenBatchNorm2d (bn*, downsample.1)."""
    body = name.removeprefix("backbone.0.body.")
    return body.startswith(("conv1.", "layer1.")) or ".bn" in name or body.startswith("bn1.") \
        or "downsample.1." in name


def test_trainable_params_equal_detrs_published_count(graph):
    g = graph()
    weights = {w.name: w.numel for op in g for w in op.weights}
    assert sum(n for name, n in weights.items() if not _frozen(name)) == 41_302_368
    # the frozen parts by hand: conv1 64·3·7² = 9,408; layer1's convs: block 0 64·64 + 64·64·9 + 64·256 + 64·256
    # (downsample) = 73,728, blocks 1-2 256·64 + 64·64·9 + 64·256 = 69,632 each: 222,400 with conv1. Batchnorm
    # channels: stem 64; layer1-4 blocks (planes, planes, 4·planes) × (3, 4, 6, 3) blocks = 384·3 + 768·4 +
    # 1536·6 + 3072·3 = 22,656; downsamples 256 + 512 + 1024 + 2048 = 3,840; 26,560 channels × 2 = 53,120
    assert g.params == 41_302_368 + 222_400 + 53_120


def test_transformer_macs_by_hand_and_paper_gflops_bracketed(graph):
    g = graph()
    # 800×1066: five ceil halvings (conv1, max-pool, three stride-2 stages) give 25 × 34 = 850 tokens
    assert g.meta["feature_map"] == (25, 34)
    assert g["transformer.encoder.layers.0.self_attn.k_proj"].in_shapes[0] == (1, 850, 256)
    # input_proj 850·2048·256 = 445,644,800; each encoder layer 4·850·256² (q, k, v, out) + 2·850²·256 (scores,
    # context) + 2·850·256·2048 (FFN) = 1,484,032,000; each decoder layer self 4·100·256² + 2·100²·256, cross q and
    # out 2·100·256², k and v over the memory 2·850·256², 2·100·850·256, FFN 2·100·256·2048 = 304,230,400; heads on
    # 6 × 100 queries 600·(256·92 + 2·256² + 256·4) = 93,388,800
    transformer = sum(op.macs for op in g if not op.name.startswith("backbone."))
    assert transformer == 445_644_800 + 6 * 1_484_032_000 + 6 * 304_230_400 + 93_388_800
    # the paper's 86 GFLOPs average over COCO images: those are mostly 640×480 (800×1066 resized) and 640×427
    # (800×1199); the average lies between the two sizes' counts
    assert g.macs < 86e9 < graph(image_width=1199).macs


def test_a_too_small_image_is_refused_at_its_key():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("detr_resnet50", {"image_width": 16})
    assert [e["loc"] for e in info.value.errors()] == [("image_width",)]
