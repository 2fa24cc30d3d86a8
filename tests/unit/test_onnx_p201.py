"""ONNX import after probe p201: ``unsupported: elementwise`` keeps a node's weights of other shapes as parameters
(#1), and a Dropout with ``training_mode`` true is priced as a training dropout, its mask written (#2). Small models
built with onnx.helper, numbers by hand from the ONNX operator spec. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import from_onnx
from accelsim.builders.training import training_graph
from accelsim.errors import WorkloadError

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


# ---- #2: Dropout with training_mode true -----------------------------------------------------------------------
def _dropout(training, outputs=("y", "mask"), ratio=0.1):
    node = helper.make_node("Dropout", ["x", "r", "t"], list(outputs), name="do")
    inits = [helper.make_tensor("r", F, [], [ratio]), helper.make_tensor("t", TensorProto.BOOL, [], [training])]
    outs = {"y": F, **({"mask": TensorProto.BOOL} if "mask" in outputs else {})}
    return from_onnx(_model([node], {"x": [2, 100]}, inits, outputs=outs))


def test_training_dropout_is_priced_with_its_mask():
    # ONNX Dropout-13, training_mode true: output = data · mask / (1 − ratio), mask a bool output. x [2, 100]: the
    # mask op writes 200 elements of 1 B (bool), the dropout op 2 flops per element (the multiply by the mask and the
    # scale) = 400; before: no op at all (an alias of x)
    g = _dropout(True)
    mask, drop = g["do.mask"], g["do"]
    assert mask.fn == "dropout_mask" and mask.out_dtype == "uint8" and mask.out_bytes == 200 * 1
    assert drop.fn == "dropout" and drop.flops == 2 * 200 == 400 and drop.inputs[1] == "do.mask"
    assert drop.attrs["p"] == pytest.approx(0.1)
    assert g.flops == 400


def test_inference_dropout_stays_an_alias():
    # training_mode false (the spec's default, torch.onnx's eval export): y is x, no op, no flops
    g = _dropout(False)
    assert g.flops == 0 and not g.ops


def test_training_mode_from_a_graph_input_is_refused_in_one_line():
    node = helper.make_node("Dropout", ["x", "", "t"], ["y"], name="do")
    ins = [helper.make_tensor_value_info("x", F, [2, 100]), helper.make_tensor_value_info("t", TensorProto.BOOL, [])]
    model = helper.make_model(helper.make_graph([node], "g", ins, [helper.make_tensor_value_info("y", F, None)]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(WorkloadError) as e:
        from_onnx(model)
    assert "node 'do' (Dropout): training_mode 't' is not a value the file holds" in str(e.value)
    assert len(str(e.value).splitlines()) == 1
