"""EfficientNet-B0 (builders/cnn.py), ConvNeXt-Tiny and Swin-T (builders/backbones.py) against torchvision.

Published figures: torchvision's model docs, the "Weights" table of each builder page (EfficientNet_B0_Weights,
ConvNeXt_Tiny_Weights, Swin_T_Weights .IMAGENET1K_V1; e.g. pytorch.org/vision/stable/models/generated/
torchvision.models.swin_t.html: num_params 28288354, GFLOPS 4.49): "num_params" exact, "GFLOPS" multiply-accumulates at 224×224
(torchvision's convention, the one the MobileNet and ViT tests use) printed to two decimals, so a figure f stands for
[f − 0.005, f + 0.005) G. Every other number is a hand calculation written out beside it.
"""

from __future__ import annotations

import pydantic
import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.builders.backbones import swin_windows
from accelsim.builders.training import training_graph
from accelsim.config import load_arch
from accelsim.ir import OpKind

from ..conftest import graph_builds


@pytest.fixture(scope="module")
def graph():
    return graph_builds()


@pytest.mark.parametrize(("name", "params", "gflops"), [
    ("efficientnet_b0", 5_288_548, 0.39),
    ("convnext_tiny", 28_589_128, 4.46),
    ("swin_t", 28_288_354, 4.49),
])
def test_params_and_macs_equal_torchvision(graph, name, params, gflops):
    g = graph(name)
    assert g.params == params
    assert (gflops - 0.005) * 1e9 <= g.macs < (gflops + 0.005) * 1e9  # two-decimal rounding of the docs' GFLOPS


# ---- EfficientNet-B0 -------------------------------------------------------------------------------------------
def test_efficientnet_b0_blocks_squeeze_and_residuals(graph):
    g = graph("efficientnet_b0")
    # torchvision's b0 stages have 1, 2, 2, 3, 3, 4, 1 MBConv blocks: 16; a residual wherever stride 1 keeps the
    # channels, i.e. every block but each stage's first: 16 − 7 = 9
    assert len([op for op in g if op.name.endswith(".se.scale")]) == 16
    assert len([op for op in g if op.name.endswith(".add")]) == 9
    # features.2.0: in 16, expanded 6·16 = 96, squeeze max(1, 16 // 4) = 4 (of the block's input, not the expansion)
    assert g["features.2.0.se.fc1"].weights[0].shape == (4, 96, 1, 1)
    assert g["features.2.0.se.silu"].fn == "silu" and g["features.2.0.se.scale_act"].fn == "sigmoid"
    # the stage-1 block (expand ratio 1) has no expand conv; 224 / 32 = 7: a 7×7×1280 map before the pool
    assert "features.1.0.expand.conv" not in {op.name for op in g}
    assert g["features.8.act"].out_shape == (1, 1280, 7, 7)


def test_mobilenet_v3_squeeze_excite_is_unchanged(graph):
    # the shared squeeze-excite helper still gives MobileNetV3's: _make_divisible(72 // 4, 8) = 24 squeeze channels,
    # ReLU and hardsigmoid (features.4: expanded 72)
    g = graph("mobilenet_v3_large")
    assert g["features.4.se.fc1"].weights[0].shape == (24, 72, 1, 1)
    assert g["features.4.se.relu"].fn == "relu" and g["features.4.se.scale_act"].fn == "hardsigmoid"


# ---- ConvNeXt-Tiny ----------------------------------------------------------------------------------------------
def test_convnext_tiny_params_by_hand(graph):
    def block(d: int) -> int:  # dw 7×7 + bias, LayerNorm, fc1 d→4d, fc2 4d→d, layer scale (d, 1, 1)
        return (49 * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d) + d

    def down(cin: int, cout: int) -> int:  # LayerNorm2d + 2×2 stride-2 conv with bias
        return 2 * cin + 4 * cin * cout + cout

    stem = 3 * 96 * 16 + 96 + 2 * 96
    stages = 3 * block(96) + 3 * block(192) + 9 * block(384) + 3 * block(768)
    head = 2 * 768 + 768 * 1000 + 1000
    assert stem + stages + down(96, 192) + down(192, 384) + down(384, 768) + head == 28_589_128
    assert graph("convnext_tiny").params == 28_589_128


