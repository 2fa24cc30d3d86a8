"""Probe p235 #4: eager PyTorch runs a cuDNN (or MIOpen) convolution with a bias as two kernels. PyTorch's
aten/src/ATen/native/Convolution.cpp ``_convolution``, ``case ConvBackend::Cudnn`` (and ``CudnnTranspose``):
``output = at::cudnn_convolution(...); if (bias.defined()) { output.add_(reshape_bias(input.dim(), bias)); }``;
ROCm's ``miopen_convolution`` ends in ``miopen_convolution_add_bias_``, ``output->add_(bias_contig)``
(aten/src/ATen/native/miopen/Conv_miopen.cpp). A depthwise conv that ``_select_conv_backend`` sends to
``CudaDepthwise2d`` takes the bias in its kernel (``at::_conv_depthwise2d(..., bias, ...)``), unless its input is
channels-last (``use_cudnn_depthwise``: "always use cudnn_depthwise for channels_last format"), as ConvNeXt's are.
The builders add the bias add after the conv (``GraphBuilder._eager_bias``, attr ``eager_only``); it is a kernel on
a GPU preset and a view elsewhere (mapping.aliases). Every count below is a hand calculation."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.builders.layers import GraphBuilder
from accelsim.config import load_arch
from accelsim.mapping.aliases import aliases
from accelsim.options import Options

BF16 = 2  # bytes an element


def _bias_adds(graph):
    return [op for op in graph.ops if op.attrs.get("bias_of")]


def test_which_convs_get_a_bias_add():
    b = GraphBuilder("t", (1, 32, 8, 8), dtype="bf16")
    x = b.conv2d(b.input, 32, 1, name="pw")  # cuDNN: + add_
    assert x == "pw.bias_add" and b.shape(x) == (1, 32, 8, 8)
    add = b._ops[-1]
    assert add.attrs["bias_of"] == "pw" and add.inputs == ("pw",) and add.vector_elems == 32 * 8 * 8
    assert b.conv2d(x, 32, 3, padding=1, bias=False, name="nob") == "nob"  # no bias: nothing to add
    assert b.conv2d(x, 32, 3, padding=1, groups=32, name="dw") == "dw"  # CudaDepthwise2d: the bias in the kernel
    assert b.conv2d(x, 32, 7, padding=3, groups=32, name="dwcl", channels_last=True) == "dwcl.bias_add"  # cuDNN
    assert b.conv2d(x, 64, 3, padding=1, groups=2, name="grouped") == "grouped.bias_add"  # not depthwise: cuDNN
    assert b.conv_transpose2d(x, 16, 2, stride=2, name="up") == "up.bias_add"  # CudnnTranspose
    assert b.conv1d(b.flatten(x, 2, name="flat"), 16, 3, name="c1") == "c1.bias_add"  # viewed as 2-D
    # an integer conv is not eager PyTorch's: no add
    q = GraphBuilder("q", (1, 32, 8, 8), dtype="int8")
    assert q.conv2d(q.input, 32, 1, name="pw") == "pw"
    # the params do not move: the bias stays the conv's weight (its state_dict name)
    assert b.build().params == (32 * 32 + 32) + 32 * 32 * 9 + (32 * 9 + 32) + (32 * 49 + 32) \
        + (64 * 16 * 9 + 64) + (32 * 16 * 4 + 16) + (16 * 32 * 3 + 16)


def test_a_bias_add_is_a_kernel_on_a_gpu_and_a_view_elsewhere():
    b = GraphBuilder("t", (1, 32, 8, 8), dtype="bf16")
    b.relu(b.conv2d(b.input, 16, 1, name="c"), name="r")
    g = b.build()
    gpu = {p.op.name: p for p in aliases(g, Options(), load_arch("h100"))}
    npu = {p.op.name: p for p in aliases(g, Options(), load_arch("tpu-v4"))}
    out = 16 * 8 * 8  # 1,024 output elements
    macs = out * 32
    # h100: the conv is the GEMM alone (2 flops a MAC), the add adds one flop an element and reads the bias
    assert gpu["c"].works and gpu["c"].op.flops == 2 * macs and [w.name for w in gpu["c"].weights] == ["c.weight"]
    add = gpu["c.bias_add"]
    assert add.works and add.op.flops == out and [w.name for w in add.weights] == ["c.bias"]
    assert add.inputs == ("c",) and gpu["r"].inputs == ("c.bias_add",)
    # tpu-v4: the conv adds the bias (2·MACs + one flop an element, as before), the add is a view of its output
    assert npu["c"].op.flops == 2 * macs + out and [w.name for w in npu["c"].weights] == ["c.weight", "c.bias"]
    assert not npu["c.bias_add"].works and npu["r"].inputs == ("c",)


@pytest.fixture(scope="module")
def effnet():
    return build_workload("efficientnet_b0", {})


def test_efficientnet_b0_se_convs(effnet):
    # torchvision EfficientNet-B0: 16 MBConv blocks, each with a SqueezeExcitation of two biased 1x1 convs
    # (fc1, fc2: nn.Conv2d(c, s, 1), bias=True); the other convs are Conv2dNormActivation (bias=False) and the
    # depthwise convs are NCHW (CudaDepthwise2d): 32 bias adds
    adds = _bias_adds(effnet)
    assert len(adds) == 16 * 2
    assert {op.attrs["bias_of"].rsplit(".", 1)[-1] for op in adds} == {"fc1", "fc2"}


def _kernels(report: dict) -> int:
    return sum(o["unit"] != "none" for o in report["ops"])


def test_efficientnet_b0_launches_32_more_kernels_on_h100_and_none_on_tpu():
    h100 = accelsim.simulate("efficientnet_b0", "h100", plots=False).to_dict()
    # probe p235: 238 kernels before, all launch-bound at h100.yaml's kernel_launch (21 us): + 32 bias adds
    assert _kernels(h100) == 238 + 32
    launch = load_arch("h100").kernel_launch
    assert h100["seconds"] == pytest.approx((238 + 32) * launch, rel=2e-3)  # 5.67 ms
    # tpu-v4 (a compiler adds the bias in the conv): the bias adds are views, no kernel, no bytes
    tpu = accelsim.simulate("efficientnet_b0", "tpu-v4", plots=False).to_dict()
    rows = {o["name"]: o for o in tpu["ops"]}
    assert all(rows[op.name]["unit"] == "none" and not rows[op.name]["bytes"]
               for op in _bias_adds(build_workload("efficientnet_b0", {})))


def test_convnext_tiny_channels_last_depthwise_convs_add_their_bias():
    # the stem (4x4), 3 downsample convs (2x2) and the 18 CNBlocks' 7x7 depthwise convs, which read channels-last
    # tensors (so cuDNN, use_cudnn_depthwise): 1 + 3 + 18 = 22 bias adds; the linears (addmm) add none
    g = build_workload("convnext_tiny", {})
    adds = {op.attrs["bias_of"] for op in _bias_adds(g)}
    assert len(adds) == 1 + 3 + 18
    assert "features.0.0" in adds and "features.1.0.block.0" in adds and "features.6.1" in adds


def test_a_folded_batch_norm_is_its_shift_add_on_a_gpu():
    # conv (no bias) → BN, folded (options.fold_batchnorm true): torch.fx's fuse_conv_bn_eval gives the conv a
    # bias, which _convolution adds after cuDNN: on h100 the BN's plan works, reading its shift (C values) only;
    # on tpu-v4 it folds into the conv as before (the shift joins the conv's weights)
    b = GraphBuilder("t", (1, 8, 4, 4), dtype="bf16")
    b.batchnorm2d(b.conv2d(b.input, 8, 3, padding=1, bias=False, name="c"), name="bn")
    g = b.build()
    gpu = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("h100"))}
    assert gpu["bn"].works and [w.name for w in gpu["bn"].weights] == ["bn.bias"]
    assert [w.name for w in gpu["c"].weights] == ["c.weight"]
    npu = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("tpu-v4"))}
    assert not npu["bn"].works and [w.name for w in npu["c"].weights] == ["c.weight", "bn.bias"]
    # a depthwise NCHW conv takes the fused bias in its kernel (CudaDepthwise2d): the BN folds away on h100 too
    d = GraphBuilder("d", (1, 8, 4, 4), dtype="bf16")
    d.batchnorm2d(d.conv2d(d.input, 8, 3, padding=1, groups=8, bias=False, name="c"), name="bn")
    dw = {p.op.name: p for p in aliases(d.build(), Options(fold_batchnorm=True), load_arch("h100"))}
    assert not dw["bn"].works


def test_a_folded_batch_norms_shift_add_computes_one_flop_an_element_on_a_gpu():
    # probe p245 #4: the folded BN's kernel on a GPU is output.add_(bias), one FLOP an element; its scale is in the
    # conv's weights. Its row keeps the model's BN count, 2 an element (as a folded BN's row off a GPU: the
    # published FLOP count), and computed_flops counts the add's 1. Conv 8 → 8, 3x3, pad 1 on 1x8x4x4: output
    # 1·8·4·4 = 128 elements, 8·4·4 · 8·3·3 = 9,216 MACs (18,432 FLOPs, no bias); BN 2 · 128 = 256 FLOPs.
    b = GraphBuilder("t", (1, 8, 4, 4), dtype="bf16")
    b.batchnorm2d(b.conv2d(b.input, 8, 3, padding=1, bias=False, name="c"), name="bn")
    g = b.build()
    out, macs = 1 * 8 * 4 * 4, 8 * 4 * 4 * 8 * 3 * 3
    assert g["bn"].flops == 2 * out and g["c"].flops == 2 * macs
    gpu = accelsim.simulate(g, "h100", fold_batchnorm=True, plots=False).to_dict()
    bn = next(o for o in gpu["ops"] if o["name"] == "bn")
    assert bn["unit"] != "none" and bn["flops"] == 2 * out and bn["mapping"]["mac_fraction"] == 0.5
    assert gpu["flops"] == 2 * macs + 2 * out  # the model's count, as `accelsim info` gives it
    assert gpu["computed_flops"] == 2 * macs + out  # the GEMM and the shift add: 18,432 + 128
    assert not [n for n in gpu["notes"] if n.startswith("causal attention")]  # no attention skipped anything
    # tpu-v4: the BN folds into the conv's epilogue, its row on no unit; flops keeps its 256, computed_flops
    # counts none of them (docs/architecture.md, the computed_flops row: all the FLOPs of an op on unit none)
    tpu = accelsim.simulate(g, "tpu-v4", fold_batchnorm=True, plots=False).to_dict()
    assert next(o for o in tpu["ops"] if o["name"] == "bn")["unit"] == "none"
    assert tpu["flops"] == 2 * macs + 2 * out and tpu["computed_flops"] == 2 * macs


def test_a_batch_norm_after_a_biased_conv_folds_through_its_bias_add():
    # conv (bias) → BN: the BN follows the conv's bias add; folded, on h100 its shift merges into that add (one
    # kernel: the fused conv's bias), and on tpu-v4 into the conv, as before the add existed
    b = GraphBuilder("t", (1, 8, 4, 4), dtype="bf16")
    b.batchnorm2d(b.conv2d(b.input, 8, 3, padding=1, name="c"), name="bn")
    g = b.build()
    assert g["bn"].follows == "c.bias_add"
    gpu = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("h100"))}
    assert not gpu["bn"].works and gpu["c.bias_add"].works
    npu = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("tpu-v4"))}
    assert not npu["bn"].works and not npu["c.bias_add"].works
    assert [w.name for w in npu["c"].weights] == ["c.weight", "c.bias", "bn.bias"]
    # not folded (auto on a GPU): conv, bias add and BN all run
    kept = {p.op.name: p for p in aliases(g, Options(), load_arch("h100"))}
    assert kept["c"].works and kept["c.bias_add"].works and kept["bn"].works
