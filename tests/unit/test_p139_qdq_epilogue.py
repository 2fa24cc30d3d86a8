"""Probe p139 #1: a QDQ int8 Conv → Relu → QuantizeLinear (pytorch-quantization's QAT export of every ResNet layer)
runs as one int8 kernel, as TensorRT's explicit quantization fuses it (developer guide, "Q/DQ Layer-Placement
Recommendations": a linear op followed by an activation, and a conv whose residual input is INT8, write INT8 with the
trailing Q fused): the Quantize folds into the conv's epilogue through the activation (and a residual Add), so the
conv writes the 8-bit tensor, and the activation (and the add) are marked ``epilogue_of`` the conv, which the mapper
fuses into it on any core (no bytes of their own, their time the output path's, pipelined with the conv).

Assumption: the epilogue's ReLU costs only its output-path cycles, ⌈elements · c(relu) / lanes⌉, overlapped with the
conv (for an int8 output it is the requantize's clamp at the zero point), so the chain costs what the chain without
ReLUs costs whenever those cycles are below the conv's.

Hand counts for x [1, 16, 8, 8] through two 16 → 16 3×3 convs (pads 1): each activation is 16·8·8 = 1,024 elements,
1,024 B in uint8 and 2,048 B in fp16 (the imported model's float)."""

from __future__ import annotations

import pytest

import accelsim

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ELEMS = 16 * 8 * 8  # 1,024 elements an activation


def _model(nodes, outputs=("y",), bounds=False):
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.array(0, np.uint8), "zx"), numpy_helper.from_array(np.array(0, np.int8), "zw"),
             *(numpy_helper.from_array(np.ones((16, 16, 3, 3), np.int8), w) for w in ("w1", "w2"))]
    if bounds:  # a Clip's min and max
        inits += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("lo", 0.0), ("hi", 6.0))]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _n(op, ins, outs, name, **kw):
    return helper.make_node(op, ins, outs, name=name, **kw)


def chain(act: str | None = "Relu", residual: bool = False, outputs=("y",)):
    """x → Q → DQ → conv1 (← DQ w1) [→ Add(·, DQ(x's Q)) with ``residual``] [→ ``act``] → Q → DQ → conv2 (← DQ w2)
    → y."""
    nodes = [_n("QuantizeLinear", ["x", "s", "zx"], ["xq"], "qx"), _n("DequantizeLinear", ["xq", "s", "zx"], ["xd"], "dqx"),
             _n("DequantizeLinear", ["w1", "s", "zw"], ["w1d"], "dqw1"),
             _n("Conv", ["xd", "w1d"], ["c1"], "conv1", pads=[1, 1, 1, 1])]
    t = "c1"
    if residual:
        nodes.append(_n("Add", [t, "xd"], ["s1"], "add1"))
        t = "s1"
    if act is not None:
        extra = {"Clip": ["lo", "hi"]}.get(act, [])
        kw = {"alpha": 0.1} if act == "LeakyRelu" else {}
        nodes.append(_n(act, [t, *extra], ["r1"], "act1", **kw))
        t = "r1"
    nodes += [_n("QuantizeLinear", [t, "s", "zx"], ["c1q"], "q1"), _n("DequantizeLinear", ["c1q", "s", "zx"], ["c1d"], "dq1"),
              _n("DequantizeLinear", ["w2", "s", "zw"], ["w2d"], "dqw2"),
              _n("Conv", ["c1d", "w2d"], ["y"], "conv2", pads=[1, 1, 1, 1])]
    return _model(nodes, outputs, bounds=act == "Clip")


