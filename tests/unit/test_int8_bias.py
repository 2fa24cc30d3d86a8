"""Probe p131 #1: in an integer run a bias is int32, 4 bytes, not the compute dtype's 1.

TFLite's 8-bit quantization specification gives CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED an "int32 bias,
scale = input_scale x weight_scale, zero point 0"; Gemmini loads a bias into its int32 accumulator; an ONNX QDQ model
stores its bias int32 and the importer keeps that width. The built-in builders' biases (and a batch norm's shift
folded into its conv, ``options.fold_batchnorm``) took the compute dtype, int8: 1 byte. Now a bias read by an op
computing in int8 / uint8 / int4 is stored int32 (``units.INT_BIAS_DTYPE``, ``ir.Weight.nbytes``); a floating-point
run's bias keeps its dtype (bf16: 2 bytes), and so does an int16 one (Eyeriss keeps 16-bit partial sums).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.ir import Weight

# conv2d's workload preset (workloads/conv2d.yaml): a 3×3 64 → 64 conv with bias on 1×64×56×56, padding 1
CIN = COUT = 64
HW = 56
CONV_WEIGHTS = COUT * CIN * 3 * 3  # 36,864 int8 weights, 1 B each
FMAP = CIN * HW * HW  # 200,704 elements in and out (padding 1 keeps 56×56), 1 B each in int8


def test_a_bias_read_by_an_integer_op_is_int32():
    bias = Weight("conv.bias", (COUT,))
    assert bias.is_bias
    # int8 / uint8 / int4 compute: int32, 4 B an element: 64 · 4 = 256 B (was 64)
    assert bias.nbytes("int8") == bias.nbytes("uint8") == bias.nbytes("int4") == 64 * 4
    # a floating-point op's bias keeps its dtype: bf16 64 · 2 = 128 B, fp32 64 · 4 = 256 B; int16 keeps 2 B
    assert bias.nbytes("bf16") == bias.nbytes("fp16") == bias.nbytes("int16") == 64 * 2
    assert bias.nbytes("fp32") == 64 * 4
    # a weight that is no bias stays at the op's dtype (a norm's scale, a conv's 4-D weight)
    assert Weight("bn.weight", (COUT,)).nbytes("int8") == 64
    assert Weight("conv.weight", (COUT, CIN, 3, 3)).nbytes("int8") == CONV_WEIGHTS
    # a bias whose own dtype is set keeps it (an ONNX file's int32, or an fp16 one)
    assert Weight("b", (COUT,), dtype="fp16", bias=True).nbytes("int8") == 64 * 2


def test_conv2d_on_gemmini_reads_int32_biases():
    report = accelsim.simulate("conv2d", "gemmini").to_dict()  # gemmini's dtype: int8
    (conv,) = [op for op in report["ops"] if op["macs"]]
    tiling = conv["mapping"]["tiling"]
    assert (tiling["a_reads"], tiling["b_reads"]) == (2, 1)  # the ifmap read twice, the weights once
    # weights: 36,864 int8 + 64 int32 biases = 36,864 + 256 = 37,120 B (was 36,864 + 64 = 36,928)
    assert report["memory"]["hbm"]["weights"] == CONV_WEIGHTS + 4 * COUT == 37_120
    # DRAM: the ifmap twice, the weights and biases once, the ofmap once:
    # 2 · 200,704 + 37,120 + 200,704 = 639,232 B (was 639,040: 64 biases × 3 more bytes)
    assert report["bytes"]["hbm"] == 2 * FMAP + CONV_WEIGHTS + 4 * COUT + FMAP == 639_232


# MobileNet-V2 (torchvision): 3,504,872 params, of which the batch norms' γ and β are 2 × 17,056. Batch-norm
# channels by hand, inverted residual (t, c, n, s) settings (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
# (6,160,3,2) (6,320,1,1); a block of input i, hidden h = t·i has BNs of h (expand, absent for t = 1) + h (dw) + c:
#   stem 32; 32 + 16 = 48; (96+96+24) + (144+144+24) = 528; 320 + 2·416 = 1,152; 448 + 3·832 = 2,944;
#   864 + 2·1,248 = 3,360; 1,312 + 2·2,080 = 5,472; 2,240; last conv 1,280  → 17,056.
MV2_PARAMS = 3_504_872
MV2_BN_CHANNELS = 32 + 48 + 528 + 1_152 + 2_944 + 3_360 + 5_472 + 2_240 + 1_280  # 17,056
MV2_CLASSIFIER_BIAS = 1_000  # classifier.1: Linear(1280, 1000) with bias


def test_mobilenet_v2_folded_biases_are_int32_on_edge_npu():
    # options.fold_batchnorm (the default): each BN's γ merges into its conv's weights (no bytes of its own) and its
    # β is loaded as the conv's bias. In int8 (edge-npu's dtype) the weights are 1 B and every bias 4 B: the 17,056
    # folded biases and the classifier's 1,000.
    report = accelsim.simulate("mobilenet_v2", "edge-npu").to_dict()
    assert report["params"] == MV2_PARAMS
    int8_bytes = MV2_PARAMS - MV2_BN_CHANNELS  # 3,487,816: before the fix, every byte of it 1 B an element
    biases = MV2_BN_CHANNELS + MV2_CLASSIFIER_BIAS  # 18,056
    # 3,487,816 + 3 · 18,056 = 3,541,984 B (the probe's 3,538,984 left out the classifier's 1,000 biases)
    assert report["memory"]["hbm"]["weights"] == int8_bytes + 3 * biases == 3_541_984


def test_a_bf16_run_keeps_2_byte_biases():
    # the same model in bf16: every parameter but the folded γ at 2 B, biases included: (3,504,872 − 17,056) · 2
    report = accelsim.simulate({"model": "mobilenet_v2", "dtype": "bf16"}, "edge-npu").to_dict()
    assert report["memory"]["hbm"]["weights"] == (MV2_PARAMS - MV2_BN_CHANNELS) * 2 == 6_975_632
    # and a training step in bf16: its bias's value is 2 B in the graph (its fp32 gradient and states apart)
    step = build_workload("conv2d", {"dtype": "bf16", "mode": "training"})
    bias = next(w for op in step.ops for w in op.weights if w.name == "conv.bias")
    assert bias.nbytes("bf16") == COUT * 2


onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _qdq_conv(bias: str) -> onnx.ModelProto:
    """x → QuantizeLinear → DequantizeLinear → Conv(3×3, pads 1; weight a DequantizeLinear of an int8 initializer,
    bias ``"int32"``: a DequantizeLinear of an int32 initializer, as onnxruntime's QDQ quantiser writes it, or
    ``"float"``: a float initializer) → y, on the conv2d preset's shapes."""
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "zx"),
             numpy_helper.from_array(np.array(0, np.int8), "zw"),
             numpy_helper.from_array(np.ones((COUT, CIN, 3, 3), np.int8), "w")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zx"], ["xq"], name="qx"),
             helper.make_node("DequantizeLinear", ["xq", "s", "zx"], ["xd"], name="dqx"),
             helper.make_node("DequantizeLinear", ["w", "s", "zw"], ["wd"], name="dqw")]
    if bias == "int32":
        inits += [numpy_helper.from_array(np.ones(COUT, np.int32), "b"), numpy_helper.from_array(np.array(0, np.int32), "zb")]
        nodes.append(helper.make_node("DequantizeLinear", ["b", "s", "zb"], ["bd"], name="dqb"))
    else:
        inits.append(numpy_helper.from_array(np.ones(COUT, np.float32), "bd"))
    nodes.append(helper.make_node("Conv", ["xd", "wd", "bd"], ["y"], name="conv", pads=[1, 1, 1, 1]))
    graph = helper.make_graph(nodes, "qconv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CIN, HW, HW])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("bias", ["int32", "float"])
def test_onnx_int8_conv_and_built_in_conv2d_store_equal_weight_bytes(bias):
    # both: 36,864 int8 weights + 64 int32 biases = 37,120 B. The file's int32 bias keeps its width (onnxcore
    # _int_weights); a float bias of an integer kernel is read as int32 as the built-in's is (TensorRT quantises it so)
    imported = accelsim.from_onnx(_qdq_conv(bias))
    built = build_workload("conv2d", {"dtype": "int8"})
    (conv,) = [op for op in imported.ops if op.macs]
    assert conv.dtype == "int8"
    assert imported.weight_bytes == built.weight_bytes == CONV_WEIGHTS + 4 * COUT == 37_120
    on_gemmini = [accelsim.simulate(g, "gemmini").to_dict()["memory"]["hbm"]["weights"] for g in (imported, built)]
    assert on_gemmini == [37_120, 37_120]
