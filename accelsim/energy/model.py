"""Energy, power and area of one run from the actions it counted (docs/energy.md).

:class:`Constants` carries an arch's :class:`~accelsim.hardware.EnergySpec` to its node once: J per MAC and per
vector FLOP, J per bit at every level (the scratchpad and caches by the SRAM rule unless a level gives its own
``energy_per_bit``), the area of every unit and level, and the chip's static power shared over them by area.
:func:`account` turns a report dict (its op rows' MACs, FLOPs and bytes per level, its seconds) into report.json's
``energy``, ``power``, ``efficiency``, ``edp`` and ``area`` and adds ``energy_j`` to every op row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import MappingError
from ..hardware import SCRATCHPAD, Arch, EnergySpec, UnitSpec, dtype_rate, first_unit
from ..tasks import HOST_CPU
from ..units import DTYPE_BYTES, Sparsity
from .tech import (
    DEFAULT_VOLTAGE,
    HOROWITZ_VOLTAGE,
    REGISTER_BIT_45NM_UM2,
    SRAM_BITCELL_45NM_UM2,
    SRAM_PJ_45NM,
    area_scale,
    energy_scale,
    is_float,
    mac_45nm,
    operand_bits,
    sram_area_mm2,
    sram_cell_scale,
    sram_pj_per_bit,
)

PJ = 1e-12
UM2 = 1e-6  # mm² per µm²
LINK = "link"  # the name of the chip link in bytes and in the units (mapping.lower)
NIC = "nic"  # the unit of a multi-node chip's port to the scale-out network (mapping.lower); its bytes are LINK's
ALUS = "alus"  # area.units' entry of energy.core_alus
ACTIVITY = "activity"  # energy.by_unit's entry of the activity power (energy.activity_power_share)
VECTOR = "vector"  # the core's vector unit (hardware.Core.unit_specs): where a collective's reduction adds are filed


@dataclass(frozen=True)
class Constants:
    """An arch's energy and area constants at its node: energy for MACs of the run's dtype, area (and the static
    power shared by it) from the arch alone."""

    mac_j: float  # J per MAC
    vector_j: float  # J per vector FLOP
    level_j_per_bit: dict[str, float]  # every level of the hierarchy, plus the chip link
    unit_area: dict[str, float]  # mm² by unit group (all cores)
    level_area: dict[str, float]  # mm² by level (and the link's PHYs)
    other_area: float
    static_w: dict[str, float]  # W by unit and level (the chip's static power by area; off-chip memories' own)
    tdp: float | None
    missing: tuple[str, ...] = field(default=())  # levels without an energy figure (counted as 0)
    activity_w: float = 0.0  # W the chip draws while it does work, beyond the priced actions
    dtype: str | None = None  # the dtype whose MACs ``mac_j`` prices
    off_package: tuple[str, ...] = ()  # levels whose memory devices sit outside the package (``Level.off_package``)
    off_package_static_w: float = 0.0  # those levels' own ``static_power`` (in ``static_w``)

    @property
    def area_total(self) -> float:
        return sum(self.unit_area.values()) + sum(self.level_area.values()) + self.other_area

    @property
    def static_total(self) -> float:
        return sum(self.static_w.values())

    @property
    def package_static_w(self) -> float:
        """W of static power inside the package (what the TDP rates): all of it but the off-package memory devices' own."""
        return self.static_total - self.off_package_static_w


_CACHED: list[tuple[Arch, str | None, Constants]] = []  # the latest first
_CACHE_SIZE = 4


def constants(arch: Arch, dtype: str | None = None) -> Constants | None:
    """The constants of ``arch`` for MACs of ``dtype`` (default the arch's); None when it gives no ``energy``.

    An Arch is frozen and its constants depend on nothing else, so they are kept for the last ``_CACHE_SIZE``
    (arch, dtype) pairs and reused for the same Arch object or an equal one (a preset loaded again for the next
    run: comparing is ~10 µs, computing ~50 µs); a composed run accounts every pass and the whole on one arch."""
    if arch.energy is None:
        return None
    for seen, seen_dtype, c in tuple(_CACHED):  # (a snapshot: safe if threads share the cache)
        if seen_dtype == dtype and (seen is arch or seen == arch):
            return c
    c = _constants(arch, dtype)
    _CACHED[:] = [(arch, dtype, c), *_CACHED[:_CACHE_SIZE - 1]]
    return c


def _constants(arch: Arch, dtype: str | None) -> Constants:
    spec = arch.energy
    assert spec is not None
    dtype = dtype if dtype in DTYPE_BYTES else arch.dtype
    # the figures the arch gives are at reference_node; the defaults (Horowitz, FreePDK45) at 45 nm whatever
    # reference_node says (probe p111 #1: tpu-v1's own int8 MAC re-stated at 28 nm read them all at 28 nm)
    # each end at its supply voltage: the arch's own figures at reference_volts, the built-in ones at Horowitz's
    # 0.9 V, the chip at its voltage (probe p152 #1: both ends at 0.8 V, Horowitz's figures read as 0.8 V ones)
    volts = chip_volts(spec)
    e_given = energy_scale(spec.reference_node, spec.node, reference_volts(spec), volts)
    e_45 = energy_scale(DEFAULT_NODE, spec.node, HOROWITZ_VOLTAGE, volts)
    acc = accumulator(arch)
    passes = narrow_passes(arch, dtype)
    # a MAC the array times as several passes of its own narrow one pays those passes (probe p279 #2)
    mac_pj = (passes * mac_array_pj(spec, arch.dtype, arch.dtype, given_scale=e_given, default_scale=e_45,
                                    accumulator=acc) if passes > 1 else
              mac_array_pj(spec, dtype, arch.dtype, given_scale=e_given, default_scale=e_45, accumulator=acc))
    # a vector FLOP by default is half a MAC's arithmetic: an FMA is 2 FLOPs, a multiply and an add, so it costs one
    # MAC's (probe p141 #3: each FLOP was a whole MAC's, an FMA two, an int8 add 0.3 pJ at 45 nm, Horowitz's 0.03)
    # at the dtype the hardware runs the run's dtype as (probe p152 #4: a bf16 softmax on gemmini, whose array
    # runs every dtype as int8, was charged bf16's 0.205 pJ a FLOP, not its int8 lanes' 0.0414)
    vector_pj = (spec.vector_pj * e_given if spec.vector_pj is not None
                 else _arith_pj(spec, runs_as(arch, dtype), e_given, e_45) / 2)
    if array_on_lanes(arch, dtype):  # a GEMM of dtype runs on the lanes (h100's fp32: its CUDA cores), a
        # multiply-add 2 of their FLOPs with no array's operand movement, as mac_pricer prices a lane MAC (probe p254
        # #1: an fp32 GEMM on h100 was charged a tensor-core MAC at 32-bit operands, 1.763 pJ, not 2 x 0.1505)
        mac_pj = 2 * vector_pj
    per_bit, missing = _level_energy(arch, spec, _figure(spec, "sram_pj", e_given, e_45))
    units, levels = _areas(arch, spec, area_scale(spec.reference_node, spec.node), area_scale(DEFAULT_NODE, spec.node))
    other = spec.other_area
    total_area = sum(units.values()) + sum(levels.values()) + other
    chip_static = spec.idle_power if spec.idle_power is not None else (spec.leakage_w_per_mm2 or 0.0) * total_area
    share = chip_static / total_area if total_area else 0.0
    static = {name: a * share for name, a in {**units, **levels}.items()}
    static["other"] = other * share
    off_package, off_static = [], 0.0
    for lv in arch.hierarchy()[1:]:
        level = arch.memory(lv.name)
        own = level.static_power
        if own:
            static[lv.name] = static.get(lv.name, 0.0) + own
        if level.off_package:
            off_package.append(lv.name)
            off_static += own or 0.0
    if NIC in per_bit:  # the NIC, its optics and the switches sit outside the package: not what the TDP rates
        off_package.append(NIC)
    headroom = spec.tdp - chip_static if spec.tdp is not None else 0.0
    return Constants(mac_pj * PJ, vector_pj * PJ, per_bit, units, levels, other,
                     static, spec.tdp, missing, spec.activity_power_share * max(headroom, 0.0), dtype,
                     tuple(off_package), off_static)


def chip_volts(spec: EnergySpec) -> float:
    """The chip's supply voltage: ``energy.voltage``, else :data:`~accelsim.energy.tech.DEFAULT_VOLTAGE` (0.8 V)."""
    return spec.voltage if spec.voltage is not None else DEFAULT_VOLTAGE


def reference_volts(spec: EnergySpec) -> float:
    """The supply voltage of the figures the arch gives at ``reference_node``: ``energy.reference_voltage``, else
    the chip's own (:func:`chip_volts`) where ``reference_node`` is the chip's node (a figure stated at the chip's
    node is taken as written), Horowitz's 0.9 V where it is 45 nm (his table's node and voltage, the default
    ``reference_node``), and the chip's at any other node (the node scaled at one voltage). Probe p159 #1: a fixed
    0.9 V default took ×0.756 off a figure stated at a 7 nm chip's own node (tpu-v4's 0.98 pJ MAC read as 0.741)."""
    if spec.reference_voltage is not None:
        return spec.reference_voltage
    if spec.reference_node != spec.node and spec.reference_node == DEFAULT_NODE:
        return HOROWITZ_VOLTAGE
    return chip_volts(spec)