def test_convnext_tiny_depthwise_conv_and_layer_scale(graph):
    g = graph("convnext_tiny")
    dw = g["features.1.0.block.0"]
    # 224 / 4 = 56: one 7×7 filter per channel, 56·56 outputs × 49 MACs for each of 96 groups
    assert (dw.gemm.m, dw.gemm.n, dw.gemm.k, dw.gemm.count) == (56 * 56, 1, 49, 96)
    assert dw.macs == 56 * 56 * 49 * 96
    ls = g["features.7.2.layer_scale"]
    assert ls.fn == "mul" and ls.weights[0].shape == (768, 1, 1) and ls.out_shape == (1, 768, 7, 7)
    # LayerNorm over the channels of the NCHW stem (LayerNorm2d) and over the last dim of the NHWC block
    assert g["features.0.1"].attrs["dim"] == 1 and g["features.1.0.block.2"].attrs["dim"] == 3


def test_convnext_stem_layernorm2d_copies_its_permuted_input_on_a_gpu_only():
    # probe p197 #2: LayerNorm2d permutes the stem conv's NCHW output and F.layer_norm copies the non-contiguous
    # view (layer_norm.cpp: auto X = input.expect_contiguous()); its output permuted back is channels-last, so the
    # later permutes are free (pytorch-image-models#1340) and only this LayerNorm copies: one copy op in the graph
    g = graph_builds()("convnext_tiny")
    copies = [op for op in g.ops if op.attrs.get("eager_copy")]
    assert [op.name for op in copies] == ["features.0.1.contiguous"]
    # (the stem conv's output through its eager bias add, layers._eager_bias: probe p235 #4)
    assert copies[0].inputs == ("features.0.0.bias_add",) and g["features.0.1"].inputs == ("features.0.1.contiguous",)
    spec = {"model": "convnext_tiny", "batch": 2}
    gpu = {op["name"]: op for op in accelsim.simulate(spec, "a100", plots=False).to_dict()["ops"]}
    # on a100 (eager PyTorch) a kernel reading and writing the (2, 96, 56, 56) bf16 activation:
    # 2 · 2·96·56·56 · 2 B = 2,408,448 B through L2
    assert gpu["features.0.1.contiguous"]["unit"].startswith("core*.vector")
    assert gpu["features.0.1.contiguous"]["bytes"]["l2"] == 2 * (2 * 96 * 56 * 56 * 2) == 2_408_448
    # off a GPU (tpu-v4: a compiler reads the view in place) it aliases its input and moves nothing
    npu = {op["name"]: op for op in accelsim.simulate(spec, "tpu-v4", plots=False).to_dict()["ops"]}
    assert npu["features.0.1.contiguous"]["unit"] == "none" and not npu["features.0.1.contiguous"]["bytes"]


# ---- Swin-T -----------------------------------------------------------------------------------------------------
def test_swin_t_params_by_hand(graph):
    def block(d: int, heads: int) -> int:  # norm1, qkv, proj, (2·7 − 1)² × heads bias table, norm2, MLP 4d
        return 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 169 * heads + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)

    def merge(d: int) -> int:  # LayerNorm(4d), reduction 4d → 2d without bias
        return 8 * d + 8 * d * d

    stem = 3 * 96 * 16 + 96 + 2 * 96
    stages = 2 * block(96, 3) + 2 * block(192, 6) + 6 * block(384, 12) + 2 * block(768, 24)
    head = 2 * 768 + 768 * 1000 + 1000
    assert stem + stages + merge(96) + merge(192) + merge(384) + head == 28_288_354
    g = graph("swin_t")
    assert g.params == 28_288_354
    assert g["features.5.0.attn.relative_position_bias"].weights[0].shape == (169, 12)


