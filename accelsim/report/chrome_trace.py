"""Chrome/Perfetto trace-event JSON of a run: one track per unit, one complete ("X") slice per task.

Every task kind has a slice name (load, compute, store, launch); a GPU preset's op launches are slices on the
host unit's track, which launches ops one after another ahead of execution. A slice lasts the task's ``cycles``,
the time it holds its unit, so a unit's slices never overlap; a memory task completes its level's latency later
(``args.end_cycle``, ``args.latency_cycles``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..tasks import TaskGraph, TaskKind
from ..trace import Trace
from ..units import trace_span_us
from .writers import TRACE_FILE, atomic_write_text

_KIND = {kind: kind.name.lower() for kind in TaskKind}  # "load", "compute", "store", "launch"


def trace_events(segments: Sequence[tuple[TaskGraph, Trace, int]], clock_hz: float) -> dict:
    """The trace-event document of one or more simulated passes ``(task graph, trace, start cycle)`` laid end to
    end: timestamps in microseconds, cycles (on the run's timeline) and bytes in each slice's ``args``."""
    events: list[dict] = [{"ph": "M", "pid": 0, "name": "process_name", "args": {"name": "accelsim"}}]
    for i, u in enumerate(segments[0][0].units if segments else ()):
        events.append({"ph": "M", "pid": 0, "tid": i, "name": "thread_name", "args": {"name": u.name}})
        events.append({"ph": "M", "pid": 0, "tid": i, "name": "thread_sort_index", "args": {"sort_index": i}})
    for tg, trace, offset in segments:
        _slices(events, tg, trace, offset, clock_hz)
    return {"traceEvents": events, "displayTimeUnit": "ns"}


def _slices(events: list[dict], tg: TaskGraph, trace: Trace, offset: int, clock_hz: float) -> None:
    start = (trace.start + offset).tolist()
    end = (trace.end + offset).tolist()
    stall = trace.stall.tolist()
    for t in tg.tasks:
        if t.unit < 0:  # a JOIN: no unit, no time, nothing to draw
            continue
        op = tg.ops[t.op]
        args = {"op": op.name, "task": t.id, "kind": _KIND[t.kind], "start_cycle": start[t.id],
                "end_cycle": end[t.id], "cycles": t.cycles}
        if t.level:
            args["bytes"] = t.nbytes
            args["level"] = t.level
        if stall[t.id]:
            args["stall_cycles"] = stall[t.id]
        if end[t.id] - start[t.id] > t.cycles:
            args["latency_cycles"] = end[t.id] - start[t.id] - t.cycles
        ts, dur = trace_span_us(start[t.id], start[t.id] + min(t.cycles, end[t.id] - start[t.id]), clock_hz)
        events.append({"ph": "X", "pid": 0, "tid": t.unit, "name": f"{op.name} {_KIND[t.kind]}",
                       "cat": _KIND[t.kind], "ts": ts, "dur": dur, "args": args})


def trace_text(segments: Sequence[tuple[TaskGraph, Trace, int]], clock_hz: float) -> str:
    """The text of ``trace.json``: :func:`trace_events` as compact JSON."""
    return json.dumps(trace_events(segments, clock_hz), allow_nan=False)


def write_chrome_trace(segments: Sequence[tuple[TaskGraph, Trace, int]], clock_hz: float,
                       path: str | Path) -> Path:
    """Write ``trace.json`` (or ``path``) atomically (a temporary file renamed into place)."""
    path = Path(path)
    if path.is_dir():
        path = path / TRACE_FILE
    atomic_write_text(path, trace_text(segments, clock_hz))
    return path
