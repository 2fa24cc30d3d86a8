"""The vector work of additive score terms (probe p206 #1, #2) and exact slice bytes (probe p206 #4).

A bias or mask added to the scores (SAM's add_decomposed_rel_pos: ``attn + rel_h + rel_w``, two adds a score;
torchvision's shifted window attention: the relative position bias, then in shifted blocks the mask) is one add per
score per term. The unfused ``add_rel_pos`` op's ``vector_elems`` counts each term's adds (its flops did already), and
a fused attention off a GPU prices them on its vector unit with the softmax: ⌈scores · (c(softmax) + terms ·
c(add_rel_pos)) / lanes⌉. On a GPU a fused attention with a bias is refused (tests/unit/test_attention_score_bias.py).
"""

from __future__ import annotations

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch


def _ops(model: str, arch: str, **workload) -> dict[str, dict]:
    data = accelsim.simulate({"model": model, **workload}, arch).to_dict()
    return {r["name"]: r for r in data["ops"]}


def _vector(arch: str) -> tuple[int, float, float]:
    vu = load_arch(arch).core.vector
    return vu.lanes, vu.cost("softmax"), vu.cost("add_rel_pos")


def test_unfused_sam_add_rel_pos_prices_both_terms():
    # the presets' vector units the hand numbers below use: edge-npu 32 lanes, an add 1 lane-cycle an element
    lanes, _, add = _vector("edge-npu")
    assert (lanes, add) == (32, 1.0)
    ops = _ops("sam_vit_b", "edge-npu")
    # windowed block: the 64×64 map padded to 70×70, 25 windows of 14·14 = 196 tokens, 12 heads:
    # 25 · 12 · 196 · 196 = 11,524,800 scores, each + rel_h + rel_w (2 adds)
    win = ops["image_encoder.blocks.0.attn.add_rel_pos"]
    assert win["flops"] == 2 * 11_524_800
    assert win["mapping"]["elements"] == 2 * 11_524_800  # was 11,524,800: one add a score
    assert win["compute_cycles"] == 2 * 11_524_800 // 32 == 720_300  # was 360,150
    # global block: 12 heads · 4096 · 4096 = 201,326,592 scores, 2 adds each
    glob = ops["image_encoder.blocks.2.attn.add_rel_pos"]
    assert glob["mapping"]["elements"] == 2 * 201_326_592
    assert glob["compute_cycles"] == 2 * 201_326_592 // 32 == 12_582_912  # was 6,291,456


def test_unfused_swin_add_rel_pos_counts_the_shift_mask():
    # features.1: 64 windows × 3 heads of 49 × 49 scores = 192 · 2,401 = 460,992; block 0 adds the bias (1 term),
    # block 1 the bias and the shift mask (2 terms)
    g = {op.name: op for op in build_workload("swin_t", {}, default_dtype="bf16").ops}
    one, two = g["features.1.0.attn.add_rel_pos"], g["features.1.1.attn.add_rel_pos"]
    assert (one.flops, one.vector_elems) == (460_992, 460_992)
    assert (two.flops, two.vector_elems) == (2 * 460_992, 2 * 460_992)  # vector_elems was 460,992

