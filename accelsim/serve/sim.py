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
             progress: Progress | None = None) -> tuple[list[Request], float]:
    """Serve ``requests`` (sorted by arrival) until every one has finished; returns them in finishing order and
    the time of the last event."""
    heap: list[tuple[float, int]] = []
    finished: list[Request] = []
    n, i, now = len(requests), 0, 0.0
    every = max(n // 200, 1)
    while True:
        t_step = heap[0][0] if heap else math.inf
        t_arr = requests[i].arrival if i < n else math.inf
        now = min(t_step, t_arr)
        if now == math.inf:
            break
        while heap and heap[0][0] == now:
            _, k = heapq.heappop(heap)
            replicas[k].complete(now, finished)
            replicas[k].busy = False
        while i < n and requests[i].arrival == now:
            req = requests[i]
            r = router(req, replicas)
            req.replica = r.index
            r.waiting.append(req)
            r.outstanding += req.remaining
            i += 1
            if progress and i % every == 0:
                progress("serving", i, n)
        for r in replicas:
            if not r.busy and (r.waiting or r.running):
                seconds = r.schedule(now)
                if r.batch:
                    r.busy = True
                    heapq.heappush(heap, (now + seconds, r.index))
                elif r.running:
                    raise RuntimeError(f"replica {r.index}: running requests but nothing scheduled")
    return finished, now
