"""Probe p259 #1: a GPU preset whose ``core.vector.output_path`` lists functions models a compiled (TensorRT-style)
deployment, not eager PyTorch (``mapping.aliases.fuses_epilogues``), so a float conv adds its bias, its own or a
folded batch norm's, in its epilogue (TensorRT's Convolution + Scale / BatchNorm fusion holds for FP16 / FP8 engines
as for INT8 ones), and the activation and residual add after it can fuse. With nothing listed (the GPU presets'
default, PyTorch eager) the bias stays cuDNN's separate ``output.add_`` kernel. Every number is a hand
calculation written out below."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.config import load_arch
from accelsim.mapping.aliases import aliases, fuses_epilogues
from accelsim.options import Options

TRT = ["relu", "add"]  # the resnet50_int8_h100_offline experiment's output path


def _h100(output_path: list[str]):
    return load_arch({"base": "h100", "core": {"vector": {"output_path": output_path}}})


def _conv_bn_relu(dtype: str, bias: bool):
    b = GraphBuilder("t", (1, 8, 4, 4), dtype=dtype)
    b.relu(b.batchnorm2d(b.conv2d(b.input, 8, 3, padding=1, bias=bias, name="c"), name="bn"), name="r")
    return b.build()


def test_which_archs_fuse_epilogues():
    assert not fuses_epilogues(load_arch("h100"))  # eager PyTorch: nothing on the output path
    assert fuses_epilogues(_h100(TRT))
    assert fuses_epilogues(load_arch("tpu-v4"))  # (off a GPU preset a conv adds its bias anyway)


@pytest.mark.parametrize("dtype", ["fp8", "bf16"])
def test_a_folded_batch_norms_shift_goes_into_the_conv_where_the_arch_fuses_epilogues(dtype):
    g = _conv_bn_relu(dtype, bias=False)
    # eager h100: the folded BN is the shift add kernel (its weights the shift alone), unchanged
    eager = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("h100"))}
    assert eager["bn"].works and [w.name for w in eager["bn"].weights] == ["bn.bias"]
    # [relu, add]: the BN does no work, its shift joins the conv's weights, as on tpu-v4
    trt = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), _h100(TRT))}
    assert not trt["bn"].works and trt["bn"].details.get("folded")
    assert [w.name for w in trt["c"].weights] == ["c.weight", "bn.bias"]


def test_a_float_convs_own_bias_add_is_a_view_where_the_arch_fuses_epilogues():
    # conv 8 → 8, 3×3, pad 1, with a bias, on 1×8×4×4: 128 output elements, 8·4·4 · 8·3·3 = 9,216 MACs
    g = _conv_bn_relu("bf16", bias=True)
    out, macs = 8 * 4 * 4, 8 * 4 * 4 * 8 * 3 * 3
    trt = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), _h100(TRT))}
    # the conv keeps its bias and its one FLOP an element (2·MACs + 128); the add is in place, the BN folds
    assert trt["c"].op.flops == 2 * macs + out and [w.name for w in trt["c"].weights] == ["c.weight", "c.bias"]
    assert not trt["c.bias_add"].works and not trt["bn"].works
    eager = {p.op.name: p for p in aliases(g, Options(fold_batchnorm=True), load_arch("h100"))}
    assert eager["c.bias_add"].works and eager["c"].op.flops == 2 * macs  # cuDNN + output.add_, as before


@pytest.mark.parametrize("dtype", ["fp8", "bf16"])
def test_the_relu_after_a_float_conv_and_folded_bn_fuses(dtype):
    g = _conv_bn_relu(dtype, bias=True)
    rows = {o["name"]: o for o in accelsim.simulate(g, _h100(TRT), fold_batchnorm=True).to_dict()["ops"]}
    assert rows["r"]["mapping"]["fused_into"] == "c"
    # eager (nothing listed): the ReLU is a kernel of its own
    rows = {o["name"]: o for o in accelsim.simulate(g, "h100", fold_batchnorm=True).to_dict()["ops"]}
    assert "fused_into" not in rows["r"]["mapping"]


@pytest.fixture(scope="module")
def resnet50():
    exp = accelsim.load_experiment("resnet50_int8_h100_offline")
    runs = {}
    for dtype in ("int8", "fp8", "fp16"):
        runs[dtype] = accelsim.simulate({"model": "resnet50", "batch": 256, "dtype": dtype}, exp.arch,
                                        exp.options).to_dict()
    return runs


def test_fp8_resnet50_offline_costs_what_int8_does(resnet50):
    int8, fp8 = resnet50["int8"], resnet50["fp8"]
    # h100 gives fp8 and int8 one systolic peak (1.979e15) and both are 1 byte an element, so with the same fusion
    # the runs match. The one difference: an int8 conv reads its bias in int32 (units.INT_BIAS_DTYPE), 4 B, an
    # fp8 one in fp8, 1 B. ResNet-50's biases: its 53 folded BNs' shifts, 64 (bn1) + layer1 3·(64+64+256) + 256
    # + layer2 4·(128+128+512) + 512 + layer3 6·(256+256+1024) + 1024 + layer4 3·(512+512+2048) + 2048 = 26,560,
    # and fc's 1,000: 27,560 values read once, 3 B fewer each
    assert int8["bytes"]["hbm"] - fp8["bytes"]["hbm"] == 3 * 27_560
    assert fp8["seconds"] == pytest.approx(int8["seconds"], rel=1e-3)
    fused = [o for o in fp8["ops"] if "fused_into" in o["mapping"]]
    assert len(fused) == 49 + 16  # every ReLU (16 blocks × 3 + the stem's) and every residual add
    assert not [n for n in fp8["notes"] if "output_path" in n]  # nothing left to say


def test_fp16_resnet50_offline_takes_at_most_twice_int8(resnet50):
    # fp16: every tensor twice the bytes, the tensor-core rate half (9.894e14 against 1.979e15): with the same
    # fusion each op's memory and compute time at most double
    int8, fp16 = resnet50["int8"], resnet50["fp16"]
    assert fp16["seconds"] <= 2 * int8["seconds"]
    # about twice the HBM bytes (L2 holds half as many elements, so a little more is re-read: within 1 %)
    assert fp16["bytes"]["hbm"] == pytest.approx(2 * int8["bytes"]["hbm"], rel=0.01)


def test_a_listed_function_left_unfused_gets_a_note():
    # fp16 resnet50 on h100 with [relu, add] but batch norms not folded ('auto' on a GPU preset): every ReLU and add
    # stays a kernel; 33 ReLUs (the stem's, and conv1's and conv2's of 16 blocks) and the 16 adds (bn3's output)
    # read a batch norm, the 16 block-final ReLUs read an unfused add
    r = accelsim.simulate({"model": "resnet50", "batch": 1, "dtype": "fp16"}, _h100(TRT)).to_dict()
    line, = [n for n in r["notes"] if "output_path" in n]
    assert line.startswith("65 activation and residual-add op(s) after a conv or linear of a function "
                           "core.vector.output_path lists (relu, add) still run as kernels of their own")
    assert "49 read a batch norm that runs as a kernel of its own (options.fold_batchnorm: true" in line
    assert "16 read one of these left unfused" in line
    # PyTorch eager (nothing listed) in fp16: no note, as before (only an int8 / fp8 CNN is pointed at the key)
    r = accelsim.simulate({"model": "resnet50", "batch": 1, "dtype": "fp16"}, "h100").to_dict()
    assert not [n for n in r["notes"] if "output_path" in n]


@pytest.mark.parametrize("fold", [True, False])
def test_a_training_batch_norm_is_not_pointed_at_fold_batchnorm(fold):
    # probe p262 #4: fp16 resnet50 training on h100 with [relu, add] told the user "options.fold_batchnorm: true folds
    # it into the conv" with the option already true. A training batch norm (PyTorch's F.batch_norm(training=True))
    # normalises by the batch's mean and variance, computed from the conv's output, so no fixed scale and shift
    # folds into the conv's weights (docs/configuration.md: the fold is for inference). The forward pass is the
    # inference one's: the same 49 + 16 op(s) as above (33 ReLUs and 16 adds reading a batch norm, the 16
    # block-final ReLUs an unfused add), and all 53 batch norms (the stem's, 3 in each of 16 blocks, 4 downsample
    # ones) stay kernels with the option true or false
    r = accelsim.simulate({"model": "resnet50", "batch": 1, "dtype": "fp16", "mode": "training"}, _h100(TRT),
                          fold_batchnorm=fold).to_dict()
    line, = [n for n in r["notes"] if "output_path" in n]
    assert "49 read a training batch norm, a kernel of its own" in line
    assert "cannot be folded into the conv (options.fold_batchnorm folds only in inference)" in line
    assert "fold_batchnorm: true" not in line
    assert "16 read one of these left unfused" in line
    assert len([o for o in r["ops"] if o.get("fn") == "batchnorm" and not o["mapping"].get("folded")]) == 53
