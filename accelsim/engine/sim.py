"""The discrete-event engine: replays a TaskGraph on SimPy and records when every task ran.

Every unit (a compute unit of a core, or a memory level's bandwidth server shared by all cores) runs one task at
a time. Dispatch follows graphlib's ready-queue protocol: a task becomes ready when its last dependency
finishes (all the tasks one finishing task makes ready are queued before an idle unit picks); each idle unit
takes the ready task that is needed first, ties by id, so runs are deterministic. A task on a compute or host
unit is needed at its own id (the mapper's order). A transfer on a memory unit is needed when the first compute
or host task waiting for it is, directly or through other transfers, JOINs and DISPATCHes; one nothing waits for
(an op's last stores) comes after all others. An op's store on a unit is needed no later than its later stores
there (a consumer waits only for the op's last stores, trusting the earlier ones to end first). So a free HBM server with a write-back store and the next tile's
load both ready serves the load the systolic array waits for first. (Before, the lower id, often the store, went
first, and more latency could make a run faster: tpu-v1 gemm 512x256x256 at 68 GB/s took 3,694 cycles at 0 ns
and 3,427 at 50 ns; probe p101 #1.)

A task holds its unit for ``cycles``; a memory task completes ``latency`` cycles after that, while its unit
already serves the next transfer. A task on no unit (unit −1) completes ``cycles`` after its last dependency: a
JOIN (0 cycles) stands for the many ends of an op split over many cores; a DISPATCH is a kernel's
device-side start latency after its host launch and its inputs, which any number of kernels may be in at once.

A compute task whose data arrived after its unit became free, its non-memory dependencies finished and its
memory dependencies could have started (their own dependencies met) *stalled*: the gap is the time lost to
bandwidth and latency, charged to the memory level of the latest-finishing memory dependency. With unbounded
bandwidth and zero latency no task stalls. The stores after an op's last compute are no stall (no compute unit
waits for them): they drain its output in the op's span after its compute, a memory task's cycles plus its
latency each (docs/architecture.md, "Stalls").

Hot path: one SimPy event per task (two for memory tasks with latency), callbacks instead of processes, and
plain lists; the per-event Python work is a few list operations. The events are :class:`_Wake`, a bare timeout
put on SimPy's queue with ``Environment.schedule`` at the priority and in the order a ``Timeout`` would be (so
the same ties break the same way), without a Timeout's value, delay check (done once for all tasks) and event
attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush

import numpy as np
import simpy
from simpy.events import NORMAL

from ..errors import SimulationError
from ..tasks import TaskGraph, TaskKind, UnitKind
from ..trace import Trace

MAX_CYCLES = 2**63  # cycles are int64 in the trace


class _Wake:
    """A SimPy event that is only a point in time: SimPy's loop pops it at ``at`` (its ``now + delay``) and calls
    its one callback with it; ``tid`` and ``u`` are the task and unit the callback acts on."""

    __slots__ = ("callbacks", "tid", "u", "at")
    _ok = True  # SimPy's loop checks that a processed event did not fail

    def __init__(self, callback: Callable[[_Wake], None], tid: int, u: int, at: int) -> None:
        self.callbacks = [callback]
        self.tid = tid
        self.u = u
        self.at = at  # = env.now when SimPy processes it: the callbacks pass it on rather than read env.now


def _dispatch_keys(tg: TaskGraph, succ: list[list[int]], unit_of: list[int], kinds: list, ops: list[int],
                   store: object) -> list[int]:
    """Each task's place in its unit's ready heap, need·(n+1) + id: ready tasks by need, ties by id. A task on a
    compute or host unit is needed at its own id (the mapper's order); a task on a memory unit (or on none) is
    needed when its first consumer on such a unit is, through any chain of memory and unit-less tasks, and a task
    nothing waits for after all of them. An op's stores on one unit are needed no later than its later stores
    there: a consumer waits only for the op's last stores, which the mapper trusts to end after the earlier ones
    (as they did when every unit took its lowest id). Computed once before the run, so the hot path pays one
    modulo (probe p101 #1)."""
    n = len(unit_of)
    on_memory = [u.kind is UnitKind.MEMORY for u in tg.units]
    need = list(range(n))
    later_store: dict[tuple[int, int], int] = {}  # (op, unit) → need of the op's next store on that unit
    for tid in range(n - 1, -1, -1):
        u = unit_of[tid]
        if u < 0 or on_memory[u]:
            first = n
            for s in succ[tid]:
                if need[s] < first:
                    first = need[s]
            if kinds[tid] is store:
                at = (ops[tid], u)
                first = min(first, later_store.get(at, n))
                later_store[at] = first
            need[tid] = first
    n1 = n + 1
    return [need[t] * n1 + t for t in range(n)]


def simulate(tg: TaskGraph, progress: Callable[[int, int], None] | None = None,
             progress_every: int = 5000) -> Trace:
    """Run ``tg`` to completion; ``progress(done, total)`` is called every ``progress_every`` finished tasks."""
    tasks = tg.tasks
    n = len(tasks)
    # the task columns, transposed at C speed (a Task is a 9-field tuple)
    columns = zip(*tasks, strict=True) if n else ((),) * 9
    ids, ops, kinds, units_col, cycles_col, deps, lat_col, _nbytes, level_col = columns
    levels = tuple(sorted({lv for lv in level_col if lv} | {u.level for u in tg.units if u.level}))
    level_idx = {lv: i for i, lv in enumerate(levels)}
    unit_of, cycles, latency = list(units_col), list(cycles_col), list(lat_col)
    load, store, compute = TaskKind.LOAD, TaskKind.STORE, TaskKind.COMPUTE
    is_mem = [k is load or k is store for k in kinds]
    task_level = [level_idx[lv] if lv else -1 for lv in level_col]
    kind_compute = [k is compute for k in kinds]
    pending = [len(d) for d in deps]
    succ: list[list[int]] = [[] for _ in range(n)]
    for tid, op_i, ds in zip(ids, ops, deps, strict=True):
        for d in ds:
            if d >= tid:
                raise SimulationError(f"task {tid} (op #{op_i}) depends on a later task {d}")
            succ[d].append(tid)

    n1 = n + 1
    key = _dispatch_keys(tg, succ, unit_of, kinds, ops, store)

    nunits = len(tg.units)
    queues: list[list[int]] = [[] for _ in range(nunits)]
    busy = [False] * nunits
    free_at = [0] * nunits
    start = [0] * n
    end = [-1] * n
    stall = [0] * n
    stall_level = [-1] * n
    ready = [0] * n  # when a task's last dependency finished
    if n and min(min(cycles), min(latency)) < 0:
        bad = next(t for t in tasks if t.cycles < 0 or t.latency < 0)
        raise SimulationError(f"task {bad.id} (op #{bad.op}) has negative cycles or latency "
                              f"({bad.cycles}, {bad.latency})")
    env = simpy.Environment()
    schedule = env.schedule
    counter = [0]

    def release(tid: int, now: int) -> None:
        end[tid] = now
        counter[0] += 1
        if progress is not None and counter[0] % progress_every == 0:
            progress(counter[0], n)
        idle = None  # units that got a ready task while idle: dispatched once all of tid's successors are queued
        for s in succ[tid]:
            pending[s] -= 1
            if pending[s] == 0:
                ready[s] = now
                u = unit_of[s]
                if u < 0:  # a JOIN (no unit, no time) or a kernel's DISPATCH (no unit, its cycles)
                    unitless(s, now)
                    continue
                heappush(queues[u], key[s])
                if not busy[u]:
                    if idle is None:
                        idle = [u]
                    else:
                        idle.append(u)  # a repeat finds its unit busy
        if idle is not None:
            for u in idle:
                if not busy[u]:
                    dispatch(u, now)

    def unitless(tid: int, now: int) -> None:
        start[tid] = now
        c = cycles[tid]
        if c:
            schedule(_Wake(released, tid, -1, now + c), NORMAL, c)
        else:
            release(tid, now)

    def dispatch(u: int, now: int) -> None:
        q = queues[u]
        if not q:
            busy[u] = False
            return
        tid = heappop(q) % n1
        busy[u] = True
        start[tid] = now
        if kind_compute[tid] and deps[tid]:
            # the wait a memory task caused is its end minus when it could have started (its own deps)
            data_ready, late, other_ready = -1, -1, free_at[u]
            for d in deps[tid]:
                e = end[d]
                if is_mem[d]:
                    if e > data_ready:
                        data_ready, late = e, d
                    if ready[d] > other_ready:
                        other_ready = ready[d]
                elif e > other_ready:
                    other_ready = e
            if data_ready > other_ready:
                stall[tid] = data_ready - other_ready
                stall_level[tid] = task_level[late]
        c = cycles[tid]
        schedule(_Wake(unit_done, tid, u, now + c), NORMAL, c)

    def released(ev: _Wake) -> None:
        release(ev.tid, ev.at)

    def unit_done(ev: _Wake) -> None:
        tid, u, now = ev.tid, ev.u, ev.at
        free_at[u] = now
        lat = latency[tid]
        if lat:
            schedule(_Wake(released, tid, -1, now + lat), NORMAL, lat)
        else:
            release(tid, now)
        dispatch(u, now)

    try:
        for t in tasks:
            if not t.deps:
                if t.unit < 0:
                    unitless(t.id, 0)
                    continue
                heappush(queues[t.unit], key[t.id])
        for u in range(nunits):
            if queues[u]:
                dispatch(u, 0)
        env.run()
    finally:
        # the callbacks call each other through their closure cells: a cycle that kept every list above (a list
        # per task, 190k objects a Mixtral serving run) until a full collection; with the cells emptied they go
        # when simulate returns
        release = unitless = dispatch = released = unit_done = None  # type: ignore[assignment]
    if counter[0] != n:
        stuck = next(i for i in range(n) if end[i] < 0)
        raise SimulationError(f"simulation ended with {n - counter[0]} of {n} tasks unfinished "
                              f"(first: task {stuck} of op #{tasks[stuck].op})")
    if env.now >= MAX_CYCLES:
        raise SimulationError(f"the run takes {env.now:.3g} cycles, beyond the {MAX_CYCLES:.3g} a trace can count "
                              f"(an arch so slow or a workload so large that no result would mean anything)")
    return Trace(np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64),
                 np.asarray(stall, dtype=np.int64), np.asarray(stall_level, dtype=np.int16), levels,
                 events=sum(1 for u, c in zip(unit_of, cycles, strict=True) if u >= 0 or c)
                 + sum(1 for lat in latency if lat),
                 op=np.asarray(ops, dtype=np.int32), unit=np.asarray(unit_of, dtype=np.int32),
                 cycles=np.asarray(cycles, dtype=np.int64), kind=np.asarray(kinds, dtype=np.int8))