@pytest.mark.parametrize("act", ["Relu", "Clip", "LeakyRelu", "Sigmoid"])
def test_activation_between_conv_and_quantize_fuses(act):
    g = accelsim.from_onnx(chain(act))
    # before: qx, conv1 (writing fp16), act1 (fp16), q1 (uint8), conv2: 1,024 + 2,048 + 2,048 + 1,024 + 2,048 B;
    # now conv1 writes q1's uint8 through the activation, which runs in its epilogue
    assert [op.name for op in g.ops] == ["qx", "conv1", "act1", "conv2"]
    assert g["act1"].epilogue_of == "conv1" and g["conv2"].inputs == ("act1",)
    assert [(op.name, op.out_bytes) for op in g.ops] == [("qx", ELEMS), ("conv1", ELEMS), ("act1", ELEMS),
                                                        ("conv2", 2 * ELEMS)]
    assert g["conv1"].out_dtype == g["act1"].out_dtype == "uint8"


def test_relu_chain_moves_the_bytes_of_the_chain_without_it_on_a100():
    # a100 lists no output-path functions (PyTorch eager), but the file says TensorRT runs the ReLU in the int8
    # conv's epilogue: the relu row has no bytes, conv1 writes 1,024 uint8 B as without the ReLU, and conv2 reads
    # them: every row but the fused relu's is the no-ReLU chain's, and so are the run's bytes
    runs = {k: accelsim.simulate(accelsim.from_onnx(chain(a)), "a100").to_dict() for k, a in (("relu", "Relu"),
                                                                                              ("none", None))}
    rows = {k: {o["name"]: o for o in d["ops"]} for k, d in runs.items()}
    relu = rows["relu"]["act1"]
    assert relu["bytes"] == {} and relu["mapping"]["fused_into"] == "conv1" and relu["flops"] == ELEMS
    for name in ("qx", "conv1", "conv2"):
        assert rows["relu"][name]["bytes"] == rows["none"][name]["bytes"]
    assert runs["relu"]["bytes"] == runs["none"]["bytes"]
    # the ReLU's output-path cycles (⌈1,024 · c / lanes⌉) hide under conv1's, so the run takes as long
    assert relu["mapping"]["output_path_cycles"] <= rows["relu"]["conv1"]["compute_cycles"]
    assert runs["relu"]["total_cycles"] == runs["none"]["total_cycles"]


def test_residual_add_and_relu_fuse_reading_the_int8_residual():
    # conv1 + Add(x's 8-bit tensor) + Relu → Q: the residual's DequantizeLinear (read by conv1 and the add) folds,
    # the add computes in uint8 reading qx's 1,024 B, and on a100 it runs in conv1's epilogue, which reads those
    # 1,024 B once (mapping.epilogue_reads) and writes 1,024 uint8 B
    g = accelsim.from_onnx(chain("Relu", residual=True))
    assert [op.name for op in g.ops] == ["qx", "conv1", "add1", "act1", "conv2"]
    assert g["add1"].inputs == ("conv1", "qx") and g["add1"].dtype == g["add1"].out_dtype == "uint8"
    assert g["add1"].epilogue_of == g["act1"].epilogue_of == "conv1"
    rows = {o["name"]: o for o in accelsim.simulate(g, "a100").to_dict()["ops"]}
    assert rows["add1"]["mapping"]["fused_into"] == rows["act1"]["mapping"]["fused_into"] == "conv1"
    assert rows["conv1"]["mapping"]["epilogue_reads"] == ["qx"]
    assert rows["add1"]["bytes"] == rows["act1"]["bytes"] == {}


def test_activation_with_a_second_reader_stays():
    # r1 is a graph output too (float): the Quantize stays its own kernel (4 flops an element, 1,024 uint8 B), the
    # conv writes fp16 and the ReLU is not marked
    g = accelsim.from_onnx(chain("Relu", outputs=("y", "r1")))
    assert [op.name for op in g.ops] == ["qx", "conv1", "act1", "q1", "conv2"]
    assert g["conv1"].out_dtype == "fp16" and g["act1"].epilogue_of is None
    assert (g["q1"].flops, g["q1"].out_bytes) == (4 * ELEMS, ELEMS)