DEFAULT_NODE = 45.0  # the node of the built-in figures: Horowitz's arithmetic and 8 KB SRAM, the 45 nm bit cell, DFF_X1
# EnergySpec's figures whose None is a built-in figure at DEFAULT_NODE (carried from 45 nm whatever reference_node
# says); a figure the arch writes, even one equal to the built-in, is its own, at reference_node (probe p120 #9:
# decided by value, sram_pj 10.0 at reference_node 7 nm was read as the 45 nm default, 10.0001 as a 7 nm figure)
BUILT_IN_45NM = {"sram_pj": SRAM_PJ_45NM, "sram_bitcell_um2": SRAM_BITCELL_45NM_UM2,
                 "register_bit_um2": REGISTER_BIT_45NM_UM2}


def _figure(spec: EnergySpec, key: str, given_scale: float, default_scale: float) -> float:
    """``spec``'s ``key`` (one of :data:`BUILT_IN_45NM`) at the node: the arch's own (not None) × ``given_scale``
    (from ``reference_node``), else the built-in 45 nm figure × ``default_scale``. None, not a value equal to the
    built-in, marks the default, and None survives a dump and re-validation (an Arch validated again from its dump
    lists every field as set, so ``model_fields_set`` cannot tell)."""
    own = getattr(spec, key)
    return own * given_scale if own is not None else BUILT_IN_45NM[key] * default_scale


def runs_as(arch: Arch, dtype: str) -> str:
    """The dtype the arch's core runs a vector op of ``dtype`` as: its vector unit's ``runs_as`` where the unit
    lists ``rates`` (``hardware.dtype_rate``: a GPU's lanes); on a core whose systolic array lists no ``rates``, the
    arch's own ``dtype`` (a one-dtype chip, the mapper's rule as :func:`~accelsim.energy.resolved.mac_dtypes` reads
    it: gemmini runs a bf16 model as int8, eyeriss-like an int8 one as int16; probe p152 #4); ``dtype`` itself on
    a core with a vector unit whose array's ``rates`` list a floating-point dtype: those rates are its matmul
    precision, not its lanes' (probe p159 #2: tpu-v4's fp32 softmax was charged bf16's FLOPs by the MXU's fp32 ->
    bf16 pass; JAX's default precision rounds a matmul's or conv's fp32 inputs, not an elementwise op's); else the
    array's ``rates`` (an integer-only chip, tpu-v1: no floating-point lanes either; or a core without lanes)."""
    units = list(arch.core.unit_specs())
    vector = False
    for u in units:
        rates = dict(getattr(u.spec, "rates", None) or {})
        if u.kind == "vector" and rates:
            return dtype_rate(rates, dtype)[0]
        vector = vector or u.kind == "vector"
    for u in units:
        macs = u.macs_per_cycle
        if u.kind == "vector" or not isinstance(macs, (int, float)) or isinstance(macs, bool) or macs <= 0:
            continue
        rates = dict(getattr(u.spec, "rates", None) or {})
        if rates:
            floats = any(is_float(listed) for listed in rates)
            return dtype if vector and floats else dtype_rate(rates, dtype)[0]
        if u.kind == "systolic":
            return arch.dtype
    return dtype


def array_on_lanes(arch: Arch, dtype: str) -> bool:
    """Whether the core's systolic array runs a GEMM of ``dtype`` on the core's vector lanes: the array's rate for it
    (:meth:`~accelsim.hardware.SystolicArray.rate`, below its base rate) gives exactly the lanes' multiply-adds a
    cycle at that dtype (the vector unit's ``lanes`` x its ``rates`` / ``cycles_per_element.fma``), the dtype the
    same on both. That is how the GPU presets write a dtype their tensor cores have no datapath for: h100's and
    a100's fp32 (``core.systolic.rates.fp32`` "runs on the CUDA cores, the vector unit's fp32 lanes": 2048 x 0.0625 =
    512 x 0.5 / 2 = 128 FMA a clock an SM), l40s's fp32 and fp64; not h100's fp64 (tensor cores: 128 FMA a clock
    against the lanes' 64), nor mi300x's fp32 (its matrix cores' 128 against the VALU's 64), nor a TPU's (its MXU runs
    fp32 as a bf16 pass). Probe p254 #1: such a GEMM was charged the tensor core's MAC at 32-bit operands."""
    array, vector = arch.core.systolic, arch.core.vector
    if array is None or not array.rates or not vector.rates:
        return False
    on, rate = array.rate(dtype, arch.dtype)
    lanes_on, lane_rate = dtype_rate(dict(vector.rates), dtype)
    if on != lanes_on or rate >= 1.0:
        return False
    fmas = vector.lanes * lane_rate / vector.cost("fma")
    return math.isclose(array.macs_per_cycle * rate, fmas, rel_tol=1e-9)


