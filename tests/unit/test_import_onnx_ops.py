"""ONNX import of the long tail of op types a torch.onnx export emits (builders/onnxelementwise.py, onnxnorm.py,
onnxshape.py): one-node models built with onnx.helper, each op's FLOPs, bytes and parameters counted by hand in the
test; the attention block of a probing user's report imports with every op mapped and its MACs counted by hand; and
the one report note on nodes priced as generic element-wise work. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.importers import from_onnx

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F = TensorProto.FLOAT


def _model(nodes, inputs, inits=(), outs=("y",), opset=18):
    """A model of ``nodes`` with graph ``inputs`` {name: shape or (shape, elem type)} and outputs of unknown shape."""
    ins = [helper.make_tensor_value_info(n, *(s if isinstance(s, tuple) else (F, s))) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs, list(inits)),
                             opset_imports=[helper.make_opsetid("", opset)])


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _f32(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.float32), name)


def _one(op, inputs, inits=(), outs=("y",), **attrs):
    """The graph of one ``op`` node named "n" reading ``inputs`` then ``inits`` by name."""
    names = [*inputs, *(t.name for t in inits)]
    return from_onnx(_model([helper.make_node(op, names, list(outs), name="n", **attrs)], inputs, inits, outs))


X = {"x": [4, 8]}  # 32 elements
XZ = {"x": [4, 8], "z": [4, 8]}
BOOLS = {"p": (TensorProto.BOOL, [4, 8]), "q": (TensorProto.BOOL, [4, 8])}


def test_unary_activations_and_roundings_count_their_flops_per_element():
    # x (4, 8): 32 elements. A transcendental (log, sin, cos) is 1 FLOP, as exp; abs, floor, ceil, round, sign one
    # op each; softsign x / (1 + |x|) an abs, an add, a divide: 3; selu scale · elu(x): elu's 3 (gnn.ELU_FLOPS) + a
    # multiply: 4; mish x · tanh(softplus(x)): softplus 2 + tanh 1 + multiply 1: 4
    per = {"Abs": 1, "Log": 1, "Sin": 1, "Cos": 1, "Floor": 1, "Ceil": 1, "Round": 1, "Sign": 1, "Softsign": 3,
           "Selu": 4, "Mish": 4}
    for op, flops in per.items():
        (node,) = _one(op, X).ops
        assert (node.kind.name, node.fn, node.flops, node.vector_elems) == ("ACTIVATION", op.lower(), 32 * flops,
                                                                            32), op


def test_comparisons_and_logical_ops_write_a_byte_per_element():
    # 1 compare (or logical op) per output element: 32; the output a bool, 1 byte an element
    for op, fn in (("Equal", "equal"), ("Less", "less"), ("Greater", "greater"), ("LessOrEqual", "less_equal"),
                   ("GreaterOrEqual", "greater_equal")):
        (node,) = _one(op, XZ).ops
        assert (node.fn, node.flops, node.out_dtype, node.out_bytes) == (fn, 32, "uint8", 32), op
    for op in ("And", "Or", "Xor"):  # (the bool inputs, 1 byte each, are read through free views of them)
        node = _one(op, BOOLS)["n"]
        assert (node.fn, node.flops, node.out_bytes) == (op.lower(), 32, 32), op
    for op, ins in (("Not", {"p": BOOLS["p"]}), ("IsNaN", X), ("IsInf", X)):
        node = _one(op, ins)["n"]
        assert (node.fn, node.flops, node.out_bytes) == (op.lower(), 32, 32), op
    # its reader reads that byte: Equal(x, z) then Where(e, x, z) over (64, 64) at fp32 on tpu-v4. The compare
    # reads 2 · 4,096 · 4 B and writes 4,096 · 1 B = 36,864; the select reads 4,096 · 1 + 2 · 4,096 · 4 and
    # writes 4,096 · 4 = 53,248 (with the bool at fp32's width it would read 12,288 B more). Activation residency
    # off: both ops split over tpu-v4's 2 cores would keep e on them (architecture.md step 5), moving none of it
    nodes = [helper.make_node("Equal", ["x", "z"], ["e"], name="eq"),
             helper.make_node("Where", ["e", "x", "z"], ["y"], name="w")]
    g = from_onnx(_model(nodes, {"x": [64, 64], "z": [64, 64]}), dtype="fp32")
    rows = {o["name"]: o["bytes"]["hbm"]
            for o in accelsim.simulate(g, "tpu-v4", activations_on_chip=False).to_dict()["ops"]}
    assert rows == {"eq": 2 * 4096 * 4 + 4096, "w": 4096 + 2 * 4096 * 4 + 4096 * 4}


def test_n_ary_sum_mean_max_and_mod():
    xzw = {"x": [4, 8], "z": [4, 8], "w": [4, 8]}
    # Sum of 3: 2 adds per element, 64; Mean of 3: 2 adds and a divide, 96; Max / Min of 3: 2 compares, 64
    for op, fn, flops in (("Sum", "add", 64), ("Mean", "mean", 96), ("Max", "max", 64), ("Min", "min", 64)):
        (node,) = _one(op, xzw).ops
        assert (node.fn, node.flops, node.inputs) == (fn, flops, ("x", "z", "w")), op
    # Mod x − trunc(x / y) · y: a divide, a multiply, a subtract: 3 per element, 96
    (node,) = _one("Mod", XZ, fmod=1).ops
    assert (node.fn, node.flops) == ("mod", 96)
    # a Sum of one operand is that operand: no op
    assert _one("Sum", X).ops == ()


def test_prelu_slope_is_a_parameter():
    # x (2, 3, 4, 4): 96 elements, a compare and a multiply each (as LeakyRelu): 192 flops; slope (3, 1, 1), torch's
    # nn.PReLU(3) weight: 3 parameters
    g = _one("PRelu", {"x": [2, 3, 4, 4]}, [_f32("s", np.ones((3, 1, 1)))])
    (node,) = g.ops
    assert (node.kind.name, node.fn, node.flops, g.params) == ("ACTIVATION", "prelu", 192, 3)
    assert [(w.name, w.shape) for w in node.weights] == [("s", (3, 1, 1))]


def test_log_softmax_and_group_normalization():
    # LogSoftmax over the last axis of (4, 8): max, subtract, exp, sum, subtract the log-sum: 5 per element, 160
    (node,) = _one("LogSoftmax", X, axis=-1).ops
    assert (node.kind.name, node.fn, node.flops) == ("SOFTMAX", "log_softmax", 160)
    # GroupNormalization-18 of x (2, 4, 3, 3) in 2 groups: 72 elements, 5 flops each as Instance/LayerNormalization
    # (mean, variance, normalise, scale, shift): 360; scale and bias per group (opset 18): 2 + 2 = 4 parameters
    g = _one("GroupNormalization", {"x": [2, 4, 3, 3]}, [_f32("sc", [1, 1]), _f32("bi", [0, 0])], num_groups=2)
    (node,) = g.ops
    assert (node.kind.name, node.fn, node.flops, node.attrs["groups"], g.params) == ("NORM", "groupnorm", 360, 2, 4)


def test_reductions_arg_reductions_top_k_and_cumsum():
    # over axis 1 of (4, 8) to (4,): per input element L1 |x| + add 2, L2 x·x + add 2 (+ a sqrt per output: 4),
    # SumSquare 2, LogSumExp exp + add 2 (+ a log per output: 4): 64, 68, 64, 68
    for op, fn, flops in (("ReduceL1", "l1", 64), ("ReduceL2", "l2", 68), ("ReduceSumSquare", "sum_square", 64),
                          ("ReduceLogSumExp", "logsumexp", 68)):
        (node,) = _one(op, X, [_i64("ax", [1])], keepdims=0).ops
        assert (node.kind.name, node.fn, node.flops, node.out_shape) == ("POOL", fn, flops, (4,)), op
    # ArgMax / ArgMin over axis 1: a compare per input element, 32, to (4, 1) (keepdims defaults to 1)
    for op in ("ArgMax", "ArgMin"):
        (node,) = _one(op, X, axis=1).ops
        assert (node.fn, node.flops, node.out_shape) == (op.lower(), 32, (4, 1)), op
    # TopK k = 3 along the last axis: reads x (32 compares), writes 4 · 3 values and 4 · 3 indices (a copy beside)
    g = _one("TopK", X, [_i64("k", [3])], outs=("y", "i"))
    assert [(o.name, o.fn, o.flops, o.out_shape) for o in g.ops] == [("n", "topk", 32, (4, 3)),
                                                                     ("n.1", "topk_indices", 0, (4, 3))]
    assert g.ops[0].inputs == ("x",) and g.params == 0  # k is a count, no parameter
    # CumSum along axis 1: a scan, one add per element: 32
    (node,) = _one("CumSum", X, [_i64("a", 1)]).ops
    assert (node.fn, node.flops, node.vector_elems) == ("cumsum", 32, 32)


def test_copies_tile_trilu_depth_to_space_and_scatters():
    # Tile (4, 8) by [2, 2] to (8, 16): a copy, 0 flops, its output's 128 elements; at fp32 on tpu-v4 it reads
    # 32 · 4 B and writes 128 · 4 B
    g = from_onnx(_model([helper.make_node("Tile", ["x", "r"], ["y"], name="n")], X, [_i64("r", [2, 2])]),
                  dtype="fp32")
    (node,) = g.ops
    assert (node.fn, node.flops, node.out_shape, node.vector_elems) == ("tile", 0, (8, 16), 128)
    (row,) = accelsim.simulate(g, "tpu-v4").to_dict()["ops"]
    assert row["bytes"]["hbm"] == 32 * 4 + 128 * 4
    # DepthToSpace (1, 8, 2, 2) blocksize 2 → (1, 2, 4, 4) and back: permuting copies of 32 elements, 0 flops
    (node,) = _one("DepthToSpace", {"x": [1, 8, 2, 2]}, blocksize=2).ops
    assert (node.fn, node.flops, node.out_shape, node.vector_elems) == ("depth_to_space", 0, (1, 2, 4, 4), 32)
    (node,) = _one("SpaceToDepth", {"x": [1, 2, 4, 4]}, blocksize=2).ops
    assert (node.fn, node.out_shape) == ("space_to_depth", (1, 8, 2, 2))
    # Trilu of an activation (4, 4): a masked copy, 0 flops, 16 elements
    (node,) = _one("Trilu", {"x": [4, 4]}, upper=0).ops
    assert (node.fn, node.flops, node.vector_elems) == ("trilu", 0, 16)
    # ScatterND(x (4, 8), rows [[1], [3]], u (2, 8)): the data copied with 2 rows written: 0 flops, 32 elements,
    # reading x and u (the indices are constants)
    (node,) = _one("ScatterND", {"x": [4, 8], "u": [2, 8]}, [_i64("idx", [[1], [3]])]).ops
    assert (node.fn, node.flops, node.vector_elems, node.inputs) == ("scatter_nd", 0, 32, ("x", "u"))
    # ScatterElements with reduction add: one add per update element, 2 · 8 = 16
    (node,) = _one("ScatterElements", {"x": [4, 8], "u": [2, 8]}, [_i64("idx", np.zeros((2, 8)))], axis=0,
                   reduction="add").ops
    assert (node.fn, node.flops) == ("scatter_elements", 16)


def test_gather_elements_and_one_hot():
    # GatherElements(x (4, 8), idx (4, 2) int64, axis 1): a selecting view (4, 2) of the activation, as GatherND's
    m = _model([helper.make_node("GatherElements", ["x", "idx"], ["y"], name="n", axis=1)],
               {"x": [4, 8], "idx": (TensorProto.INT64, [4, 2])})
    node = from_onnx(m)["n"]
    assert (node.kind.name, node.fn, node.out_shape) == ("RESHAPE", "gather_elements", (4, 2))
    # OneHot(i (4,) int64, depth 10, values [0, 1]): (4, 10), a compare per output element: 40; depth and values no
    # parameters
    m = _model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], name="n")], {"i": (TensorProto.INT64, [4])},
               [_i64("d", 10), _f32("v", [0, 1])])
    g = from_onnx(m)
    node = g["n"]
    assert (node.fn, node.flops, node.out_shape, g.params) == ("one_hot", 40, (4, 10), 0)


def test_constant_range_and_causal_mask_fold():
    # torch.arange position ids: Range(0, 16, 1) of constants → Gather(pe (64, 8), pos) → + x (1, 16, 8). The range
    # is a constant (before: an unmapped op), so the gather is a position-table look-up of 16 rows with no input and
    # the add 128 flops; params: the table, 64 · 8 = 512
    nodes = [helper.make_node("Range", ["s", "e", "d"], ["pos"], name="range"),
             helper.make_node("Gather", ["pe", "pos"], ["p"], name="gather", axis=0),
             helper.make_node("Add", ["x", "p"], ["y"], name="add")]
    g = from_onnx(_model(nodes, {"x": [1, 16, 8]}, [_i64("s", 0), _i64("e", 16), _i64("d", 1),
                                                   _f32("pe", np.zeros((64, 8)))]))
    assert [(o.name, o.kind.name, o.flops) for o in g.ops] == [("gather", "EMBEDDING", 0), ("add", "ELEMENTWISE", 128)]
    assert g["gather"].attrs["gather_rows"] == 16 and g.params == 512
    # a causal mask: ConstantOfShape [4, 4] of ones → Trilu → Cast to bool → Where(mask, x, −1e9): the mask is a
    # constant (no op), only the select remains, 16 flops; the fill value −1e9 is a float scalar: a constant, no
    # parameter (probe p76 #1)
    nodes = [helper.make_node("ConstantOfShape", ["sh"], ["o"], name="ones", value=_f32("v", [1.0])),
             helper.make_node("Trilu", ["o"], ["t"], name="tri", upper=0),
             helper.make_node("Cast", ["t"], ["c"], name="cast", to=TensorProto.BOOL),
             helper.make_node("Where", ["c", "x", "ninf"], ["y"], name="mask")]
    g = from_onnx(_model(nodes, {"x": [4, 4]}, [_i64("sh", [4, 4]), _f32("ninf", -1e9)]))
    assert [(o.name, o.fn, o.flops) for o in g.ops] == [("mask", "where", 16)] and g.params == 0


def _attention_block():
    """/tmp/probe/p4/mk_onnx.py of the probing user's report p4: one attention block as torch.onnx exports it
    (LayerNorm, Q/K/V projections, Einsum scores with a Trilu causal mask, Softmax, Einsum context, the output
    projection, an Expand / Neg / Reciprocal bias, a broadcast MatMul and a GatherND)."""
    b, s, d, heads = 2, 16, 64, 4
    hd = d // heads
    inits = []

    def w(name, shape):
        inits.append(_f32(name, np.ones(shape)))
        return name

    def c(name, values):
        inits.append(numpy_helper.from_array(np.array(values), name))
        return name

    n = helper.make_node
    nodes = [
        n("LayerNormalization", ["X", w("g", [d]), w("b", [d])], ["LN"], axis=-1, epsilon=1e-5),
        n("MatMul", ["LN", w("Wq", [d, d])], ["Q0"]), n("MatMul", ["LN", w("Wk", [d, d])], ["K0"]),
        n("MatMul", ["LN", w("Wv", [d, d])], ["V0"]),
        n("Reshape", ["Q0", c("shp", np.array([b, s, heads, hd], dtype=np.int64))], ["Q1"]),
        n("Reshape", ["K0", "shp"], ["K1"]), n("Reshape", ["V0", "shp"], ["V1"]),
        n("Transpose", ["Q1"], ["Q"], perm=[0, 2, 1, 3]), n("Transpose", ["K1"], ["K"], perm=[0, 2, 1, 3]),
        n("Transpose", ["V1"], ["V"], perm=[0, 2, 1, 3]),
        n("Einsum", ["Q", "K"], ["Sc"], equation="bhqd,bhkd->bhqk"),
        n("ConstantOfShape", [c("mshape", np.array([s, s], dtype=np.int64))], ["ones"],
          value=_f32("one", [1.0])),
        n("Trilu", ["ones"], ["tri"], upper=0), n("Cast", ["tri"], ["cond"], to=TensorProto.BOOL),
        n("Where", ["cond", "Sc", c("ninf", np.array(-1e9, dtype=np.float32))], ["Sm"]),
        n("Softmax", ["Sm"], ["P"], axis=-1),
        n("Einsum", ["P", "V"], ["O"], equation="bhqk,bhkd->bhqd"),
        n("Transpose", ["O"], ["O1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["O1", c("shp2", np.array([b, s, d], dtype=np.int64))], ["O2"]),
        n("MatMul", ["O2", w("Wo", [d, d])], ["A"]),
        n("Expand", [w("bias", [d]), c("eshape", np.array([b, s, d], dtype=np.int64))], ["BE"]),
        n("Neg", ["BE"], ["NB"]), n("Reciprocal", ["NB"], ["RB"]), n("Add", ["A", "RB"], ["Y"]),
        n("Unsqueeze", ["Y", c("ax", np.array([1], dtype=np.int64))], ["Y4"]),
        n("MatMul", ["Y4", w("Wb", [3, d, 8])], ["Z"]),
        n("GatherND", ["X", c("idx", np.array([[0, 1], [1, 2]], dtype=np.int64))], ["G"])]
    graph = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("X", F, [b, s, d])],
                              [helper.make_tensor_value_info("Z", F, [b, 3, s, 8]),
                               helper.make_tensor_value_info("G", F, [2, d])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_attention_block_of_the_report_imports_with_every_op_mapped():
    # no unmapped op (the default unsupported=error would refuse it), so no note on one (X [2, 16, 64] is fixed:
    # the only note says the batch is 1, probe p57)
    g = from_onnx(_attention_block())
    assert [n[:40] for n in g.meta["notes"]] == ["ONNX: no graph input has a symbolic batc"]
    # MACs by hand (report p4): four 2×16×64×64 projections 4 · 131,072; QKᵀ and P·V, 2·4 heads × 16 × 16 × 16
    # each 2 · 32,768; the broadcast MatMul [2, 1, 16, 64] × [3, 64, 8] 2 · 3 · 16 · 64 · 8 = 49,152
    assert g.macs == 4 * (2 * 16 * 64 * 64) + 2 * (2 * 4 * 16 * 16 * 16) + 2 * 3 * 16 * 64 * 8 == 638_976
    # params: LN 64 + 64, Wq/Wk/Wv/Wo 4 · 4,096, bias 64, Wb 3 · 64 · 8 = 1,536: 18,112 (the −1e9 fill is a
    # constant, probe p76 #1)
    assert g.params == 64 + 64 + 4 * 4096 + 64 + 1536 == 18_112
    # the causal mask folds to a constant: no trilu or cast op
    assert not [o for o in g.ops if o.fn in ("trilu", "cast")]


def test_unsupported_elementwise_nodes_get_one_report_note():
    # Shrink (2 nodes) and Celu (1) have no mapping: with unsupported=elementwise each is 1 flop per output
    # element, and the report says so in one note: which op types, how many nodes, that MACs are not counted
    nodes = [helper.make_node("Shrink", ["x"], ["a"], name="s1"), helper.make_node("Celu", ["a"], ["b"], name="c1"),
             helper.make_node("Shrink", ["b"], ["y"], name="s2")]
    g = from_onnx(_model(nodes, X), unsupported="elementwise")
    assert [(o.fn, o.flops) for o in g.ops] == [("onnx_Shrink", 32), ("onnx_Celu", 32), ("onnx_Shrink", 32)]
    notes = [n for n in accelsim.simulate(g, "tpu-v4").to_dict()["notes"] if "does not map" in n]
    assert len(notes) == 1
    assert "3 node(s) of 2 op type(s)" in notes[0] and "Shrink ×2 (s1, s2)" in notes[0]
    assert "Celu ×1 (c1)" in notes[0] and "MACs they do are not counted" in notes[0]
