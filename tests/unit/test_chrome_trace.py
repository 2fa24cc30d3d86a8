"""trace.json: a unit's slices are the time it is held, so they never overlap and add up to its utilization."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.report.chrome_trace import trace_events


def test_a_units_slices_never_overlap_and_sum_to_its_utilization():
    # ResNet-18 on a TPU v1: its DDR3 (hbm) tasks each complete a memory latency after they free the unit, so a
    # slice drawn to the completion would overlap the next one on the same track
    res = simulate("resnet18", "tpu-v1", trace=True)
    rep = res.to_dict()
    events = trace_events(res.segments, rep["clock_hz"])["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    total_us = rep["total_cycles"] / rep["clock_hz"] * 1e6
    tracks: dict[int, list[tuple[float, float]]] = {}
    for e in events:
        if e["ph"] == "X":
            tracks.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    assert any(e["ph"] == "X" and e["args"].get("latency_cycles") for e in events)  # the memory's latency is kept
    for tid, slices in tracks.items():
        slices.sort()
        assert all(b[0] >= a[1] - 1e-6 for a, b in zip(slices, slices[1:], strict=False)), names[tid]
        busy = sum(end - start for start, end in slices) / total_us
        assert busy == pytest.approx(rep["utilization"][names[tid]], rel=1e-6)
