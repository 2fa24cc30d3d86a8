"""Probe p115 #8: Gather of an initializer along an axis other than 0 reads the gathered elements (each in whole
access granules), not the whole table.

W (100, 1000) fp16, indices [2, 5], axis 1: each of the 100 rows gives the 10 picked elements, 1,000 one-element
runs. On tpu-v4 (HBM access_bytes 64, arch/tpu-v4.yaml) with activations off chip: 1,000 granules · 64 B = 64,000 B
of the table, plus the 10 int64 indices (80 B) and the output 100 · 2 · 5 · 2 B = 2,000 B: 66,080 B (the whole
table was read before: 202,080 B); of the 1,000 uniform draws 5 repeat a run the call read, served on chip (probe
p209 #1): 65,760 B. Axis 0 is unchanged: 10 rows of 1,000 · 2 B = 2,000 B, each ⌈2,000 / 64⌉ = 32
granules (2,048 B), + 80 B of indices + the 20,000-B output: 10 · 2,048 + 80 + 20,000 = 40,560."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.ir import OpKind

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _gather(axis: int):
    w = helper.make_tensor("W", TensorProto.FLOAT, (100, 1000), [0.0] * 100_000)
    out = [2, 5, 1000] if axis == 0 else [100, 2, 5]
    graph = helper.make_graph([helper.make_node("Gather", ["W", "i"], ["y"], axis=axis)], "g",
                              [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], initializer=[w])
    return accelsim.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


def _hbm(g):
    d = accelsim.simulate(g, "tpu-v4", activations_on_chip=False).to_dict()
    (row,) = [o for o in d["ops"] if o["name"] == "gather_0"]
    return row["bytes"]["hbm"]


def test_off_axis_gather_reads_the_gathered_elements():
    g = _gather(1)
    (op,) = [op for op in g.ops if op.kind is OpKind.EMBEDDING]
    assert op.gather_rows == 100 * 10 and op.out_shape == (100, 2, 5)
    assert g.params == 100 * 1000  # the parameter count is the table's
    # the 1,000 look-ups are uniform draws from the table's 100,000 one-element runs (op.access: uniform), so the
    # call reads D = 100,000 · (1 − (1 − 10^-5)^1,000) = 995.0 distinct runs from HBM and its scratchpad serves the
    # 5 repeats (probe p209 #1: a look-up repeating a row the call read is served on chip; it read all 1,000)
    distinct = 100_000 * (1 - (1 - 1e-5) ** 1000)
    assert round(1000 - distinct) == 5
    assert _hbm(g) == 995 * 64 + 10 * 8 + 100 * 10 * 2  # 65,760 (66,080 before p209 #1; 202,080 before p115 #8)


def test_axis_0_unchanged():
    assert _hbm(_gather(0)) == 10 * 32 * 64 + 10 * 8 + 10 * 1000 * 2  # 40,560
