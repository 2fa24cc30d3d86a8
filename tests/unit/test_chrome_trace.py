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
        busy = sum(end - start for start, end in slices)
        # each slice's ends are whole nanoseconds (Perfetto's resolution): its length is off by less than 1 ns
        assert busy == pytest.approx(rep["utilization"][names[tid]] * total_us, abs=len(slices) * 1e-3)


def test_back_to_back_slices_stay_back_to_back_in_whole_nanoseconds():
    # Perfetto's JSON importer turns ts and dur into nanoseconds separately, each llround(value * 1000)
    # (google/perfetto src/trace_processor/importers/json/json_utils: CoerceToTs); at tpu-v1's 700 MHz a cycle is
    # 1.428571... ns, so unrounded products of a slice's start and length could end a nanosecond after the next
    # slice on its track starts. Every end, rounded as Perfetto rounds it, must be at or before the next start.
    res = simulate("resnet18", "tpu-v1", trace=True)
    events = trace_events(res.segments, res.to_dict()["clock_hz"])["traceEvents"]
    tracks: dict[int, list[tuple[int, int]]] = {}
    for e in events:
        if e["ph"] == "X":
            ts, dur = round(e["ts"] * 1000), round(e["dur"] * 1000)
            assert e["ts"] * 1000 == pytest.approx(ts, abs=1e-6)  # already whole nanoseconds
            tracks.setdefault(e["tid"], []).append((ts, ts + dur))
    touching = 0
    for slices in tracks.values():
        slices.sort()
        for a, b in zip(slices, slices[1:], strict=False):
            assert a[1] <= b[0]
            touching += a[1] == b[0]
    assert touching > 0  # the check saw back-to-back slices, the case that overlapped
