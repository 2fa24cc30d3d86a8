"""Convolutions of every dimension: conv1d/conv3d/conv_transpose1d/conv_transpose3d and 3-D pools against torch.nn's shape formulas
worked by hand; resnet34, resnet101, r3d_18 against torchvision's published counts; unet3d against its paper."""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import GraphBuilder, build_workload
from accelsim.errors import WorkloadError


@pytest.mark.parametrize(("name", "params", "gmacs"), [
    # torchvision docs, num_params and GFLOPS (MACs) of ResNet34_Weights.IMAGENET1K_V1
    # (https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet34), ResNet101_Weights
    # .IMAGENET1K_V1 and R3D_18_Weights.KINETICS400_V1 (16×112×112 clips)
    ("resnet34", 21_797_672, 3.66),
    ("resnet101", 44_549_160, 7.80),
    ("r3d_18", 33_371_472, 40.70),
])
def test_params_equal_torchvision(name, params, gmacs):
    g = build_workload(name, {})
    assert g.params == params
    assert g.macs / 1e9 == pytest.approx(gmacs, abs=0.005)  # the docs round to 2 decimals


def test_r3d_18_stem_by_hand():
    g = build_workload("r3d_18", {})
    stem = g["stem.0"]
    # Conv3d(3, 64, (3, 7, 7), stride (1, 2, 2), padding (1, 3, 3)) on 16×112×112:
    # D = (16 + 2 − 3)/1 + 1 = 16, H = W = floor((112 + 6 − 7)/2) + 1 = 56
    assert stem.out_shape == (1, 64, 16, 56, 56)
    assert stem.macs == 16 * 56 * 56 * 64 * (3 * 3 * 7 * 7)
    assert g.ops[-1].out_shape == (1, 400)


def test_unet3d_matches_the_paper():
    # Çiçek et al. 2016 (arXiv:1606.06650), Sec. 2: "The architecture has 19069955 parameters in total"; 132×132×116
    # input → 44×44×28 output. Our BatchNorm3d layers are affine (torch): 2 × (32+64+64+128+128+256+256+512 in the
    # analysis path + 256+256+128+128+64+64 in the synthesis path) = 2 × 2,336 = 4,672 more than Caffe's BatchNorm.
    g = build_workload("unet3d", {})
    assert g.params == 19_069_955 + 4_672
    assert g.ops[-1].out_shape == (1, 3, 28, 44, 44)
    same = build_workload("unet3d", {"padding": "same", "input_size": [32, 64, 64]})
    assert same.ops[-1].out_shape == (1, 3, 32, 64, 64)
    with pytest.raises(pydantic.ValidationError, match="input_size\n.*odd 43×60×60"):
        build_workload("unet3d", {"input_size": [98, 132, 132]})  # 98 − 4 = 94 → 47 → 43: odd (132 → 64 → 60)


def test_conv3d_and_transpose_shapes_by_hand():
    b = GraphBuilder("t", (2, 4, 9, 10, 11))
    x = b.conv3d(b.input, 8, (3, 3, 1), stride=(2, 1, 1), padding=(1, 0, 0), dilation=(1, 2, 1), groups=2)
    # D = floor((9 + 2 − 2 − 1)/2) + 1 = 5; H = (10 − 2·2 − 1)/1 + 1 = 6; W = 11
    assert b.shape(x) == (2, 8, 5, 6, 11)
    op, add = b._ops[-2:]  # the conv, then the bias add eager PyTorch launches after cuDNN (layers._eager_bias)
    assert add.attrs["bias_of"] == op.name and x == add.name
    assert (op.gemm.m, op.gemm.n, op.gemm.k, op.gemm.count) == (2 * 5 * 6 * 11, 4, 3 * 3 * 1 * 2, 2)
    assert op.params == 8 * 2 * 3 * 3 * 1 + 8
    y = b.conv_transpose3d(x, 4, 2, stride=2, output_padding=(1, 0, 0))
    # (in − 1)·2 + (2 − 1) + output_padding + 1: D 10, H 12, W 22
    assert b.shape(y) == (2, 4, 10 + 1, 12, 22)
    assert b._ops[-2].params == 8 * 4 * 8 + 4  # ([-1]: its bias add)
    p = b.maxpool3d(y, 2)
    assert b.shape(p) == (2, 4, 5, 6, 11)
    assert b._ops[-1].flops == 2 * 4 * 5 * 6 * 11 * (8 - 1)  # window − 1 compares per output
    a = b.avgpool3d(y, 3, stride=2, padding=1)
    assert b.shape(a) == (2, 4, 6, 6, 11)  # floor((11 + 2 − 3)/2) + 1 = 6, (12 − 1)/2 + 1 = 6, (22 − 1)/2 + 1 = 11
    with pytest.raises(WorkloadError, match="N×C×D×H×W"):
        b.conv3d(b.flatten(b.input, 3), 8, 3)


