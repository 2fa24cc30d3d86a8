"""A convolution whose kernel is smaller than its stride reads only the input pixels its windows touch
(traffic.conv_input_bytes, through operand_bytes and split_estimate).

SCALE-Sim (scalesim-project/scale-sim-v2, scalesim/compute/operand_matrix.py, calc_ifmap_elem_addr) addresses the
ifmap only at ifmap row = ofmap row · stride (+ the window's offset), channels innermost: a 1×1 conv at stride 2
reads every other row and column, a 1×1×1 at stride 2 every other plane too. Probe p182 #1: r3d_18's
layer2.0.downsample.0 (Conv3d(64, 128, 1, stride 2) on 64×16×56×56) on edge-npu was charged its whole input,
4,022,784 B of HBM, and ran memory-bound.

Hand figures, edge-npu (int8, LPDDR4X 25.6 GB/s at 1 GHz = 25.6 B/cycle, 64-B accesses):
  input 64×16×56×56 = 3,211,264 B; the voxels at even d, h, w: 64×8×28×28 = 401,408 B (one 64-B access a voxel);
  output 128×8×28×28 = 802,816 B; weight 128×64 = 8,192 B (no bias): 1,212,416 B of HBM, 47,360 cycles of
  transfer, under the 50,927-cycle compute (a 32×32 ws array: M = 6,272, N = 128, K = 64), so compute-bound.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from accelsim import simulate
from accelsim.builders import GraphBuilder
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.mapping import traffic
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.pricing import price
from accelsim.options import Options

DS2 = {"model": "layers", "name": "ds2", "batch": 1, "input": [1, 64, 16, 56, 56],
       "layers": [{"type": "conv3d", "name": "ds", "out_channels": 128, "kernel_size": 1, "stride": 2, "bias": False}]}
IN_INT8 = 64 * 8 * 28 * 28  # the touched voxels, 1 B a channel
OUT_INT8 = 128 * 8 * 28 * 28
W_INT8 = 128 * 64


def _conv(shape, **kw):
    b = GraphBuilder("t", shape)  # the builder's default dtype, 2 B an element
    dims = len(shape) - 2
    b.conv_nd(b.input, dims, kw.pop("out", 8), **kw)
    return b._ops[0]  # the conv (its eager bias add follows it: layers._eager_bias)


def test_a_1x1x1_stride_2_conv_reads_an_eighth_of_its_input():
    op = _conv((1, 64, 16, 56, 56), kernel=1, stride=2)
    # 64 channels × 2 B = 128 B a voxel, two whole 64-B accesses: 64·8·28·28 voxels of 128 B
    assert traffic.conv_input_bytes(op, 64) == 64 * 8 * 28 * 28 * 2 == 802_816
    # a 256-B access: a voxel's 128 B take one (on average 128 + 256 − gcd(128, 256) = 256 B), every other voxel
    # along w, so each touched row of w costs what the whole row does (56·128 = 7,168 B): only the planes and
    # rows are skipped, a quarter of the input (what a row-granular DMA reads)
    assert traffic.conv_input_bytes(op, 256) == 8 * 28 * 56 * 128 == 64 * 16 * 56 * 56 * 2 // 4


def test_windows_that_cover_the_input_read_all_of_it():
    # 3×3 at stride 2, padding 1, on 56: windows at 2o − 1 … 2o + 1, o < 28, cover rows −1 … 55: all of it
    assert traffic.conv_input_bytes(_conv((1, 16, 56, 56), kernel=3, stride=2, padding=1), 64) is None
    # 7×7 at stride 2 padding 3 on 224 (a ResNet stem): starts −3 … 219, the last window ends at 225
    assert traffic.conv_input_bytes(_conv((1, 3, 224, 224), kernel=7, stride=2, padding=3), 64) is None
    # stride 1 (patch-free 1×1 conv): all of it
    assert traffic.conv_input_bytes(_conv((1, 16, 8, 8), kernel=1, stride=1), 64) is None


def test_a_kernel_smaller_than_its_stride_reads_runs_of_its_width():
    # 2×2 at stride 3 on 11×11, no padding: out = (11 − 2)/3 + 1 = 4, rows 0,1 3,4 6,7 9,10 (8 of 11) in each
    # axis; 32 channels × 2 B = 64 B a pixel, a 2-pixel run 128 B = 2 accesses: 8 × 4 runs × 128 B
    op = _conv((1, 32, 11, 11), kernel=2, stride=3)
    assert traffic.conv_input_bytes(op, 64) == 8 * 4 * 128
    # a stride along H only (1×1, stride (2, 1)): every other row, each whole (16 × 2 × 12 = 384 B contiguous)
    op = _conv((2, 16, 10, 12), kernel=1, stride=(2, 1))
    assert traffic.conv_input_bytes(op, 64) == 2 * 5 * 16 * 2 * 12
    # a dilated kernel wider than its output at stride 1: 1-D, size 10, k 2, dilation 8: out = 10 − 8 = 2,
    # positions 0, 1, 8, 9: two runs of 2 pixels (16 channels × 2 B = 32 B a pixel: 64 B a run)
    op = _conv((1, 16, 10), kernel=2, stride=1, dilation=8)
    assert traffic.conv_input_bytes(op, 64) == 2 * 64


def test_a_pixel_smaller_than_an_access_costs_the_access():
    # 8 channels × 2 B = 16 B a pixel, 1×1 stride 2 on 8×56: every other 16-B pixel of a row is 28 pixels each
    # in its own 64-B access (16 + 64 − 16 = 64 B on average), more than the whole 896-B row: the row, so only
    # the skipped rows save: 4 rows × 896 B
    op = _conv((1, 8, 8, 56), kernel=1, stride=2)
    assert traffic.conv_input_bytes(op, 64) == 4 * 56 * 16


def test_edge_npu_charges_the_touched_voxels_and_runs_compute_bound():
    r = simulate(DS2, "edge-npu")
    op = r["ops"][0]
    assert op["bytes"]["hbm"] == IN_INT8 + OUT_INT8 + W_INT8 == 1_212_416  # was 4,022,272 with the whole input
    assert op["bound"] == "compute"
    assert (IN_INT8 + OUT_INT8 + W_INT8) / 25.6 < op["compute_cycles"]


def test_a_2d_resnet_shortcut_reads_a_quarter():
    # ResNet-50 layer2.0.downsample.0: Conv2d(256, 512, 1, stride 2) on 256×56×56, int8 on edge-npu:
    # the input's even rows and columns 256×28×28 (256 B a pixel, 4 accesses), out 512×28×28, weight 512×256
    work = {"model": "layers", "name": "ds", "batch": 1, "input": [1, 256, 56, 56],
            "layers": [{"type": "conv2d", "name": "ds", "out_channels": 512, "kernel_size": 1, "stride": 2,
                        "bias": False}]}
    r = simulate(work, "edge-npu")
    assert r["ops"][0]["bytes"]["hbm"] == 256 * 28 * 28 + 512 * 28 * 28 + 512 * 256


def test_the_gpu_path_reads_the_same_subsampled_a():
    # a100 (bf16): implicit GEMM A = m × k = 6,272 × 64 × 2 B = 802,816 B, the touched voxels, read once from HBM
    # (its two 64-wide N tiles re-read it from L2); + output 1,605,632 + weight 16,384. Before, act_a was the whole
    # input and the L2 panels' 1/4 of it: 1,605,632 B of A, 3,227,648 in all
    r = simulate(DS2, "a100")
    assert r["ops"][0]["bytes"]["hbm"] == 6272 * 64 * 2 + 6272 * 128 * 2 + 128 * 64 * 2 == 2_424_832


def test_the_split_estimate_moves_the_same_bytes():
    arch = load_arch("edge-npu")
    graph = build_graph(load_workload(DS2), arch.dtype)
    plans = pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)
    p = next(p for p in plans if p.works)
    _, _, memory = traffic.split_estimate(p, arch, Options(), 1, 1)
    assert memory == pytest.approx((IN_INT8 + OUT_INT8 + W_INT8) / 25.6)


def test_the_weight_gradient_reads_the_touched_voxels_and_the_input_gradient_all_of_dy():
    r = simulate({**DS2, "mode": "training"}, "tpu-v4")
    ops = {o["name"]: o for o in r["ops"]}
    # dW = xᵀ·dY reads x's touched voxels, bf16: 64×8×28×28×2 = 802,816 B (its whole input is 6,422,528); dY
    # (loss.grad) stays on chip here (resident_output), and dW, a parameter's gradient, goes to HBM in fp32 (probe
    # p207 #1: it was kept on chip, 0 B; now 128 × 64 × 4 = 32,768 B written), so x and dW are all its HBM
    assert ops["loss.grad"]["mapping"]["resident_output"] and not ops["ds.grad_weight"]["mapping"]["resident_output"]
    assert ops["ds.grad_weight"]["bytes"]["hbm"] == 64 * 8 * 28 * 28 * 2 + 128 * 64 * 4
    # the input gradient reads dY, every element: no subsampling (its attrs carry the forward's stride)
    op = _conv((1, 64, 16, 56, 56), kernel=1, stride=2)
    assert traffic.conv_input_bytes(replace(op, attrs={**op.attrs, "grad": "input"}), 64) is None
