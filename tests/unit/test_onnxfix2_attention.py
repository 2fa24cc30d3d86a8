"""Probe p115 #6: ai.onnx opset-23 Attention and RMSNormalization are mapped (they were unmapped, and the suggested
``unsupported: elementwise`` priced the attention at 0 MACs).

Hand counts: Attention on q, k, v [2, 4, 16, 32] (B=2, 4 heads, 16 tokens, head size 32): QKᵀ 2·4·16·16·32 =
65,536 MACs and PV 2·4·16·32·16 = 65,536, 131,072 in all; the softmax over 2·4·16·16 = 2,048 scores.
GQA, 3-D: q [2, 16, 8·32] with 8 q heads, k / v [2, 16, 2·32] with 2 kv heads: 2·8·16·16·32 · 2 = 262,144 MACs.
RMSNormalization over x [2, 8, 64]: 4 flops per element (the builders' rmsnorm) = 4,096, scale (64,) 64 params;
axis -2 normalises over 8·64 = 512 elements a row, scale (8, 64) 512 params."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _model(nodes, inputs, inits=(), opset=23):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _zeros(name, shape):
    n = 1
    for d in shape:
        n *= d
    return helper.make_tensor(name, TensorProto.FLOAT, shape, [0.0] * n)


QKV = [("q", [2, 4, 16, 32]), ("k", [2, 4, 16, 32]), ("v", [2, 4, 16, 32])]


def test_attention_4d_counts_both_gemms():
    g = accelsim.from_onnx(_model([helper.make_node("Attention", ["q", "k", "v"], ["y"])], QKV))
    assert sum(op.macs for op in g.ops) == 2 * (2 * 4 * 16 * 16 * 32)  # 131,072 (was unmapped; elementwise: 0)
    kinds = [op.kind for op in g.ops]
    assert kinds == [OpKind.MATMUL, OpKind.SOFTMAX, OpKind.MATMUL]
    assert g.ops[0].name == "attention_0.scores" and g.ops[-1].out_shape == (2, 4, 16, 32)
    assert g.ops[1].out_shape == (2, 4, 16, 16)


def test_attention_causal_and_mask():
    g = accelsim.from_onnx(_model([helper.make_node("Attention", ["q", "k", "v", "m"], ["y"], is_causal=1)],
                                  [*QKV, ("m", [2, 4, 16, 16])]))
    assert g.ops[0].attrs["causal"] is True
    # the mask added to each score (the builders' extra-term add), then the causal mask, one flop a score each
    assert [(op.fn, op.flops) for op in g.ops if op.kind is OpKind.ELEMENTWISE] == [
        ("add_rel_pos", 2 * 4 * 16 * 16), ("causal_mask", 2 * 4 * 16 * 16)]
    assert sum(op.macs for op in g.ops) == 2 * (2 * 4 * 16 * 16 * 32)


def test_attention_3d_gqa():
    nodes = [helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=8, kv_num_heads=2)]
    g = accelsim.from_onnx(_model(nodes, [("q", [2, 16, 256]), ("k", [2, 16, 64]), ("v", [2, 16, 64])]))
    assert sum(op.macs for op in g.ops) == 2 * (2 * 8 * 16 * 16 * 32)  # 262,144
    assert g.ops[-1].out_shape == (2, 16, 256)
    scores = next(op for op in g.ops if op.name.endswith("scores"))
    assert scores.attrs["heads"] == 8 and scores.attrs["kv_heads"] == 2


def test_attention_kv_cache_is_listed_unmapped():
    nodes = [helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "ok", "ov"])]
    with pytest.raises(WorkloadError, match=r"KV cache .* not mapped.*any MACs they do are not counted"):
        accelsim.from_onnx(_model(nodes, [*QKV, ("pk", [2, 4, 8, 32]), ("pv", [2, 4, 8, 32])]))


def test_rmsnormalization():
    g = accelsim.from_onnx(_model([helper.make_node("RMSNormalization", ["x", "s"], ["y"])], [("x", [2, 8, 64])],
                                  [_zeros("s", (64,))]))
    (op,) = g.ops
    assert op.kind is OpKind.NORM and op.fn == "rmsnorm" and op.flops == 4 * 2 * 8 * 64
    assert [(w.name, w.shape) for w in op.weights] == [("s", (64,))]
    g = accelsim.from_onnx(_model([helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=-2)],
                                  [("x", [2, 8, 64])], [_zeros("s", (8, 64))]))
    norm = next(op for op in g.ops if op.kind is OpKind.NORM)
    assert norm.in_shapes == ((2, 512),) and g.ops[-1].out_shape == (2, 8, 64) and g.params == 512
