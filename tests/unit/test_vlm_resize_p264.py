"""Probe p264 #3: Qwen-VL's (and GLM-4.1V's) resize is transformers' ``smart_resize`` in its own floating-point
steps. transformers' qwen2_vl/image_processing_qwen2_vl.py (the processor Qwen2.5-VL and Qwen3-VL publish)::

    h_bar = round(height / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)       # math.floor(height / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)        # math.ceil(height * beta / factor) * factor

In exact arithmetic a square side s over the bound gives s / beta = √max_pixels; in doubles beta is rounded, so
s / beta can land just below (or above) a multiple of the factor. Every float below is an IEEE double as Python
prints it, worked out from the published bounds: Qwen2.5-VL (3136, 12,845,056 = 3584²), factor 14 × 2 = 28;
Qwen3-VL (65,536 = 256², 16,777,216 = 4096²), factor 16 × 2 = 32.
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams
from accelsim.config import load_workload


def _vision(name):
    return HfParams(**load_workload(name).params).lm().vision


@pytest.mark.parametrize(("side", "image", "tokens"), [
    # 5000: round(5000 / 28) = 179 → 5012, 5012² = 25,120,144 > 12,845,056: scaled down.
    # 25,000,000 / 12,845,056 = 1.946274115114796, √ = beta = 1.3950892857142858 (the exact 5000 / 3584 is
    # 1.39508928571428571…, so the double is a hair above it); 5000 / beta = 3583.9999999999995,
    # / 28 = 127.99999999999999 → floor 127 → 127 × 28 = 3556 px, (3556 / 28)² = 127² = 16,129 tokens
    # (the exact √12,845,056 / 28 = 128 gave 3584, 16,384)
    (5000, 3556, 16_129),
    # 4096: round(4096 / 28) = 146 → 4088, 4088² = 16,711,744 > 12,845,056: scaled down.
    # 16,777,216 / 12,845,056 = 1.3061224489795917, √ = beta = 1.1428571428571428 (8 / 7 = 1.142857142857142857…,
    # the double a hair below); 4096 / beta = 3584.0 (rounded), / 28 = 128.0 → 128 × 28 = 3584 px, 128² = 16,384
    (4096, 3584, 16_384),
    # 19: round(19 / 28) = 1 → 28, 28² = 784 < 3136: scaled up. 3136 / 361 = 8.686980609418283, √ = beta =
    # 2.947368421052632 (56 / 19 = 2.94736842105263157…, rounded up); 19 × beta = 56.00000000000001,
    # / 28 = 2.0000000000000004 → ceil 3 → 84 px, (84 / 28)² = 9 tokens (exact: 56 px, 4 tokens)
    (19, 84, 9),
])
def test_qwen2_5_vl_resizes_in_smart_resize_floats(side, image, tokens):
    v = _vision("qwen2_5_vl_7b").resized(side)
    assert (v.image, v.tokens) == (image, tokens)


def test_qwen3_vl_shares_the_float_path():
    # 239: round(239 / 32) = 7 → 224, 224² = 50,176 < 65,536: scaled up. 65,536 / 57,121 = 1.1473188494599185,
    # √ = beta = 1.0711297071129708 (256 / 239 = 1.07112970711297071…, rounded up); 239 × beta =
    # 256.00000000000006, / 32 = 8.000000000000002 → ceil 9 → 288 px, (288 / 32)² = 81 tokens (exact: 256 px, 64)
    v = _vision("qwen3_vl_8b").resized(239)
    assert (v.image, v.tokens) == (288, 81)
    # 5000: round(5000 / 32) = 156 → 4992, 4992² = 24,920,064 > 16,777,216; 25,000,000 / 16,777,216 = 1.4901161193847656 (exact: a multiple of 2⁻²⁴),
    # √ = 1.220703125 = 5000 / 4096 exactly, so 5000 / beta = 4096.0, / 32 = 128 → 4096 px, 128² = 16,384
    v = _vision("qwen3_vl_8b").resized(5000)
    assert (v.image, v.tokens) == (4096, 16_384)


def test_glm4_1v_scales_a_small_side_up_first():
    # Glm4vImageProcessor's smart_resize: a side under the factor 28 is first scaled to int(s · 28 / s) = 28;
    # 2 frames × 28² = 1568 < 12,544 (shortest_edge 112²): beta = √(12,544 / (2 × 784)) = √8 = 2.8284271247461903,
    # 28 × beta / 28 = 2.83 → ceil 3 → 84 px, (84 / 28)² = 9 tokens; 56: 2 × 56² = 6272 < 12,544, beta = √2,
    # 56 × √2 / 28 = 2.83 → 84 as well
    for side in (10, 27, 56):
        v = _vision("glm4_1v_9b").resized(side)
        assert (v.image, v.tokens) == (84, 9)


def test_a_5000_px_image_takes_16129_positions():
    # end to end: the workload's image_size gives the tower 3556² (254² patches of 14, 127² merged tokens)
    w = load_workload("qwen2_5_vl_7b")
    g = build_workload(w.model, {**w.params, "dtype": "bf16", "seq_len": 16_200, "layers": 1, "images": 1,
                                 "image_size": 5000})
    assert g.meta["image_tokens"] == 127 * 127
    assert g["model.visual.patch_embed.proj"].out_shape[1] == 254 * 254