def narrow_passes(arch: Arch, dtype: str) -> int:
    """How many MACs of the arch's own ``dtype`` one MAC of ``dtype`` takes on its systolic array, where the array
    emulates a wider integer MAC by its narrow multipliers: the dtype it runs ``dtype`` as (``core.systolic.rates``,
    :meth:`~accelsim.hardware.SystolicArray.rate`) is an integer w bits wide over the arch's integer dtype of n bits,
    at the rate (n / w)² of one pass, each of the (w / n)² partial products one pass (tpu-v1's int16 at 0.25: 4 int8
    passes, Jouppi et al. ISCA 2017: "8-bit/16-bit at half speed, 16-bit/16-bit at quarter speed"); 1 for any other
    rate (a native datapath: a GPU's fp64 or int8 tensor cores)."""
    array, narrow = arch.core.systolic, arch.dtype
    if array is None or not array.rates or is_float(narrow):
        return 1
    runs, rate = array.rate(dtype, narrow)
    if is_float(runs) or operand_bits(runs) <= operand_bits(narrow) or rate <= 0:
        return 1
    passes = (operand_bits(runs) // operand_bits(narrow)) ** 2
    return passes if math.isclose(rate * passes, 1.0, rel_tol=1e-9) else 1


def accumulator(arch: Arch) -> str | None:
    """The dtype the arch's systolic array accumulates in (``core.systolic.accumulator_dtype``), None where it
    names none (then :func:`~accelsim.energy.tech.mac_45nm`'s int32 / fp32 adders) or has no array."""
    array = arch.core.systolic
    return array.accumulator_dtype if array is not None else None


def _arith_pj(spec: EnergySpec, dtype: str, given_scale: float, default_scale: float,
              acc: str | None = None) -> float:
    """pJ of one MAC's arithmetic of ``dtype``: the arch's ``mac_pj`` × ``given_scale``, else Horowitz's 45 nm
    figure (:func:`~accelsim.energy.tech.mac_45nm`, its adder the accumulator ``acc``'s) × ``default_scale``."""
    own = spec.mac_pj.get(dtype)
    return own * given_scale if own is not None else mac_45nm(dtype, acc)[0] * default_scale


def mac_array_pj(spec: EnergySpec, dtype: str, anchor: str, *, given_scale: float = 1.0,
                 default_scale: float = 1.0, accumulator: str | None = None) -> float:
    """pJ of one MAC of ``dtype`` in the array: its arithmetic (``mac_pj`` × ``given_scale``, the factor from
    ``reference_node`` to the chip's node, or :func:`~accelsim.energy.tech.mac_45nm` × ``default_scale``, from
    45 nm; both 1 by default: the figures as written) plus what the array spends moving its operands (registers,
    wires), which ``mac_overhead`` gives for MACs of ``anchor`` (the preset's dtype, the one its overhead was
    derived for) as (overhead - 1) x that dtype's arithmetic, and which scales with the operands' bits: an fp8 MAC
    moves half the bits of a bf16 one, a tf32 or fp32 MAC twice. At ``anchor`` itself that is overhead x
    arithmetic. A built-in MAC adds in ``accumulator`` (the array's ``accumulator_dtype``, :func:`accumulator`)."""
    arith = _arith_pj(spec, dtype, given_scale, default_scale, accumulator)
    moved = (spec.mac_overhead - 1.0) * _arith_pj(spec, anchor, given_scale, default_scale, accumulator)
    return arith + moved * operand_bits(dtype) / operand_bits(anchor)


def scratchpad_port_bits(arch: Arch) -> int:
    """The scratchpad's port width in bits: ``energy.sram_port_bits`` as written, or where it says ``rows`` /
    ``cols``, the systolic array's rows / cols × the operand bits of the arch's ``dtype``: the array takes one
    operand per row (column) each cycle from the scratchpad (tpu-v1 256 rows × 8 = 2048, gemmini 16 columns × 8 =
    128), so a sweep of the array's size prices a port that follows it (probe p211 #1: edge-npu at 16 rows kept its
    32-row 256-bit port, an SRAM byte 1/√2 of its cost). The arch's validator refuses either word without an array."""
    spec = arch.energy
    assert spec is not None
    port = spec.sram_port_bits
    if isinstance(port, int):
        return port
    array = arch.core.systolic
    assert array is not None  # (Arch._energy_die_holds_the_arch)
    return (array.rows if port == "rows" else array.cols) * operand_bits(arch.dtype)


def accumulator_port_bits(arch: Arch) -> int:
    """The port width in bits of the SRAM that holds the systolic array's partial sums
    (``core.systolic.accumulator_sram``): one partial sum a column each cycle, the array's cols × its partial sums'
    bits (:meth:`~accelsim.hardware.Core.partial_sum_bytes` of the arch's dtype): tpu-v1 256 × 32 = 8192 bits
    (Jouppi et al. ISCA 2017: the accumulators take a 256-wide row of 32-bit sums from the matrix unit)."""
    array = arch.core.systolic
    assert array is not None  # (only an array names an accumulator_sram)
    return array.cols * arch.core.partial_sum_bytes(arch.dtype) * 8


def _level_energy(arch: Arch, spec: EnergySpec, sram_pj: float) -> tuple[dict[str, float], tuple[str, ...]]:
    """J per bit at every level: the level's ``energy_per_bit``, else (scratchpad, caches) the SRAM rule from
    ``sram_pj`` (``energy.sram_pj`` carried to the node), a cache's at its ``port_bits`` (default ``access_bytes``
    x 8: the GPU presets' L2 moves 32-byte sectors but is priced at the 128-byte line's 1024-bit read); a memory
    without a figure counts 0 and is listed as missing. The SRAM holding the arrays' partial sums where the core
    has one (``core.systolic.accumulator_sram``) by the same rule at its size and :func:`accumulator_port_bits`."""
    sram = arch.core.sram
    buffers = 1 if sram.unified is not None else 3  # an access goes to one buffer: the split buffers' mean size
    pad = sram_pj_per_bit(sram.total_bytes / buffers, scratchpad_port_bits(arch), sram_pj)
    out = {SCRATCHPAD: pad * PJ}
    held = arch.partial_sum_sram()
    if held is not None:  # the arrays' partial sums in their own SRAM: one access a row of them (probe p279 #1)
        out[held] = sram_pj_per_bit(arch.partial_sum_sram_bytes(), accumulator_port_bits(arch), sram_pj) * PJ
    missing = []
    for info in arch.hierarchy()[1:]:
        lv = arch.memory(info.name)
        if lv.energy_per_bit is not None:
            out[lv.name] = lv.energy_per_bit * PJ
        elif lv.role == "cache":
            out[lv.name] = sram_pj_per_bit(lv.capacity, lv.energy_port_bits, sram_pj) * PJ
        else:
            out[lv.name] = 0.0
            missing.append(lv.name)
    link = arch.interconnect
    if link is not None:  # per byte a chip sends: each link it crosses (link_traversals) at energy_per_bit
        out[LINK] = (link.energy_per_bit or 0.0) * link_traversals(arch) * PJ
        if link.energy_per_bit is None and arch.chips > 1:
            missing.append(LINK)
        if link.scale_out is not None:  # the NIC's bytes (filed as LINK's by the mapper) at the network's own price
            out[NIC] = (link.scale_out.energy_per_bit or 0.0) * PJ
    return out, tuple(missing)


def link_traversals(arch: Arch) -> int:
    """The chip links one byte a chip sends to another chip of its node crosses, each charged
    ``interconnect.energy_per_bit``: 2 through a switch (``topology: fully_connected``, the DGX presets' NVSwitch:
    the sender's link into the switch, the receiver's out of it; an NVLS all-reduce's multicast the same, each
    chip's links carrying its sent bytes in and as many out), 1 over a direct link (``ring``, ``full_mesh``,
    ``torus``: mi300x-8's xGMI mesh, a TPU's ICI). Probe p234 #1: dgx-h100's 1 GB all-reduce charged its 1.125 GB
    sent once, 11.7 mJ, not 23.4."""
    ic = arch.interconnect
    return 2 if ic is not None and ic.topology == "fully_connected" else 1


def _axis_mean_hops(n: int, ring: bool) -> float:
    """Mean links from one chip of an axis segment of ``n`` chips to each of the ``n`` (itself at 0): round a
    bidirectional ring the shorter way, Σ min(d, n − d) / n (4 chips: (0 + 1 + 2 + 1) / 4 = 1); along a line
    (no wraparound) the mean |i − j| over the n² pairs, (n² − 1) / (3n) (4 chips: 20 / 16 = 1.25; 2 chips 0.5)."""
    if ring:
        return sum(min(d, n - d) for d in range(n)) / n
    return (n * n - 1) / (3 * n)


def all_to_all_hops(arch: Arch, group: int, extent: int | None = None) -> float:
    """Links a byte of an all-to-all crosses on ``arch``'s ``torus``, between ``group`` chips spread over ``extent``
    consecutive ones (default ``group``): each piece is relayed chip to chip (no switch), one link a hop, its hops the
    sum of its per-axis distances over the axis segments the group spans (:meth:`~accelsim.hardware.Interconnect.
    torus_axes`, as the time's :meth:`~accelsim.hardware.Interconnect.torus_seconds` reads them); averaged over the
    group − 1 peers a chip sends to: Σ axes' mean distance × group / (group − 1). A 4×4×4 wrapped torus: 3 × 64 / 63
    = 192 / 63 = 3.05; a 2×4 mesh without wraparound: (0.5 + 1.25) × 8 / 7 = 2.0 (probe p257 #1: charged 1)."""
    ic = arch.interconnect
    if ic is None or ic.topology != "torus" or ic.shape is None or group <= 1:
        return 1.0
    axes = ic.torus_axes(group, extent)
    return sum(_axis_mean_hops(n, ring) * step for n, ring, step in axes) * group / (group - 1)


def link_pricer(arch: Arch | None) -> Callable[[Mapping[str, Any]], float]:
    """The links an op row's LINK bytes cross each, beyond :func:`link_traversals` (which the level's J per bit holds):
    1, but for an all-to-all relayed between chips with no switch (probe p257 #1: its pieces were charged one link
    whatever their distance, while the time counts their hops). Its row's ``mapping.algorithm`` says how it ran:
    ``torus`` (a TPU's ICI): :func:`all_to_all_hops` of its ``mapping.group`` over its ``mapping.extent`` (the
    mapper writes it where the group is spread out, default the group), ``bytes.link`` being the (n − 1) / n × S a
    chip sends; ``ring``: 2, as its ``bytes.link`` already hold each piece's mean ring hops / 2
    (:func:`accelsim.cost.collective.call`: the ring's cut, both directions carrying), the links it crosses being
    :func:`~accelsim.hardware.mean_ring_hops`. A neighbour collective (a ring all-reduce, all-gather,
    reduce-scatter, a send) crosses one."""
    if arch is None or arch.interconnect is None or arch.interconnect.topology not in ("torus", "ring"):
        return lambda row: 1.0
    seen: dict[tuple[int, int], float] = {}

    def hops(row: Mapping[str, Any]) -> float:
        mapping = row.get("mapping")
        if row.get("fn") != "all_to_all" or not isinstance(mapping, Mapping):
            return 1.0
        algorithm = mapping.get("algorithm")
        if algorithm == "ring":
            return 2.0
        group = _number(mapping.get("group"))
        if algorithm != "torus" or group is None or group < 2:
            return 1.0
        extent = _number(mapping.get("extent"))
        key = (int(group), int(extent) if extent else int(group))
        if key not in seen:
            seen[key] = all_to_all_hops(arch, *key)
        return seen[key]

    return hops


def nic_bytes(row: Mapping[str, Any]) -> float:
    """Of an op row's LINK bytes, those its chip sent to other nodes (over the scale-out network): its
    ``mapping.nic_bytes`` (the emitter's share of a collective across nodes that leaves the node, one execution's)
    × the executions the row stands for, at most its LINK bytes (an optimizer step's data-parallel reduce-scatter
    and all-gather across nodes, probe p119 #1: their bytes sat on the step's row at NVLink's figure); else, on the
    NIC unit (a collective or send between nodes), all of them (probe p111 #5); else none."""
    link = row["bytes"].get(LINK)
    if not link:
        return 0.0
    mapping = row.get("mapping")
    share = _number(mapping.get("nic_bytes")) if isinstance(mapping, Mapping) else None
    if share is not None:
        return min(max(share, 0.0) * _runs(row), float(link))
    return float(link) if _own_name(row["unit"]) == NIC else 0.0


def _row_levels(row: Mapping[str, Any], per_bit: Mapping[str, float]) -> Mapping[str, float]:
    """An op row's bytes by the level that prices them: the LINK bytes its chip sent to other nodes
    (:func:`nic_bytes`) move over the scale-out network, :data:`NIC` where the arch gives one (probe p111 #5, p119
    #1: they were priced at the NVLink figure), the rest over the chip links."""
    b = row["bytes"]
    nic = nic_bytes(row) if LINK in b and NIC in per_bit else 0.0
    if nic:
        b = {**b, LINK: b[LINK] - nic}
        if not b[LINK]:  # (all of them off the node: no LINK entry, as before)
            del b[LINK]
        b[NIC] = nic
    return b


def _areas(arch: Arch, spec: EnergySpec, a_given: float, a_45: float) -> tuple[dict[str, float], dict[str, float]]:
    """mm² by unit group and by level, over the die's cores (``die_cores``, else the arch's): the hardware's, the
    same for every run on it (never the workload's dtype: silicon does not grow with what runs on it). A unit is
    its kind's own ``area_mm2(spec)`` where its cost module defines one, else its MACs (its kind's
    ``macs_per_cycle``: the arithmetic of a MAC of the arch's ``dtype``, its native one, × ``mac_area_overhead``
    plus ``pe_register_bits`` flip-flops each) and vector lanes (``vector_area_um2``, else that MAC), × its count; each
    ``core_alus`` (an FMA of its dtype each, Horowitz's area) as ``alus``; each ``core_sram`` array (its bytes,
    ``Arch.core_sram_bytes``: per PE / row / column of the array where it says so) and the scratchpad by the SRAM
    rule (bit cell: ``sram_bitcell_at_node_um2`` carried from ``sram_bitcell_node`` to the
    node by the published SRAM cells, ``tech.sram_cell_scale``, else the reference cell scaled); a cache by the SRAM
    rule at its die capacity. The arch's own figures are carried from ``reference_node`` (``a_given``), the
    built-in ones (Horowitz's areas, the 45 nm cell, DFF_X1) from 45 nm (``a_45``)."""
    dtype = arch.dtype
    own_mac = spec.mac_area_um2.get(dtype)
    # the array's MAC adds in its accumulator_dtype (probe p152 #3); the vector lanes' FMA in int32 / fp32
    mac_um2 = own_mac * a_given if own_mac is not None else mac_45nm(dtype, accumulator(arch))[1] * a_45
    lane_mac_um2 = own_mac * a_given if own_mac is not None else mac_45nm(dtype)[1] * a_45
    register_um2 = _figure(spec, "register_bit_um2", a_given, a_45)
    pe_um2 = mac_um2 * spec.mac_area_overhead + spec.pe_register_bits * register_um2
    lane_um2 = spec.vector_area_um2 * a_given if spec.vector_area_um2 is not None else lane_mac_um2
    cores = spec.die_cores or arch.cores
    bitcell = _figure(spec, "sram_bitcell_um2", a_given, a_45)
    if spec.sram_bitcell_at_node_um2 is not None:  # a foundry's cell, carried from the node it was published at
        cell_node = spec.node if spec.sram_bitcell_node is None else spec.sram_bitcell_node
        bitcell = spec.sram_bitcell_at_node_um2 * sram_cell_scale(cell_node, spec.node)  # by SRAM's own shrink

    def sram(capacity: float) -> float:
        return sram_area_mm2(capacity, bitcell, spec.sram_array_efficiency)

    units: dict[str, float] = {}
    for u in arch.core.unit_specs():
        own = u.area_mm2()
        if own is not None:
            units[u.name] = own * u.count * cores
            continue
        macs = 0 if u.runs_gemms else _number(u.macs_per_cycle) or 0.0  # a vector unit's MACs are its lanes, counted once
        lanes = (_number(getattr(u.spec, "lanes", 0)) or 0.0) * u.count
        units[u.name] = (macs * pe_um2 + lanes * lane_um2) * cores * UM2
    if spec.core_alus:  # the core's own arithmetic units outside its arrays and lanes (an FMA each)
        alus = sum(n * mac_45nm(alu)[1] for alu, n in spec.core_alus.items())
        units[ALUS] = alus * a_45 * cores * UM2  # Horowitz's 45 nm areas
    units.update({name: sram(arch.core_sram_bytes(name)) * cores for name in spec.core_sram})
    levels = {SCRATCHPAD: sram(arch.core.sram.total_bytes) * cores}
    for info in arch.hierarchy()[1:]:
        lv = arch.memory(info.name)
        if lv.area is not None:
            levels[lv.name] = lv.area
        elif lv.phy_area_per_bandwidth is not None and math.isfinite(lv.bandwidth):
            levels[lv.name] = lv.phy_area_per_bandwidth * lv.bandwidth / 1e9  # the PHY grows with the bandwidth
        elif lv.role == "cache":
            levels[lv.name] = sram(spec.die_capacity.get(lv.name, lv.capacity))
        else:
            levels[lv.name] = 0.0
    if arch.interconnect is not None and arch.interconnect.area is not None:
        levels[LINK] = arch.interconnect.area
    return units, levels


_CORE_PREFIX = re.compile(r"^core[^.]*\.")


@lru_cache(maxsize=4096)
def unit_group(unit: str) -> str:
    """The core's unit an op ran on ("core0.systolic1" → "systolic", "core*.vector (108)" → "vector", a span over
    several units' "core0.systolic0..core1.systolic3 (8)" → "systolic")."""
    return _CORE_PREFIX.sub("", first_unit(unit)).rstrip("0123456789") or unit


@lru_cache(maxsize=4096)
def _own_name(unit: str) -> str:
    """An op row's ``unit`` ("core0.xbar", "core0.x20..core0.x21 (2)", "core*.vector (108)") as its first unit's
    name on the core ("xbar", "x20", "vector")."""
    return _CORE_PREFIX.sub("", first_unit(unit))


def _by_own_name(arch: Arch, plugins_only: bool = False) -> dict[str, UnitSpec]:
    """The core's units of ``arch`` by the name each of its ``count`` units has on a core
    (:meth:`~accelsim.hardware.UnitSpec.instance_names`, as the mapper names them: x20 and x21 for a unit x2 of
    count 2; the digits of a name are no index to strip); ``plugins_only``: those of ``core.units``."""
    specs = arch.core.plugin_specs() if plugins_only else arch.core.unit_specs()
    return {own: u for u in specs for own in u.instance_names()}


def _unit_of(units: Mapping[str, Any], unit: str) -> Any:
    """The unit of ``units`` (by the names its units have on a core: :func:`_by_own_name`) an op row's ``unit``
    names ("core0.xbar", "core0.ae0..core0.ae1 (2)"), or None."""
    return units.get(_own_name(unit))


def computed_share(row: Mapping[str, Any]) -> float:
    """The share of an op row's MACs and FLOPs its kernel computes: 0 for an op on no unit (``unit`` "none": a
    view, or a batch norm folded into the conv before it, whose FLOPs stay in the model's count but run nowhere);
    ``mapping.mac_fraction`` where the row gives one in [0, 1] (a causal FlashAttention kernel skips the K/V blocks
    above the diagonal, about half; the row's ``macs`` and ``flops`` count the whole score matrix); else 1."""
    return _executed(row)[0]


def _executed(row: Mapping[str, Any]) -> tuple[float, float]:
    """(:func:`computed_share`, the MACs a pruned op's array multiplies beyond its kept ones) of an op row, in one
    pass over its mapping (the report and the energy read them several times an op: the hot path of a small run)."""
    if row.get("unit") == "none":
        return 0.0, 0.0
    mapping = row.get("mapping")
    if not isinstance(mapping, Mapping):
        return 1.0, 0.0
    share = mapping.get("mac_fraction")
    ok = share is not None and isinstance(share, (int, float)) and not isinstance(share, bool) and 0 <= share <= 1
    share = float(share) if ok else 1.0
    sparse = mapping.get("sparsity")
    if sparse is None:
        return share, 0.0
    gemm = mapping.get("gemm")
    if not isinstance(sparse, Mapping) or not isinstance(gemm, list) or len(gemm) != 4:
        return share, 0.0
    k, run, pattern = sparse.get("k"), sparse.get("executed_k"), sparse.get("pattern")
    if not (isinstance(k, int) and isinstance(run, int) and isinstance(pattern, str)):
        return share, 0.0
    try:
        kept = Sparsity.parse(pattern).kept(k)
    except ValueError:
        return share, 0.0
    m, n, _, count = gemm  # one execution's GEMMs (a composed row's mapping describes one execution)
    return share, float(m * n * count * max(run - kept, 0)) * _runs(row)


def _runs(row: Mapping[str, Any]) -> float:
    """The executions an op row stands for: its ``count`` in a composed report (serving, pipeline, diffusion:
    ``scenarios.passes.compose_ops`` sums ``macs``, ``flops`` and ``bytes`` over them but copies the ``mapping`` of
    one), else 1 (probe p87 #1, #2)."""
    count = row.get("count")
    return float(count) if isinstance(count, (int, float)) and not isinstance(count, bool) and count >= 0 else 1.0


def executed_macs(row: Mapping[str, Any]) -> float:
    """The MACs an op row's kernel executes: its ``macs`` × :func:`computed_share`, and for an op pruned N:M (whose
    ``macs`` count the kept weights only, ``ir.prune``) the zeros its array still multiplies: ``mapping.sparsity``'s
    ``executed_k`` above the pattern's kept(``k``), × the GEMM's m · n · count (``mapping.gemm``). An array that
    does not skip zeros (``skips_zeros`` false: TPU v4) executes the dense K, so its MACs are the dense layer's; an
    A100 runs a 1:4 or 2:8 layer as 2:4, so its MACs are the 2:4 layer's."""
    share, extra = _executed(row)
    return (_number(row.get("macs")) or 0.0) * share + extra


def executed_flops(row: Mapping[str, Any]) -> float:
    """The FLOPs an op row's kernel executes: its ``flops`` × :func:`computed_share`, plus 2 for each MAC
    :func:`executed_macs` adds (the zeros a pruned op's array multiplies)."""
    share, extra = _executed(row)
    return (_number(row.get("flops")) or 0.0) * share + 2 * extra + reduce_flops(row)


def reduce_flops(row: Mapping[str, Any]) -> float:
    """The vector FLOPs a collective's or a K-split GEMM's row adds beyond the model's count: its share of the reduction
    (``mapping.reduce_flops``, :func:`accelsim.cost.collective.memory_traffic`: a ring all-reduce's (n-1)/n x its
    elements, one execution's; a GEMM cut along K over u units, :func:`accelsim.mapping.traffic.unit_cycles`: the
    (u - 1)·M·N·count adds of its partial sums), or an eager kernel's FLOPs that the model counts on another op
    (``mapping.eager_flops``, :data:`accelsim.mapping.aliases.EAGER_FLOPS`: a step of transformers' gelu_new on a
    GPU preset), or the dequantisation of K and V read from an int8 / int4 KV cache (an fp8 one on FlashAttention-2)
    by a GPU's attention kernel or GEMM computing at 16 bits (``mapping.dequant_flops``,
    :func:`accelsim.cost.attention.gemm_dtype`, :func:`~accelsim.cost.attention.compute_dtype`: a multiply-add an
    element it loads), × the executions the row stands for (its ``count`` in a composed report); 0 for any other
    row."""
    mapping = row.get("mapping")
    if not isinstance(mapping, Mapping):
        return 0.0
    adds = ((_number(mapping.get("reduce_flops")) or 0.0) + (_number(mapping.get("eager_flops")) or 0.0)
            + (_number(mapping.get("dequant_flops")) or 0.0))
    return adds * _runs(row) if adds else 0.0


def _number(v: Any) -> float | None:
    """A figure when it is a plain number (a unit kind may define ``macs_per_cycle`` otherwise, or not at all), else
    None."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def row_dtype(row: Mapping[str, Any]) -> str | None:
    """The dtype an op row's MACs ran at: the unit's dtype it runs as (``mapping.rate.runs_as``: fp8 on an A100's
    tensor cores runs as bf16, whose MACs it pays), else its compute dtype (``mapping.rate.dtype``: e.g. the
    attention over an fp8 KV cache in a bf16 model); None where the row gives neither."""
    mapping = row.get("mapping")
    rate = mapping.get("rate") if isinstance(mapping, Mapping) else None
    if not isinstance(rate, Mapping):
        return None
    dtype = rate.get("runs_as")
    dtype = dtype if isinstance(dtype, str) else rate.get("dtype")
    return dtype if isinstance(dtype, str) else None


def mac_pricer(c: Constants, arch: Arch | None) -> Callable[[Mapping[str, Any]], float]:
    """J per MAC of an op row, by the unit that ran it (docs/energy.md): on a unit whose kind's cost module gives
    its own ``pj_per_mac(spec, dtype)``, that; on the core's vector lanes (a depthwise conv the mapper moved off
    the array, ``mapping.depthwise: vector``, or any matmul-family op of a core whose lanes run them), a
    multiply-add's 2 FLOPs (a multiply and an add, whatever lane-cycles ``cycles_per_element.fma`` gives it) × the
    lanes' J per FLOP (:func:`flop_pricer`), with no array's operand movement (``mac_overhead``); else the
    array's: ``c``'s (the run's dtype), or, given the ``arch``, the row's own dtype's (:func:`row_dtype`) where
    it names another one."""
    other: dict[str, float] = {}
    own = _own_pricer(c, arch, "pj_per_mac")
    lanes = _lane_fmas(arch) if arch is not None else {}
    flop_j = flop_pricer(c, arch)

    def mac_j(row: Mapping[str, Any]) -> float:
        j = own(row)
        if j is not None:
            return j
        if lanes and _unit_of(lanes, row["unit"]) is not None:  # a MAC is 2 FLOPs, a multiply and an add, whatever
            return 2 * flop_j(row)  # lane-cycles it takes (cycles_per_element.fma is its time; probe p141 #3)
        return _at_row_dtype(c, arch, row, "mac_j", other)

    return mac_j


def _at_row_dtype(c: Constants, arch: Arch | None, row: Mapping[str, Any], field: str, seen: dict[str, float]) -> float:
    """``c``'s ``field`` (``mac_j``, ``vector_j``) at the dtype the row ran as (:func:`row_dtype`) where it names
    one other than the run's and ``arch`` prices it, else ``c``'s own; each dtype's looked up once in ``seen``."""
    dtype = row_dtype(row)
    if arch is None or dtype is None or dtype == c.dtype or dtype not in DTYPE_BYTES:
        return getattr(c, field)
    if dtype not in seen:
        theirs = constants(arch, dtype)
        seen[dtype] = getattr(theirs if theirs is not None else c, field)
    return seen[dtype]


def _lane_fmas(arch: Arch) -> dict[str, float]:
    """Lane-cycles of one multiply-add (``cycles_per_element.fma``, :meth:`~accelsim.hardware.VectorUnit.cost`)
    of each built-in vector unit of ``arch``'s core, by its name on a core (:func:`_by_own_name`): which units are
    lanes (:func:`mac_pricer` prices a MAC there as 2 FLOPs, not by these cycles)."""
    return {own: u.spec.cost("fma") for own, u in _by_own_name(arch).items()  # type: ignore[attr-defined]
            if u.kind == "vector"}


def flop_pricer(c: Constants, arch: Arch | None) -> Callable[[Mapping[str, Any]], float]:
    """J per vector FLOP of an op row (its FLOPs beyond 2 × its MACs): on a unit whose kind's cost module gives its
    own ``pj_per_flop(spec, dtype)`` (a softmax or other non-MAC plug-in unit), that; on the core's vector lanes,
    given the ``arch``, the ``vector_j`` of the dtype the lanes ran the row as (:func:`row_dtype`:
    ``mapping.rate.runs_as``) where the row names one other than the run's (probe p159 #2: the SDXL VAE's fp32
    vector rows of an fp16 run were charged fp16's 0.0654 pJ a FLOP, not fp32's 0.1505); else ``c``'s
    ``vector_j`` (docs/energy.md)."""
    own = _own_pricer(c, arch, "pj_per_flop")
    lanes = _lane_fmas(arch) if arch is not None else {}
    other: dict[str, float] = {}

    def flop_j(row: Mapping[str, Any]) -> float:
        j = own(row)
        if j is not None:
            return j
        if not lanes or _unit_of(lanes, row["unit"]) is None:
            return c.vector_j
        return _at_row_dtype(c, arch, row, "vector_j", other)

    return flop_j


def _own_pricer(c: Constants, arch: Arch | None, hook: str) -> Callable[[Mapping[str, Any]], float | None]:
    """J per operation that the plug-in unit of an op row gives through its kind's optional ``hook``
    (``pj_per_mac`` or ``pj_per_flop``, asked for the row's dtype, :func:`row_dtype`, else the run's), or None
    (none: the row is on another unit, or the module has no such hook or returns None)."""
    own_units = _by_own_name(arch, plugins_only=True) if arch is not None else {}
    own_pj: dict[tuple[str, str], float | None] = {}

    def own_j(row: Mapping[str, Any]) -> float | None:
        unit = _unit_of(own_units, row["unit"]) if own_units else None
        if unit is None:
            return None
        dtype = row_dtype(row)
        key = (unit.name, dtype if dtype in DTYPE_BYTES else c.dtype or arch.dtype)  # type: ignore[union-attr]
        if key not in own_pj:
            try:
                own_pj[key] = getattr(unit, hook)(key[1])
            except ValueError as e:  # the mapper checked the ops' own dtypes; this is the run's
                raise MappingError(f"core.units.{unit.name}.kind: {e}") from None
        pj = own_pj[key]
        return None if pj is None else pj * PJ

    return own_j


def op_energy(row: Mapping[str, Any], c: Constants, arch: Arch | None = None) -> tuple[float, float, dict[str, float]]:
    """(J of its MACs and vector FLOPs, the part that is MACs, J by level) of one op row: the MACs and FLOPs its
    kernel computes (:func:`computed_share`), its MACs at its own dtype given the ``arch`` (:func:`mac_pricer`), its
    other FLOPs at its unit's own energy where a plug-in gives one (:func:`flop_pricer`), the bytes it moved."""
    if row["unit"] == "none":  # a view or a folded op does no work
        return 0.0, 0.0, {lv: 0.0 for lv in row["bytes"]}
    levels = {lv: b * 8 * c.level_j_per_bit.get(lv, 0.0) for lv, b in _row_levels(row, c.level_j_per_bit).items()}
    if LINK in levels:  # an all-to-all's pieces relayed over several links (link_pricer)
        levels[LINK] *= link_pricer(arch)(row)
    if row["unit"] == HOST_CPU:  # an offloaded optimizer step's FLOPs run on the host's CPUs, off the chip (its
        return 0.0, 0.0, levels  # gradients and parameters crossing the host link are priced as the link's bytes)
    share, extra = _executed(row)
    macs = row["macs"] * share + extra  # executed_macs
    mac_part = macs * mac_pricer(c, arch)(row)
    vector = max(row["flops"] - 2 * row["macs"], 0) * share + reduce_flops(row)
    compute = mac_part + vector * flop_pricer(c, arch)(row)
    return compute, mac_part, levels


NULL = {"energy": None, "power": None, "efficiency": None, "edp": None, "area": None}


PeakOf = Callable[[list[float], dict[str, list[float]]], float]


def over_tdp(tdp: float | None, static_w: float, per_chip_w: float, what: str, advice: str, *,
             beside: str = "") -> tuple[float | None, str | None]:
    """(``power.tdp_clock_factor``, the note) of a chip drawing ``per_chip_w`` on average against its ``tdp``
    (None, None when under it or without one): the first-order throttle (TDP − static) / (average − static) with
    ``advice`` on it, or a note that the static power alone exceeds the TDP. ``what`` names the power ("average
    power"); ``beside`` follows "per chip" (the share of the devices outside the package: off-package memory and
    network hardware, :func:`off_package_parts`). A run's report and a serving run's
    (serving.Meter) give the same note."""
    if tdp is None or per_chip_w <= tdp:
        return None, None
    over = f"{NOTE_PREFIX}{what} {per_chip_w:.4g} W per chip{beside} exceeds the TDP of {tdp:g} W; "
    if static_w < tdp and per_chip_w > static_w:
        factor = (tdp - static_w) / (per_chip_w - static_w)
        return factor, over + f"a first-order throttle would run the clock at {factor:.3f}× ({advice})"
    return None, over + f"its static power alone ({static_w:.4g} W) does, so no clock meets it"

def peak_over_tdp_note(tdp: float, peak_w: float, average_w: float, package: bool) -> str:
    """The note of a chip whose busiest window draws ``peak_w`` (``power.peak_w_per_chip``; ``package``: its
    package's, the devices outside it apart: off-package memory and network hardware) above its ``tdp`` while its average ``average_w`` is within
    it: a chip at its power limit would clock down in that window, which no option models (``throttle_to_tdp``
    lowers the whole run's clock by the average's factor)."""
    where = " in its package" if package else ""
    return (f"{PEAK_OVER_TDP}{peak_w:.4g} W per chip{where} in the run's busiest window (power.peak_w_per_chip) "
            f"exceeds the TDP of {tdp:g} W, though its average ({average_w:.4g} W) is within it: a chip at its power "
            f"limit would clock down (power-cap) to the TDP in that window, so that stretch would take longer than "
            f"reported; options.throttle_to_tdp models the average only (it lowers the whole run's clock when the "
            f"average exceeds the TDP), not a window")


def says_peak_over_tdp(notes: Sequence[str]) -> bool:
    """Whether ``notes`` hold :func:`peak_over_tdp_note`'s note."""
    return any(n.startswith(PEAK_OVER_TDP) for n in notes)


def transfer_rows(transfers: Sequence[tuple[float, float]]) -> list[dict[str, Any]]:
    """Rows, for the energy alone, of bytes the report's chips send outside its op rows (``transfers``: each
    (bytes, of them those sent to other nodes)): a pipeline's sends between stages and its embedding-gradient
    all-reduce (:mod:`accelsim.scenarios.pipeline`, probe p119 #1: they were in no energy at all), priced as a
    collective row's LINK bytes (:func:`nic_bytes`) and filed under ``by_op_kind["collective"]``."""
    return [{"unit": LINK, "kind": "collective", "macs": 0, "flops": 0, "bytes": {LINK: b},
             "mapping": {"nic_bytes": nic}} for b, nic in transfers if b > 0]


def account(report: dict[str, Any], arch: Arch, *, peak_dynamic_w: PeakOf | None = None,
            transfers: Sequence[tuple[float, float]] = (),
            spread: Sequence[tuple[str, int, float]] = ()) -> dict[str, Any]:
    """report.json's ``energy``, ``power``, ``efficiency``, ``edp`` and ``area`` of ``report`` (adding
    ``energy_j`` to each op row) and its ``notes`` about energy; all null (and a note) when ``arch`` gives no
    ``energy`` constants. ``peak_dynamic_w(compute_j, level_j)``: the dynamic power of the trace's busiest window,
    given each op row's compute energy (its MACs and vector FLOPs with the scratchpad accesses its arrays make)
    and, by level the cores' tasks load from or store to, each row's bytes' energy there (``energy_j`` is their
    sum; without it, or in a composed report, the peak kept is the larger of the average and the report's earlier
    ``power.peak_w``, a simulated pass's). ``transfers``: bytes the chips send that no op row holds, each (bytes,
    of them those sent to other nodes): priced as a collective's (:func:`transfer_rows`). ``spread``: a composed
    run's parts (a diffusion pipeline's) as (the ``phase`` its op rows carry, the chips it runs on, the seconds chip
    0 is active in it over all its executions), for ``j_per_inference`` (:func:`_efficiency`)."""
    c = constants(arch, report.get("workload", {}).get("dtype"))
    notes = [n for n in report.get("notes", []) if not n.startswith(NOTE_PREFIX)]
    if c is None:
        for row in report["ops"]:
            row["energy_j"] = None
        return {**NULL, "notes": [*notes, no_energy_note(arch)]}
    chips = int(report.get("pipeline", {}).get("stages", 1))  # a pipeline report covers its P stages' chips
    seconds = float(report["seconds"])
    active = float(report.get("active_fraction", 1.0))  # (reports before it: busy all run long)
    groups = {own: u.name for own, u in _by_own_name(arch).items()}
    parts: tuple[list[float], dict[str, list[float]]] | None = ([], {}) if peak_dynamic_w is not None else None
    sent = transfer_rows(transfers)
    energy = _energy([*report["ops"], *sent], c, seconds * chips, active, mac_pricer(c, arch), groups, parts,
                     flop_pricer(c, arch), link_pricer(arch))
    total = energy["total_j"]
    spec = arch.energy
    assert spec is not None
    # the node and supply voltage every on-chip figure was carried to (probe p159 #5: shown nowhere)
    energy["node_nm"], energy["voltage_v"] = spec.node, chip_volts(spec)
    static_w = c.static_total * chips
    average = total / seconds if seconds else 0.0
    off_package_w = energy["off_package_j"] / seconds if seconds else 0.0
    package = (average - off_package_w) / chips  # W per chip inside its package: what idle_power and tdp rate
    package_peak: Callable[[], float] | None = None  # W per chip of the busiest window inside the package
    if peak_dynamic_w is not None:  # the busiest window does work throughout: the activity power is drawn
        computes, moved = parts or ([], {})
        for lv in (SCRATCHPAD, arch.partial_sum_sram()):  # the arrays' reads and writes (their accumulators'
            pad = moved.pop(lv, None) if lv is not None else None  # too): drawn while they compute
            if pad is not None:
                computes = [a + b for a, b in zip(computes, pad, strict=True)]
        peak_chip = max(average, static_w + c.activity_w * chips + peak_dynamic_w(computes, moved)) / chips

        def inside_peak() -> float:  # the busiest window without the off-package devices' (memory, NIC) bytes and static power
            inside = {lv: j for lv, j in moved.items() if lv not in c.off_package}
            return max(package, c.package_static_w + c.activity_w + peak_dynamic_w(computes, inside) / chips)
        package_peak = inside_peak
    else:  # a composed report: its simulated pass's peak is one chip's (a pipeline's P chips: each at its own)
        before = report.get("power") or {}
        peak_chip = max(average / chips, before.get("peak_w_per_chip") or before.get("peak_w") or 0.0)
    power = {"average_w": average, "average_w_per_chip": average / chips, "peak_w": peak_chip * chips,
             "peak_w_per_chip": peak_chip, "static_w": static_w, "tdp_w": c.tdp, "chips": chips,
             "off_package_w": off_package_w, "package_w_per_chip": package}
    beside = (f" (beside {off_package_w / chips:.4g} W of off-package "
              f"{off_package_parts(energy['by_level'], energy['off_package_j'])})") if off_package_w else ""
    factor, note = over_tdp(c.tdp, c.package_static_w, package, f"average {'package ' if off_package_w else ''}power",
                            "set options.throttle_to_tdp: true to run it so", beside=beside)
    if factor is not None:
        power["tdp_clock_factor"] = factor
    notes += [note] if note else []
    if note is None and c.tdp is not None and peak_chip > c.tdp:  # the average within the TDP, its peak above it
        # (probe p141 #1: Llama-2-7B serving on h100 averaged 471 W, its prefill's window 770 W, against 700 W)
        # with off-package devices, the package's own window (a composed report keeps its pass's by the whole chip
        # only, so it says nothing there)
        inside = peak_chip if not off_package_w else package_peak() if package_peak is not None else None
        notes += [peak_over_tdp_note(c.tdp, inside, package, bool(off_package_w))] \
            if inside is not None and inside > c.tdp else []
    notes += [f"{NOTE_PREFIX}level {lv} gives no energy_per_bit: its bytes cost 0 J" for lv in c.missing]
    notes += unread_key_notes(arch.energy) if arch.energy is not None else []
    if c.level_j_per_bit.get(NIC) == 0.0 and any(nic_bytes(row) for row in [*report["ops"], *sent]):
        notes.append(f"{NOTE_PREFIX}interconnect.scale_out gives no energy_per_bit: the bytes the chips' NICs send "
                     f"between nodes cost 0 J")
    notes += host_step_notes(report["ops"])
    area = {"total_mm2": c.area_total, "units": dict(c.unit_area), "levels": dict(c.level_area),
            "other_mm2": c.other_area}
    return {"energy": energy, "power": power, "efficiency": _efficiency(report, arch, total, chips, c.static_total,
                                                                    _alone_j(report, spread, c.activity_w)),
            "edp": total * seconds, "area": area, "notes": notes}


NOTE_PREFIX = "energy: "
# the cheapest DRAM figure in docs/energy.md's sources (../shared/reference/energy/README.md, "DRAM pJ/bit by type":
# Accelergy's cacti_wrapper LPDDR4 8, DDR3 70, GDDR5 14, HBM2 3.9): a floor for a host's DDR, not its price
LPDDR4_PJ_PER_BIT = 8.0


def host_step_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The note of a run whose optimizer step ran on the host's CPUs (``options.offload: optimizer_cpu``: its rows on
    ``host_cpu``): the step is charged its host-link bytes only; its host-DRAM traffic (``mapping.host_dram_bytes``,
    30 B a parameter, docs/training.md) and the CPUs' own power over its seconds (``mapping.host_step_s``) are in no
    energy, no sourced figure giving a server's DDR5 energy or CPU draw (docs/energy.md, "Limits"); the note gives
    the DRAM's floor at :data:`LPDDR4_PJ_PER_BIT` (probe p254 #2: the step read as 7x cheaper than the GPU's, unsaid)."""
    dram = seconds = 0.0
    for row in rows:
        if row.get("unit") != HOST_CPU:
            continue
        mapping = row.get("mapping")
        if isinstance(mapping, Mapping):
            dram += (_number(mapping.get("host_dram_bytes")) or 0.0) * _runs(row)
            seconds += (_number(mapping.get("host_step_s")) or 0.0) * _runs(row)
    if not dram and not seconds:
        return []
    return [f"{NOTE_PREFIX}the optimizer step on the host's CPUs (options.offload: optimizer_cpu) is charged the "
            f"bytes it moves over the chip's links only: its {dram:,.0f} B of host DRAM traffic and the CPUs' own power over its "
            f"{seconds:.4g} s are not in the energy (no sourced figure for a server's DRAM or CPU draw; at LPDDR4's "
            f"{LPDDR4_PJ_PER_BIT:g} pJ/bit, the cheapest DRAM in docs/energy.md's sources, the DRAM alone would add "
            f"{dram * 8 * LPDDR4_PJ_PER_BIT * PJ:.3g} J or more a chip), so energy.by_op_kind.optimizer understates "
            f"it against a step on the chip"]


def no_energy_note(arch: Arch) -> str:
    """The note of a run (report.json's ``notes``) and of ``accelsim info`` on an arch that gives no ``energy``
    block (probe p211 #5: ``info`` printed no energy section and said nothing)."""
    return (f"{NOTE_PREFIX}arch {arch.name} gives no 'energy' constants, so energy, power and area are null "
            f"(docs/energy.md)")
PEAK_OVER_TDP = f"{NOTE_PREFIX}peak power "  # the start of :func:`peak_over_tdp_note`'s note


def unread_key_notes(spec: EnergySpec) -> list[str]:
    """Notes naming the energy keys ``spec`` gives that another key overrides, so that they change nothing (probe
    p111 #4: a leakage or bit-cell sweep on a preset gave identical points, unsaid): ``leakage_w_per_mm2`` beside
    ``idle_power``, a ``sram_bitcell_um2`` of the arch's own beside a pinned ``sram_bitcell_at_node_um2``, and a
    ``sram_bitcell_node`` without a pinned cell."""
    out = []
    if spec.leakage_w_per_mm2 is not None and spec.idle_power is not None:
        out.append(f"{NOTE_PREFIX}energy.leakage_w_per_mm2 ({spec.leakage_w_per_mm2:g} W/mm²) is not read: "
                   f"energy.idle_power ({spec.idle_power:g} W) gives the chip's static power (set idle_power to "
                   f"null to size it by area)")
    if spec.sram_bitcell_at_node_um2 is not None and spec.sram_bitcell_um2 is not None:
        out.append(f"{NOTE_PREFIX}energy.sram_bitcell_um2 ({spec.sram_bitcell_um2:g} µm²) is not read: the pinned "
                   f"cell energy.sram_bitcell_at_node_um2 ({spec.sram_bitcell_at_node_um2:g} µm²) replaces it (set "
                   f"that to null to use it)")
    if spec.sram_bitcell_at_node_um2 is None and spec.sram_bitcell_node is not None:
        out.append(f"{NOTE_PREFIX}energy.sram_bitcell_node ({spec.sram_bitcell_node:g} nm) is not read: it is the "
                   f"node of a pinned energy.sram_bitcell_at_node_um2, and none is given")
    return out


def _energy(rows: list[dict[str, Any]], c: Constants, chip_seconds: float, active: float,
            row_mac_j: Callable[[Mapping[str, Any]], float], groups: Mapping[str, str],
            parts: tuple[list[float], dict[str, list[float]]] | None = None,
            row_flop_j: Callable[[Mapping[str, Any]], float] | None = None,
            row_link_hops: Callable[[Mapping[str, Any]], float] | None = None) -> dict[str, Any]:
    """Dynamic energy of the op rows (written into each row), the activity power over the ``active`` share of
    ``chip_seconds`` (``by_unit["activity"]`` when the arch draws any) and the static energy over all of it. A
    row's compute is filed under the core's unit its unit is one of: ``groups`` maps each unit's name on a core
    to it (:func:`_by_own_name`), else :func:`unit_group`.

    ``row_flop_j`` gives a row's J per vector FLOP (:func:`flop_pricer`; default: ``c.vector_j``);
    ``row_link_hops`` the links its LINK bytes cross each beyond :func:`link_traversals` (:func:`link_pricer`;
    default 1).

    ``parts`` (two empty containers, when given) receives each row's compute J (a list) and its J at each level
    (a list per level, one item a row) for the peak window.

    The loop is :func:`op_energy` inlined (one pass over the rows, no dict per row), adding in the same order."""
    per_bit = c.level_j_per_bit
    vector_j = c.vector_j
    flop_j = row_flop_j or (lambda row: vector_j)
    link_hops = row_link_hops or (lambda row: 1.0)
    has_nic = NIC in per_bit
    # (the NIC's, where a row uses it); a core_sram array's bytes (the partial sums' accumulators, probe p279 #1)
    # are filed under its unit, beside its static energy
    by_level = {lv: 0.0 for lv in per_bit if lv != NIC and lv not in c.unit_area}
    by_unit: dict[str, float] = {u: 0.0 for u in c.unit_area}
    by_kind: dict[str, float] = {}
    macs_j = 0.0
    computes, columns = parts if parts is not None else (None, {})
    n = len(rows)
    for i, row in enumerate(rows):
        unit = row["unit"]
        if unit == "none":  # a view or a folded op does no work: 0 J, its levels and kind listed
            row["energy_j"] = 0.0
            if computes is not None:
                computes.append(0.0)
            for lv in row["bytes"]:
                by_level[lv] = by_level.get(lv, 0.0) + 0.0
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0.0) + 0.0
            continue
        share, extra = _executed(row)
        macs = row["macs"] * share + extra  # executed_macs
        mac_part = macs * row_mac_j(row)
        vector = max(row["flops"] - 2 * row["macs"], 0) * share
        vector += reduce_flops(row)  # a collective's reduction, a GEMM cut along K its partial sums' adds
        compute = mac_part + vector * flop_j(row)
        if row["unit"] == HOST_CPU:  # an offloaded optimizer step on the host's CPUs: off the chip (op_energy)
            compute = mac_part = 0.0
        moved = 0
        for lv, b in row["bytes"].items():
            # the LINK bytes that left the node (nic_bytes): priced and filed as NIC's, the rest as LINK's
            off = nic_bytes(row) if has_nic and lv == LINK else 0.0
            if off:
                on = b - off
                j = off * 8 * per_bit[NIC]
                by_level[NIC] = by_level.get(NIC, 0.0) + j
                if on > 0:
                    j_on = on * 8 * per_bit.get(LINK, 0.0)
                    by_level[LINK] = by_level.get(LINK, 0.0) + j_on
                    j += j_on
            else:
                j = b * 8 * per_bit.get(lv, 0.0) * (link_hops(row) if lv == LINK else 1.0)
                filed = by_unit if lv in by_unit else by_level
                filed[lv] = filed.get(lv, 0.0) + j
            moved += j
            if computes is not None and j:
                column = columns.get(lv)  # (by the level the row's bytes name: its tasks' bandwidth server)
                if column is None:
                    column = columns[lv] = [0.0] * n
                column[i] = j
        if computes is not None:
            computes.append(compute)
        e = compute + moved
        row["energy_j"] = e
        macs_j += mac_part
        if compute:
            own = _own_name(unit)
            # a collective's reduction adds run on the SMs / vector lanes (NCCL's runRing reduces in its kernels), not
            # on the link its bytes cross (probe p234 #5: dgx-a100's ring all-reduce filed them as a unit "link")
            group = VECTOR if own in (LINK, NIC) else groups.get(own) or unit_group(unit)
            by_unit[group] = by_unit.get(group, 0.0) + compute
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0.0) + e
    dynamic = sum(by_unit.values()) + sum(by_level.values())
    off_package = sum(by_level.get(lv, 0.0) for lv in c.off_package) + c.off_package_static_w * chip_seconds
    static = {part: w * chip_seconds for part, w in c.static_w.items()}
    other = static.pop("other", 0.0)
    static_by_level: dict[str, float] = {}
    static_by_unit: dict[str, float] = {}
    for part, j in static.items():
        target, shares = (by_unit, static_by_unit) if part in c.unit_area else (by_level, static_by_level)
        target[part] = target.get(part, 0.0) + j
        shares[part] = j
    static_j = sum(static.values()) + other
    activity = c.activity_w * active * chip_seconds
    if c.activity_w:
        by_unit[ACTIVITY] = activity
    return {"total_j": dynamic + activity + static_j, "dynamic_j": dynamic, "activity_j": activity,
            "static_j": static_j, "mac_j": macs_j, "off_package_j": off_package,
            "by_level": by_level, "by_unit": by_unit, "other_j": other, "by_op_kind": by_kind,
            "static_by_level": static_by_level, "static_by_unit": static_by_unit}


