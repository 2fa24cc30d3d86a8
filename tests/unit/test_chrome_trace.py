"""trace.json: a unit's slices are the time it is held, so they never overlap and add up to its utilization."""

from __future__ import annotations

import itertools
import json
import tracemalloc

import pytest

from accelsim import simulate
from accelsim.report import chrome_trace
from accelsim.report.chrome_trace import trace_events, write_chrome_trace


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


def _whole(res) -> str:
    """trace.json's text as it was made before it was streamed: the whole document built, then json.dumps."""
    return json.dumps(trace_events(res.segments, res.to_dict()["clock_hz"]), allow_nan=False)


def test_the_trace_is_streamed_as_the_same_text_as_the_whole_document(tmp_path, monkeypatch):
    # trace_chunks encodes BATCH events at a time; its text must be json.dumps of the whole document, byte for
    # byte, whether the events end inside a batch or exactly at a batch's end. A run's events: the process name,
    # a name and a sort index for each unit's track, a slice for each task that has a unit (no JOIN)
    res = simulate("lenet5", "gemmini", trace=True)
    tg = res.segments[0][0]
    n = 1 + 2 * len(tg.units) + sum(t.unit >= 0 for t in tg.tasks)
    assert len(trace_events(res.segments, res.to_dict()["clock_hz"])["traceEvents"]) == n
    whole = _whole(res)
    for batch in (chrome_trace.BATCH, 7, n, n - 1, 1):  # all events in one batch; many; exactly 1 and 2 batches
        monkeypatch.setattr(chrome_trace, "BATCH", batch)
        path = write_chrome_trace(res.segments, res.to_dict()["clock_hz"], tmp_path)
        assert path == tmp_path / "trace.json"
        assert path.read_text() == whole, batch
    # Report.save writes the same file, and nothing else is left in the folder (no temporary file)
    res.save(tmp_path / "saved", plots=False, trace=True)
    assert (tmp_path / "saved" / "trace.json").read_text() == whole
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["ops.csv", "report.html", "report.json",
                                                                       "trace.json"]


def test_a_passes_trace_is_streamed_in_the_same_memory_whatever_its_tasks(tmp_path, monkeypatch):
    # the writer holds one batch of events (and their text) at a time, not an event per task: with BATCH = 64,
    # ResNet-18's ~500 tasks on a TPU v1 and ResNet-152's ~3,000 (6 times as many) are written in the same peak memory
    # (tracemalloc), within a factor 1.5; building ResNet-152's whole document and its text, as before, peaks at
    # its 2,979 event dicts and 0.8 MB of text, more than 4 times as much
    monkeypatch.setattr(chrome_trace, "BATCH", 64)
    peaks, tasks, sizes = [], [], []
    for workload in ("resnet18", "resnet152"):
        res = simulate(workload, "tpu-v1", trace=True)
        tasks.append(len(res.segments[0][0].tasks))
        clock_hz = res["clock_hz"]  # (to_dict() is a deep copy: not inside the measured peak)
        tracemalloc.start()
        path = write_chrome_trace(res.segments, clock_hz, tmp_path / f"{workload}.json")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        sizes.append(path.stat().st_size)
    assert tasks[1] > 5 * tasks[0] > 5 * 64  # (each many batches)
    assert peaks[1] < 1.5 * peaks[0]
    tracemalloc.start()
    assert len(_whole(res)) == sizes[1]
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 4 * peaks[1] < whole_peak


def test_a_trace_that_cannot_be_made_changes_nothing(tmp_path, monkeypatch):
    # trace.json is streamed to a temporary file before anything is written and put in place after report.json
    # and ops.csv: when making it fails half-way, an earlier run's folder is left as it was and a new folder
    # is not made
    res = simulate("lenet5", "gemmini", trace=True)
    old = tmp_path / "old"
    res.save(old, plots=False, trace=True)
    before = {p.name: p.read_bytes() for p in old.iterdir()}

    real = chrome_trace.trace_chunks

    def failing(segments, clock_hz):  # the document's opening and first events, then json.dumps's refusal
        yield from itertools.islice(real(segments, clock_hz), 1)
        raise ValueError("Out of range float values are not JSON compliant")

    monkeypatch.setattr(chrome_trace, "trace_chunks", failing)
    for folder in (old, tmp_path / "new"):
        with pytest.raises(ValueError, match="not JSON compliant"):
            res.save(folder, plots=False, trace=True)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert not (tmp_path / "new").exists()


