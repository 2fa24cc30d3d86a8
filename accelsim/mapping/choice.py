"""Passes 4 and 5, choice: which units run each op and whether its output stays on chip.

* ``assign``: with ``options.split_ops`` an op's tile groups go round robin to the units of its kind it is split
  over: all of them on the chip (all systolic arrays of all cores, or all vector units) unless fewer do better by
  :func:`~.traffic.split_estimate` (without a shared cache every core streams the smaller operand: a memory-bound
  GEMM stays on one core); otherwise list scheduling over estimated durations puts it on the unit that can start
  it first.
* ``residency``: with ``options.activations_on_chip`` an op's output stays in its core's SRAM (no store, no
  load) when it fits beside the other live activations within half the SRAM and every consumer runs on that
  core; each op's tiles then use the SRAM the resident activations leave free. The weights of ops marked
  ``recurrent`` (a recurrent layer's per-step GEMMs, which re-read them every time step) stay in SRAM after their
  first load while a quarter of the SRAM of the cores they run on holds them: later steps load nothing. Then
  :mod:`.l2resident` marks the activations a later op reads back from a shared cache (a GPU's L2).
"""

from __future__ import annotations

from typing import NamedTuple

from ..hardware import Arch
from ..ir import Graph, OpKind
from ..options import Options
from ..tasks import Unit, UnitKind
from .l2resident import cache_residency
from .plan import Plan, TaskBudget
from .pricing import signature
from .traffic import split_estimate


def assign(plans: tuple[Plan, ...], units: tuple[Unit, ...], options: Options, arch: Arch,
           budget: TaskBudget | None = None) -> tuple[Plan, ...]:
    """Plans with the units each op runs on and their core (None when they span cores). With a task ``budget``,
    a pass sure to need more tasks stops here (:meth:`TaskBudget.error`), before the other ops are assigned and
    any task is built: an op split over n units (of one core each) builds at least one compute task on each
    (:func:`~.traffic.tile_groups` gives each a group), any other working op at least one task."""
    free = [0.0] * len(units)
    least = 0  # the tasks the ops so far build at least
    finish: dict[str, float] = {}
    pools: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        if u.kind is UnitKind.COMPUTE:
            pools.setdefault(u.group, []).append(i)
    by_core = {kind: _by_core(pool, units) for kind, pool in pools.items()}
    estimates = _estimates(arch)
    out = []
    for p in plans:
        ready = max((finish.get(t, 0.0) for t in p.inputs), default=0.0)
        if not p.works:
            finish[p.op.name] = ready
            out.append(p)
            continue
        pool = pools[p.unit_kind]
        if options.split_ops and len(pool) > 1 and p.cycles > 1 and "output_tiles" not in p.details:
            chosen, start, est = _split_units(p, by_core[p.unit_kind], free, ready, arch, options, estimates)
            for u in chosen:
                free[u] = start + est
        elif options.split_ops and len(pool) > 1 and p.cycles >= len(pool):  # a GPU core's output tiles: every unit
            chosen = tuple(pool)
            start = max(max(free[u] for u in pool), ready)
            for u in pool:
                free[u] = start + p.est / len(pool)
        else:
            best = pool[0] if len(pool) == 1 else min(pool, key=lambda u: (max(free[u], ready), u))
            chosen = (best,)
            free[best] = max(free[best], ready) + p.est
        least += len(chosen) if p.op.kind is not OpKind.COLLECTIVE and units[chosen[0]].count == 1 else 1
        if budget is not None and least > budget.tasks:
            raise budget.error(p.op.name)
        cores = {units[u].core for u in chosen}
        finish[p.op.name] = free[chosen[0]]
        out.append(p._replace(units=chosen, core=cores.pop() if len(cores) == 1 else None))
    return tuple(out)


# (the Arch last estimated on, its split estimates by key): one tuple, replaced whole, so that the repeated layers and
# passes of a model on one arch (a serving run's steps) are estimated once
_ESTIMATES: list[tuple[Arch | None, dict[tuple, dict[tuple[int, int], tuple[float, float, float]]]]] = [(None, {})]
_ESTIMATES_MAX = 4096  # ops' estimates kept for one arch; then it starts afresh
_ESTIMATES_COUNTS_MAX = 1 << 18  # and their counts of units' (~200 B each: an op on 4,096 cores has 4,096)


