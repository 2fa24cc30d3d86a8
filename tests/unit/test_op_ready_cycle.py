"""An op row's ``ready_cycle``: when its inputs were ready (its producers' last end), so that end − ready (ops.csv's
``ready_to_end_cycles``) leaves out the parameter loads that start an op ahead of its producer (probe p45 finding
5: resnet50's op spans on tpu-v4 summed to 2.67 × the run, its fc spanning 27,585 cycles for 2,429 of compute)."""

from __future__ import annotations

import csv

from accelsim.api import simulate
from accelsim.builders.build import build_graph
from accelsim.builders.transformer import TransformerBuilder
from accelsim.config import load_arch, load_workload
from accelsim.ir import OpKind
from accelsim.report.writers import write_ops_csv
from accelsim.tasks import TaskKind

CHAIN = {"model": "layers", "input": [1, 64, 56, 56], "layers": [
    {"type": "conv2d", "name": "c1", "out_channels": 64, "kernel_size": 3, "padding": 1, "bias": False},
    {"type": "conv2d", "name": "c2", "out_channels": 64, "kernel_size": 1, "bias": False}]}


def test_ready_is_the_producers_end_and_the_prefetch_falls_before_it(tmp_path):
    """c1 reads the graph input, ready at 0, so its ready cycle is its start. c2 reads only c1's output: ready at
    c1's end. On tpu-v4 c2's weights (8,192 B, loaded while a buffer is free) start c2 before c1 ends, so c2's
    span is longer than its time from ready to end, and the rows' ready-to-end times add up to the run (a chain:
    c1's from 0 to its end, c2's from there to the run's end)."""
    rep = simulate(load_workload(CHAIN), load_arch("tpu-v4")).to_dict()
    c1, c2 = rep["ops"]
    assert c1["ready_cycle"] == c1["start_cycle"] == 0
    assert c2["ready_cycle"] == c1["end_cycle"]
    assert c2["start_cycle"] < c2["ready_cycle"] < c2["end_cycle"]
    write_ops_csv(rep, tmp_path / "ops.csv")
    with open(tmp_path / "ops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["ready_to_end_cycles"]) for r in rows] == [c1["end_cycle"], c2["end_cycle"] - c1["end_cycle"]]
    assert sum(int(r["ready_to_end_cycles"]) for r in rows) == rep["total_cycles"]
    assert sum(int(r["duration_cycles"]) for r in rows) > rep["total_cycles"]


def _ready_by_definition(rep: dict) -> dict[str, int]:
    """Each row's ready cycle by the documented definition: its producers' last end (a graph input is ready at 0),
    never after its own end."""
    end = {o["name"]: o["end_cycle"] for o in rep["ops"]}  # (a name that is no op's is a graph input: 0)
    return {o["name"]: min(o["end_cycle"], max((end.get(s, 0) for s in o["inputs"]), default=0))
            for o in rep["ops"]}


BIGRU = {"model": "layers", "name": "bigru", "batch": 1, "input": [20, 4, 128], "layers": [
    {"type": "gru", "name": "gru", "input_size": 128, "hidden_size": 256, "num_layers": 2, "bidirectional": True},
    {"type": "linear", "name": "fc", "out_features": 10}]}


def test_an_op_reading_only_the_graph_input_is_ready_at_0_even_when_it_starts_late():
    """Probe p67 finding 3: bigru on tpu-v4 runs its reverse layer-0 chain after the forward one, and the reverse
    input projection, whose only input is the graph input, reported ready_cycle 17,416 (its start) instead of 0.
    Both directions' projections read only ``input``: ready at 0. The reverse one waits for the arrays, so it
    starts later than it is ready, and its time from ready to end is its whole end cycle."""
    graph = build_graph(load_workload(BIGRU))  # (for the ops' inputs)
    rep = simulate(load_workload(BIGRU), load_arch("tpu-v4")).to_dict()
    rows = {o["name"]: o for o in rep["ops"]}
    fwd, rev = rows["gru.l0.x_proj"], rows["gru.l0_reverse.x_proj"]
    assert graph["gru.l0.x_proj"].inputs == graph["gru.l0_reverse.x_proj"].inputs == ("input",)
    assert fwd["ready_cycle"] == rev["ready_cycle"] == 0
    assert rev["start_cycle"] > 0  # (waited for its unit: the forward chain ran first)
    for o in rep["ops"]:
        o["inputs"] = graph[o["name"]].inputs
    assert {o["name"]: o["ready_cycle"] for o in rep["ops"]} == _ready_by_definition(rep)


def test_an_input_free_op_is_ready_at_0_and_starts_with_its_own_compute():
    """Probe p64 finding 2 (SAM's dense positional encoding, an op with no inputs): its row's start is its own
    first task, a compute (it loads nothing), not a prefetch, and it is ready at 0. Here, a SAM-like graph on
    tpu-v4 (a chain of 4 gelus on x, the encoding, and their sum): the encoding runs on both cores' vector units
    in its turn of their buffer streams (a group takes a buffer when the group before it there is done, whether
    or not it loads anything: emit.Emitter._groups), each half in its own core's turn, and the sum is ready when the later of the chain and the encoding ends."""
    b = TransformerBuilder("samlike", {"x": (1, 64, 64, 64)})
    h = "x"
    for j in range(4):
        h = b.vector(OpKind.ACTIVATION, [h], (1, 64, 64, 64), "gelu", 8, name=f"enc{j}")
    pe = b.vector(OpKind.ELEMENTWISE, [], (1, 64, 64, 64), "fourier_pe", 9, name="pe_dense")
    b.add(h, pe, name="dec")
    graph = b.build()
    report = simulate(graph, load_arch("tpu-v4"))
    rep = report.to_dict()
    rows = {o["name"]: o for o in rep["ops"]}
    tg, trace = report.segments[0][:2]
    mine = [t for t in tg.tasks if tg.ops[t.op].name == "pe_dense"]
    assert {t.kind for t in mine} == {TaskKind.COMPUTE}  # no inputs, output kept on chip: no load, no store
    pe_row = rows["pe_dense"]
    assert pe_row["ready_cycle"] == 0 and pe_row["start_cycle"] == min(int(trace.start[t.id]) for t in mine)
    # its turn: after the chain's groups in the same buffers, not at cycle 0 ahead of them (one half at 0 and the
    # other late made SAM's row span the run)
    assert pe_row["start_cycle"] >= rows["enc0"]["start_cycle"]
    # each core's half in its own stream's turn: the span is the halves', at least one half's compute, and ends
    # before the sum that reads it starts
    assert pe_row["compute_cycles"] <= pe_row["end_cycle"] - pe_row["start_cycle"]
    assert pe_row["end_cycle"] <= rows["dec"]["start_cycle"]
    assert rows["dec"]["ready_cycle"] == max(rows["enc3"]["end_cycle"], pe_row["end_cycle"])
    for o in rep["ops"]:
        o["inputs"] = graph[o["name"]].inputs
    assert {o["name"]: o["ready_cycle"] for o in rep["ops"]} == _ready_by_definition(rep)