# report.json's efficiency.tops_definition: what its two TOPS/W figures count (docs/energy.md)
TOPS_DEFINITION = ("tops_per_w: FLOPs executed (computed_flops: the zeros an array multiplies in, the blocks a kernel "
                   "skips out) per J / 1e12; useful_tops_per_w: the model's FLOPs (flops: a pruned layer's kept "
                   "weights) per J / 1e12")


def step_chips(report: Mapping[str, Any], chips: int) -> int:
    """How many of the arch's ``chips`` run a training step ``report``: its ``data_parallel`` replicas × the chips
    of each (tensor × context × pipeline parallel, a DLRM's × embedding_parallel), at most ``chips``; all of them
    in a report without that record. The rest are idle (the run's note names them) and pay their static power only
    (probe p185 #1: 4 idle chips of 12 beside one replica of TP 8 were charged a working chip's energy)."""
    dp = report.get("data_parallel") or {}
    replicas, per = dp.get("replicas"), dp.get("chips_per_replica")
    if isinstance(replicas, int) and isinstance(per, int) and replicas > 0 and per > 0:
        return min(chips, replicas * per)
    return chips


def working_chips(report: Mapping[str, Any], chips: int) -> int:
    """How many of the arch's ``chips`` do the work of ``report`` (each like the chips it covers, ``power.chips``):
    a training step's data-parallel replicas × the chips of each (:func:`step_chips`, as its
    ``efficiency.j_per_step`` counts them: probe p185 #1, one replica of TP 8 on 12 chips charged its 4 idle chips a
    working chip's energy), every chip in a run of the ``collective`` micro-workload (it spans
    every chip, as its ``efficiency.j_per_inference`` counts them: probe p118 #1); else the report's chips × the chips of its tensor-, context-, expert- and
    embedding-parallel group, as its ``efficiency.j_per_inference`` / ``j_per_token`` count them (an inference or a
    serving run is one replica; a GEMM or CNN one chip, the others idle: probe p66; an MoE's expert_parallel ranks
    each route a batch of their own as the simulated one does, so they work too: probe p90 #1, Mixtral EP 8 on a
    DGX H100 was 1 working chip and 7 idle). A pipeline's stages are the chips its report covers."""
    covered = int((report.get("power") or {}).get("chips") or 1)
    workload = report.get("workload") or {}
    params = workload.get("params") or {}
    if "phases" in report:
        return step_chips(report, chips)
    if params.get("model", workload.get("model")) == "collective":
        return chips
    group = 1
    for key in ("tensor_parallel", "context_parallel", "expert_parallel", "embedding_parallel"):
        value = params.get(key)
        group *= value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1
    return min(chips, covered * group)


