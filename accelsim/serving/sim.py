"""The serving event loop: arrivals routed to replicas, each replica running one iteration at a time.

A plain discrete-event loop over a heap of iteration ends (no SimPy; docs/architecture.md says why): at each
event time every iteration that ends then completes first, then every request that arrives then is routed, then
every idle replica with work starts its next iteration. Ties are broken by replica index, so a run is
deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence

from .engine import Replica
from .requests import Request

Router = Callable[[Request, Sequence[Replica]], Replica]
Progress = Callable[[str, int, int], None]


def round_robin() -> Router:
    """Requests go to the replicas in turn."""
    state = {"next": 0}

    def route(req: Request, replicas: Sequence[Replica]) -> Replica:
        r = replicas[state["next"] % len(replicas)]
        state["next"] += 1
        return r

    return route


def least_tokens(req: Request, replicas: Sequence[Replica]) -> Replica:
    """The replica with the fewest outstanding tokens (prompt tokens not yet prefilled plus output tokens not yet
    generated, over its requests); the lowest index on a tie."""
    return min(replicas, key=lambda r: (r.outstanding, r.index))


ROUTERS: dict[str, Callable[[], Router]] = {"round_robin": round_robin, "least_tokens": lambda: least_tokens}


def run_loop(requests: Sequence[Request], replicas: Sequence[Replica], router: Router,
             progress: Progress | None = None, *, decode: Sequence[Replica] = (), decode_router: Router | None = None,
             transfer_s: Callable[[Request], float] | None = None, think_s: float = 0.0
             ) -> tuple[list[Request], float]:
    """Serve ``requests`` (sorted by arrival) on ``replicas`` until every one has finished; returns them in
    finishing order and the time of the last event. With disaggregation, ``replicas`` are the prefill replicas:
    each hands a request to one of the ``decode`` replicas (chosen by ``decode_router``) after its first token,
    ``transfer_s(request)`` seconds later (its KV cache crossing the link). A request with a ``follow`` (a
    conversation's next turn) sends it ``think_s`` after it finishes, to its own replica; a follow ``refused`` at
    arrival ends its conversation there."""
    everyone = [*replicas, *decode]
    heap: list[tuple[float, int, int]] = []  # (time, 0 = an iteration ends | 1 = a KV transfer ends, index)
    later: list[tuple[float, int, Request]] = []  # conversations' next turns: (arrival, id, request)
    moving: dict[int, Request] = {}
    finished: list[Request] = []
    n, i, now = len(requests), 0, 0.0
    every = max(n // 200, 1)
    while True:
        t_event = heap[0][0] if heap else math.inf
        t_arr = min(requests[i].arrival if i < n else math.inf, later[0][0] if later else math.inf)
        now = min(t_event, t_arr)
        if now == math.inf:
            break
        done = len(finished)
        while heap and heap[0][0] == now:
            _, kind, k = heapq.heappop(heap)
            if kind == 0:
                everyone[k].complete(now, finished)
                everyone[k].busy = False
                for req in everyone[k].handoff:
                    moving[req.id] = req
                    heapq.heappush(heap, (now + transfer_s(req), 1, req.id))  # type: ignore[misc]
            else:
                req = moving.pop(k)
                req.kv_arrived = now
                _enqueue(req, decode_router(req, decode))  # type: ignore[misc]
        for req in finished[done:]:
            nxt = req.follow
            if nxt is not None:
                nxt.arrival = now + think_s
                if not nxt.refused:
                    nxt.replica = req.replica
                    heapq.heappush(later, (nxt.arrival, nxt.id, nxt))
        while i < n and requests[i].arrival == now:
            req = requests[i]
            _enqueue(req, router(req, replicas))
            i += 1
            if progress and i % every == 0:
                progress("serving", i, n)
        while later and later[0][0] == now:
            _, _, req = heapq.heappop(later)
            _enqueue(req, everyone[req.replica])
        for r in everyone:
            if not r.busy and (r.waiting or r.running):
                seconds = r.schedule(now)
                if r.batch:
                    r.busy = True
                    heapq.heappush(heap, (now + seconds, 0, r.index))
                elif r.running:
                    raise RuntimeError(f"replica {r.index}: running requests but nothing scheduled")
    return finished, now


def _enqueue(req: Request, r: Replica) -> None:
    if req.kv_ready:
        req.decode_replica = r.index
    else:
        req.replica = r.index
    r.waiting.append(req)
    r.outstanding += req.remaining
