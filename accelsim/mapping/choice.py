"""Passes 4 and 5, choice: which units run each op and whether its output stays on chip.

* ``assign``: with ``options.split_ops`` an op's tile groups go round robin to every unit of its kind on the chip
  (all systolic arrays of all cores, or all vector units); otherwise list scheduling over estimated durations
  puts it on the unit that can start it first.
* ``residency``: with ``options.activations_on_chip`` an op's output stays in its core's SRAM (no store, no
  load) when it fits beside the other live activations within half the SRAM and every consumer runs on that
  core; each op's tiles then use the SRAM the resident activations leave free. The weights of ops marked
  ``recurrent`` (a recurrent layer's per-step GEMMs, which re-read them every time step) stay in SRAM after their
  first load while a quarter of the SRAM of the cores they run on holds them: later steps load nothing. Then
  :mod:`.l2resident` marks the activations a later op reads back from a shared cache (a GPU's L2).
"""

from __future__ import annotations

from ..hardware import Arch
from ..ir import Graph
from ..options import Options
from ..tasks import Unit, UnitKind
from .l2resident import cache_residency
from .plan import Plan


def assign(plans: tuple[Plan, ...], units: tuple[Unit, ...], options: Options) -> tuple[Plan, ...]:
    """Plans with the units each op runs on and their core (None when they span cores)."""
    free = [0.0] * len(units)
    finish: dict[str, float] = {}
    pools: dict[str, list[int]] = {}
    for i, u in enumerate(units):
        if u.kind is UnitKind.COMPUTE:
            pools.setdefault(u.group, []).append(i)
    out = []
    for p in plans:
        ready = max((finish.get(t, 0.0) for t in p.inputs), default=0.0)
        if not p.works:
            finish[p.op.name] = ready
            out.append(p)
            continue
        pool = pools[p.unit_kind]
        if options.split_ops and len(pool) > 1 and p.cycles >= len(pool):
            chosen = tuple(pool)
            start = max(max(free[u] for u in pool), ready)
            for u in pool:
                free[u] = start + p.est / len(pool)
        else:
            best = pool[0] if len(pool) == 1 else min(pool, key=lambda u: (max(free[u], ready), u))
            chosen = (best,)
            free[best] = max(free[best], ready) + p.est
        cores = {units[u].core for u in chosen}
        finish[p.op.name] = free[chosen[0]]
        out.append(p._replace(units=chosen, core=cores.pop() if len(cores) == 1 else None))
    return tuple(out)


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
