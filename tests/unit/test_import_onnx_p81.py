"""ONNX import after probe p81 #8: a broadcasting element-wise op (Add, Sub, Mul, Div, Max, Min, Sum, Mean, the
comparisons, Where) takes the broadcast of its operands' shapes, a one-element constant broadcasting to the
activation's, whatever the file declares for its output (a graph output declared 0-d, or of another shape); operands
that do not broadcast are a one-line error naming the node. Small models built with onnx.helper, numbers by hand.
Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import from_onnx
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F = TensorProto.FLOAT


def _model(op, inputs, inits, y_shape, y_type=F):
    """One ``op`` node reading ``inputs`` (names) of graph input x (4, 16) and initializers ``inits``
    {name: array}; its output y declared as ``y_shape`` (None: no shape)."""
    x = helper.make_tensor_value_info("x", F, [4, 16])
    y = helper.make_tensor_value_info("y", y_type, y_shape)
    tensors = [numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()]
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"])], "g", [x], [y], tensors)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _scalar(value=2.0):
    return np.array(value, np.float32)  # 0-d: one element


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
def test_one_element_constant_broadcasts_to_the_activation_under_a_scalar_declared_output(op):
    # p81 #8: x (4, 16) op a 0-d constant, the graph output declared 0-d ([]): numpy's broadcast of (4, 16) and ()
    # is (4, 16), 1 flop per output element = 4 · 16 = 64 (was: the declared shape, (1,) and 1 FLOP); the
    # constant is no parameter (82266f3), so params 0
    g = from_onnx(_model(op, ["x", "s"], {"s": _scalar()}, []))
    (node,) = g.ops
    assert node.out_shape == (4, 16)
    assert g.flops == 4 * 16 == 64
    assert g.params == 0


def test_a_declared_output_that_contradicts_the_broadcast_gives_way_to_it():
    # y declared (4, 8), but x (4, 16) · 0.5 is (4, 16): the broadcast wins, as the builders' add / add_param and
    # an Add of two activations already take theirs; 4 · 16 = 64 FLOPs, not 4 · 8 = 32
    g = from_onnx(_model("Mul", ["x", "s"], {"s": _scalar(0.5)}, [4, 8]))
    assert g.ops[0].out_shape == (4, 16)
    assert g.flops == 64


def test_one_element_constant_of_higher_rank_adds_its_unit_axes():
    # a (1, 1, 1) constant of one element: numpy's broadcast of (4, 16) with (1, 1, 1) is (1, 4, 16), still
    # 1 · 4 · 16 = 64 elements and FLOPs, no parameter
    g = from_onnx(_model("Add", ["x", "s"], {"s": np.ones((1, 1, 1), np.float32)}, []))
    assert g.ops[0].out_shape == (1, 4, 16)
    assert (g.flops, g.params) == (64, 0)


def test_max_of_three_operands_and_sum_and_a_comparison_broadcast_too():
    # Max(x, s, t): 1 flop per output element and operand after the first, 2 · 64 = 128 over (4, 16) (was 2 over
    # the declared (1,)); Sum(x, s): 1 · 64 = 64; Mean(x, s): an add and a divide, 2 · 64 = 128; Equal(x, s): a
    # compare per element, 64, its output a bool
    g = from_onnx(_model("Max", ["x", "s", "t"], {"s": _scalar(), "t": _scalar(3.0)}, []))
    assert (g.ops[0].out_shape, g.flops, g.params) == ((4, 16), 2 * 64, 0)
    g = from_onnx(_model("Sum", ["x", "s"], {"s": _scalar()}, []))
    assert (g.ops[0].out_shape, g.flops) == ((4, 16), 64)
    g = from_onnx(_model("Mean", ["x", "s"], {"s": _scalar()}, []))
    assert (g.ops[0].out_shape, g.flops) == ((4, 16), 2 * 64)
    g = from_onnx(_model("Equal", ["x", "s"], {"s": _scalar()}, [], TensorProto.BOOL))
    assert (g.ops[0].out_shape, g.flops) == ((4, 16), 64)


def test_where_with_a_one_element_fill_takes_the_broadcast():
    # Where(cond (4, 16) bool initializer, x (4, 16), fill 0-d): (4, 16), 1 select per element, 64; the condition is
    # never a parameter and the one-element fill none either
    cond = np.ones((4, 16), bool)
    g = from_onnx(_model("Where", ["c", "x", "s"], {"c": cond, "s": _scalar(-1e4)}, []))
    assert (g.ops[0].out_shape, g.flops, g.params) == ((4, 16), 64, 0)


@pytest.mark.parametrize("op", ["Sum", "Max", "Equal"])
def test_operands_that_do_not_broadcast_are_a_one_line_error_at_the_node(op):
    # (4, 16) with (3,): 16 and 3 differ and neither is 1, so numpy refuses them; the error names the node and both
    # shapes (a (3,) initializer of 3 elements is a parameter, so Max reads a third operand to reach the n-ary path)
    inputs = ["x", "c", "s"] if op == "Max" else ["x", "c"]
    with pytest.raises(WorkloadError) as e:
        from_onnx(_model(op, inputs, {"c": np.ones(3, np.float32), "s": _scalar()}, None))
    message = str(e.value)
    assert "\n" not in message
    assert f"({op})" in message and "[4, 16], [3]" in message and "do not broadcast" in message
