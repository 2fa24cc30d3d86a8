"""The vector work of additive score terms (probe p206 #1, #2) and exact slice bytes (probe p206 #4).

A bias or mask added to the scores (SAM's add_decomposed_rel_pos: ``attn + rel_h + rel_w``, two adds a score;
torchvision's shifted window attention: the relative position bias, then in shifted blocks the mask) is one add per
score per term. The unfused ``add_rel_pos`` op's ``vector_elems`` counts each term's adds (its flops did already), and
a fused attention off a GPU prices them on its vector unit with the softmax: ⌈scores · (c(softmax) + terms ·
c(add_rel_pos)) / lanes⌉. On a GPU a fused attention with a bias is refused (tests/unit/test_attention_score_bias.py).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.cost import attention as fa
from accelsim.ir import OpKind


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


def test_fused_attention_prices_its_score_terms_off_a_gpu():
    lanes, soft, add = _vector("gemmini")
    assert (lanes, soft, add) == (16, 10.0, 1.0)
    ops = _ops("swin_t", "gemmini", attention="fused")
    one, two = ops["features.1.0.attn.attention"], ops["features.1.1.attn.attention"]
    # 460,992 scores: softmax 10 lane-cycles a score plus 1 per term, on 16 lanes
    assert one["mapping"]["softmax_cycles"] == 460_992 * (10 + 1) // 16 == 316_932  # was 288,120
    assert two["mapping"]["softmax_cycles"] == 460_992 * (10 + 2) // 16 == 345_744  # was 288,120
    # here the vector work bounds the op (its GEMMs take less): the op's cycles are it
    assert one["compute_cycles"] == 316_932 and two["compute_cycles"] == 345_744
    # the flops are unchanged: the mask is one more flop a score
    assert two["flops"] - one["flops"] == 460_992


def test_fused_attention_without_terms_and_backward_keep_the_softmax_alone():
    arch = load_arch("tpu-v4")
    lanes, soft, _ = _vector("tpu-v4")
    # vit_b_16: 12 heads · 197 · 197 = 465,708 scores, no bias: ⌈465,708 · 10 / 2048⌉ = 2,274 (tpu-v4's 2,048 lanes,
    # 8 x 128 x 2 ALUs: probe p267 #1; ⌈/ 1024⌉ = 4,548 before)
    vit = next(op for op in build_workload("vit_b_16", {"attention": "fused"}, default_dtype="bf16").ops
               if op.kind is OpKind.ATTENTION)
    assert "score_terms" not in vit.attrs and vit.vector_elems == 465_708
    assert lanes == 2048
    assert fa.softmax_cycles(vit, arch) == 2_274 == -(-465_708 * 10 // 2048)
    # a backward keeps the forward's attrs (score_terms) but only its softmax work: 2 × the scores at c(softmax)
    train = build_workload("t5_small", {"attention": "fused", "mode": "training"}, default_dtype="bf16")
    grad = next(op for op in train.ops if op.fn == "attention_grad" and op.attrs.get("score_terms"))
    assert fa.softmax_cycles(grad, arch) == -(-grad.vector_elems * int(soft) // lanes)
    fwd = next(op for op in train.ops if op.fn == "attention" and op.attrs.get("score_terms") == 1)
    assert fa.softmax_cycles(fwd, arch) == -(-fwd.vector_elems * (10 + 1) // lanes)


@pytest.mark.parametrize(("op", "hbm"), [
    # the P3 level's box slice (64 of 144 channels of 6,400 anchors, 1 B each) from HBM, 409,600 B, plus the output
    # (64 channels × 8,400 anchors) 537,600 B
    ("model.22.dfl.softmax", 64 * 6400 + 64 * 8400),
    # the class slice (80 channels): 512,000 + 672,000
    ("model.22.sigmoid", 80 * 6400 + 80 * 8400),
])
def test_yolov8n_head_slices_read_whole_bytes(op, hbm):
    # the slice is 4/9 (5/9) of each concatenated level's two tensors; the shares are summed exactly per level,
    # then rounded once: 921,600 · 4/9 = 409,600 (was 182,045 + 227,556 = 409,601 rounded per tensor)
    row = _ops("yolov8n", "edge-npu")[op]
    assert row["bytes"]["hbm"] == hbm  # 947,200 and 1,184,000 (were 947,201 and 1,184,001)