def test_conv1d_same_padding():
    b = GraphBuilder("t", (1, 3, 100))
    x = b.conv1d(b.input, 6, 4, padding="same", dilation=2)
    assert b.shape(x) == (1, 6, 100)
    assert b._ops[-2].attrs["pads"] == (3, 3)  # ([-1]: its bias add)  # d·(k − 1) = 6, split 3 + 3
    assert b.shape(b.conv1d(x, 6, 5, stride=2)) == (1, 6, 48)  # floor((100 − 5)/2) + 1


def test_conv_transpose1d_of_a_layer_list_by_hand():
    # the probe's file: conv1d(16 → 32, k 5, stride 2, dilation 2, padding 4) on L 100, then ConvTranspose1d(32 → 8,
    # k 4, stride 2). conv1d: floor((100 + 2·4 − 2·(5 − 1) − 1)/2) + 1 = 50. torch.nn.ConvTranspose1d's
    # L_out = (L_in − 1)·stride − 2·padding + dilation·(k − 1) + output_padding + 1 = 49·2 − 0 + 3 + 0 + 1 = 102
    layers = [{"type": "conv1d", "name": "c", "out_channels": 32, "kernel_size": 5, "stride": 2, "dilation": 2,
               "padding": 4},
              {"type": "conv_transpose1d", "name": "ct", "out_channels": 8, "kernel_size": 4, "stride": 2}]
    g = build_workload("layers", {"input": [1, 16, 100], "layers": layers})
    ct = g["ct"]
    assert ct.out_shape == (1, 8, 102) and ct.attrs["fn"] == "conv_transpose1d"
    # every input position (50) scatters Cout·k = 8·4 outputs, each a dot of Cin = 32: 51,200 MACs
    assert ct.macs == 50 * 8 * 4 * 32 == 51_200
    assert ct.params == 32 * 8 * 4 + 8  # weight (Cin, Cout/groups, k), bias Cout: 1,032
    assert ct.flops == 2 * 51_200 + 8 * 102  # the GEMM and one bias add per output
    # padding 1, output_padding 1, dilation 2, groups 2: (50 − 1)·2 − 2 + 2·3 + 1 + 1 = 104; MACs 50·(8/2·4)·(32/2)·2
    b = GraphBuilder("t", (1, 32, 50))
    y = b.conv_transpose1d(b.input, 8, 4, stride=2, padding=1, output_padding=1, dilation=2, groups=2)
    assert b.shape(y) == (1, 8, 104) and b._ops[-2].macs == 50 * 4 * 4 * 16 * 2
    with pytest.raises(WorkloadError, match="output_padding"):
        b.conv_transpose1d(b.input, 8, 4, stride=2, output_padding=2)  # must be below stride or dilation


def test_batch_norms_take_the_ranks_torch_takes():
    # torch.nn.BatchNorm1d takes N×C or N×C×L, BatchNorm2d N×C×H×W, BatchNorm3d N×C×D×H×W; each has 2·C params
    b = GraphBuilder("t", (2, 16, 100))
    assert b._ops == [] and b.shape(b.batchnorm1d(b.input)) == (2, 16, 100) and b._ops[-1].params == 2 * 16
    for bn, why in ((b.batchnorm2d, "batchnorm2d 'bn.*' needs a 4-D input"),
                    (b.batchnorm3d, "batchnorm3d 'bn.*' needs a 5-D input")):
        with pytest.raises(WorkloadError, match=why):
            bn(b.input)
    four = GraphBuilder("t", (2, 16, 8, 8))
    with pytest.raises(WorkloadError, match="batchnorm1d 'bn.*' needs a 2-D or 3-D input"):
        four.batchnorm1d(four.input)


def test_r3d_18_trains_only_with_more_than_one_value_a_channel():
    # probe p277 #1: a 1-frame 1×1 clip: the stem Conv3d((3, 7, 7), stride (1, 2, 2), padding (1, 3, 3)) gives
    # (1 + 2 − 3) / 1 + 1 = 1 frame and (1 + 6 − 7) / 2 + 1 = 1 row and column, so its BatchNorm3d 'stem.1' sees
    # (1, 64, 1, 1, 1) at batch 1: one value a channel, which PyTorch's _verify_batch_size refuses in training
    tiny = {"image_size": 1, "frames": 1}
    with pytest.raises(WorkloadError, match=r"batch norm 'stem\.1' gets 1 value per channel \(input \[1, 64, 1, 1, 1\]"):
        build_workload("r3d_18", {**tiny, "mode": "training"})
    assert build_workload("r3d_18", tiny)["stem.1"].in_shapes == ((1, 64, 1, 1, 1),)  # inference: running statistics
    assert build_workload("r3d_18", {**tiny, "mode": "training", "batch": 2})["stem.1.stats"].vector_elems == 2 * 64

