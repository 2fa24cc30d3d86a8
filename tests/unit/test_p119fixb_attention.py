"""Probe p119 #6 (first bullet): a 3-D ai.onnx Attention (opset 23) names its head views and its ops under one
prefix: before, its views were ``attention_0.q_heads`` ... ``attention_0.merge_heads`` while its ops were
``attention_0_1.scores`` ... (the views took the node's name, then the ops' prefix yielded to the views' names).

Hand count: q [2, 16, 8·32] with 8 q heads, k / v [2, 16, 2·32] with 2 kv heads: 2·8·16·16·32 · 2 = 262,144 MACs."""

from __future__ import annotations

import pytest

import accelsim

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

QKV3 = [("q", [2, 16, 256]), ("k", [2, 16, 64]), ("v", [2, 16, 64])]


def _model(nodes, outputs=("y",)):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in QKV3],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])


def _attention(**kw):
    return helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=8, kv_num_heads=2, is_causal=1, **kw)


def test_3d_attention_views_and_ops_share_the_nodes_prefix():
    g = accelsim.from_onnx(_model([_attention()]))
    assert [op.name for op in g.ops] == [
        "attention_0.q_heads", "attention_0.k_heads", "attention_0.v_heads", "attention_0.scores",
        "attention_0.causal_mask", "attention_0.softmax", "attention_0.context", "attention_0.merge_heads"]
    assert g.macs == 2 * (2 * 8 * 16 * 16 * 32)


def test_a_taken_prefix_moves_views_and_ops_together():
    # another node's layer name "att.scores" takes the node's own prefix "att": all its ops go under "att_1"
    nodes = [_attention(name="att"), helper.make_node("Relu", ["y"], ["z"], name="att.scores")]
    g = accelsim.from_onnx(_model(nodes, ("z",)))
    own = [op.name for op in g.ops if op.name != "att.scores"]
    assert own and all(n.startswith("att_1.") for n in own)
    assert {"att_1.q_heads", "att_1.scores", "att_1.merge_heads"} <= set(own)
