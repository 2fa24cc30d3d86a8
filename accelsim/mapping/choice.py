"""Passes 4 and 5, choice: which units run each op and whether its output stays on chip.

* ``assign``: with ``options.split_ops`` an op's tile groups go round robin to the units of its kind it is split
  over: all of them on the chip (all systolic arrays of all cores, or all vector units) unless fewer do better by
  :func:`~.traffic.split_estimate` (without a shared cache every core streams the smaller operand: a memory-bound
  GEMM stays on one core), each candidate priced with what ``residency`` would keep on chip (:class:`_Residency`:
  a candidate on the core holding its inputs neither stores nor loads them; any other pays that round trip);
  otherwise list scheduling over estimated durations puts it on the unit that can start it first.
* ``residency``: with ``options.activations_on_chip`` an op's output stays in its core's SRAM (no store, no
  load) when it fits beside the other live activations within half the SRAM and every consumer runs on that
  core, or, for an op split over several cores in bands of rows, when every reader is split over the same cores
  the same way (:func:`_band_cores`: each core keeps and reads its own band; a reader's window takes its
  neighbours' edge rows through main memory, :func:`_halo`); each op's tiles then use the SRAM the resident
  activations leave free. The weights of ops marked
  ``recurrent`` (a recurrent layer's per-step GEMMs, which re-read them every time step) stay in SRAM after their
  first load while a quarter of the SRAM of the cores they run on holds them: later steps load nothing. Then
  :mod:`.l2resident` marks the activations a later op reads back from a shared cache (a GPU's L2).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from ..cost import systolic
from ..hardware import Arch
from ..ir import Graph, Op, OpKind
from ..options import Options
from ..tasks import Unit, UnitKind
from .l2resident import cache_residency
from .plan import BANDS, Plan, TaskBudget
from .pricing import signature
from .traffic import held_weight_bytes, same_operands, split_estimate


def assign_and_reside(plans: tuple[Plan, ...], graph: Graph, units: tuple[Unit, ...], options: Options, arch: Arch,
                      budget: TaskBudget | None = None) -> tuple[Plan, ...]:
    """Passes 4 and 5: :func:`residency` of :func:`assign`'s plan, or, on a chip of several cores whose ops
    ``assign`` may split (``options.split_ops``; not a GPU-like chip's lock-step cores), of the plan that keeps every
    op on the first core (``assign`` over that core's units: the plan of a one-core chip) when that one is faster by
    :func:`plan_cycles`, or, when some op of ``assign``'s plan spans cores, of the plan that splits no op over cores
    (``assign`` with ``within_core``: each op on some units of one core, the core that can start it first) when
    that one is faster still. ``assign`` chooses op by op from each op's own estimate, which sees neither the main
    memory the cores share (an op on another core runs beside the first core's ops only as far as their transfers
    leave the memory free) nor what its choice does to later ops (a reader split over both cores sends its inputs
    off chip; an op split over every core leaves none to an independent chain, as a bidirectional RNN's other
    direction, which then runs after it), so its plan may move more bytes and take longer than the one-core plan or
    the one of a chain a core; the whole plans are compared instead by the same estimates with the memory shared.
    On a chip of more than two cores the plans of its first 2, 4, 8, … cores (``assign`` with ``first_cores``:
    the plan of a chip of that many), fewer than the greedy plan uses, are compared too, so that a chip of more
    identical cores is not chosen into a plan slower by these estimates than one of fewer cores (probe p200 #1:
    resnet18 on multicore-4, 145,661 cycles on 8 cores and 296,739 on 64). O(ops × cores), as ``assign`` (the
    plans of 2, 4, … cores take fewer cores in all than the chip has)."""
    chosen = residency(assign(plans, units, options, arch, budget), graph, arch, options, units)
    if not options.split_ops or arch.cores < 2 or arch.core.tile is not None:
        return chosen
    first = _first_core(units)
    if all(units[u].core == first for p in chosen for u in p.units):  # the greedy plan is the one-core plan
        return chosen
    plans_ = [chosen, residency(assign(plans, units, options, arch, budget, one_core=True), graph, arch, options,
                                units)]
    spread = len({units[u].core for p in chosen for u in p.units})
    k = 2
    while k < spread:  # the plans of a chip of 2, 4, 8, … of its cores, fewer than the greedy plan uses
        plans_.append(residency(assign(plans, units, options, arch, budget, first_cores=k), graph, arch, options,
                                units))
        k *= 2
    if any(p.core is None and p.units for p in chosen if p.works):  # some op spans cores: the plan that splits none
        plans_.append(residency(assign(plans, units, options, arch, budget, within_core=True), graph, arch, options,
                                units))
    # (a tie keeps the first: the greedy plan, then the one-core plan)
    return min(plans_, key=lambda plan: plan_cycles(plan, units, arch, options))


def _pass_start(p: Plan, finish: dict[str, float], began: dict[str, float], ready: float) -> None:
    """An op that does no work (a view) starts when the producer of its input that finishes last started, so
    that its reader's :func:`_lead` is that producer's run."""
    last = max(p.inputs, key=lambda t: finish.get(t, 0.0), default=None)
    began[p.op.name] = began.get(last, ready) if last is not None else ready


def most_units(p: Plan) -> int:
    """The most units ``p``'s work spreads over: its compute cycles, or fewer where its unit's cost model priced it
    as ``details["pieces"]`` whole pieces (a plug-in unit kind: :func:`~.traffic.unit_cycles` deals them out)."""
    return min(p.cycles, p.details.get("pieces", p.cycles))


def _first_core(units: tuple[Unit, ...]) -> int | None:
    """The lowest core of the compute units (the one core of :func:`assign`'s ``one_core`` plan)."""
    return min((u.core for u in units if u.kind is UnitKind.COMPUTE and u.core is not None), default=None)


def _estimate_key(p: Plan, options: Options, produced: bool) -> tuple:
    """What :func:`~.traffic.split_estimate` reads of an op's plan and of the options, its names aside, so that
    identical ops (a model's repeated layers, a training step's passes over them) are estimated once: the priced
    op (:func:`~.pricing.signature`) on its kind of unit, whose details pricing gave it (a function of the two on
    one arch); its cycles and the units its work spreads over; its operands' count and whether its A is also read
    as B (:func:`~.traffic.same_operands`); a fused residual; the bytes of its parameters held in SRAM
    (:func:`~.traffic.held_weight_bytes`); whether another op produces its inputs; and the options the tile groups
    and their ramp read. Raises TypeError for an unhashable op attribute."""
    same = same_operands(p)
    return (signature(p.op), p.unit_kind, p.cycles, most_units(p), len(p.operands),
            bool(same) and set(p.operands[0]) <= set(same), bool(p.epilogue), held_weight_bytes(p), produced,
            options.min_tiles_per_op, options.max_tiles_per_op, options.ramp_max)


def _estimate(p: Plan, arch: Arch, options: Options, n: int, ncores: int, produced: bool, on_chip: tuple[int, int],
              keep: bool, estimates: dict[tuple, dict[tuple, tuple[float, float, float]]], lead: float = math.inf,
              ) -> tuple[float, float, float]:
    """:func:`~.traffic.split_estimate`, kept in ``estimates`` (:func:`_estimates`, :func:`_split_units`' too):
    identical ops of a model's layers are estimated once (``lead`` to a whole cycle, :func:`_lead`)."""
    try:
        known = estimates.setdefault(_estimate_key(p, options, produced), {})
    except TypeError:  # an unhashable attribute: estimated on its own
        known = {}
    key = (n, ncores, *on_chip, keep, lead)
    got = known.get(key)
    if got is None:
        got = known[key] = split_estimate(p, arch, options, n, ncores, produced=produced, on_chip=on_chip,
                                          keep_out=keep, lead=lead)
    return got


def _lead(p: Plan, finish: dict[str, float], began: dict[str, float]) -> float:
    """The whole cycles the producer of ``p``'s input that finishes last runs (from its start, ``began``, to its
    finish): the time in which :func:`~.traffic.split_estimate` lets ``p``'s parameters load ahead (whole cycles,
    so that a model's identical layers share their estimates); unbounded when no op produces its inputs."""
    last = max(p.inputs, key=lambda t: finish.get(t, 0.0), default=None)
    if last is None or last not in began:
        return math.inf
    return float(math.floor(finish[last] - began[last]))


def _held_operands(p: Plan, held: Callable[[str], bool]) -> tuple[int, int]:
    """The bytes of ``p``'s A and B activations that are on chip: a logical input is when ``held`` says so of every
    tensor it is made of; an activation × activation matmul's (or attention's) later operands are B."""
    op = p.op
    pairs = op.kind in (OpKind.MATMUL, OpKind.ATTENTION) and len(p.operands) > 1
    a = b = 0
    for i, (tensors, shape) in enumerate(zip(p.operands, op.in_shapes, strict=False)):
        if tensors and all(held(t) for t in tensors):
            if pairs and i > 0:
                b += math.prod(shape) * op.elem_bytes
            else:
                a += math.prod(shape) * op.elem_bytes
    return a, b


def plan_cycles(plans: tuple[Plan, ...], units: tuple[Unit, ...], arch: Arch, options: Options) -> float:
    """The estimated cycles of a whole plan (units and residency chosen): a list schedule of its ops in order, each
    starting when its inputs are ready and its units free, and taking the longer of its
    :func:`~.traffic.split_estimate` (its units, its inputs held on chip and whether its output stays, as
    :func:`residency` decided) and its transfers behind those of the ops before it on the main memory, which every
    core shares (ops on different cores overlap only as far as the memory lets them: an op's transfers take the
    memory's idle time from when its inputs are ready, :class:`_Busy`, so a chain waiting on latencies leaves the
    memory to an independent chain beside it). An op :func:`assign` does not split (one unit of its kind, or no
    compute) takes its ``est`` and moves nothing here."""
    free = [0.0] * len(units)
    finish: dict[str, float] = {}
    began: dict[str, float] = {}  # op → its start (an op that does no work: its input's producer's, _lead)
    kept = {p.op.name for p in plans if p.resident_out}
    pools: dict[str, int] = {}
    for u in units:
        if u.kind is UnitKind.COMPUTE:
            pools[u.group] = pools.get(u.group, 0) + 1
    busy = _Busy()  # the main memory's busy time
    estimates = _estimates(arch)  # (once a plan: its check of their size is O(ops kept))
    end = 0.0
    for p in plans:
        ready = max((finish.get(t, 0.0) for t in p.inputs), default=0.0)
        if not p.works or not p.units:
            finish[p.op.name] = ready
            _pass_start(p, finish, began, ready)
            continue
        start = max(ready, max(free[u] for u in p.units))
        began[p.op.name] = start
        if pools[p.unit_kind] > 1 and most_units(p) > 1 and "output_tiles" not in p.details:
            # held on its core, or in bands on its cores (residency)
            a, b = _held_operands(p, kept.__contains__) if p.core is not None or BANDS in p.details else (0, 0)
            ncores = len({units[u].core for u in p.units})
            lead = _lead(p, finish, began)
            est, compute, memory = _estimate(p, arch, options, len(p.units), ncores, ready > 0, (a, b),
                                             p.resident_out, estimates, lead)
            # (all its transfers: the parameters its estimate loads ahead, while the ops before it run, too)
            ahead = _estimate(p, arch, options, len(p.units), ncores, False, (a, b),
                              p.resident_out, estimates)[2] - memory if ready > 0 else 0.0
        else:
            est, compute, memory, ahead = p.est, p.est, 0.0, 0.0
        # its transfers stream once the memory frees and its inputs are ready (its parameters sooner), into the
        # buffers its units free; its compute after its units free; then what its estimate has behind its transfers
        tail = max(est - memory, 0.0)
        moved = busy.take(ready - ahead, memory + ahead)
        done = max(start + max(compute, tail), moved + tail)
        for u in p.units:
            free[u] = done
        finish[p.op.name] = done
        end = max(end, done)
    return end


class _Busy:
    """The main memory's busy time in :func:`plan_cycles`' schedule: sorted, disjoint intervals of cycles. An op's
    transfers fill its idle time from when they may start (before, they queued behind every earlier op's in plan
    order, so a bidirectional GRU's reverse chain, whose steps each move a few KiB, was priced after the whole
    forward chain: 336,017 cycles estimated for a plan that runs in 189,820 on multicore-4's 2 cores)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def take(self, at: float, cycles: float) -> float:
        """Take ``cycles`` of the memory's idle time from ``at`` on, the earliest first; when they end."""
        starts, ends = self.starts, self.ends
        i = bisect_right(ends, at)  # the first interval ending after ``at``
        t = at
        while True:
            if i < len(starts) and starts[i] <= t:  # busy at t: skip to its end
                t = ends[i]
                i += 1
                continue
            gap = (starts[i] if i < len(starts) else math.inf) - t
            use = min(gap, cycles)
            if use > 0:
                # join the intervals it touches: the one ending at t, the one starting at t + use
                if i > 0 and ends[i - 1] >= t:
                    ends[i - 1] = t + use
                    if i < len(starts) and starts[i] <= t + use:
                        ends[i - 1] = ends.pop(i)
                        starts.pop(i)
                elif i < len(starts) and starts[i] <= t + use:
                    starts[i] = t
                else:
                    starts.insert(i, t)
                    ends.insert(i, t + use)
                    i += 1
            cycles -= use
            t += use
            if cycles <= 0:
                return t


def assign(plans: tuple[Plan, ...], units: tuple[Unit, ...], options: Options, arch: Arch,
           budget: TaskBudget | None = None, one_core: bool = False, within_core: bool = False,
           first_cores: int = 0) -> tuple[Plan, ...]:
    """Plans with the units each op runs on and their core (None when they span cores). With a task ``budget``,
    a pass sure to need more tasks stops here (:meth:`TaskBudget.error`), before the other ops are assigned and
    any task is built: an op split over n units (of one core each) builds at least one compute task on each
    (:func:`~.traffic.tile_groups` gives each a group), any other working op at least one task. With ``one_core``
    only the first core's units are used (the plan of a one-core chip, :func:`assign_and_reside`), with
    ``first_cores`` only those of the lowest ``first_cores`` cores (the plan of a chip of that many); with
    ``within_core`` no op splits over several cores (each takes units of one core, :func:`_split_units`)."""
    free = [0.0] * len(units)
    least = 0  # the tasks the ops so far build at least
    finish: dict[str, float] = {}
    began: dict[str, float] = {}  # op → its start (_lead)
    pools: dict[str, list[int]] = {}
    first = _first_core(units)
    allowed = None if not first_cores else set(sorted({u.core for u in units if u.kind is UnitKind.COMPUTE
                                                      and u.core is not None})[:first_cores])
    for i, u in enumerate(units):
        if u.kind is UnitKind.COMPUTE and (not one_core or u.core == first) and (allowed is None
                                                                                  or u.core in allowed):
            pools.setdefault(u.group, []).append(i)
    by_core = {kind: _by_core(pool, units) for kind, pool in pools.items()}
    estimates = _estimates(arch)
    # what activation residency (step 5) would keep on chip, as far as the ops assigned so far go
    resident = _Residency(plans, arch, units, by_core) if options.split_ops and options.activations_on_chip else None
    out = []
    for p in plans:
        ready = max((finish.get(t, 0.0) for t in p.inputs), default=0.0)
        if not p.works:
            finish[p.op.name] = ready
            _pass_start(p, finish, began, ready)
            out.append(p)
            continue
        pool = pools[p.unit_kind]
        on_chip = None
        if options.split_ops and len(pool) > 1 and most_units(p) > 1 and "output_tiles" not in p.details:
            if resident is not None:
                on_chip = resident.on_chip(p, finish)
            chosen, start, est = _split_units(p, by_core[p.unit_kind], free, ready, arch, options, estimates,
                                              on_chip, within_core, _lead(p, finish, began))
            done = start + est
            began[p.op.name] = start
            # its units free when its compute ends: the store of an output it may keep (a reader on its core
            # follows it) and that store's latency, which its estimate has behind its compute (``on_chip.store``),
            # hold none of them, though a reader elsewhere waits for them (as :class:`_Residency` times it)
            held = on_chip.store if on_chip is not None and not on_chip.kept else 0.0
            for u in chosen:
                free[u] = done - held
        elif options.split_ops and len(pool) > 1 and "output_tiles" in p.details and p.cycles >= len(pool):
            # a GPU core's output tiles: every unit
            chosen = tuple(pool)
            start = max(max(free[u] for u in pool), ready)
            done = start + p.est / len(pool)
            began[p.op.name] = start
            for u in pool:
                free[u] = done
        else:
            best = pool[0] if len(pool) == 1 else min(pool, key=lambda u: (max(free[u], ready), u))
            chosen = (best,)
            began[p.op.name] = max(free[best], ready)
            free[best] = done = began[p.op.name] + p.est
        least += len(chosen) if p.op.kind is not OpKind.COLLECTIVE and units[chosen[0]].count == 1 else 1
        if budget is not None and least > budget.tasks:
            raise budget.error(p.op.name, len(out) + 1, least=True)
        cores = {units[u].core for u in chosen}
        finish[p.op.name] = done
        core = cores.pop() if len(cores) == 1 else None
        if resident is not None:
            resident.settle(p, core, on_chip)
        out.append(p._replace(units=chosen, core=core))
    return tuple(out)


@dataclass(slots=True)
class _OnChip:
    """What activation residency (step 5) would keep on chip for the candidates of one op, as far as the ops
    assigned before it go (:meth:`_Residency.on_chip`). A one-core candidate on a core that holds some of its inputs
    reads them there and starts without their producers' stores; any other sends them to main memory: it starts
    after those stores (each producer's ``store`` cycles) and every other reader of theirs loads them (their bytes
    at main-memory bandwidth and a latency each: ``extra``, cycles it adds to other ops). ``ready`` and ``extra``
    are those of a candidate on no such core (or on several cores); ``homes`` maps the index (in
    ``_split_units``' ``cores``) of each such core to its (start, bytes of its A and B activations on chip:
    :func:`~.traffic.split_estimate`'s ``on_chip``, extra). ``keep`` says whether its output fits on a core beside
    the outputs kept there; a one-core candidate that reads some inputs on chip keeps it if it fits (its consumer
    can follow it), and when some core holds inputs, a candidate that does not keep it has its next reader load it
    (``after``, added to its extra; the same for every candidate when none keeps it, so then it weighs nothing).
    ``_split_units`` sets, for a one-core choice whose output fits, ``store``: the cycles its store adds to the
    chosen candidate's estimate, and ``kept``: whether that estimate left them out."""

    ready: float
    extra: float
    homes: dict[int, tuple[float, int, int, float]]
    keep: Callable[[int], bool]
    after: float
    store: float = field(default=0.0)
    kept: bool = field(default=False)


class _Residency:
    """The outputs activation residency (step 5) may keep on chip as far as :func:`assign` has gone, for the choice
    of the next op's units (:class:`_OnChip`): an op on one core keeps its output in that core's SRAM when ops read
    it and it fits in :func:`activation_region` beside the outputs kept there (the rule of :func:`residency`), until
    a reader runs elsewhere (residency keeps an output only when every reader runs on its core) or its last reader
    has run."""

    def __init__(self, plans: tuple[Plan, ...], arch: Arch, units: tuple[Unit, ...],
                 by_core: dict[str, list[list[int]]]) -> None:
        self.readers: dict[str, int] = {}  # tensor → the working ops that read it
        self.last: dict[str, int] = {}  # tensor → the index of the last
        for p in plans:
            if p.works:
                for t in dict.fromkeys(p.inputs):
                    self.readers[t] = self.readers.get(t, 0) + 1
                    self.last[t] = p.index
        self.region = activation_region(arch)
        self.bpc, self.lat = arch.bytes_per_cycle(arch.main_memory), arch.latency_cycles(arch.main_memory)
        # each unit kind's cores, by their index in by_core's lists, and back
        self.ids = {kind: [units[c[0]].core for c in cores] for kind, cores in by_core.items()}
        self.index = {kind: {core: i for i, core in enumerate(ids)} for kind, ids in self.ids.items()}
        # tensor → (its core, its bytes, its store's cycles, whether its producer's finish leaves them out)
        self.home: dict[str, tuple[int, int, float, bool]] = {}
        self.held: dict[int, int] = {}  # core → the bytes of those

    def on_chip(self, p: Plan, finish: dict[str, float]) -> _OnChip:
        """The :class:`_OnChip` of ``p``, whose inputs' producers finish at ``finish``."""
        home, op = self.home, p.op
        inputs = list(dict.fromkeys(p.inputs))
        homed = [t for t in inputs if t in home]
        loads = {t: (self.readers[t] - 1) * (home[t][1] / self.bpc + self.lat) for t in homed}
        # (a producer's finish leaves out the store of an output it keeps, or counts one that may not happen)
        ready = max((finish.get(t, 0.0) + self._shift(t, None) for t in inputs), default=0.0)
        index = self.index[p.unit_kind]
        homes: dict[int, tuple[float, int, int, float]] = {}
        for core in dict.fromkeys(home[t][0] for t in homed):
            if core not in index:
                continue
            at = max(finish.get(t, 0.0) + self._shift(t, core) for t in inputs)
            a, b = _held_operands(p, lambda t, core=core: t in home and home[t][0] == core)
            homes[index[core]] = (at, a, b, sum(loads[t] for t in homed if home[t][0] != core))
        size, held, region, ids = op.out_bytes, self.held, self.region, self.ids[p.unit_kind]
        keeps = bool(self.readers.get(op.name)) and size <= region
        return _OnChip(ready, sum(loads.values()), homes, lambda i: keeps and held.get(ids[i], 0) + size <= region,
                       size / self.bpc + self.lat if keeps else 0.0)

    def _shift(self, t: str, core: int | None) -> float:
        """When ``t`` is ready for an op on ``core`` (None: on several), from its producer's finish: a producer
        whose estimate left its store out (it kept its output) stores it for an op elsewhere; one whose estimate
        counted it spares it for an op on its core."""
        h = self.home.get(t)
        if h is None:
            return 0.0
        _, _, store, kept = h
        return (store if kept else 0.0) - (store if h[0] == core else 0.0)

    def settle(self, p: Plan, core: int | None, on_chip: _OnChip | None) -> None:
        """``p`` took its units on ``core`` (None: several; ``on_chip`` its :class:`_OnChip`, if it had one): its
        inputs kept on another core go to main memory; its output stays when it fits beside those kept on its core;
        then the inputs it reads last leave."""
        home, held = self.home, self.held
        inputs = list(dict.fromkeys(p.inputs))
        for t in inputs:
            h = home.get(t)
            if h is not None and h[0] != core:
                del home[t]
                held[h[0]] -= h[1]
        size = p.op.out_bytes
        if core is not None and self.readers.get(p.op.name) and held.get(core, 0) + size <= self.region:
            home[p.op.name] = (core, size, 0.0, False) if on_chip is None else (core, size, on_chip.store, on_chip.kept)
            held[core] = held.get(core, 0) + size
        for t in inputs:
            h = home.get(t)
            if h is not None and self.last[t] == p.index:
                del home[t]
                held[h[0]] -= h[1]


def activation_region(arch: Arch) -> int:
    """The bytes of a core's SRAM its resident activations may hold (step 5): half of it."""
    return arch.core.sram.total_bytes // 2


# (the Arch last estimated on, its split estimates by key): one tuple, replaced whole, so that the repeated layers and
# passes of a model on one arch (a serving run's steps) are estimated once
_ESTIMATES: list[tuple[Arch | None, dict[tuple, dict[tuple, tuple[float, float, float]]]]] = [(None, {})]
_ESTIMATES_MAX = 4096  # ops' estimates kept for one arch; then it starts afresh
_ESTIMATES_COUNTS_MAX = 1 << 18  # and their counts of units' (~200 B each: an op on 4,096 cores has 4,096)


def _estimates(arch: Arch) -> dict[tuple, dict[tuple, tuple[float, float, float]]]:
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
                 estimates: dict[tuple, dict[tuple, tuple[float, float, float]]], on_chip: _OnChip | None = None,
                 within_core: bool = False, lead: float = math.inf) -> tuple[tuple[int, ...], float, float]:
    """How many of its kind's units an op splits over, and which: (the units, their start, the estimated cycles).

    Every count is a candidate (none with more units than its work spreads over, :func:`most_units`): 1 to all of one core's units
    (those of the core that frees them first, and with ``on_chip`` those of each core holding some of its inputs),
    then, unless ``within_core``, every number of whole cores (those that free first). The op takes all of them unless fewer do better:
    from the most units down, a count replaces the one held when it is faster by the pipeline estimate of
    :func:`~.traffic.split_estimate` and by its bound (the busiest unit's compute or the transfers, whichever is
    longer, each from the units' start; less the memory latency of a first load or a last store the candidate does
    not make), both with the cycles it adds to other ops (:class:`_OnChip`'s extra), or computes no longer, moves no
    more bytes and adds no more from no later a start (a GEMM over 5 cores whose columns take as many folds of the
    arrays as over 4 only copies its smaller operand once more). ``on_chip`` prices each one-core candidate with
    the inputs its core holds and whether its output stays (:class:`_OnChip`); without it nothing is on chip.
    ``estimates`` keeps the estimates by what they read of the op and the options (:func:`_estimate_key`) and of
    what is on chip.

    Each count costs O(1) beyond its estimate (itself O(1) in the units, cached), and only the chosen count's
    units are listed, so that an op on a chip of thousands of cores is not O(cores²): the cores' free times are
    sorted once; of one core's first n units the one core is the one whose n-th frees first, ties going to the
    core with the lowest unit among them (the sorted unit tuples of different cores compare by their first)."""
    try:
        known = estimates.setdefault(_estimate_key(p, options, ready > 0), {})
    except TypeError:  # an unhashable attribute: estimated on its own
        known = {}
    per_core = len(cores[0])
    # each core's units in the order they free, and when the whole core frees
    ordered = [sorted(c, key=lambda u: (free[u], u)) if len(c) > 1 else c for c in cores]
    core_free = sorted((free[c[-1]], i) for i, c in enumerate(ordered))
    cands: list[_Split] = []

    def estimate(n: int, ncores: int, core: int, keep: bool | None = None,
                 ) -> tuple[float, tuple[float, float, float], float, bool]:
        """The start its inputs allow, the estimate of n units of ``ncores`` cores (of one: core ``core``), the
        cycles its choice adds to other ops and whether its output stays on chip (:class:`_OnChip`)."""
        at, a, b, extra = ready, 0, 0, 0.0
        if on_chip is not None:
            at, extra = on_chip.ready, on_chip.extra
            if ncores == 1:
                at, a, b, extra = on_chip.homes.get(core, (at, a, b, extra))
                keep = (on_chip.keep(core) and a + b > 0) if keep is None else keep
            if not keep and on_chip.homes:
                extra += on_chip.after
        keep = bool(keep)
        key = (n, ncores, a, b, keep, lead)
        got = known.get(key)
        if got is None:
            got = known[key] = split_estimate(p, arch, options, n, ncores, produced=ready > 0, on_chip=(a, b),
                                              keep_out=keep, lead=lead)
        return at, got, extra, keep

    def candidate(n: int, ncores: int, freed: float, core: int) -> None:
        at, got, extra, keep = estimate(n, ncores, core)
        cands.append(_Split(n, ncores, core, max(at, freed), *got, extra, keep))

    lowest = [c[0] for c in ordered]  # each core's lowest unit among its first n
    most = most_units(p)
    for n in range(1, min(per_core, most) + 1):  # the n units of one core that free first
        for i, o in enumerate(ordered):
            lowest[i] = min(lowest[i], o[n - 1])
        freed, _, core = min((free[o[n - 1]], lowest[i], i) for i, o in enumerate(ordered))
        candidate(n, 1, freed, core)
    if on_chip is not None and on_chip.homes:  # and the n units of each core that holds some of its inputs
        listed = {(c.nunits, c.core) for c in cands}
        for h in on_chip.homes:
            for n in range(1, min(per_core, most) + 1):
                if (n, h) not in listed:
                    candidate(n, 1, free[ordered[h][n - 1]], h)
        cands.sort(key=lambda c: c.nunits)  # (stable: for a count, the core that frees first, then those)
    spans = 1 if within_core else min(len(cores), most // per_core)
    for ncores in range(2, spans + 1):  # the ncores cores that free first
        candidate(per_core * ncores, ncores, core_free[ncores - 1][0], -1)
    lat = arch.latency_cycles(arch.main_memory)

    def bound(c: _Split) -> float:  # (less the latency of a first load or a last store it does not make)
        return c.start + max(c.compute, c.memory) - lat * ((c.memory == 0) + c.kept) + c.extra

    best = cands[-1]
    for c in reversed(cands[:-1]):
        faster = c.start + c.est + c.extra < best.start + best.est + best.extra and bound(c) < bound(best)
        if faster or (c.compute <= best.compute and c.memory <= best.memory and c.start <= best.start
                      and c.extra <= best.extra):
            best = c
    if on_chip is not None and best.ncores == 1 and on_chip.keep(best.core):
        stays = estimate(best.nunits, 1, best.core, keep=True)[1][0]
        on_chip.store = max(estimate(best.nunits, 1, best.core, keep=False)[1][0] - stays, 0.0)
        on_chip.kept = best.kept
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
    extra: float = 0.0  # the cycles it adds to other ops (:class:`_OnChip`)
    kept: bool = False  # its output stays on chip


class _Held:
    """The outputs each core keeps in its activation region (only cores holding some: a GPU has 100+), and their
    bytes."""

    def __init__(self, region: int) -> None:
        self.region = region
        self.live: dict[int, dict[str, int]] = {}  # core → its resident outputs
        self.held: dict[int, int] = {}  # core → the bytes of those

    def release(self, index: int, last_use: dict[str, int]) -> None:
        """Drop the outputs no op from ``index`` on reads."""
        for c, core_live in self.live.items():
            for t in [t for t in core_live if last_use.get(t, -1) < index]:
                self.held[c] -= core_live.pop(t)

    def keep(self, cores: Iterable[int], name: str, share: int) -> bool:
        """Keep ``share`` bytes of ``name`` on each of ``cores`` if it fits beside what each holds."""
        cores = tuple(cores)
        if any(self.held.get(c, 0) + share > self.region for c in cores):
            return False
        for c in cores:
            self.live.setdefault(c, {})[name] = share
            self.held[c] = self.held.get(c, 0) + share
        return True

    def most(self) -> int:
        return max(self.held.values(), default=0)


def residency(plans: tuple[Plan, ...], graph: Graph, arch: Arch, options: Options,
              units: tuple[Unit, ...] = ()) -> tuple[Plan, ...]:
    """Plans with ``resident_out`` and the resident bytes ``live_bytes`` beside each op (each core's: an output
    kept in :data:`BANDS` counts its share on each of its cores); then the activations read from a shared cache
    (:func:`.l2resident.cache_residency`)."""
    if not options.activations_on_chip:
        return cache_residency(plans, graph, arch, options)
    last_use: dict[str, int] = {}
    users: dict[str, list[Plan]] = {}
    for p in plans:
        if p.works:
            for t in p.inputs:
                last_use[t] = p.index
                users.setdefault(t, []).append(p)
    held = _Held(activation_region(arch))
    halo_in: dict[str, int] = {}  # op → the bytes it loads of its neighbours' bands (BANDS)
    banded: set[str] = set()  # the outputs kept in bands
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        held.release(p.index, last_use)
        consumers = users.get(p.op.name, [])
        resident = False
        details = p.details
        cores = _band_cores(p, units)
        # (a parameter's gradient is not an activation: it lives in main memory, reserved with the gradients,
        # mapping.placement, until its optimizer step reads it)
        if p.core is not None and consumers and all(u.core == p.core for u in consumers) and not _gradient(p.op):
            resident = held.keep((p.core,), p.op.name, p.op.out_bytes)
            if not resident:  # it would stay but does not fit beside what the core holds: to main memory and back
                details = {**details, "output_spilled": p.op.out_bytes}
        elif cores and consumers and all(_band_cores(u, units) == cores and _band_reader(u, p.op.name)
                                         for u in consumers):
            # each core keeps the band it wrote
            resident = held.keep(cores, p.op.name, -(-p.op.out_bytes // len(cores)))
            details = _banded(p, consumers, len(cores), halo_in) if resident else \
                {**details, "output_spilled": p.op.out_bytes}
            if resident:
                banded.add(p.op.name)
        if p.op.name in halo_in:
            details = {**details, "halo_in": halo_in[p.op.name]}
        if cores and BANDS not in details and any(t in banded for t in p.inputs):  # it reads its own bands
            details = {**details, BANDS: len(cores)}
        # graph outputs leave the chip; cross-core tensors go through main memory
        out.append(p._replace(resident_out=resident, live_bytes=held.most(), details=details))
    return cache_residency(_pin_recurrent_weights(tuple(out), arch), graph, arch, options)


def _gradient(op: Op) -> bool:
    """Whether ``op`` writes a parameter's gradient (a training step's ``grad_weight`` / ``grad_bias``): the tensor
    ``memory.hbm.gradients`` holds."""
    return op.attrs.get("grad") in ("weight", "bias")


def _banded(p: Plan, consumers: list[Plan], ncores: int, halo_in: dict[str, int]) -> dict:
    """``p``'s details once its output is kept in bands over ``ncores`` cores: :data:`BANDS`, and the rows its
    readers' windows take from across its bands' edges that it stores (``halo_out``; each reader's share added to
    ``halo_in``)."""
    details = {**p.details, BANDS: ncores}
    halos = [_halo(u, p.op.out_bytes, ncores) for u in consumers]
    for u, h in zip(consumers, halos, strict=True):
        if h:
            halo_in[u.op.name] = halo_in.get(u.op.name, 0) + h
    if any(halos):
        details["halo_out"] = sum(halos)
    return details


def _band_cores(p: Plan, units: tuple[Unit, ...]) -> frozenset[int]:
    """The cores ``p`` is split over when it cuts its output into bands of rows, one a core (empty otherwise): a
    single-operand GEMM (a linear, a 2-D convolution) whose activations outweigh its parameters (:mod:`.traffic`
    then cuts it along M, the rows: batch × output pixels, or tokens; it stays cut so when it reads or keeps bands)
    and that has a row per unit, or a vector op that keeps its input's shape (an activation, a norm, an add) or a
    2-D pooling window with an output row per core (its output rows: batch × output height)."""
    if p.core is not None or not units or len(p.units) < 2 or p.shares:
        return frozenset()
    cores = frozenset(units[u].core for u in p.units)
    if len(cores) < 2 or None in cores or "pieces" in p.details or "output_tiles" in p.details:
        return frozenset()
    op = p.op
    if op.kind.is_matmul:
        g = op.gemm
        ok = (op.kind is not OpKind.ATTENTION and g is not None and g.count == 1 and len(p.operands) <= 1
              and g.m >= len(p.units) and op.in_bytes > op.weight_bytes
              and ("kernel" not in op.attrs or (op.fn == "conv2d" and len(op.in_shapes[0]) == 4)))
    elif "kernel" in op.attrs:
        ok = op.kind is OpKind.POOL and len(op.out_shape) == 4 and op.out_shape[0] * op.out_shape[2] >= len(cores)
    else:
        out = math.prod(op.out_shape)
        ok = all(math.prod(s) == out for s in op.in_shapes)
    return cores if ok else frozenset()


def _band_reader(p: Plan, t: str) -> bool:
    """Whether ``p`` (a :func:`_band_cores` op) reads all of ``t`` as the rows of its own bands: a GEMM's only
    operand (its rows: a convolution's output pixels, from those rows of its input) or its fused residual, a vector
    op's input."""
    return not p.op.kind.is_matmul or (bool(p.operands) and t in p.operands[0]) or t in p.epilogue


def _halo(p: Plan, nbytes: int, ncores: int) -> int:
    """The bytes of a banded input of ``nbytes`` (batch × channels × height × width) that ``p``'s cores read from
    their neighbours' bands: a window of kh rows (dilated: (kh − 1)·dh + 1) moved by sh rows per output row needs
    its extent less its stride, (kh − 1)·dh + 1 − sh rows (kh − 1 at stride 1; one for a 3×3 at stride 2, none for
    a 2×2 pool at stride 2), of the band next to it at each edge between bands that falls inside an image: the edge
    k of the ncores − 1 (at k/ncores of the batch's rows) lies between images when k × batch is a multiple of
    ncores, so none when the batch is a multiple of the cores (probe p46: every edge was charged, at kh − 1 rows).
    They go through main memory: the arch models no path between cores."""
    kernel = p.op.attrs.get("kernel")
    if not kernel:
        return 0
    n, _, h, _ = p.op.in_shapes[0]
    dil = p.op.attrs.get("dilation") or (1,)
    stride = p.op.attrs.get("stride") or (1,)
    extent = (int(kernel[0]) - 1) * int(dil[0]) + 1  # type: ignore[index]
    rows = min(extent - int(stride[0]), h)  # type: ignore[index]
    edges = sum(1 for k in range(1, ncores) if k * n % ncores)
    if rows <= 0 or not edges:
        return 0
    return edges * rows * -(-nbytes // (n * h))


def _pin_recurrent_weights(plans: tuple[Plan, ...], arch: Arch) -> tuple[Plan, ...]:
    """Plans whose ``recurrent`` weights, once loaded, stay in SRAM (a quarter of it per core, beside the
    activations' half) until their last reader: later readers on the same core (or spanning cores, as it did) drop
    them from ``weights`` and count them in ``live_bytes``; the first lists them in ``details["pinned_weights"]``.
    A reader elsewhere loads them again and holds them from then on (the plan that splits no op over cores may run
    a chain's first step on another core than the rest: that core's SRAM holds its weights, not the rest's). A
    weight that does not fit beside those held makes room by dropping the held ones read next later than it, the
    latest first (Belady's rule: a layer's weights held from the forward pass until its backward make way for the
    next layer's backward chain; probe p255 #4: lstm_lm's layer-0 W_hh kept layer 1's out of tpu-v4's core 1, whose
    backward steps t33 and t32 each loaded it again). A GPU step whose B (its first weight) is held is priced again
    without B's panels (:func:`_held_tiles`). None stay on an arch whose ``core.sram.holds`` is ``activations``
    (TPU v1: every step reads them from the weight memory again)."""
    reads: dict[str, list[int]] = {}  # weight → the indices of its recurrent readers, in order
    for p in plans:
        if p.works and p.op.attrs.get("recurrent"):
            for w in p.weights:
                reads.setdefault(w.name, []).append(p.index)
    last = {name: at[-1] for name, at in reads.items()}

    def next_read(name: str, index: int) -> int:
        at = reads[name]
        return at[bisect_right(at, index)]  # (only asked while a later reader is left: last[name] > index)
    if not last or arch.core.sram.holds != "all":  # a buffer for activations only keeps no weights
        return plans
    region = arch.core.sram.total_bytes // 4
    paths = _output_paths(plans) if arch.core.tile else {}
    pinned: dict[str, tuple[int, int | None]] = {}  # weight → (bytes per core, its core: None over all) while it stays
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
                if pinned[w.name][1] == p.core:
                    continue
                del pinned[w.name]  # held on other cores: loaded here again
            loads.append(w)
            if last[w.name] <= p.index:
                continue
            if size <= _make_room(pinned, w.name, size, region, {v.name for v in p.weights},
                                  lambda n, i=p.index: next_read(n, i)):
                pinned[w.name] = (size, p.core)
                new.append(w.name)
        details = {**p.details, "pinned_weights": new} if new else p.details
        cycles = p.cycles
        if arch.core.tile and "output_tiles" in details and p.op.weights and p.op.weights[0] in p.weights \
                and p.op.weights[0] not in loads:
            cycles, details = _held_tiles(p, details, arch, paths)
        out.append(p._replace(weights=tuple(loads), details=details, cycles=cycles,
                              live_bytes=p.live_bytes + sum(b for b, _ in pinned.values())))
    return tuple(out)


def _output_paths(plans: tuple[Plan, ...]) -> dict[str, int]:
    """On a GPU: op → its fused ops' output-path cycles (:func:`.fusion.pipeline`)."""
    paths: dict[str, int] = {}
    for p in plans:
        if "fused_into" in p.details:
            root = p.details["fused_into"]
            paths[root] = paths.get(root, 0) + p.details.get("output_path_cycles", 0)
    return paths


def _make_room(pinned: dict[str, tuple[int, int | None]], name: str, size: int, region: int, mine: set[str],
               next_read: Callable[[str], int]) -> int:
    """The bytes free for weight ``name`` of ``size`` in a core's ``region`` beside the ``pinned`` ones, after
    dropping, where that makes it fit, the held weights (not the step's own, ``mine``) read again later than it, the
    one read latest first (:func:`_pin_recurrent_weights`: Belady's rule); ``pinned`` loses those it drops."""
    room = region - sum(b for b, _ in pinned.values())
    if size <= room:
        return room
    soon = next_read(name)
    later = sorted((n for n in pinned if n not in mine and next_read(n) > soon), key=lambda n: (-next_read(n), n))
    if size <= room + sum(pinned[n][0] for n in later):
        for n in later:
            if size <= room:
                break
            room += pinned.pop(n)[0]
    return room


def _held_tiles(p: Plan, details: dict, arch: Arch, paths: dict[str, int]) -> tuple[int, dict]:
    """(cycles, details) of a GPU GEMM step whose B, its weights, stays in the SMs (:func:`_pin_recurrent_weights`),
    as a persistent RNN kernel keeps them in registers and shared memory across steps (Diamos et al., "Persistent
    RNNs", ICML 2016): its output tiles priced again with their K-stages and prologue loading A alone
    (:func:`~accelsim.cost.systolic.gpu_gemm` ``b_held``), not B's panels through the L2 every step (probe p113 #3:
    lstm_lm's ``rnn.l0.t1.hh`` on a100 read 3,464,500 B of B panels from L2 at each step); the tiling details
    replaced, the rest kept, and the cycles no fewer than its fused output path's (:func:`.fusion.pipeline`)."""
    sa = arch.core.systolic
    cycles, tiled = systolic.gpu_gemm(p.op, sa, arch, b_held=True)
    _, before = systolic.gpu_gemm(p.op, sa, arch)
    return max(cycles, paths.get(p.op.name, 0)), {**{k: v for k, v in details.items() if k not in before}, **tiled}
