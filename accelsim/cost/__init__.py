"""Cost models: what an op costs where it runs. The mapper chooses; these modules only price.

One module per op family: :mod:`.folds` (SCALE-Sim's systolic GEMM/conv model), :mod:`.gpu_tiles` (thread-block
output tiles in waves, split-K), :mod:`.attention` (fused attention), :mod:`.vector` (element-wise, reduction and
normalisation kernels), :mod:`.gather` (embedding and SPMM gathers), :mod:`.collective` (all-reduce on the chip
interconnect). A *unit kind* (a core's systolic array, its vector unit, or any kind registered with
:func:`accelsim.hardware.register_unit_kind`) names the module that prices ops on it; that module defines

* ``accepts(op) -> int | bool | None``: its preference for running ``op``: None or False, it cannot run it; True
  (counted as 1) or a number. The highest of a core's units wins; the built-ins give 1 (the vector unit 0 for a
  matmul: it runs one only where no other unit can), and on a tie a unit of ``core.units`` wins over them (so a
  plug-in that returns True takes the op), the first written among those,
* ``price(op, spec, arch) -> Priced``: the op's compute cycles on one such unit (all of it, before the mapper
  splits it over units) and the details the report shows; a registered kind's details may give ``pieces``, the op's
  work as that many equal pieces, which the mapper deals out whole (at most that many units; without it the cycles
  are cut evenly over the units, as a vector op's elements),
* ``macs_per_cycle(spec) -> float``: the unit's peak MACs per cycle (0 for the vector unit, whose lanes count as
  MACs only on a core with no systolic array nor a unit of ``core.units`` with MACs:
  :attr:`~accelsim.hardware.UnitSpec.runs_gemms`; a registered kind's is ≥ 0, 0 for a unit that does no MACs),
  counted in the chip's peak (``Arch.peak_macs_per_cycle``: ``mac_utilization``, the roofline),

and may define ``pj_per_mac(spec, dtype)`` (pJ per MAC on the unit), ``pj_per_flop(spec, dtype)`` (pJ per FLOP of
an op's work beyond its MACs on the unit) and ``area_mm2(spec)`` (mm² of one unit), each a number ≥ 0 or None for
the arch's energy constants' figure (docs/energy.md, "Plug-in unit kinds").
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple

from ..hardware import UNIT_KINDS, Arch

CACHE_SHARE = 0.5  # of the outermost cache's capacity: A100's and H100's L2 is two partitions, each caching the
# accesses of the SMs (GPCs) wired to it (nv_ampere_whitepaper, "L2 cache"; nv_h100_whitepaper), so a tensor that
# every SM reads may be held twice; half the capacity is what such tensors can count on (the same half as the
# SRAM residency of mapping/choice.py). The LRU rule of mapping/l2resident.py and split-K's partials
# (:mod:`.gpu_tiles`) both read it, through :func:`resident_bytes`; a cache level's ``resident_share`` replaces it.


def resident_bytes(arch: Arch, level: str | None = None) -> int:
    """Bytes of cache ``level`` (default: the outermost cache) one tensor can count on: its capacity × its
    ``resident_share``, else × :data:`CACHE_SHARE`; 0 without a cache."""
    if not arch.caches:
        return 0
    cache = arch.memory(level or arch.caches[-1])
    return int(cache.capacity * (cache.resident_share or CACHE_SHARE))


class Priced(NamedTuple):
    """An op's compute cycles on a unit and the details of how they were reckoned (report.json's ``mapping``)."""

    cycles: int
    details: dict


def model(kind: str) -> ModuleType:
    """The cost module of unit kind ``kind``."""
    return importlib.import_module(UNIT_KINDS[kind].cost)
