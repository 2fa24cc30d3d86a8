"""A Chrome/Perfetto trace of a serving run (``accelsim serve --trace``): one process per replica, with a track of
its iterations (batch tokens, running and waiting requests, KV blocks in use) and one async span per request
(queued, then prefill up to its first token, then decode up to its finish, on its decode replica with
disaggregation). Times in microseconds, whole nanoseconds (:func:`~accelsim.units.trace_span_us`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..units import trace_span_us
from .engine import Replica
from .requests import Request


def trace_events(requests: Sequence[Request], replicas: Sequence[Replica]) -> dict:
    """The trace as a Chrome trace-event JSON object."""
    events: list[dict] = []
    for r in replicas:
        pid = r.index + 1
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": f"replica {r.index}"}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "args": {"name": "iterations"}})
        for start, seconds, running, waiting, used, tokens in r.samples:
            ts, dur = trace_span_us(start, start + seconds)
            events.append({"ph": "X", "name": "iteration", "pid": pid, "tid": 0, "ts": ts,
                           "dur": dur, "args": {"batch_tokens": tokens, "running": running,
                                                         "waiting": waiting, "kv_blocks_used": used}})
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
            events.append({**common, "ph": "b", "ts": trace_span_us(t0, t1)[0]})
            events.append({**common, "ph": "e", "ts": trace_span_us(t1, t1)[0]})
    return {"traceEvents": events, "displayTimeUnit": "ms"}
