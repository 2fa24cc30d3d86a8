"""Pass 3, pricing: each working op goes to the unit kind of the core that prefers it (the cost modules'
``accepts``, the first listed on a tie) and gets that kind's price (:mod:`accelsim.cost`). Identical ops (equal
:func:`signature`: a model's repeated layers) are priced once."""

from __future__ import annotations

from .. import cost
from ..errors import MappingError
from ..hardware import Arch, UnitSpec
from ..ir import Op
from .plan import Plan


def price(plans: tuple[Plan, ...], arch: Arch) -> tuple[Plan, ...]:
    """Plans with their unit kind, compute cycles, details and estimated duration."""
    specs = arch.core.unit_specs()
    models = {s.kind: cost.model(s.kind) for s in specs}
    main_bpc = arch.bytes_per_cycle(arch.main_memory)
    priced: dict[tuple, tuple[str, int, dict]] = {}
    out = []
    for p in plans:
        if not p.works:
            out.append(p)
            continue
        op = p.op
        key = signature(op)
        try:
            unit, cycles, details = priced[key]
        except KeyError:
            choice = _choose(op, specs, models)
            unit, cycles, details = priced[key] = (choice.name, *models[choice.kind].price(op, choice.spec, arch))
        except TypeError:  # an unhashable attribute: price it on its own
            choice = _choose(op, specs, models)
            unit, cycles, details = (choice.name, *models[choice.kind].price(op, choice.spec, arch))
        offchip = op.in_bytes + op.out_bytes + op.weight_bytes
        out.append(p._replace(unit_kind=unit, cycles=cycles, details=details, est=max(cycles, offchip / main_bpc)))
    return tuple(out)


def signature(op: Op) -> tuple:
    """What a cost model may read of an op: equal signatures, equal prices (its name and inputs aside)."""
    return (op.kind, op.dtype, op.gemm, op.vector_elems, op.macs, op.flops, op.in_shapes, op.out_shape,
            tuple(w.shape for w in op.weights), tuple(op.attrs.items()))


def _choose(op: Op, specs: tuple[UnitSpec, ...], models: dict) -> UnitSpec:
    """The core's unit whose cost model prefers ``op`` most (the first listed on a tie)."""
    best, choice = None, None
    for s in specs:
        pref = models[s.kind].accepts(op)
        if pref is not None and (best is None or pref > best):
            best, choice = pref, s
    if choice is None:
        raise MappingError(f"op {op.name!r} ({op.kind.value}): no unit of the core can run it "
                           f"(units: {', '.join(s.name for s in specs)})")
    return choice


__all__ = ["price", "signature"]
