"""ONNX import (builders/importers.py, optional extra accelsim[onnx]): a small CNN built with onnx.helper gives the
same params, MACs and simulated cycles as the same network written as a layer list; unsupported ops are one-line
errors naming the node. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.builders.importers import from_onnx
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
helper, TensorProto = onnx.helper, onnx.TensorProto


def _init(name, *dims):
    n = 1
    for d in dims:
        n *= d
    return helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * n)


def _model(nodes, inits, out_shape=(1, 10)):
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _tiny_cnn():
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["n1"], name="bn1"),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=2),
        helper.make_node("Add", ["c2", "p1"], ["a2"], name="residual"),
        helper.make_node("GlobalAveragePool", ["a2"], ["g2"], name="gap"),
        helper.make_node("Flatten", ["g2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wfc", "bfc"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=-1),
    ]
    inits = [_init("w1", 8, 3, 3, 3), _init("b1", 8), _init("g", 8), _init("beta", 8), _init("mean", 8),
             _init("var", 8), _init("w2", 8, 4, 3, 3), _init("wfc", 10, 8), _init("bfc", 10)]
    return _model(nodes, inits)


LAYERS = {"model": "layers", "input": [1, 3, 16, 16], "layers": [
    {"type": "conv2d", "name": "conv1", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "batchnorm2d", "name": "bn1"},
    {"type": "relu"},
    {"type": "maxpool2d", "name": "pool1", "kernel_size": 2},
    {"type": "conv2d", "name": "conv2", "out_channels": 8, "kernel_size": 3, "padding": 1, "groups": 2,
     "bias": False},
    {"type": "add", "inputs": ["conv2", "pool1"]},
    {"type": "adaptive_avgpool2d"},
    {"type": "flatten"},
    {"type": "linear", "out_features": 10},
    {"type": "softmax"},
]}


def test_onnx_cnn_equals_the_layer_list(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(_tiny_cnn(), str(path))
    g = from_onnx(path)
    ref = build_workload("layers", {k: v for k, v in LAYERS.items() if k != "model"})
    # conv1 8·3·9 + 8 = 224, bn 16 (running statistics are buffers), conv2 8·4·9 = 288, fc 10·8 + 10 = 90
    assert g.params == ref.params == 224 + 16 + 288 + 90
    assert g.macs == ref.macs and g.flops == ref.flops
    assert [op.kind for op in g.ops] == [op.kind for op in ref.ops]
    assert {w.name for op in g.ops for w in op.weights} >= {"w1", "b1", "g", "beta", "w2", "wfc", "bfc"}
    a = accelsim.simulate(from_onnx(path, dtype="int8"), "scalesim-32x32").to_dict()
    b = accelsim.simulate(LAYERS, "scalesim-32x32").to_dict()  # the layer list takes the arch's dtype, int8
    assert a["bytes"] == b["bytes"] and a["total_cycles"] == b["total_cycles"]
    # the workload route: --workload onnx --set workload.path=...; batch sets the symbolic N
    batched = build_workload("onnx", {"path": str(path), "batch": 4})
    assert batched.inputs["x"] == (4, 3, 16, 16) and batched.macs == 4 * g.macs


def test_unsupported_op_is_one_line_naming_node_and_type(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
             helper.make_node("Einsum", ["c", "c"], ["y"], name="mystery", equation="nchw,nchw->nc")]
    path = tmp_path / "bad.onnx"
    onnx.save(_model(nodes, [_init("w", 4, 3, 1, 1)], (1, 4)), str(path))
    with pytest.raises(WorkloadError, match=r"op types accelsim does not map: Einsum \(1: 'mystery'\)") as info:
        from_onnx(path)
    assert "\n" not in str(info.value)
    with pytest.raises(WorkloadError, match="no such ONNX file"):
        from_onnx(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(WorkloadError, match="not a readable ONNX model"):
        from_onnx(tmp_path / "junk.onnx")


def test_onnx_attention_block_maps_matmuls_norms_and_views():
    # x (N, 8, 16) → LayerNorm → q = x·Wq, k = x·Wk (MatMul by initializers: linear layers) → scores = q·kᵀ
    # (Transpose a view, MatMul of two activations) → Softmax → Mul by a scale initializer
    seq, e = 8, 16
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln_w", "ln_b"], ["h"], name="ln", axis=-1),
        helper.make_node("MatMul", ["h", "wq"], ["q"], name="q_proj"),
        helper.make_node("MatMul", ["h", "wk"], ["k"], name="k_proj"),
        helper.make_node("Transpose", ["k"], ["kt"], name="k_t", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        helper.make_node("Softmax", ["s"], ["p"], name="softmax", axis=-1),
        helper.make_node("Mul", ["p", "scale"], ["y"], name="scale"),
    ]
    inits = [_init("ln_w", e), _init("ln_b", e), _init("wq", e, e), _init("wk", e, e), _init("scale", 1)]
    graph = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", seq, e])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", seq, seq])], inits)
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), batch=2)
    # params: LayerNorm 2·16, Wq and Wk 16·16 each, the scale 1
    assert g.params == 2 * e + 2 * e * e + 1
    # MACs: two projections of 2·8 rows × 16 × 16, scores 8 × 8 × 16 per sample
    assert g.macs == 2 * (2 * seq * e * e) + 2 * seq * seq * e
    assert g["scores"].gemm.count == 2 and g.ops[-1].out_shape == (2, seq, seq)


def test_onnx_lstm_is_lowered_step_by_step():
    # a bidirectional ONNX LSTM (hidden 6) over (L=5, N=2, 8): W (2, 24, 8), R (2, 24, 6), B (2, 48) — torch.nn's
    # count 2·(4·6·8 + 4·6·6 + 8·6) = 768; MACs 2 directions × 5·2 rows × 24·(8 + 6)
    seq, n, i, h = 5, 2, 8, 6
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y"], name="lstm", hidden_size=h,
                              direction="bidirectional")]
    graph = helper.make_graph(nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, n, i])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [seq, 2, n, h])],
                              [_init("W", 2, 4 * h, i), _init("R", 2, 4 * h, h), _init("B", 2, 8 * h)])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert g.params == 2 * (4 * h * i + 4 * h * h + 8 * h) == 768
    assert g.macs == 2 * seq * n * 4 * h * (i + h)
    assert g.ops[-1].out_shape == (seq, 2, n, h)
    assert sum(op.fn == "lstm_cell" for op in g.ops) == 2 * seq