def _tracks(events: list[dict]) -> dict[str, list[dict]]:
    """Each track's X slices by its name, in time order."""
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    tracks: dict[str, list[dict]] = {}
    for e in events:
        if e["ph"] == "X":
            tracks.setdefault(names[e["tid"]], []).append(e)
    return {name: sorted(slices, key=lambda e: e["ts"]) for name, slices in tracks.items()}


# a GPT trained on 2 pipeline stages of 2 layers, 4 micro-batches, the gradients all-reduced over the 4
# data-parallel replicas of a DGX A100 as the last micro-batch's backward makes them (overlap_grad_reduce): the
# stage's composed time (one micro-batch and the optimizer tail) is shorter than the traced pass, which ran the
# gradient reductions after its backward, so a trace placed by the composed time put stage 1's slices on stage 0's
PIPELINE = ({"model": "gpt", "mode": "training", "hidden": 512, "heads": 8, "layers": 4, "seq_len": 256,
             "pipeline_parallel": 2, "micro_batches": 4, "overlap_grad_reduce": True}, "dgx-a100",
            ["stage 0", "stage 1"])
# gpt2's prefill of 32 tokens and 3 decode steps (every step simulated, so every step traced)
SERVING = ({"model": "gpt2", "seq_len": 32, "decode_steps": 3}, "a100",
           ["prefill", "decode step 1", "decode step 2", "decode step 3"])


@pytest.mark.parametrize(("workload", "arch", "passes"), [PIPELINE, SERVING], ids=["pipeline", "serving"])
def test_a_composed_runs_passes_are_named_and_back_to_back(workload, arch, passes):
    res = simulate(workload, arch, trace=True)
    rep = res.to_dict()
    events = trace_events(res.segments, rep["clock_hz"])["traceEvents"]
    tracks = _tracks(events)
    # no two slices on one track overlap (Perfetto nests overlapping slices of one thread wrongly), the passes'
    # track included
    for name, slices in tracks.items():
        for a, b in itertools.pairwise(slices):
            assert b["ts"] >= a["ts"] + a["dur"] - 1e-6, (name, a["name"], a["ts"], b["name"], b["ts"])
    # one slice per traced pass on the passes' track, in run order, each starting where the one before ends
    # (its task slices' latest end), the first at 0
    shown = tracks[chrome_trace.PASSES]
    assert [e["name"] for e in shown] == passes
    assert shown[0]["ts"] == 0
    for a, b in itertools.pairwise(shown):
        assert b["ts"] == pytest.approx(a["ts"] + a["dur"], abs=1e-3)
    # each task slice names its pass and lies inside that pass's slice; task ids name one task of the run
    spans = {e["name"]: (e["ts"], e["ts"] + e["dur"]) for e in shown}
    tasks = [e for e in events if e["ph"] == "X" and e.get("cat") != "pass"]
    assert {e["args"]["pass"] for e in tasks} == set(passes)
    for e in tasks:
        lo, hi = spans[e["args"]["pass"]]
        assert lo - 1e-3 <= e["ts"] and e["ts"] + e["dur"] <= hi + 1e-3, e
    assert len({e["args"]["task"] for e in tasks}) == len(tasks)
    # ids count on across passes: a pass's first task follows the previous passes' tasks (JOINs have no slice)
    assert [e["args"]["first_task"] for e in shown] == list(
        itertools.accumulate([len(tg.tasks) for tg, *_ in res.segments[:-1]], initial=0))


def test_a_single_pass_trace_names_no_pass():
    # one pass: no passes' track and no pass argument (the trace of a plain run is as before)
    res = simulate("lenet5", "gemmini", trace=True)
    events = trace_events(res.segments, res.to_dict()["clock_hz"])["traceEvents"]
    assert chrome_trace.PASSES not in _tracks(events)
    assert not any("pass" in e.get("args", {}) for e in events)
