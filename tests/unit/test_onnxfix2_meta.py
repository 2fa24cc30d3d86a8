"""Probe p115 #4 and #5: a graph's ``meta["batch"]`` (the samples one pass runs: report.json's workload.batch, the
divisor of efficiency.j_per_inference) is a positive integer or None, and ``meta["dtype"]`` a known dtype, else a
one-line WorkloadError naming the graph and the key; a builder takes the batch from dim 0 only where its inputs are
at least 2-D and agree on it, else 1 with a note.

Hand counts: one ReLU over x (8, 64) is 512 element operations; a linear 1024 → 10 on an unbatched (1024,) vector
is 10,240 MACs, one sample."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.errors import WorkloadError
from accelsim.ir import Graph, Op, OpKind


def _relu_graph(meta):
    op = Op("relu", OpKind.ELEMENTWISE, ("x",), ((8, 64),), (8, 64), flops=512, vector_elems=512,
            attrs={"fn": "relu"})
    return Graph("g", [op], {"x": (8, 64)}, meta=meta)


@pytest.mark.parametrize("batch", ["8", -2, 0, 2.5, True])
def test_bad_batch_is_one_line_naming_the_key(batch):
    # was: '8' a raw TypeError in the energy model, -2 a negative energy per inference, 2.5 / True accepted
    with pytest.raises(WorkloadError, match=r"^g: meta\['batch'\] is .*: expected a positive integer") as e:
        _relu_graph({"batch": batch})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("dtype", ["int7", 5])
def test_bad_dtype_is_one_line_naming_the_key(dtype):
    with pytest.raises(WorkloadError, match=r"^g: meta\['dtype'\] is .*, which is unknown"):
        _relu_graph({"dtype": dtype})


def test_good_meta_passes_and_numpy_batch_becomes_int():
    g = _relu_graph({"batch": np.int64(8), "dtype": "bf16"})
    assert g.meta["batch"] == 8 and type(g.meta["batch"]) is int
    assert _relu_graph({"batch": None}).meta["batch"] is None
    with pytest.raises(WorkloadError, match=r"meta\['batch'\] is -1"):
        g.with_meta({"batch": -1})


def test_energy_per_inference_divides_by_the_batch():
    r1 = accelsim.simulate(_relu_graph({"batch": 1}), "tpu-v4").to_dict()
    r8 = accelsim.simulate(_relu_graph({"batch": 8}), "tpu-v4").to_dict()
    assert r8["efficiency"]["j_per_inference"] == pytest.approx(r1["efficiency"]["j_per_inference"] / 8)


def test_a_1d_input_is_no_batch():
    b = GraphBuilder("g", (1024,))
    b.linear(b.input, 10)
    g = b.build()
    assert sum(op.macs for op in g.ops) == 1024 * 10
    assert g.meta["batch"] == 1  # was 1024: the feature count
    (note,) = g.meta["notes"]
    assert "'input' [1024]" in note and "is 1-D" in note and "the batch is 1" in note
    d = accelsim.simulate(g, "tpu-v4").to_dict()
    assert d["workload"]["batch"] == 1
    assert d["efficiency"]["j_per_inference"] == pytest.approx(d["energy"]["total_j"])
    assert any("is 1-D" in n for n in d["notes"])


def test_a_2d_input_takes_its_dim0():
    b = GraphBuilder("g", (4, 1024))
    b.linear(b.input, 10)
    assert b.build().meta["batch"] == 4 and "notes" not in b.build().meta


def test_two_inputs_agreeing_on_dim0_give_the_batch():
    # cross-attention's x (8, 64, 256) and mem (8, 32, 256): 8 samples (was no batch, j_per_inference the total)
    b = TransformerBuilder("xattn", {"x": (8, 64, 256), "mem": (8, 32, 256)})
    b.linear("x", 256, name="q")
    b.linear("mem", 256, name="k")
    assert b.build().meta["batch"] == 8
    b = TransformerBuilder("two", {"x": (8, 64, 256), "mem": (4, 32, 256)})
    b.linear("x", 256, name="q")
    g = b.build()
    assert g.meta["batch"] == 1 and "do not share a dim 0" in g.meta["notes"][0]
    assert TransformerBuilder("given", {"x": (8, 4), "y": (2, 4)}).build({"batch": 2}).meta["batch"] == 2
