"""Probe p115 #2: a QDQ-quantised Conv / MatMul (its input and its weight each a DequantizeLinear of an int8 tensor,
onnxruntime quantize_static's default format) runs as the integer kernel its QOperator form (QLinearConv,
QLinearMatMul) runs: dtype int8, writing the model's float; its weight stored at 1 byte an element.

Hand counts: the 3×3 conv of 64 → 64 channels on 28 × 28 (pads 1) is 64·64·9·28·28 = 28,901,376 MACs a sample,
its weight 64·64·9 = 36,864 int8 bytes; x [4, 16] @ W (16, 8) is 4·16·8 = 512 MACs."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.ir import OpKind

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

CONV_MACS = 64 * 64 * 9 * 28 * 28


def _scales(*names):
    return [numpy_helper.from_array(np.array(0.1, dtype=np.float32), n) for n in names]


def _zero(name, dtype=np.int8):
    return numpy_helper.from_array(np.array(0, dtype=dtype), name)


def _model(nodes, inits, x=(1, 64, 28, 28)):
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _weight(shape=(64, 64, 3, 3)):
    return numpy_helper.from_array(np.ones(shape, dtype=np.int8), "wq")


def qdq_conv(quantize_x: bool = True):
    """x → QuantizeLinear → DequantizeLinear → Conv ← DequantizeLinear(int8 weight) (without ``quantize_x``: a
    weight-only model, x read in float)."""
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Conv", ["xd" if quantize_x else "x", "wd"], ["y"], pads=[1, 1, 1, 1])]
    if quantize_x:
        nodes[:0] = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                     helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"])]
    return _model(nodes, [*_scales("xs", "ws"), _zero("xz"), _zero("wz"), _weight()])


def qop_conv():
    """The same conv in the QOperator form: QuantizeLinear → QLinearConv → DequantizeLinear."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["yq"],
                              pads=[1, 1, 1, 1]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return _model(nodes, [*_scales("xs", "ws", "ys"), _zero("xz"), _zero("wz"), _zero("yz"), _weight()])


def _conv(g):
    (op,) = [op for op in g.ops if op.macs]
    return op


def test_qdq_conv_is_the_integer_kernel():
    conv = _conv(accelsim.from_onnx(qdq_conv()))
    assert conv.kind is OpKind.CONV and conv.macs == CONV_MACS
    assert conv.dtype == "int8"  # was fp16: the float rate
    assert conv.attrs["out_dtype"] == "fp16"  # the file's Conv writes float; the graph's dtype
    (w,) = conv.weights
    assert w.dtype == "int8" and w.nbytes(conv.dtype) == 64 * 64 * 9


def test_weight_only_quantisation_stays_float():
    # an int8 weight read by a conv of a float activation (no DequantizeLinear of x): a fp16 kernel
    conv = _conv(accelsim.from_onnx(qdq_conv(quantize_x=False)))
    assert conv.dtype == "fp16" and "out_dtype" not in conv.attrs
    assert conv.weights[0].dtype == "int8"


def test_both_forms_price_the_same_int8_conv_on_tpu_v1():
    # TPU v1 has no fp16 rate (its int16 rate: 4× the int8 cycles): before, the QDQ conv took 12,468 cycles and
    # the QLinearConv 3,117; both now run on the int8 array
    rows = {}
    for form, model in (("qdq", qdq_conv()), ("qop", qop_conv())):
        d = accelsim.simulate(accelsim.from_onnx(model), "tpu-v1").to_dict()
        (row,) = [o for o in d["ops"] if o["macs"]]
        rows[form] = row
    assert rows["qdq"]["macs"] == rows["qop"]["macs"] == CONV_MACS
    assert rows["qdq"]["compute_cycles"] == rows["qop"]["compute_cycles"]


def test_qdq_matmul_is_the_integer_kernel():
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("MatMul", ["xd", "wd"], ["y"])]
    # uint8 activations (zero point uint8), int8 weights: onnxruntime's default QDQ pair
    g = accelsim.from_onnx(_model(nodes, [*_scales("xs", "ws"), _zero("xz", np.uint8), _zero("wz"),
                                          _weight((16, 8))], x=(4, 16)))
    op = _conv(g)
    assert op.macs == 4 * 16 * 8 and op.dtype == "int8" and op.attrs["out_dtype"] == "fp16"
