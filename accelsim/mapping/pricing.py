"""Pass 3, pricing: each working op goes to the unit kind of the core that prefers it (the cost modules'
``accepts``, the first listed on a tie) and gets that kind's price (:mod:`accelsim.cost`). Identical ops on
identical hardware are priced once (the fold model is memoised by shape)."""

from __future__ import annotations

from dataclasses import replace

from .. import cost
from ..errors import MappingError
from ..hardware import Arch
from .plan import NONE, Plan


def price(plans: tuple[Plan, ...], arch: Arch) -> tuple[Plan, ...]:
    """Plans with their unit kind, compute cycles, details and estimated duration."""
    specs = arch.core.unit_specs()
    models = {s.kind: cost.model(s.kind) for s in specs}
    main_bpc = arch.bytes_per_cycle(arch.main_memory)
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        op = p.op
        best, choice = None, None
        for s in specs:
            pref = models[s.kind].accepts(op)
            if pref is not None and (best is None or pref > best):
                best, choice = pref, s
        if choice is None:
            raise MappingError(f"op {op.name!r} ({op.kind.value}): no unit of the core can run it "
                               f"(units: {', '.join(s.name for s in specs)})")
        cycles, details = models[choice.kind].price(op, choice.spec, arch)
        offchip = op.in_bytes + op.out_bytes + op.weight_bytes
        out.append(replace(p, unit_kind=choice.name, cycles=cycles, details=details,
                           est=max(cycles, offchip / main_bpc)))
    return tuple(out)


__all__ = ["price", "NONE"]
