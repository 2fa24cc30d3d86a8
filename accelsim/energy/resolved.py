"""An arch's energy, power and area constants as a run would use them, before any run (``accelsim info ARCH``).

Every figure comes from :func:`accelsim.energy.constants`, the function a run's report is accounted with, so the
numbers ``info`` shows are the ones report.json's ``energy``, ``power`` and ``area`` are built from.
"""

from __future__ import annotations

from typing import Any

from ..hardware import Arch, dtype_rate
from ..units import RATE_BITS
from .model import PJ, array_on_lanes, chip_volts, constants, reference_volts, scratchpad_port_bits


def mac_dtypes(arch: Arch) -> list[str]:
    """The dtypes the arch's MAC units run at, in :data:`~accelsim.units.RATE_BITS` order: each compute dtype as the
    unit runs it (:func:`~accelsim.hardware.dtype_rate`'s ``runs_as``: fp8 on an A100 runs, and is charged, as
    bf16), the arch's own dtype first. A systolic array listing no ``rates`` runs every dtype as the arch's
    ``dtype`` (the mapper's rule, :mod:`accelsim.cost.systolic`'s ``runs_as``), so it adds none but that one: a bf16
    GEMM on gemmini is charged int8's 0.0828 pJ a MAC, which ``info`` showed as bf16's 0.4088 (probe p87 #4)."""
    out = [arch.dtype]
    for u in arch.core.unit_specs():
        macs = u.macs_per_cycle
        if not isinstance(macs, (int, float)) or isinstance(macs, bool) or macs <= 0:
            continue
        rates = dict(getattr(u.spec, "rates", None) or {})
        if not rates and u.kind == "systolic":
            continue
        out += [dtype_rate(rates, dtype)[0] for dtype in RATE_BITS]
    return list(dict.fromkeys(out))


def arch_energy(arch: Arch) -> dict[str, Any] | None:
    """The arch's resolved energy constants, one chip's, or None when it gives no ``energy``: ``node_nm``,
    ``voltage_v`` (the chip's supply voltage) and ``reference_voltage_v`` (its own figures', at ``reference_node``:
    :func:`~accelsim.energy.model.reference_volts`), ``tdp_w`` (None: none given), ``idle_power_w`` (the chip's static power: ``idle_power``, else leakage × area;
    ``static_w`` adds each level's own ``static_power``, as report.json's ``power.static_w``),
    ``activity_power_share`` and ``activity_w`` (what a busy chip draws beyond its priced actions), ``mac_pj``
    (pJ per MAC of each dtype of :func:`mac_dtypes`, in the array, at the node), ``mac_on_lanes`` (those of them the
    array runs on the vector lanes, :func:`~accelsim.energy.model.array_on_lanes`: priced as a lane multiply-add, 2
    vector FLOPs of that dtype, as h100's fp32 on its CUDA cores), ``vector_pj`` (per vector FLOP at
    the arch's dtype), ``level_pj_per_byte`` (each level of the hierarchy, and the chip link's),
    ``no_energy_per_bit`` (the levels that give no figure: their bytes cost 0 J), ``sram_port_bits`` (the
    scratchpad's port width the SRAM rule prices it at: :func:`~accelsim.energy.model.scratchpad_port_bits`) and
    ``sram_port_rule`` (``rows`` / ``cols`` where that width follows the array, else None)."""
    c = constants(arch)
    if c is None:
        return None
    spec = arch.energy
    assert spec is not None
    own = sum(arch.memory(lv.name).static_power or 0.0 for lv in arch.hierarchy()[1:])  # the levels' own watts
    chip_static = c.static_total - own
    return {"node_nm": spec.node, "voltage_v": chip_volts(spec), "reference_voltage_v": reference_volts(spec),
            "tdp_w": c.tdp, "idle_power_w": chip_static, "static_w": c.static_total,
            "activity_power_share": spec.activity_power_share, "activity_w": c.activity_w,
            "mac_pj": {dtype: _mac_j(arch, dtype) / PJ for dtype in mac_dtypes(arch)},
            "mac_on_lanes": [dtype for dtype in mac_dtypes(arch) if array_on_lanes(arch, dtype)],
            "vector_pj": c.vector_j / PJ,
            "level_pj_per_byte": {lv: j * 8 / PJ for lv, j in c.level_j_per_bit.items()},
            "no_energy_per_bit": list(c.missing), "sram_port_bits": scratchpad_port_bits(arch),
            "sram_port_rule": spec.sram_port_bits if isinstance(spec.sram_port_bits, str) else None}


def _mac_j(arch: Arch, dtype: str) -> float:
    c = constants(arch, dtype)
    assert c is not None
    return c.mac_j


def arch_area(arch: Arch) -> dict[str, Any] | None:
    """The arch's area, one chip's, as report.json's ``area`` gives it for a run at the arch's dtype:
    ``units`` and ``levels`` (mm² each), ``other_mm2`` and ``total_mm2``; None when it gives no ``energy``."""
    c = constants(arch)
    if c is None:
        return None
    return {"total_mm2": c.area_total, "units": dict(c.unit_area), "levels": dict(c.level_area),
            "other_mm2": c.other_area}
