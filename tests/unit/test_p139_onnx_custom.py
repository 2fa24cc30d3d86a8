"""Probe p139 #2: ``unsupported: elementwise`` (the fallback the unmapped-op error advises) prices a custom-domain op,
whose outputs ONNX shape inference cannot type, by taking each output as its first activation input's shape and type
(an element-wise op's), says so in a note, and sizes the nodes after it from that shape."""

from __future__ import annotations

import pytest

import accelsim

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def custom_model():
    """x [4, 16] @ W (16, 8) → com.acme::MyOp → Relu → Relu → y (the middle tensors undeclared)."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"], name="mm"),
             helper.make_node("MyOp", ["a"], ["c"], domain="com.acme", name="custom"),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"), helper.make_node("Relu", ["r"], ["y"], name="relu2")]
    graph = helper.make_graph(nodes, "uns", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones((16, 8), np.float32), "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.acme", 1)])


def test_custom_op_takes_its_input_shape_under_elementwise():
    # before: "node 'custom' (MyOp): shape inference gave no shape for its output 'c'" (rc 2)
    g = accelsim.from_onnx(custom_model(), unsupported="elementwise")
    # a = x @ W is 4 × 8; MyOp's output takes that shape: 32 elements at 1 flop each, and both Relus after it too
    assert [(op.name, op.out_shape, op.flops) for op in g.ops] == [
        ("mm", (4, 8), 2 * 4 * 16 * 8), ("custom", (4, 8), 32), ("relu1", (4, 8), 32), ("relu2", (4, 8), 32)]
    (note,) = [n for n in g.meta["notes"] if "without an ONNX schema" in n]
    assert "com.acme::MyOp 'custom'" in note and "first activation input's shape" in note


def test_custom_op_still_refused_without_the_option():
    with pytest.raises(accelsim.AccelsimError, match=r"com\.acme::MyOp \(1: 'custom'\).*unsupported=elementwise"):
        accelsim.from_onnx(custom_model())
