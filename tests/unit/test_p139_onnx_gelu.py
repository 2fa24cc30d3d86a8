"""Probe p139 #3: ONNX ``Gelu`` (opset 20) counts what the same function spelled out counts: the exact (erf) form
0.5·x·(1 + erf(x/√2)) is a divide, an erf (one FLOP, as a transcendental), an add and two multiplies, 5 per element;
the tanh form keeps the builders' 8 (tlayers.ACT_FLOPS)."""

from __future__ import annotations

import pytest

import accelsim

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _gelu_flops(nodes, inits, opset):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return accelsim.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])).flops


def test_gelu_op_counts_its_erf_spelling():
    # over x (2, 8) = 16 elements: x / √2 16, erf 16, + 1 16, x · 16, · 0.5 16 = 80 (5 an element); the fused op
    # counted 8 an element, 128, before
    n, f32 = helper.make_node, (lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name))
    spelled = _gelu_flops([n("Div", ["x", "sqrt2"], ["d"]), n("Erf", ["d"], ["e"]), n("Add", ["e", "one"], ["p"]),
                           n("Mul", ["x", "p"], ["m"]), n("Mul", ["m", "half"], ["y"])],
                          [f32("sqrt2", 2 ** 0.5), f32("one", 1.0), f32("half", 0.5)], 17)
    fused = _gelu_flops([n("Gelu", ["x"], ["y"])], [], 20)
    explicit = _gelu_flops([n("Gelu", ["x"], ["y"], approximate="none")], [], 20)
    assert spelled == fused == explicit == 5 * 16
    # the tanh form stays the builders' gelu: 8 an element
    assert _gelu_flops([n("Gelu", ["x"], ["y"], approximate="tanh")], [], 20) == 8 * 16
