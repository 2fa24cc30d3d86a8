"""Probe p119 #3: a QDQ int8 model's Quantize → Dequantize pairs between two integer kernels fold away, as
TensorRT's explicit-quantisation fusion runs them (its developer guide, "Explicit Quantization": a Conv between DQ
and Q nodes runs as an int8 convolution reading and writing int8): the activation DequantizeLinear is no op (the
conv reads the 8-bit tensor), and a QuantizeLinear that is a kernel's only reader fuses into that kernel's
epilogue (the kernel writes uint8). A Q / DQ at the graph's float boundary stays its own element-wise kernel.

Hand counts for x [1, 16, 8, 8] through two 16 → 16 3×3 convs (pads 1): each activation is 16·8·8 = 1,024
elements, 1,024 B in uint8 and 2,048 B in fp16 (the imported model's float)."""

from __future__ import annotations

import pytest

import accelsim

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ELEMS = 16 * 8 * 8  # 1,024 elements an activation
MACS = 16 * 16 * 9 * 8 * 8  # a conv: 16 outputs channels · 16 · 3·3 · 8·8 positions = 147,456


def _inits(*extra):
    return [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "zx"),
            numpy_helper.from_array(np.array(0, np.int8), "zw"),
            *(numpy_helper.from_array(np.ones((16, 16, 3, 3), np.int8), w) for w in ("w1", "w2")), *extra]


def _model(nodes, outputs=("y",)):
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              initializer=_inits())
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _n(op, ins, outs, name, **kw):
    return helper.make_node(op, ins, outs, name=name, **kw)


def qdq_chain(also_output_c1=False):
    """x → Q → DQ → conv1 (← DQ w1) → Q → DQ → conv2 (← DQ w2) → y (``also_output_c1``: conv1's float output is a
    graph output too)."""
    nodes = [_n("QuantizeLinear", ["x", "s", "zx"], ["xq"], "qx"), _n("DequantizeLinear", ["xq", "s", "zx"], ["xd"], "dqx"),
             _n("DequantizeLinear", ["w1", "s", "zw"], ["w1d"], "dqw1"),
             _n("Conv", ["xd", "w1d"], ["c1"], "conv1", pads=[1, 1, 1, 1]),
             _n("QuantizeLinear", ["c1", "s", "zx"], ["c1q"], "q1"), _n("DequantizeLinear", ["c1q", "s", "zx"], ["c1d"], "dq1"),
             _n("DequantizeLinear", ["w2", "s", "zw"], ["w2d"], "dqw2"),
             _n("Conv", ["c1d", "w2d"], ["y"], "conv2", pads=[1, 1, 1, 1])]
    return _model(nodes, ("y", "c1") if also_output_c1 else ("y",))


def qop_chain():
    """The same chain in the QOperator form: Q → QLinearConv → QLinearConv → DQ."""
    nodes = [_n("QuantizeLinear", ["x", "s", "zx"], ["xq"], "qx"),
             _n("QLinearConv", ["xq", "s", "zx", "w1", "s", "zw", "s", "zx"], ["c1"], "conv1", pads=[1, 1, 1, 1]),
             _n("QLinearConv", ["c1", "s", "zx", "w2", "s", "zw", "s", "zx"], ["c2"], "conv2", pads=[1, 1, 1, 1]),
             _n("DequantizeLinear", ["c2", "s", "zx"], ["y"], "dqy")]
    return _model(nodes)


def test_qdq_pairs_between_int8_convs_fold_away():
    g = accelsim.from_onnx(qdq_chain())
    # before: qx, dqx, conv1, q1, dq1, conv2 writing 1,024 + 2,048 + 2,048 + 1,024 + 2,048 + 2,048 = 10,240 B;
    # after: the graph's float input is still quantised (qx), the rest is two int8 convs
    assert [op.name for op in g.ops] == ["qx", "conv1", "conv2"]
    assert (g["conv1"].inputs, g["conv2"].inputs) == (("qx",), ("conv1",))
    assert all(g[c].dtype == "int8" and g[c].macs == MACS for c in ("conv1", "conv2"))
    # qx writes uint8 (its zero point's type); conv1 writes q1's uint8 (the fused epilogue); conv2, whose output y
    # is the graph's float output, writes fp16
    assert [(op.out_dtype, op.out_bytes) for op in g.ops] == [("uint8", ELEMS), ("uint8", ELEMS), ("fp16", 2 * ELEMS)]
    assert sum(op.out_bytes for op in g.ops) == 1024 + 1024 + 2048  # 4,096 B written, was 10,240
    # each int8 conv reads its input at 1 B an element: exactly the bytes its producer writes (before, conv1 read
    # 1,024 B of dqx's 2,048 B fp16 tensor)
    for c in ("conv1", "conv2"):
        (src,) = g[c].inputs
        assert g[src].out_bytes == ELEMS * 1


def test_qdq_chain_prices_like_its_qlinearconv_form():
    # the QOperator chain writes q 1,024 + conv1 1,024 + conv2 1,024 + its final DequantizeLinear's fp16 2,048 B
    qop, qdq = accelsim.from_onnx(qop_chain()), accelsim.from_onnx(qdq_chain())
    assert sum(op.out_bytes for op in qop.ops) == 1024 * 3 + 2048
    rows = {form: {o["name"]: o for o in accelsim.simulate(g, "a100").to_dict()["ops"]}
            for form, g in (("qdq", qdq), ("qop", qop))}
    # the first conv reads and writes the same uint8 tensors in both forms: the same row
    for key in ("bytes", "compute_cycles", "macs"):
        assert rows["qdq"]["conv1"][key] == rows["qop"]["conv1"][key]
    assert set(rows["qdq"]) == {"qx", "conv1", "conv2"}


def test_dequantize_with_a_float_reader_stays_but_the_conv_reads_int8():
    # dqx's output is read by conv1 and by a float Add: dqx stays an op (2 flops an element: 2,048; fp16 2,048 B)
    # for the Add, while conv1 reads qx's 1,024 int8 bytes
    m = qdq_chain()
    m.graph.node.append(_n("Add", ["xd", "y"], ["z"], "add"))
    m.graph.output.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    g = accelsim.from_onnx(m)
    assert (g["dqx"].fn, g["dqx"].flops, g["dqx"].out_bytes) == ("dequantize", 2 * ELEMS, 2 * ELEMS)
    assert g["conv1"].inputs == ("qx",) and g["add"].inputs[0] == "dqx"


def test_quantize_after_a_conv_whose_output_is_also_float_stays():
    # c1 is a graph output too: conv1 writes fp16 for it, so q1 stays its own kernel (4 flops an element: 4,096,
    # writing 1,024 uint8 bytes); its DequantizeLinear, read only by conv2, still folds (conv2 reads q1)
    g = accelsim.from_onnx(qdq_chain(also_output_c1=True))
    assert [op.name for op in g.ops] == ["qx", "conv1", "q1", "conv2"]
    assert (g["conv1"].out_dtype, g["q1"].flops, g["q1"].out_bytes) == ("fp16", 4 * ELEMS, ELEMS)
    assert g["conv2"].inputs == ("q1",)
