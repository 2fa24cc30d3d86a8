"""Probe p115 #1: ``sparsity: 2:4`` prunes an ONNX MatMul/Gemm weight stored (K, N) (torch.onnx's export of
nn.Linear on a 3-D input, a Gemm with transB=0) along its K, as it does one stored (N, K).

The model: x [8, 8, 256] → MatMul Wq (256, 256) → MatMul W1 (256, 1024) → Relu → MatMul W2 (1024, 256).
64 tokens (8 samples × 8). Dense MACs = 64 · (256·256 + 256·1024 + 1024·256) = 64 · 589,824 = 37,748,736;
2:4 keeps half of each K: 18,874,368 (before the fix W1 and W2 stayed dense: 35,651,584).
Each weight stored compressed keeps numel / 2 elements: Wq 32,768, W1 131,072, W2 131,072."""

from __future__ import annotations

import dataclasses

import pytest

import accelsim
from accelsim.builders.sparsity import apply_sparsity
from accelsim.errors import WorkloadError
from accelsim.ir import Graph, Op, OpKind, Weight, compressed, pruned_weights

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

SHAPES = {"Wq": (256, 256), "W1": (256, 1024), "W2": (1024, 256)}


def _mlp(gemm: bool = False, trans_b: bool = False, path=None):
    """The three layers as MatMul on x [8, 8, 256], or as Gemm on x [8·8, 256] (transB: B stored (N, K))."""
    shapes = {n: (s[1], s[0]) if trans_b else s for n, s in SHAPES.items()}
    inits = [helper.make_tensor(n, TensorProto.FLOAT, s, [0.0] * (s[0] * s[1])) for n, s in shapes.items()]
    op, kw = ("Gemm", {"transB": int(trans_b)}) if gemm else ("MatMul", {})
    nodes = [helper.make_node(op, ["x", "Wq"], ["a"], **kw), helper.make_node(op, ["a", "W1"], ["b"], **kw),
             helper.make_node("Relu", ["b"], ["c"]), helper.make_node(op, ["c", "W2"], ["y"], **kw)]
    x = [64, 256] if gemm else [8, 8, 256]
    graph = helper.make_graph(nodes, "mlp3", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [*x[:-1], 256])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if path is not None:
        onnx.save(model, str(path))
    return model


DENSE = 64 * (256 * 256 + 256 * 1024 + 1024 * 256)  # 37,748,736
KEPT = DENSE // 2  # 2:4 keeps 2 of every 4 along K: 18,874,368


@pytest.mark.parametrize("form", ["matmul", "gemm", "gemm_transB"])
def test_every_linear_is_pruned_whatever_the_stored_layout(form):
    g = accelsim.from_onnx(_mlp(gemm=form != "matmul", trans_b=form == "gemm_transB"))
    assert sum(op.macs for op in g.ops) == DENSE
    sp = apply_sparsity(g, "2:4")
    assert sum(op.macs for op in sp.ops) == KEPT  # was 35,651,584 for MatMul (W1, W2 dense)
    stored = {w.name: w.nnz for op in sp.ops for w in op.weights}
    assert stored == {"Wq": 256 * 256 // 2, "W1": 256 * 1024 // 2, "W2": 1024 * 256 // 2}
    assert all(op.attrs.get("sparsity") == "2:4" for op in sp.ops if op.kind is OpKind.LINEAR)


def test_the_k_axis_of_a_kn_weight_is_its_first():
    g = accelsim.from_onnx(_mlp())
    axes = {w.name: w.k_axis for op in g.ops for w in op.weights}
    assert axes == {"Wq": 0, "W1": 0, "W2": 0}  # each stored (K, N)
    g = accelsim.from_onnx(_mlp(gemm=True, trans_b=True))
    assert {w.k_axis for op in g.ops for w in op.weights} == {None}  # (N, K): the rows, as torch's (out, in)


def test_simulate_mapping_form_matches_the_layer_list(tmp_path):
    _mlp(path=tmp_path / "mlp3.onnx")
    onnx_run = accelsim.simulate({"model": "onnx", "path": str(tmp_path / "mlp3.onnx"), "sparsity": "2:4"},
                                 "a100").to_dict()
    layers = accelsim.simulate({"model": "layers", "input": [8, 8, 256], "sparsity": "2:4", "layers": [
        {"type": "linear", "out_features": 256, "bias": False}, {"type": "linear", "out_features": 1024, "bias": False},
        {"type": "relu"}, {"type": "linear", "out_features": 256, "bias": False}]}, "a100").to_dict()
    assert onnx_run["macs"] == layers["macs"] == KEPT


def test_batched_weight_operand_pruned_along_its_k():
    # x [4, 8, 32] @ W [4, 32, 16]: 4 GEMMs 8 × 16 × 32 = 16,384 MACs; 2:4 keeps 16 of K 32: 8,192;
    # W keeps 4 · 16 · 16 = 1,024 of its 2,048 elements
    w = helper.make_tensor("W", TensorProto.FLOAT, (4, 32, 16), [0.0] * 2048)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "bmm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8, 16])], initializer=[w])
    g = accelsim.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert [w.k_axis for op in g.ops for w in op.weights] == [1]
    sp = apply_sparsity(g, "2:4")
    assert sum(op.macs for op in sp.ops) == 4 * 8 * 16 * 16
    assert [w.nnz for op in sp.ops for w in op.weights] == [1024]


def test_k_axis_reduction_and_lint():
    # a (K=6, N=4) weight with 2:4 keeps, of each column's 6, 2 of the whole group of 4 and the first 2 of the
    # partial group of 2 (Sparsity.kept: 2·⌊6/4⌋ + min(6 mod 4, 2) = 4): 4 columns · 4 = 16 elements
    w = Weight("w", (6, 4), k_axis=0)
    assert compressed(w, accelsim.ir.Sparsity.parse("2:4")).nnz == 16
    assert compressed(Weight("w", (4, 6)), accelsim.ir.Sparsity.parse("2:4")).nnz == 16  # (N, K): same count
    op = Op("l", OpKind.LINEAR, ("x",), ((2, 6),), (2, 4), weights=(w,), macs=2 * 4 * 6,
            flops=2 * 2 * 4 * 6, gemm=accelsim.ir.Gemm(m=2, n=4, k=6))
    assert pruned_weights(op) == [w]
    assert pruned_weights(dataclasses.replace(op, weights=(Weight("w", (6, 4)),))) == []  # rows of 4, not K
    bad = dataclasses.replace(op, weights=(Weight("w", (6, 4), k_axis=2),))
    with pytest.raises(WorkloadError, match=r"weight 'w' has k_axis 2: expected None or an axis"):
        Graph("g", [bad], {"x": (2, 6)})
