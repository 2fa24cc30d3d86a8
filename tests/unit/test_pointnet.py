"""PointNet classification and deformable convolution: parameters worked by hand, shapes, the gather's rows."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import GraphBuilder, build_workload
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind


def test_pointnet_params_by_hand():
    # each shared-MLP conv1d (kernel 1) cin·cout + cout, each BatchNorm1d 2·cout, fc cin·cout + cout
    def conv_bn(cin, cout):
        return cin * cout + cout + 2 * cout

    def tnet(k):
        convs = conv_bn(k, 64) + conv_bn(64, 128) + conv_bn(128, 1024)
        fcs = conv_bn(1024, 512) + conv_bn(512, 256) + (256 * k * k + k * k)
        return convs + fcs

    assert tnet(3) == 803_081 and tnet(64) == 1_857_344
    mlp1 = conv_bn(3, 64) + conv_bn(64, 64)
    mlp2 = conv_bn(64, 64) + conv_bn(64, 128) + conv_bn(128, 1024)
    head = conv_bn(1024, 512) + conv_bn(512, 256) + (256 * 40 + 40)
    total = tnet(3) + mlp1 + tnet(64) + mlp2 + head
    assert total == 3_480_049  # Qi et al. 2017, Sec. 5.4 / Table 6: "3.5M" parameters for PointNet classification
    g = build_workload("pointnet_cls", {})
    assert g.params == total
    assert g.ops[-1].out_shape == (1, 40)
    # the feature transform multiplies each of the 1,024 points' 64 features by a 64×64 matrix
    apply = g["feature_transform.apply"]
    assert apply.kind is OpKind.MATMUL and apply.macs == 1024 * 64 * 64
    # max over points: (1, 1024, 1024) → (1, 1024, 1), one compare per input element
    pool = g["mlp2.maxpool"]
    assert pool.out_shape == (1, 1024, 1) and pool.flops == 1024 * 1024


def test_deform_conv2d_matches_torchvision():
    # torchvision.ops.DeformConv2d(16, 32, 3, padding=1, groups=2): weight (32, 8, 3, 3) + bias 32 = 2,336;
    # its offset conv Conv2d(16, 2·og·3·3, 3, padding=1) with og = 2: 36·16·9 + 36 = 5,220
    b = GraphBuilder("t", (2, 16, 20, 20))
    out = b.deform_conv2d(b.input, 32, 3, padding=1, groups=2, offset_groups=2, name="dcn")
    g = b.build()
    assert g["dcn.conv"].params == 32 * 8 * 9 + 32
    assert g["dcn.offset"].params == 36 * 16 * 9 + 36
    assert g[out].out_shape == (2, 32, 20, 20)
    assert g["dcn.conv"].macs == 2 * 20 * 20 * 32 * 8 * 9  # N·Ho·Wo × out × in/groups·kh·kw
    sample = g["dcn.sample"]
    # every output pixel (2·20·20), tap (9) and offset group (2) reads 4 neighbours of 16/2 = 8 channels
    assert sample.gather_rows == 2 * 400 * 9 * 2 * 4 and sample.row_elems == 8
    assert sample.out_shape == (2, 16 * 9, 20, 20) and sample.flops == 7 * 2 * 144 * 400
    with pytest.raises(WorkloadError, match="offset_groups"):
        b.deform_conv2d(b.input, 32, 3, offset_groups=3)


def test_deform_conv2d_simulates_in_a_layer_list():
    layers = [{"type": "deform_conv2d", "name": "dcn", "out_channels": 32, "kernel_size": 3, "padding": 1},
              {"type": "relu"}]
    report = accelsim.simulate({"model": "layers", "input": [1, 16, 32, 32], "layers": layers}, "a100").to_dict()
    ops = {o["name"]: o for o in report["ops"]}
    # the gather reads its rows at the memory's access granularity: at least 1·32·32·9·4 rows of 16 fp16 channels
    assert ops["dcn.sample"]["bytes"]["hbm"] >= 32 * 32 * 9 * 4 * 16 * 2
    assert report["params"] == (18 * 16 * 9 + 18) + (32 * 16 * 9 + 32)


def test_training_at_batch_1_is_refused_as_pytorch_does(capsys):
    # probe p277 #1: the preset's batch 1 gives the input T-Net's BatchNorm1d fc_bn1 a (1, 512) input after its
    # fc1 (1024 → 512): 1 value per channel, which F.batch_norm's _verify_batch_size refuses in training; batch 2
    # gives it 2 and trains. Inference uses the running statistics and takes batch 1.
    from accelsim.cli import main

    assert main(["info", "pointnet_cls", "--mode", "training"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: ") and ": batch: pointnet_cls: training: batch norm " in line, line
    assert "'input_transform.fc_bn1' gets 1 value per channel (input [1, 512]: batch 1)" in line, line
    assert main(["info", "pointnet_cls", "--mode", "training", "--batch", "2"]) == 0
    assert main(["info", "pointnet_cls"]) == 0