def _estimates(arch: Arch) -> dict[tuple, dict[tuple[int, int], tuple[float, float, float]]]:
    """The split estimates kept for ``arch`` (:func:`_split_units`)."""
    held = _ESTIMATES[0]
    full = len(held[1]) > _ESTIMATES_MAX or sum(map(len, held[1].values())) > _ESTIMATES_COUNTS_MAX
    if held[0] is not arch or full:
        # an equal Arch (every field, ~10 µs to compare: a preset loaded again) keeps them
        held = _ESTIMATES[0] = (arch, held[1] if held[0] == arch and not full else {})
    return held[1]


def _by_core(pool: list[int], units: tuple[Unit, ...]) -> list[list[int]]:
    """A pool's units by core, in core order."""
    cores: dict[int | None, list[int]] = {}
    for u in pool:
        cores.setdefault(units[u].core, []).append(u)
    return list(cores.values())


def _split_units(p: Plan, cores: list[list[int]], free: list[float], ready: float, arch: Arch, options: Options,
                 estimates: dict[tuple, dict[tuple[int, int], tuple[float, float, float]]],
                 ) -> tuple[tuple[int, ...], float, float]:
    """How many of its kind's units an op splits over, and which: (the units, their start, the estimated cycles).

    Every count is a candidate (none with more units than the op's compute cycles): 1 to all of one core's units
    (those of the core that frees them first), then every number of whole cores (those that free first). The op
    takes all of them unless fewer do better: from the most units down, a count replaces the one held when it is
    faster by the pipeline estimate of :func:`~.traffic.split_estimate` and no slower by its bound (the busiest
    unit's compute or the transfers, whichever is longer; each from the units' start: a memory-bound op moving as
    many bytes on fewer cores goes by the estimate), or computes no longer and moves no more bytes from no later a
    start (a GEMM over 5 cores whose columns take as many folds of the arrays
    as over 4 only copies its smaller operand once more). ``estimates`` keeps the estimates by what they read of
    the op (its priced signature, cycles and operand count) and of the options.

    Each count costs O(1) beyond its estimate (itself O(1) in the units, cached), and only the chosen count's
    units are listed, so that an op on a chip of thousands of cores is not O(cores²): the cores' free times are
    sorted once; of one core's first n units the one core is the one whose n-th frees first, ties going to the
    core with the lowest unit among them (the sorted unit tuples of different cores compare by their first)."""
    try:
        sig = (signature(p.op), p.cycles, len(p.operands), bool(p.epilogue), ready > 0, options.min_tiles_per_op,
               options.max_tiles_per_op, options.ramp_max)
        known = estimates.setdefault(sig, {})
    except TypeError:  # an unhashable attribute: estimated on its own
        known = {}
    per_core = len(cores[0])
    # each core's units in the order they free, and when the whole core frees
    ordered = [sorted(c, key=lambda u: (free[u], u)) if len(c) > 1 else c for c in cores]
    core_free = sorted((free[c[-1]], i) for i, c in enumerate(ordered))
    cands: list[_Split] = []

    def candidate(n: int, ncores: int, freed: float, core: int) -> None:
        got = known.get((n, ncores))
        if got is None:
            got = known[n, ncores] = split_estimate(p, arch, options, n, ncores, produced=ready > 0)
        cands.append(_Split(n, ncores, core, max(ready, freed), *got))

    lowest = [c[0] for c in ordered]  # each core's lowest unit among its first n
    for n in range(1, min(per_core, p.cycles) + 1):  # the n units of one core that free first
        for i, o in enumerate(ordered):
            lowest[i] = min(lowest[i], o[n - 1])
        freed, _, core = min((free[o[n - 1]], lowest[i], i) for i, o in enumerate(ordered))
        candidate(n, 1, freed, core)
    for ncores in range(2, min(len(cores), p.cycles // per_core) + 1):  # the ncores cores that free first
        candidate(per_core * ncores, ncores, core_free[ncores - 1][0], -1)
    best = cands[-1]
    for c in reversed(cands[:-1]):
        faster = (c.start + c.est < best.start + best.est
                  and c.start + max(c.compute, c.memory) < best.start + max(best.compute, best.memory))
        if faster or (c.compute <= best.compute and c.memory <= best.memory and c.start <= best.start):
            best = c
    if best.ncores == 1:
        units = tuple(sorted(ordered[best.core][:best.nunits]))
    else:
        units = tuple(sorted(u for _, i in core_free[:best.ncores] for u in cores[i]))
    return units, best.start, best.est


class _Split(NamedTuple):
    """A candidate split of an op (:func:`_split_units`): its units' count, their cores' count and, of one core's
    units, the core's index (else -1); their start and its estimate, compute and transfers in cycles."""

    nunits: int
    ncores: int
    core: int
    start: float
    est: float
    compute: float
    memory: float


def residency(plans: tuple[Plan, ...], graph: Graph, arch: Arch, options: Options) -> tuple[Plan, ...]:
    """Plans with ``resident_out`` and the resident bytes ``live_bytes`` beside each op; then the activations
    read from a shared cache (:func:`.l2resident.cache_residency`)."""
    if not options.activations_on_chip:
        return cache_residency(plans, graph, arch, options)
    last_use: dict[str, int] = {}
    users: dict[str, list[Plan]] = {}
    for p in plans:
        if p.works:
            for t in p.inputs:
                last_use[t] = p.index
                users.setdefault(t, []).append(p)
    region = arch.core.sram.total_bytes // 2
    live: dict[int, dict[str, int]] = {}  # core → its resident outputs (only cores holding some: a GPU has 100+)
    held: dict[int, int] = {}  # core → the bytes of those
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        for c, core_live in live.items():
            for t in [t for t in core_live if last_use.get(t, -1) < p.index]:
                held[c] -= core_live.pop(t)
        consumers = users.get(p.op.name, [])
        resident = False
        if p.core is not None and consumers and all(u.core == p.core for u in consumers):
            size = p.op.out_bytes
            if held.get(p.core, 0) + size <= region:
                live.setdefault(p.core, {})[p.op.name] = size
                held[p.core] = held.get(p.core, 0) + size
                resident = True
        # graph outputs leave the chip; cross-core tensors go through main memory
        out.append(p._replace(resident_out=resident, live_bytes=max(held.values(), default=0)))
    return cache_residency(_pin_recurrent_weights(tuple(out), arch), graph, arch, options)


def _pin_recurrent_weights(plans: tuple[Plan, ...], arch: Arch) -> tuple[Plan, ...]:
    """Plans whose ``recurrent`` weights, once loaded, stay in SRAM (a quarter of it per core, beside the
    activations' half) until their last reader: later readers drop them from ``weights`` and count them in
    ``live_bytes``; the first lists them in ``details["pinned_weights"]``."""
    last: dict[str, int] = {}
    for p in plans:
        if p.works and p.op.attrs.get("recurrent"):
            for w in p.weights:
                last[w.name] = p.index
    if not last:
        return plans
    region = arch.core.sram.total_bytes // 4
    pinned: dict[str, int] = {}  # weight → bytes per core while it stays
    out = []
    for p in plans:
        if not (p.works and p.op.attrs.get("recurrent")):
            out.append(p)
            continue
        for name in [n for n in pinned if last[n] < p.index]:
            del pinned[name]
        share = 1 if p.core is not None else arch.cores
        loads, new = [], []
        for w in p.weights:
            size = -(-w.nbytes(p.op.dtype) // share)
            if w.name in pinned:
                continue
            loads.append(w)
            if last[w.name] > p.index and sum(pinned.values()) + size <= region:
                pinned[w.name] = size
                new.append(w.name)
        details = {**p.details, "pinned_weights": new} if new else p.details
        out.append(p._replace(weights=tuple(loads), details=details,
                              live_bytes=p.live_bytes + sum(pinned.values())))
    return tuple(out)
