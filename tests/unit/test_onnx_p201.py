"""ONNX import after probe p201: ``unsupported: elementwise`` keeps a node's weights of other shapes as parameters
(#1). Small models built with onnx.helper, numbers by hand from the ONNX operator spec. Skipped where onnx is not
installed."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import from_onnx
from accelsim.builders.training import training_graph

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F = TensorProto.FLOAT


def _model(nodes, inputs, inits=(), outputs=None, domains=()):
    ins = [helper.make_tensor_value_info(n, F, s) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in (outputs or {"y": F}).items()]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs, list(inits)),
                             opset_imports=[helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domains)])


def _zeros(name, shape):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


# ---- #1: the element-wise fallback's constants are scalars and shapes that broadcast onto the largest weight ----
def test_reverse_lstm_keeps_w_and_b():
    # ONNX LSTM spec: W [dirs, 4H, I], R [dirs, 4H, H], B [dirs, 8H]; I 32, H 64, one direction (reverse, a
    # feature accelsim does not map): 4·64·32 + 4·64·64 + 8·64 = 8,192 + 16,384 + 512 = 25,088 (before: 16,384, R
    # alone; W and B were taken for scales of R). W's last dim 32 and B's 512 do not broadcast onto R's 64.
    i, h = 32, 64
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["y"], name="lstm", hidden_size=h, direction="reverse")
    g = from_onnx(_model([node], {"x": [10, 1, i]}, [_zeros("W", (1, 4 * h, i)), _zeros("R", (1, 4 * h, h)),
                                                     _zeros("B", (1, 8 * h))]), unsupported="elementwise")
    assert g.params == 4 * h * i + 4 * h * h + 8 * h == 25_088
    assert sorted(w.name for w in g["lstm"].weights) == ["B", "R", "W"]
    step = training_graph(g, "sgd")  # each gets its optimizer step
    assert sorted(op.name for op in step.ops if op.name.endswith(".step")) == ["B.step", "R.step", "W.step"]


def test_custom_ops_with_two_weight_matrices_keep_both():
    # a custom fused MLP reading w1 [64, 256] and w2 [128, 64]: 16,384 + 8,192 = 24,576 (before: 16,384); a
    # DeformConv's weight [16, 8, 3, 3] and bias [16]: 1,152 + 16 = 1,168 (16 does not broadcast onto the last 3)
    mlp = helper.make_node("FusedMLP", ["x", "w1", "w2"], ["y"], name="mlp", domain="my.dom")
    g = from_onnx(_model([mlp], {"x": [1, 16, 64]}, [_zeros("w1", (64, 256)), _zeros("w2", (128, 64))],
                         outputs={"y": F}, domains=("my.dom",)), unsupported="elementwise")
    assert g.params == 64 * 256 + 128 * 64 == 24_576
    deform = helper.make_node("DeformConv", ["x", "w", "off", "b"], ["y"], name="dc", kernel_shape=[3, 3])
    model = _model([deform], {"x": [1, 8, 10, 10], "off": [1, 18, 8, 8]},
                   [_zeros("w", (16, 8, 3, 3)), _zeros("b", (16,))])
    model.opset_import[0].version = 19
    g = from_onnx(model, unsupported="elementwise")
    assert g.params == 16 * 8 * 3 * 3 + 16 == 1_168


def test_shapes_that_broadcast_stay_constants():
    # numpy broadcasting onto W [64, 256]: s [256], t [1, 256] and u [64, 1] are scales (constants), W alone counts
    # (16,384); a 0-d scalar is a constant whatever its neighbours
    for shape in [(256,), (1, 256), (64, 1), ()]:
        node = helper.make_node("FusedScale", ["x", "W", "s"], ["y"], name="fs", domain="my.dom")
        g = from_onnx(_model([node], {"x": [4, 64]}, [_zeros("W", (64, 256)), _zeros("s", shape)],
                             domains=("my.dom",)), unsupported="elementwise")
        assert g.params == 64 * 256, shape
