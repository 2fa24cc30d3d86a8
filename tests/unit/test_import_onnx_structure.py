"""ONNX import by the file's structure, not its names (probe p20): a bias is the node's bias input whatever its
initializer is called (training then reduces its gradient), a Gemm's C from a graph input is read, not counted as
a parameter, transA is a transposed read, asymmetric pads and multi-axis LayerNormalization are mapped, and the
quantised (QDQ and QOperator) forms price integer tensors at their file width. One-node or small models built with
onnx.helper, numbers by hand. Skipped where onnx is not installed."""

from __future__ import annotations

import pytest

from accelsim.builders.importers import from_onnx
from accelsim.builders.training import training_graph
from accelsim.errors import WorkloadError

onnx = pytest.importorskip("onnx")
np = pytest.importorskip("numpy")
helper, TensorProto, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
F = TensorProto.FLOAT


def _model(nodes, inputs, inits=(), opset=17):
    """A model of ``nodes`` with graph ``inputs`` {name: shape or (elem type, shape)} and output "y"."""
    ins = [helper.make_tensor_value_info(n, *(s if isinstance(s, tuple) else (F, s))) for n, s in inputs.items()]
    outs = [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)]
    return helper.make_model(helper.make_graph(nodes, "g", ins, outs, list(inits)),
                             opset_imports=[helper.make_opsetid("", opset)])


def _zeros(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.zeros(shape, dtype), name)


def test_biases_named_by_an_exporter_still_get_their_gradient():
    # Conv 4→6, 3x3, pads 1 over (1, 4, 8, 8), its bias "onnx::Conv_7"; Gemm transB=1 384→10 with C "fc_c". Each
    # bias gets a grad_bias, a column sum over dY: the conv's dY has 6·8·8 = 384 elements, the Gemm's 10
    nodes = [helper.make_node("Conv", ["x", "cw", "onnx::Conv_7"], ["c"], name="conv", kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fc_c"], ["y"], name="fc", transB=1)]
    inits = [_zeros("cw", (6, 4, 3, 3)), _zeros("onnx::Conv_7", (6,)), _zeros("fw", (10, 384)),
             _zeros("fc_c", (10,))]
    g = training_graph(from_onnx(_model(nodes, {"x": [1, 4, 8, 8]}, inits)), "sgd")
    grads = {op.name: op.flops for op in g.ops if op.fn == "bias_grad"}
    assert grads == {"conv.grad_bias": 384, "fc.grad_bias": 10}


def test_gemm_c_from_a_graph_input_is_read_not_counted():
    # Y = 0.5·x·Wᵀ + 2·c, x (4, 64), W (32, 64), c (4, 32) a graph input: params = W's 32·64 = 2,048; MACs
    # 4·32·64 = 8,192; c is read by the add (4·32 elements), no parameter
    node = helper.make_node("Gemm", ["x", "W", "c"], ["y"], name="g", transB=1, alpha=0.5, beta=2.0)
    g = from_onnx(_model([node], {"x": [4, 64], "c": [4, 32]}, [_zeros("W", (32, 64))]))
    assert (g.params, g.macs) == (2048, 8192)
    add = g["g_bias"]
    assert add.fn == "add" and "c" in add.inputs and add.weights == ()


def test_gemm_trans_a_is_a_transposed_read():
    # A (64, 8) read transposed: (8, 64) · W (64, 32): MACs M·N·K = 8·32·64 = 16,384; params 64·32 + 32 = 2,080
    node = helper.make_node("Gemm", ["x", "W", "c"], ["y"], name="g", transA=1)
    g = from_onnx(_model([node], {"x": [64, 8]}, [_zeros("W", (64, 32)), _zeros("c", (32,))]))
    assert (g.macs, g.params, g["g"].out_shape) == (16384, 2080, (8, 32))
    assert g["g_transA"].kind.is_view


def test_info_names_the_batch_dims_sets(tmp_path, capsys):
    # x ["N", 8] → Relu; dims N=3: the graph runs 3 samples, so `accelsim info` says batch 3 (as run's report.json)
    import json

    from accelsim.cli import main

    m = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": ["N", 8]})
    onnx.save(m, tmp_path / "r.onnx")
    assert main(["info", str(tmp_path / "r.onnx"), "--set", "workload.dims.N=3"]) == 0
    assert "(batch 3;" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "r.onnx"), "--set", "workload.dims.N=3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["batch"] == 3
