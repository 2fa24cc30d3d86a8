"""A graph built with numpy's integers (sizes from ``np.prod`` or an array's ``shape``, as scripts write them)
counts and simulates as one built with Python's: ``Graph`` takes them as integers (``numbers.Integral``) and makes
them Python ints before anything is multiplied, since a fixed-width numpy product wraps (65536 · 65536 · 8192 in
int32 is 0, and its MAC check read "does 0")."""
import json

import numpy as np
import pytest

import accelsim
from accelsim.errors import WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight

M, N, K = 65536, 65536, 8192  # 2^16 · 2^16 · 2^13 = 2^45 MACs: past int32 and int32's square


def _gemm_graph(size):
    m, n, k = size(M), size(N), size(K)
    op = Op("mm", OpKind.MATMUL, ("x",), ((m, k),), (m, n), dtype="bf16", macs=M * N * K, gemm=Gemm(m, n, k))
    return Graph("np", [op], {"x": (m, k)})


def test_numpy_int32_gemm_counts_as_python_ints():
    graph = _gemm_graph(np.int32)
    op = graph["mm"]
    assert type(op.gemm.m) is int and op.gemm.macs == 2 ** 45  # 35,184,372,088,832, not a wrapped int32
    assert all(type(d) is int for d in (*op.out_shape, *op.in_shapes[0], *graph.inputs["x"]))
    numpy_run = accelsim.simulate(graph, "h100").to_dict()
    python_run = accelsim.simulate(_gemm_graph(int), "h100").to_dict()
    assert numpy_run["ops"][0]["macs"] == 2 ** 45
    assert numpy_run["total_cycles"] == python_run["total_cycles"]
    json.dumps(numpy_run)  # report.json writable: no numpy scalar left in it


def test_numpy_weight_shape_counts_params():
    # torch.nn.Linear(1024, 4096) on 8 rows: 4096 · 1024 = 4,194,304 parameters, 8 · 4096 · 1024 MACs
    rows, inp, out = np.int64(8), np.int64(1024), np.int32(4096)
    w = Weight("fc.weight", (out, inp))
    op = Op("fc", OpKind.LINEAR, ("x",), ((rows, inp),), (rows, out), dtype="int8", weights=(w,),
            macs=np.int64(8 * 4096 * 1024), gemm=Gemm(rows, out, inp))
    graph = Graph("fc", [op], {"x": (rows, inp)})
    assert graph.params == 4096 * 1024 and type(graph.params) is int
    assert type(graph["fc"].weights[0].shape[0]) is int and type(graph["fc"].macs) is int
    # the same Weight object in a second graph is made Python's there too (it is not remembered as checked)
    again = Graph("fc2", [op], {"x": (rows, inp)})
    assert type(again["fc"].weights[0].shape[0]) is int


def test_builder_layer_arguments_take_numpy_integers():
    # probe p106 #7: "out_features must be a positive int (got np.int64(16))" for a size from an np.arange loop
    from accelsim.builders.layers import GraphBuilder
    b = GraphBuilder("c", (1, 3, 32, 32))
    b.conv2d(b.input, np.int64(16), np.int64(3), groups=np.int32(1))
    conv = b.build().ops[0]
    # torch.nn.Conv2d(3, 16, 3) on 32×32: 30×30 outputs × 16 channels × 3·3·3 MACs = 388,800
    assert conv.out_shape == (1, 16, 30, 30) and conv.macs == 388_800 and type(conv.macs) is int
    b = GraphBuilder("l", (8, 1024))
    b.linear(b.input, np.int32(4096))
    assert b.build().ops[0].macs == 8 * 1024 * 4096
    b = GraphBuilder("g", (1, 32, 8, 8))
    b.groupnorm(b.input, np.int64(8))  # a numpy group count as the others
    with pytest.raises(WorkloadError, match="out_features must be a positive int"):
        GraphBuilder("b", (8, 16)).linear("input", True)  # a bool is still no size
