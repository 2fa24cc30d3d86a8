"""An op row's ``ready_cycle``: when its inputs were ready (its producers' last end), so that end − ready (ops.csv's
``ready_to_end_cycles``) leaves out the parameter loads that start an op ahead of its producer (probe p45 finding
5: resnet50's op spans on tpu-v4 summed to 2.67 × the run, its fc spanning 27,585 cycles for 2,429 of compute)."""

from __future__ import annotations

import csv

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload
from accelsim.report.writers import write_ops_csv

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
