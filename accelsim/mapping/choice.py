"""Passes 4 and 5, choice: which units run each op and whether its output stays on chip.

* ``assign``: with ``options.split_ops`` an op's tile groups go round robin to every unit of its kind on the chip
  (all systolic arrays of all cores, or all vector units); otherwise list scheduling over estimated durations
  puts it on the unit that can start it first.
* ``residency``: with ``options.activations_on_chip`` an op's output stays in its core's SRAM (no store, no
  load) when it fits beside the other live activations within half the SRAM and every consumer runs on that
  core; each op's tiles then use the SRAM the resident activations leave free.
"""

from __future__ import annotations

from ..hardware import Arch
from ..ir import Graph
from ..options import Options
from ..tasks import Unit, UnitKind
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
            best = min(pool, key=lambda u: (max(free[u], ready), u))
            chosen = (best,)
            free[best] = max(free[best], ready) + p.est
        cores = {units[u].core for u in chosen}
        finish[p.op.name] = free[chosen[0]]
        out.append(p._replace(units=chosen, core=cores.pop() if len(cores) == 1 else None))
    return tuple(out)


def residency(plans: tuple[Plan, ...], graph: Graph, arch: Arch, options: Options) -> tuple[Plan, ...]:
    """Plans with ``resident_out`` and the resident bytes ``live_bytes`` beside each op."""
    if not options.activations_on_chip:
        return plans
    last_use: dict[str, int] = {}
    users: dict[str, list[Plan]] = {}
    for p in plans:
        if p.works:
            for t in p.inputs:
                last_use[t] = p.index
                users.setdefault(t, []).append(p)
    region = arch.core.sram.total_bytes // 2
    live: dict[int, dict[str, int]] = {c: {} for c in range(arch.cores)}
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        for core_live in live.values():
            for t in [t for t in core_live if last_use.get(t, -1) < p.index]:
                del core_live[t]
        consumers = users.get(p.op.name, [])
        resident = False
        if p.core is not None and consumers and all(u.core == p.core for u in consumers):
            size = p.op.out_bytes
            core_live = live[p.core]
            if sum(core_live.values()) + size <= region:
                core_live[p.op.name] = size
                resident = True
        # graph outputs leave the chip; cross-core tensors go through main memory
        out.append(p._replace(resident_out=resident, live_bytes=max(sum(v.values()) for v in live.values())))
    return tuple(out)
