"""A Chrome/Perfetto trace of a serving run (``accelsim serve --trace``): one process per replica, with a track of
its iterations (batch tokens, running and waiting requests, KV blocks in use) and one async span per request
(queued, then prefill up to its first token, then decode up to its finish, on its decode replica with
disaggregation). Times in microseconds, whole nanoseconds (:func:`~accelsim.units.trace_span_us`).

:func:`write_trace` writes the events one by one as they are made (the text :func:`trace_events` would give,
indented as report.json is), so that the trace's memory does not grow with the run: a run of 500,000 iterations
held ~1.4 GB of event dicts and JSON text before (the iterations themselves, which the run keeps, are
:data:`~.engine.ITERATION_BYTES` each)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..report.writers import atomic_write_chunks, json_text
from ..units import trace_span_us
from .engine import Replica
from .requests import Request

UNIT = "ms"  # the trace's displayTimeUnit


def events(requests: Sequence[Request], replicas: Sequence[Replica]) -> Iterator[dict]:
    """The trace's events, one at a time: each replica's names and iterations, then each request's spans."""
    for r in replicas:
        pid = r.index + 1
        yield {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": f"replica {r.index}"}}
        yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "args": {"name": "iterations"}}
        for start, seconds, running, waiting, used, tokens in r.samples:
            ts, dur = trace_span_us(start, start + seconds)
            yield {"ph": "X", "name": "iteration", "pid": pid, "tid": 0, "ts": ts,
                   "dur": dur, "args": {"batch_tokens": tokens, "running": running,
                                        "waiting": waiting, "kv_blocks_used": used}}
    for q in requests:
        if q.replica < 0:
            continue
        spans = [("queued", q.arrival, q.scheduled), ("prefill", q.scheduled, q.first_token),
                 ("decode", q.first_token, q.finish)]
        for name, t0, t1 in spans:
            if math.isnan(t0) or math.isnan(t1):
                break
            where = q.decode_replica if name == "decode" and q.decode_replica >= 0 else q.replica
            common = {"cat": "request", "name": name, "pid": where + 1, "id": q.id,
                      "args": {"request": q.id, "prompt_tokens": q.prompt, "output_tokens": q.output}}
            yield {**common, "ph": "b", "ts": trace_span_us(t0, t1)[0]}
            yield {**common, "ph": "e", "ts": trace_span_us(t1, t1)[0]}


def trace_events(requests: Sequence[Request], replicas: Sequence[Replica]) -> dict:
    """The trace as a Chrome trace-event JSON object (held whole: :func:`write_trace` writes it without)."""
    return {"traceEvents": list(events(requests, replicas)), "displayTimeUnit": UNIT}


def _chunks(requests: Sequence[Request], replicas: Sequence[Replica]) -> Iterator[str]:
    """The text of :func:`trace_events` as :func:`~accelsim.report.writers.write_json` writes it (indent 2), an
    event at a time: each event's own indented text, indented two levels further (a JSON string holds no raw
    newline, so every newline of it is between lines)."""
    sep = '{\n  "traceEvents": ['
    for event in events(requests, replicas):
        yield sep + "\n    " + json_text(event, indent=2).replace("\n", "\n    ")
        sep = ","
    yield ("\n  ]" if sep == "," else sep + "]") + f',\n  "displayTimeUnit": "{UNIT}"\n}}\n'


def write_trace(requests: Sequence[Request], replicas: Sequence[Replica], path: Path) -> Path:
    """Write trace.json to ``path`` atomically, each event as it is made; returns the path."""
    atomic_write_chunks(path, _chunks(requests, replicas))
    return path
