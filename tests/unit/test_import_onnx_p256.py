"""ONNX import after probe p256: (#1) the weights an If's branches or a Loop's body hold themselves (their own
initializers, Constant nodes in them) are parameters of that node, as the main graph's initializers the branches
read already were; (#2) an Einsum whose equation accelsim does not map is a feature it does not map, the error
naming the node, the equation and why, not an unmapped op type. Small models built with onnx.helper, numbers by
hand. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import from_onnx
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F = TensorProto.FLOAT
vi = helper.make_tensor_value_info


def _w(name, *dims, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(dims, dtype), name)


def _branch(name, w, where, out, extra=()):
    """A branch ``out = x @ w``, ``w`` (64, 32) held as ``where``: "init" (the branch's own initializer),
    "constant" (a Constant node in the branch) or "outer" (read from the main graph)."""
    nodes = [helper.make_node("MatMul", ["x", w], [out], name=f"mm_{name}")]
    inits = [*extra]
    if where == "init":
        inits.append(_w(w, 64, 32))
    elif where == "constant":
        nodes.insert(0, helper.make_node("Constant", [], [w], name=f"c_{name}", value=_w(w, 64, 32)))
    return helper.make_graph(nodes, name, [], [vi(out, F, [2, 32])], inits)


def _if_model(where, wa="Wa", wb="Wb", extra=()):
    then, other = _branch("then", wa, where, "ya", extra), _branch("else", wb, where, "yb")
    outer = [_w(wa, 64, 32), _w(wb, 64, 32)] if where == "outer" else []
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)],
                              "g", [vi("x", F, [2, 64]), vi("c", TensorProto.BOOL, [])], [vi("y", F, [2, 32])], outer)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("where", ["init", "constant", "outer"])
def test_weights_an_if_branch_holds_count_wherever_the_exporter_put_them(where):
    # p256 #1: the file holds two 64 × 32 weights, Wa (then) and Wb (else): 2 · 64 · 32 = 4,096 parameters, 2 B
    # each at the default fp16 = 8,192 B, held by the If node (priced as element-wise work). Before: 4,096 only
    # when they were main-graph initializers ("outer"); 0 as the branches' own initializers or Constant nodes
    g = from_onnx(_if_model(where), unsupported="elementwise")
    assert g.params == 2 * 64 * 32 == 4096
    assert sorted(w.name for w in g["if"].weights) == ["Wa", "Wb"]
    assert g.weight_bytes == 8192


def test_branch_weights_of_one_name_count_once_each_and_shapes_and_scalars_never():
    # an ONNX subgraph is its own scope: both branches may name their weight "W"; they are two tensors,
    # 2 · 64 · 32 = 4,096 parameters, the second in file order named after its node and branch (onnx.helper's
    # make_node stores attributes sorted by name: else_branch, then then_branch). An int64 shape (2,) and a
    # one-element float (an eps the branch would add) the then-branch also holds are no parameters (the main
    # graph's rules: typed int64, or of one element), so still 4,096
    extra = [numpy_helper.from_array(np.array([2, 32], np.int64), "shape"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps")]
    g = from_onnx(_if_model("init", "W", "W", extra), unsupported="elementwise")
    assert g.params == 4096
    assert [w.name for w in g["if"].weights] == ["W", "if.then_branch.W"]
    # the same rule for a one-element tensor of the main graph a branch reads: a constant (was 1 parameter while
    # the branch's own was none: the count now depends only on the rule, not on where the file put the tensor)
    then = helper.make_graph([helper.make_node("Add", ["x", "eps"], ["ya"], name="add")], "then", [],
                             [vi("ya", F, [2, 64])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["yb"], name="id")], "else", [],
                              [vi("yb", F, [2, 64])])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)],
                              "g", [vi("x", F, [2, 64]), vi("c", TensorProto.BOOL, [])], [vi("y", F, [2, 64])],
                              [numpy_helper.from_array(np.array(1e-5, np.float32), "eps")])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), unsupported="elementwise")
    assert g.params == 0 and g["if"].weights == ()


def test_a_loop_body_and_a_nested_branch_hold_their_weights():
    # p256 #1: Loop (trip count 5) with body h' = h @ Wl, Wl (64, 64) the body's initializer: 64 · 64 = 4,096
    # parameters (before: 0); the trip count M and cond (int64 / bool inputs 0 and 1) are none. Inside the body,
    # an If whose then-branch holds Wn (64, 64) itself: one more 4,096 tensor of the same Loop node, 8,192 in all
    then = helper.make_graph([helper.make_node("MatMul", ["h", "Wn"], ["hn"], name="mm_n")], "then", [],
                             [vi("hn", F, [2, 64])], [_w("Wn", 64, 64)])
    other = helper.make_graph([helper.make_node("Identity", ["h"], ["he"], name="id")], "else", [],
                              [vi("he", F, [2, 64])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep"),
         helper.make_node("MatMul", ["h", "Wl"], ["h1"], name="mm_l"),
         helper.make_node("If", ["cond_in"], ["h_out"], name="inner", then_branch=then, else_branch=other)],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("h", F, [2, 64])],
        [vi("cond_out", TensorProto.BOOL, []), vi("h_out", F, [2, 64])], [_w("Wl", 64, 64)])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "cond", "x"], ["y"], name="loop", body=body)], "g",
        [vi("x", F, [2, 64])], [vi("y", F, [2, 64])],
        [numpy_helper.from_array(np.array(5, np.int64), "M"), numpy_helper.from_array(np.array(True), "cond")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    g = from_onnx(model, unsupported="elementwise")
    assert g.params == 2 * 64 * 64 == 8192
    assert sorted(w.name for w in g["loop"].weights) == ["Wl", "Wn"]


def test_an_int8_weight_a_branch_holds_is_stored_at_one_byte():
    # a quantised branch's int8 weight (64, 32) is 2,048 parameters of 1 B each (the main graph's int8
    # initializers are stored at their width: ImporterCore._int_weights), not 2 B at the workload's fp16
    then = helper.make_graph([helper.make_node("Identity", ["Wq"], ["ya"], name="id")], "then", [],
                             [vi("ya", TensorProto.INT8, [64, 32])], [_w("Wq", 64, 32, dtype=np.int8)])
    other = helper.make_graph([helper.make_node("Identity", ["Wq2"], ["yb"], name="id2")], "else", [],
                              [vi("yb", TensorProto.INT8, [64, 32])], [_w("Wq2", 64, 32, dtype=np.int8)])
    graph = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other),
                               helper.make_node("Relu", ["x"], ["z"], name="r")], "g",
                              [vi("x", F, [2, 64]), vi("c", TensorProto.BOOL, [])],
                              [vi("y", TensorProto.INT8, [64, 32]), vi("z", F, [2, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    g = from_onnx(model, unsupported="elementwise")
    assert g.params == 2 * 64 * 32 == 4096
    op = g["if"]
    assert {w.name: w.nbytes(op.dtype) for w in op.weights} == {"Wq": 64 * 32 * 1, "Wq2": 64 * 32 * 1}


def _einsum(eq, shapes, name="e", more=()):
    inputs = [f"a{i}" for i in range(len(shapes))]
    nodes = [helper.make_node("Einsum", inputs, ["y"], name=name, equation=eq), *more]
    outs = [vi("y", F, None), *(vi(n.output[0], F, None) for n in more)]
    graph = helper.make_graph(nodes, "g", [vi(n, F, list(s)) for n, s in zip(inputs, shapes, strict=True)], outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])


@pytest.mark.parametrize("eq, shapes, why", [
    # p256 #2's case: 'bij,bjk->bk' sums i inside operand 0 before the product
    ("bij,bjk->bk", [(2, 3, 4), (2, 4, 5)], "index 'i' of operand 0 is summed before the product"),
    ("ij,jk->ikl", [(2, 3), (3, 4)], "output index 'l' is in no operand"),
    ("ii->i", [(3, 3)], "index 'i' repeats in term 'ii' (a diagonal or trace is not mapped)"),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)], "an ellipsis is not mapped"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], "3 operands (only one or two are mapped)"),
    ("i,i->", [(3,), (3,)], "an empty term (a 0-d operand or output) is not mapped"),
])
def test_an_einsum_equation_accelsim_does_not_map_is_a_feature_with_its_reason(eq, shapes, why):
    # before: "op types accelsim does not map: Einsum (1: 'e')", as if no Einsum were mapped; now the features form
    # the importer uses for an LSTM's peepholes, the equation and the reason named, one line
    with pytest.raises(WorkloadError) as info:
        from_onnx(_einsum(eq, shapes))
    text = str(info.value)
    assert f"features accelsim does not map: node 'e' (Einsum): equation {eq!r}: {why}" in text, text
    assert "op types accelsim does not map" not in text and "\n" not in text


def test_a_refused_einsum_leaves_a_later_mapped_one_mapped():
    # with unsupported=elementwise a refused Einsum 'bad' is priced as 1 flop per output element (bk: 2 · 5 = 10);
    # a later 'bij,bjk->bik' (b=2, i=3, j=4, k=5) stays a MATMUL of 2 · 3 · 4 · 5 = 120 MACs. Before, every Einsum
    # after (or beside) a refused one was priced as generic element-wise work: MACs 0
    good = helper.make_node("Einsum", ["a0", "a1"], ["z"], name="good", equation="bij,bjk->bik")
    g = from_onnx(_einsum("bij,bjk->bk", [(2, 3, 4), (2, 4, 5)], "bad", [good]), unsupported="elementwise")
    assert [(op.name, op.kind.name, op.macs, op.flops) for op in g.ops] == [
        ("bad", "ELEMENTWISE", 0, 2 * 5), ("good", "MATMUL", 120, 2 * 120)]
    assert "Einsum ×1 (bad)" in g.meta["notes"][-1]
