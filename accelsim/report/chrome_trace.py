"""Chrome/Perfetto trace-event JSON of a run: one track per unit, one complete ("X") slice per task.

Every task kind has a slice name (load, compute, store, launch); a GPU preset's op launches are slices on the
host unit's track, which launches ops one after another ahead of execution. A slice lasts the task's ``cycles``,
the time it holds its unit, so a unit's slices never overlap; a memory task completes its level's latency later
(``args.end_cycle``, ``args.latency_cycles``).

:func:`trace_chunks` gives trace.json's text a few thousand events at a time (:data:`BATCH`), the same text as
``json.dumps`` of the whole :func:`trace_events` document, so that writing the trace holds no event of each task
beside the task graphs and traces the run keeps: a pass of 761,446 tasks (247 MB of text) took 775 MB more to write
built whole, nothing more streamed (docs/architecture.md, "Report folder").

A composed run (serving's prefill and decode steps, a pipeline's stages, a diffusion pipeline's parts) names each
pass it traces: a segment ``(task graph, trace, start cycle, label)`` gets a slice of its own, the label, on a
``passes`` track above the units', and each of its task slices carries ``args.pass``; ``args.task`` counts on
across passes (a pass's task ``i`` is the previous passes' task count + ``i``), so it names one task of the run."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..tasks import TaskGraph, TaskKind
from ..trace import Trace
from ..units import trace_span_us
from .writers import TRACE_FILE, atomic_write_chunks

_KIND = {kind: kind.name.lower() for kind in TaskKind}  # "load", "compute", "store", "launch"
UNIT = "ns"  # the trace's displayTimeUnit
BATCH = 4096  # tasks whose events are made and encoded together: a batch's dicts and text, ~2 MB, at a time

PASSES = "passes"  # the track of a composed run's pass slices
Segments = Sequence[tuple]  # (TaskGraph, Trace, start cycle) or (TaskGraph, Trace, start cycle, pass label)


def _label(segment: tuple) -> str:
    """The pass a segment is (``""``: a run of one pass, which names none)."""
    return segment[3] if len(segment) > 3 else ""


def events(segments: Segments, clock_hz: float) -> Iterator[dict]:
    """The trace's events, one at a time: the process and its units' tracks, then each pass's slices in order."""
    yield {"ph": "M", "pid": 0, "name": "process_name", "args": {"name": "accelsim"}}
    units = segments[0][0].units if segments else ()
    for i, u in enumerate(units):
        yield {"ph": "M", "pid": 0, "tid": i, "name": "thread_name", "args": {"name": u.name}}
        yield {"ph": "M", "pid": 0, "tid": i, "name": "thread_sort_index", "args": {"sort_index": i}}
    named = any(_label(s) for s in segments)
    if named:  # the passes' track, first in Perfetto's list
        yield {"ph": "M", "pid": 0, "tid": len(units), "name": "thread_name", "args": {"name": PASSES}}
        yield {"ph": "M", "pid": 0, "tid": len(units), "name": "thread_sort_index", "args": {"sort_index": -1}}
    base = 0
    for segment in segments:
        tg, trace, offset = segment[:3]
        label = _label(segment)
        if named:
            end = offset + (int(trace.end.max()) if len(trace.end) else 0)
            ts, dur = trace_span_us(offset, end, clock_hz)
            yield {"ph": "X", "pid": 0, "tid": len(units), "name": label, "cat": "pass", "ts": ts, "dur": dur,
                   "args": {"pass": label, "start_cycle": offset, "end_cycle": end, "first_task": base,
                            "tasks": len(tg.tasks)}}
        yield from _slices(tg, trace, offset, clock_hz, base, label)
        base += len(tg.tasks)


def trace_events(segments: Segments, clock_hz: float) -> dict:
    """The trace-event document of one or more simulated passes ``(task graph, trace, start cycle)`` laid end to
    end: timestamps in microseconds, cycles (on the run's timeline) and bytes in each slice's ``args``. Held whole:
    :func:`write_chrome_trace` and :meth:`~accelsim.report.result.Report.save` write it without."""
    return {"traceEvents": list(events(segments, clock_hz)), "displayTimeUnit": UNIT}


def _slices(tg: TaskGraph, trace: Trace, offset: int, clock_hz: float, base: int = 0,
            label: str = "") -> Iterator[dict]:
    """Each task's slice, its cycles read from ``trace`` a batch of tasks at a time (task ``i`` is ``tasks[i]``,
    ``args.task`` ``base + i``; ``args.pass`` ``label`` where there is one)."""
    tasks = tg.tasks
    for lo in range(0, len(tasks), BATCH):
        hi = min(lo + BATCH, len(tasks))
        start = (trace.start[lo:hi] + offset).tolist()
        end = (trace.end[lo:hi] + offset).tolist()
        stall = trace.stall[lo:hi].tolist()
        for t in tasks[lo:hi]:
            if t.unit < 0:  # a JOIN: no unit, no time, nothing to draw
                continue
            i = t.id - lo
            op = tg.ops[t.op]
            args = {"op": op.name, "task": base + t.id, "kind": _KIND[t.kind], "start_cycle": start[i],
                    "end_cycle": end[i], "cycles": t.cycles}
            if label:
                args["pass"] = label
            if t.level:
                args["bytes"] = t.nbytes
                args["level"] = t.level
            if stall[i]:
                args["stall_cycles"] = stall[i]
            if end[i] - start[i] > t.cycles:
                args["latency_cycles"] = end[i] - start[i] - t.cycles
            ts, dur = trace_span_us(start[i], start[i] + min(t.cycles, end[i] - start[i]), clock_hz)
            yield {"ph": "X", "pid": 0, "tid": t.unit, "name": f"{op.name} {_KIND[t.kind]}",
                   "cat": _KIND[t.kind], "ts": ts, "dur": dur, "args": args}


def trace_chunks(segments: Segments, clock_hz: float) -> Iterator[str]:
    """The text of ``trace.json``, ``json.dumps(trace_events(...), allow_nan=False)`` (compact, one line), a batch
    of events at a time: ``json.dumps`` of a list is ``"[" + ", ".join(each item's text) + "]"``, so a batch's
    text without its brackets, joined by ", ", is that list's items as the whole document has them."""
    sep = '{"traceEvents": ['
    batch: list[dict] = []
    for event in events(segments, clock_hz):
        batch.append(event)
        if len(batch) == BATCH:
            yield sep + json.dumps(batch, allow_nan=False)[1:-1]
            sep, batch = ", ", []
    if batch:
        yield sep + json.dumps(batch, allow_nan=False)[1:-1]
    yield ("]" if batch or sep == ", " else sep + "]") + f', "displayTimeUnit": "{UNIT}"}}'


def write_chrome_trace(segments: Segments, clock_hz: float, path: str | Path) -> Path:
    """Write ``trace.json`` (or ``path``) atomically (a temporary file renamed into place), a batch of events at a
    time (:func:`trace_chunks`)."""
    path = Path(path)
    if path.is_dir():
        path = path / TRACE_FILE
    atomic_write_chunks(path, trace_chunks(segments, clock_hz))
    return path
