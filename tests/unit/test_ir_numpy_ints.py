"""A graph built with numpy's integers (sizes from ``np.prod`` or an array's ``shape``, as scripts write them)
counts and simulates as one built with Python's: ``Graph`` takes them as integers (``numbers.Integral``) and makes
them Python ints before anything is multiplied, since a fixed-width numpy product wraps (65536 · 65536 · 8192 in
int32 is 0, and its MAC check read "does 0")."""
import json

import numpy as np

import accelsim
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