def _alone_j(report: Mapping[str, Any], spread: Sequence[tuple[str, int, float]], activity_w: float) -> float:
    """The energy a composed run's (``spread``: :func:`account`) tensor-parallel group would spend were its parts on
    fewer chips (a diffusion pipeline's text encoder and VAE decoder, on chip 0 alone) run on every chip of it: each
    such part's dynamic energy (its op rows' ``energy_j``) and activity energy (``activity_w`` over its active
    seconds) times the group's chips that do not run it. Those chips sit idle meanwhile and pay static power only,
    which chip 0's ``total_j`` already holds over those seconds. 0 without ``spread``."""
    group = max((k for _, k, _ in spread), default=1)
    out = 0.0
    for phase, k, active_s in spread:
        if k < group:
            dynamic = sum(float(row.get("energy_j") or 0.0) for row in report["ops"] if row.get("phase") == phase)
            out += (group - k) * (dynamic + activity_w * active_s)
    return out


def _efficiency(report: Mapping[str, Any], arch: Arch, total: float, chips: int,
                static_w: float = 0.0, alone_j: float = 0.0) -> dict[str, Any]:
    """TOPS/W and J per unit of work: per token (serving: all its chips, tensor-parallel ones included, over every
    output token, the prefill's first of each sequence included), per
    training step (``j_per_step``: the chips that run it, :func:`step_chips`, each as the report's chips, plus the
    arch's idle chips' ``static_w`` each over the step's seconds; one chip: ``j_per_step_per_chip``; a ``phase: decode``
    step: per token, each of its batch's sequences making one), per inference (per sample: the batch of each micro-batch of a pipeline,
    on all its chips, tensor-parallel ones and a DLRM's embedding-parallel group included; a ``collective`` run:
    every chip of the arch; ``alone_j``, :func:`_alone_j`: what the group's other chips do not spend while chip 0
    runs a part alone). TOPS/W counts the FLOPs
    the kernels compute, as the energy does (:func:`executed_flops`: a causal fused attention's skipped blocks are
    neither charged nor counted; the zeros an array that does not skip them multiplies are both)."""
    params = report.get("workload", {}).get("params", {}) or {}
    batch = report.get("workload", {}).get("batch") or params.get("batch") or 1
    skipped = sum(row["flops"] - executed_flops(row) for row in report["ops"])
    computed = report["flops"] - skipped if skipped else report["flops"]
    # two figures, one definition on every preset (probe p66: a100's 2:4 TOPS/W counted the kept FLOPs, tpu-v4's
    # the zeros its array multiplies): the FLOPs executed, and the model's, each over the same joules
    # no FLOPs is no rate, None (probe p234 #4: a collective's report.json gave 0.0 where the console says n/a)
    out: dict[str, Any] = {"tops_per_w": computed / total / 1e12 if total and computed else None,
                           "useful_tops_per_w": report["flops"] / total / 1e12 if total and report["flops"] else None,
                           "tops_definition": TOPS_DEFINITION,
                           "j_per_token": None, "j_per_step": None, "j_per_inference": None}
    serving = report.get("serving")
    if serving:
        # each sequence's output tokens: the prefill samples the first (its ``ttft_s``), each decode step one more,
        # as ``accelsim serve`` counts them (probe p237 #1: decode_steps 1 divided the prefill's and the step's
        # joules by 1 token, not 2, and compare showed the same request 2.00x dearer than serve did); a ``phase:
        # decode`` run has no prefill, its first token made before it: one a step
        first = 1 if params.get("phase", "prefill") == "prefill" else 0
        tokens = serving["batch"] * (serving["decode_steps"] + first)
        tp = int(params.get("tensor_parallel", 1) or 1)
        out["j_per_token"] = total * tp / tokens if tokens else None
    elif "phases" in report:  # the replicas' chips alike, the leftover idle chips at their static power; one chip's
        working = step_chips(report, arch.chips)
        idle_j = static_w * (arch.chips - working) * float(report.get("seconds") or 0.0)
        out["j_per_step"] = total * working / chips + idle_j
        out["j_per_step_per_chip"] = total / chips
    elif params.get("model", report.get("workload", {}).get("model")) == "collective":
        # one collective runs on every chip of the arch, each doing what the simulated one does (its note says so;
        # working_chips counts them alike): probe p118 #1, mi300x-8's 1 GiB all-reduce was one chip's
        # 2.67 J under compare's "J/inference (every chip)", 8 x 2.67 = 21.3 J
        out["j_per_inference"] = total * arch.chips / chips / batch
    else:
        # the report simulates one chip of each tensor- (and context-) parallel group, and of a DLRM's
        # embedding-parallel group (whose chips share its batch); a composed run's parts on chip 0 alone (a
        # diffusion pipeline's text encoder and VAE under a tensor-parallel denoiser) leave the group's other chips
        # idle at their static power (probe p191 #2: flux1_schnell TP 2 on dgx-h100, 519.42 J counted the
        # encoders' and VAE's 20.79 J twice; 259.71 J on chip 0 + chip 1's 238.92 J + 70 W x 35.32 ms = 501.10 J)
        tp = int(params.get("tensor_parallel", 1) or 1) * int(params.get("context_parallel", 1) or 1) \
            * int(params.get("embedding_parallel", 1) or 1)
        samples = batch * int(report.get("pipeline", {}).get("micro_batches", 1))
        if params.get("phase") == "decode":  # one decode step makes a token of each sequence: J/token, as a
            # serving report's (probe p141 #2: it gave j_per_inference, and compare "J/token —")
            out["j_per_token"] = (total * tp - alone_j) / samples
        else:
            out["j_per_inference"] = (total * tp - alone_j) / samples
    return out