@pytest.mark.parametrize(("stage", "side", "heads"), [(1, 56, 3), (3, 28, 6), (5, 14, 12), (7, 7, 24)])
def test_swin_t_attends_within_7x7_windows(graph, stage, side, heads):
    g = graph("swin_t", batch=2)
    # features.{1,3,5,7}: maps of 224/4, /8, /16, /32 = 56, 28, 14, 7; (side / 7)² windows of 49 tokens each:
    # 64, 16, 4, 1; the third stage (features.5) runs (224/16)² / 49 = 196 / 49 = 4 windows a sample
    windows = (side // 7) ** 2
    s = g[f"features.{stage}.0.attn.scores"]
    assert (s.gemm.m, s.gemm.n, s.gemm.k, s.gemm.count) == (49, 49, 32, 2 * windows * heads)
    assert g[f"features.{stage}.0.attn.qkv"].out_shape == (2 * windows, 49, 3 * 32 * heads)
    # the odd block shifts and adds the mask, except where one window covers the map (the last stage)
    odd = g[f"features.{stage}.1.attn.add_rel_pos"]
    assert ("shift_mask" in " ".join(odd.inputs)) == (windows > 1)
    assert g[f"features.{stage}.1.window_partition"].attrs["shift"] == (3 if windows > 1 else 0)
    assert len(g[f"features.{stage}.0.attn.add_rel_pos"].inputs) == 2  # scores + the bias; no shift in even blocks


def test_swin_t_attention_macs_are_windowed(graph):
    g = graph("swin_t")
    attn = sum(op.macs for op in g if op.kind is OpKind.MATMUL)
    # QKᵀ and PV per block: 2 · (H·W tokens) · 49 keys · C (heads · head_dim = C)
    windowed = 2 * (2 * 56 * 56 * 49 * 96 + 2 * 28 * 28 * 49 * 192 + 6 * 14 * 14 * 49 * 384 + 2 * 7 * 7 * 49 * 768)
    assert attn == windowed == 140_141_568
    # global attention over every token (2 · (H·W)² · C a block) would add 3.2 G in stage 1 alone, far outside the
    # published 4.49 G
    assert 2 * 2 * (56 * 56) ** 2 * 96 > 3.2e9


def test_swin_t_pads_a_map_the_window_does_not_divide():
    # 256 / 4 = 64: padded to 70 → 10 × 10 windows; the last stage's 8 → 14: 2 × 2 windows, shifted
    assert swin_windows(64) == (10, 6, True) and swin_windows(8) == (2, 6, True) and swin_windows(7) == (1, 0, False)
    g = build_workload("swin_t", {"image_size": 256})
    assert g["features.1.0.attn.scores"].gemm.count == 100 * 3
    assert g["features.7.0.attn.scores"].gemm.count == 4 * 24
    assert g.params == 28_288_354  # the relative bias tables do not depend on the image size


def test_swin_t_refuses_a_size_the_patches_and_mergings_do_not_divide():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("swin_t", {"image_size": 100})
    assert [e["loc"] for e in info.value.errors()] == [("image_size",)]


def test_fused_swin_keeps_params_and_macs(graph):
    unfused, fused = graph("swin_t"), graph("swin_t", attention="fused")
    assert fused.params == unfused.params and fused.macs == unfused.macs
    op = fused["features.1.1.attn.attention"]
    assert op.kind is OpKind.ATTENTION and op.attrs["q_len"] == op.attrs["kv_len"] == 49
    assert len(op.inputs) == 5  # q, k, v, the relative position bias and the shift mask


def _eager_ops(g) -> dict[str, object]:
    return {op.name: op for op in g.ops if op.attrs.get("eager_copy") is True}


def test_swin_t_has_the_kernels_eager_torchvision_launches(graph):
    # probe p235 #2, pytorch/vision torchvision/models/swin_transformer.py at 224², batch 1. Blocks: 2, 2, 6, 2 in
    # stages of 56, 28, 14, 7 (64, 16, 4, 1 windows); the odd blocks of the first three stages shift (5: features.1.1,
    # 3.1, 5.1, 5.3, 5.5), the last stage has one window (no shift, its partition and reverse reshapes are views)
    g = graph("swin_t")
    eager = _eager_ops(g)
    per_kind = {
        "features.0.2.contiguous": 1,  # the stem LayerNorm's expect_contiguous copy of the permuted conv output
        ".attn.pad": 12,  # F.pad with zero pads: constant_pad_nd returns c_input.clone()
        ".attn.partition": 2 + 2 + 6,  # permute(0, 1, 3, 2, 4, 5).reshape: a copy with more than one window
        ".attn.q_scale": 12,  # q * (C // num_heads) ** -0.5
        # at::matmul's expand(...).reshape(windows · heads, n, m) of the strided q (scaled), kᵀ and v: copies where
        # windows > 1 (the last stage's single window merges as a view)
        ".attn.q.bmm_copy": 2 + 2 + 6,
        ".attn.k.bmm_copy": 2 + 2 + 6,
        ".attn.v.bmm_copy": 2 + 2 + 6,
        ".attn.relative_position_bias.contiguous": 12,  # permute(2, 0, 1).contiguous()
        ".attn.merge.contiguous": 12,  # attn.matmul(v).transpose(1, 2).reshape: heads > 1 in every block
        ".attn.reverse": 2 + 2 + 6,
        ".attn.roll.": 5 * 2,  # torch.roll over dims (1, 2): roll_common rolls one dim a kernel
        ".attn.unroll.": 5 * 2,
        ".attn.mask.": 5 * (1 + 9 + 1 + 1 + 1 + 2 + 1 + 2),  # new_zeros, 9 fills, copy, sub, ne, 2, eq, 2 a block
        ".attn.mask_add": 5,
        ".pad": 3,  # _patch_merging_pad's F.pad clone (features.2, 4, 6)
        ".cat": 3,  # torch.cat([x0, x1, x2, x3], -1): CatArrayBatchedCopy
    }

    def kind(name: str) -> str:
        return next(k for k in per_kind if k in name and not (k == ".pad" and ".attn." in name))
    counts: dict[str, int] = {}
    for name in eager:
        counts[kind(name)] = counts.get(kind(name), 0) + 1
    assert counts == per_kind
    assert sum(per_kind.values()) == 1 + 12 + 10 + 12 + 3 * 10 + 12 + 12 + 10 + 10 + 10 + 90 + 5 + 3 + 3 == 220
    assert g["features.2.cat"].inputs == ("features.2.patch_merge",) and g["features.2.norm"].inputs == ("features.2.cat",)
    # the last stage: one window, no shift
    assert not any(n.startswith("features.7.") and (".roll" in n or ".mask" in n or "partition" in n
                                                     or "reverse" in n) for n in eager)
    # the scores read the copies; batch 2 copies in the last stage too (2 windows in the batch): 3 · 2 blocks more
    assert g["features.1.0.attn.scores"].inputs == ("features.1.0.attn.q.bmm_copy", "features.1.0.attn.k.bmm_copy")
    assert g["features.7.0.attn.scores"].inputs == ("features.7.0.attn.q_scale", "features.7.0.attn.k")
    assert sum(n.endswith(".bmm_copy") for n in _eager_ops(graph("swin_t", batch=2))) == 30 + 3 * 2
    # the separate mask add sits between the bias add and the softmax
    assert g["features.1.1.attn.mask_add"].inputs == ("features.1.1.attn.add_rel_pos",
                                                      "features.1.1.attn.mask.masked_fill.1")
    assert g["features.1.1.attn.softmax"].inputs[0] == "features.1.1.attn.mask_add"
    assert g["features.1.0.attn.softmax"].inputs[0] == "features.1.0.attn.add_rel_pos"
    # the mask of the 56 × 56 map: new_zeros of 56², nine fills of the (49, 4, 3) × (49, 4, 3) regions (3,136 in all),
    # the (64, 49) window copy, then (64, 49, 49) tensors
    fills = [eager[f"features.1.1.attn.mask.fill.{i}"].vector_elems for i in range(9)]
    assert fills == [49 * 49, 49 * 4, 49 * 3, 4 * 49, 4 * 4, 4 * 3, 3 * 49, 3 * 4, 3 * 3] and sum(fills) == 56 * 56
    assert eager["features.1.1.attn.mask.reshape"].out_shape == (64, 49)
    assert eager["features.1.1.attn.mask.masked_fill.1"].out_shape == (64, 49, 49)
    assert not eager["features.1.1.attn.mask.new_zeros"].inputs  # a fill of a constant
    # no FLOPs: the graph's FLOPs do not depend on the arch
    assert all(op.flops == 0 for op in eager.values())


def test_swin_t_eager_kernels_run_on_a_gpu_and_are_views_elsewhere():
    gpu = accelsim.simulate({"model": "swin_t"}, "h100", plots=False).to_dict()
    npu = accelsim.simulate({"model": "swin_t"}, "tpu-v4", plots=False).to_dict()
    g = build_workload("swin_t", {})
    eager = _eager_ops(g)
    rows = {a: {op["name"]: op for op in r["ops"]} for a, r in (("gpu", gpu), ("npu", npu))}
    assert all(rows["gpu"][n]["unit"] != "none" for n in eager)
    assert all(rows["npu"][n]["unit"] == "none" and not rows["npu"][n]["bytes"] for n in eager)
    kernels = {a: sum(op["unit"] != "none" for op in r.values()) for a, r in rows.items()}
    # plus the stem conv's bias add (probe p235 #4: cuDNN's conv leaves the bias to output.add_ on a GPU preset)
    assert kernels["gpu"] - kernels["npu"] == len(eager) + 1 == 221
    # launch-bound: at least one kernel_launch (h100.yaml) a kernel
    launch = load_arch("h100").kernel_launch
    assert gpu["seconds"] >= kernels["gpu"] * launch
    # the window partition copy reads and writes the (1, 56, 56, 96) activation: 2 · 301,056 · 2 B through L2
    assert rows["gpu"]["features.1.0.attn.partition"]["bytes"]["l2"] == 2 * (56 * 56 * 96 * 2) == 1_204_224


def test_swin_t_padded_map_fills_and_crops_on_a_gpu_only():
    # 256 / 4 = 64, padded to 70 (swin_windows(64) == (10, 6, True)): constant_pad_nd with a positive pad fills the
    # (1, 70, 70, 96) output and copies the input into it; the attention's output is cropped back by a copy
    g = build_workload("swin_t", {"image_size": 256})
    assert g["features.1.0.attn.pad.fill"].out_shape == (1, 70, 70, 96) and not g["features.1.0.attn.pad.fill"].inputs
    assert g["features.1.0.attn.crop"].out_shape == (1, 64, 64, 96)
    npu = {op["name"]: op for op in accelsim.simulate({"model": "swin_t", "image_size": 256}, "tpu-v4",
                                                        plots=False).to_dict()["ops"]}
    assert npu["features.1.0.attn.pad.fill"]["unit"] == "none" and not npu["features.1.0.attn.pad.fill"]["bytes"]


@pytest.mark.parametrize("name", ["efficientnet_b0", "convnext_tiny", "swin_t"])
def test_training_steps_every_parameter(graph, name):
    fwd = graph(name)
    g = training_graph(fwd, "adam")
    # one optimizer step per parameter tensor: the bias tables (read by a gather) and layer scales included
    unique = {w.name for op in fwd for w in op.weights if w.role == "param"}
    assert sorted(op.attrs["param"] for op in g if op.kind is OpKind.OPTIMIZER) == sorted(unique)
    assert g.params == fwd.params


# ---- probe p242 #3: torchvision's stochastic depth in training (torchvision/ops/stochastic_depth.py) -----------
# Each site with p > 0 is, in training, noise = torch.empty([N, 1, ...]).bernoulli_(1 − p), noise.div_(1 − p) and
# input * noise (3 eager kernels; torch.empty allocates only), and the mul's backward grad * noise (derivatives.yaml
# mul.Tensor; the noise needs no gradient): 1 kernel. p = 0 (the first block) or inference: the input itself.

# EfficientNet-B0 (torchvision _efficientnet): sd_prob = 0.2 · stage_block_id / 16 over the 16 MBConv blocks in
# order (features.1.0 is block 0 ... features.7.0 block 15); MBConv applies it where use_res_connect (stride 1, in ==
# out): features.2.1 (block 2), 3.1 (4), 4.1 (6), 4.2 (7), 5.1 (9), 5.2 (10), 6.1 (12), 6.2 (13), 6.3 (14)
EFFICIENTNET_SD = {"features.2.1": 2, "features.3.1": 4, "features.4.1": 6, "features.4.2": 7, "features.5.1": 9,
                   "features.5.2": 10, "features.6.1": 12, "features.6.2": 13, "features.6.3": 14}


def _sd_sites(g) -> dict[str, float]:
    return {op.name: op.attrs["p"] for op in g if op.fn == "mul" and op.attrs.get("phase") == "forward"
            and "stochastic_depth" in op.name}


def test_efficientnet_b0_stochastic_depth_sites_and_probabilities():
    g = build_workload("efficientnet_b0", {"mode": "training", "batch": 2})
    sites = _sd_sites(g)
    assert sites == pytest.approx({f"{blk}.stochastic_depth": 0.2 * i / 16 for blk, i in EFFICIENTNET_SD.items()})
    blk = "features.2.1"
    assert g[f"{blk}.stochastic_depth.bernoulli"].inputs == ()
    assert g[f"{blk}.stochastic_depth.bernoulli"].out_shape == (2, 1, 1, 1)  # "row": one draw a sample
    assert g[f"{blk}.stochastic_depth.div"].inputs == (f"{blk}.stochastic_depth.bernoulli",)
    assert g[f"{blk}.stochastic_depth"].inputs == (f"{blk}.project.bn", f"{blk}.stochastic_depth.div")
    assert g[f"{blk}.add"].inputs[0] == f"{blk}.stochastic_depth"
    # backward: one mul, grad * noise, reading the N-element noise the step keeps (2 samples × 2 B, 9 sites)
    grad = g[f"{blk}.stochastic_depth.grad_input0"]
    assert grad.fn == "mul_grad" and grad.inputs[1] == f"{blk}.stochastic_depth.div"
    assert sum(op.attrs.get("phase") == "backward" and "stochastic_depth" in op.name for op in g) == 9
    assert f"{blk}.stochastic_depth.div" in g.info.stashed
    # inference: the identity, no ops
    assert not any("stochastic_depth" in op.name for op in build_workload("efficientnet_b0", {}))


def test_convnext_tiny_and_swin_t_stochastic_depth_probabilities():
    """torchvision _convnext and swin_t: sd_prob = stochastic_depth_prob · i / (blocks − 1) for block i in order,
    0.1 over convnext_tiny's 3 + 3 + 9 + 3 = 18 CNBlocks, 0.2 over swin_t's 2 + 2 + 6 + 2 = 12 blocks (twice a
    block: after the attention and after the MLP); block 0's is 0, so 17 and 11 · 2 = 22 sites."""
    cn = _sd_sites(build_workload("convnext_tiny", {"mode": "training", "batch": 2}))
    assert len(cn) == 17 and "features.1.0.stochastic_depth" not in cn
    assert cn["features.1.1.stochastic_depth"] == pytest.approx(0.1 * 1 / 17)
    assert cn["features.7.2.stochastic_depth"] == pytest.approx(0.1)
    sw = _sd_sites(build_workload("swin_t", {"mode": "training", "batch": 2}))
    assert len(sw) == 22 and not any(s.startswith("features.1.0.") for s in sw)
    assert sw["features.1.1.stochastic_depth.attn"] == sw["features.1.1.stochastic_depth.mlp"] == pytest.approx(0.2 / 11)
    assert sw["features.7.1.stochastic_depth.mlp"] == pytest.approx(0.2)


def test_stochastic_depth_kernels_run_on_a_gpu_and_are_views_elsewhere():
    """Eager kernels on a GPU preset (3 forward + 1 backward a site); a compiler fuses the row scale (unit none,
    no bytes), as the other eager-only ops."""
    rows = {a: {op["name"]: op for op in accelsim.simulate("efficientnet_b0", a, mode="training", batch=2,
                                                            plots=False).to_dict()["ops"]}
            for a in ("h100", "tpu-v4")}
    names = [n for n in rows["h100"] if "stochastic_depth" in n]
    assert len(names) == 9 * 4
    assert all(rows["h100"][n]["unit"] != "none" for n in names)
    assert all(rows["tpu-v4"][n]["unit"] == "none" and not rows["tpu-v4"][n]["bytes"] for n in names)