def mark_throttled(report: dict[str, Any], factor: float, clock_hz: float, unthrottled_w: float) -> None:
    """Tell one story in ``report``, run again at ``factor`` × ``clock_hz`` because its first run averaged
    ``unthrottled_w`` per chip: ``power.tdp_clock_factor`` is the factor applied, and one note replaces the
    over-TDP note its own accounting made (whose factor would be relative to the lowered clock)."""
    power = report.get("power") or {}
    tdp, now = power.get("tdp_w"), package_w_per_chip(power)
    power["tdp_clock_factor"] = factor
    where = " in its package" if power.get("off_package_w") else ""  # off-package memory and network hardware apart
    notes = [n for n in report.get("notes", []) if not n.startswith(f"{NOTE_PREFIX}average ")]
    said = (f"{NOTE_PREFIX}throttled to the TDP (options.throttle_to_tdp): the clock runs at {factor:.3f}× "
            f"{clock_hz / 1e6:g} MHz = {factor * clock_hz / 1e6:g} MHz, the first-order factor of the unthrottled "
            f"run's {unthrottled_w:.4g} W per chip{where}")
    if tdp is not None and now > tdp:
        said += (f"; it still averages {now:.4g} W per chip{where}, {now - tdp:.3g} W ({(now / tdp - 1) * 100:.2g} %) above "
                 f"the {tdp:g} W TDP: the factor takes the whole run to stretch with the clock, but its waits on "
                 f"memory do not, so its power falls less than the clock (one step, not iterated)")
    elif tdp is not None:
        said += f"; it now averages {now:.4g} W per chip{where}, within the {tdp:g} W TDP"
    report["notes"] = [*notes, said]


def package_w_per_chip(power: Mapping[str, Any]) -> float:
    """W per chip inside its package of a report's ``power`` (what its TDP rates): ``package_w_per_chip``, or
    (a report before off-package devices were told apart) ``average_w_per_chip``."""
    return float(power.get("package_w_per_chip", power.get("average_w_per_chip", 0.0)))


def off_package_parts(by_level: Mapping[str, float], off_package_j: float) -> str:
    """What ``energy.off_package_j`` holds, in words, from ``energy.by_level``: "memory devices" (levels with
    ``off_package: true``: TPU v1's DDR3, Eyeriss's DRAM), "network hardware (NIC)" (a multi-node run's NIC, its
    optics and switches, ``by_level.nic``) or both (probe p244 #1: a dgx-h100 run's NIC energy was labelled
    off-package memory)."""
    nic = float(by_level.get(NIC) or 0.0)
    if nic <= 0.0:
        return "memory devices"
    return "network hardware (NIC)" if nic >= off_package_j * (1 - 1e-9) else "memory devices and network hardware (NIC)"


def throttle_factor(report: Mapping[str, Any]) -> float:
    """The clock factor at which the report's average power meets its TDP (1.0 when it does or gives none)."""
    power = report.get("power") or {}
    return float(power.get("tdp_clock_factor", 1.0))
