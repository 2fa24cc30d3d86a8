"""Technology constants and the node-scaling rule of the energy and area model (docs/energy.md).

Every figure here is at 45 nm, the node of M. Horowitz, "Computing's energy problem (and what we can do about
it)", ISSCC 2014 (``../shared/reference/energy/README.md``), and is carried to another node by
:func:`energy_scale` and :func:`area_scale`:

* **Energy**: A. Stillmaker and B. Baas, "Scaling equations for the accurate prediction of CMOS device
  performance from 180 nm to 7 nm", Integration 58 (2017): energy per operation at a node is a quadratic in the
  supply voltage, E(V) = aV² + bV + c, with a, b, c fitted per node (the table below, as Accelergy's
  ``get_tech_node_energy_scale`` carries it: the low-power library's rows at 45 and 32 nm, the high-performance
  library's from 20 to 7 nm, :data:`ENERGY_POLY`), each end at its own supply voltage: the built-in figures at
  Horowitz's 0.9 V (:data:`HOROWITZ_VOLTAGE`), the chip at its ``energy.voltage``, else 0.8 V
  (:data:`DEFAULT_VOLTAGE`, Accelergy's convention; probe p152 #1: both ends were taken at 0.8 V, so every figure
  carried from 45 nm was E45(0.8) / E45(0.9) = 0.821 of Horowitz's). At 0.8 V both ends 45 → 7 nm is ×0.0943
  (Accelergy: ×0.094); from Horowitz's 0.9 V it is ×0.0774. Between listed nodes the factor is interpolated linearly in
  log(node) and log(energy); below 7 nm energy goes as √node (Accelergy's rule), above 130 nm as node (the
  paper's 180 nm fit is not used: :data:`ENERGY_POLY`). 45 → 28 nm
  is ×0.483, not Accelergy's ×0.367: its node index weights the two listed nodes from the wrong end (28 nm two
  thirds of the way to 20 nm), so its factor jumps at each listed node (docs/energy.md, "Node scaling").
* **Area**: Stillmaker and Baas's area factors from 45 nm (180 nm ×19, 65 nm ×1.5, 7 nm ×0.059, ...), interpolated the
  same way, and a 5 nm row from the reference's transistor density (7 → 5 nm ×96.3/138.2 = ×0.697, not node²'s
  ×0.510: probe p111 #2); below 5 nm the 7 → 5 nm density trend goes on (area ∝ node^1.07).
* **SRAM bit cell**: a foundry's published cell pinned at one node (``sram_bitcell_at_node_um2``) is carried to
  another by :func:`sram_cell_scale`, TSMC's published high-density cells (:data:`SRAM_BITCELL_UM2`) down to 7 nm,
  not by the logic rule: SRAM cells stopped shrinking with logic at 5 nm (probe p96 #1).

An arch's node is taken from 3 to 180 nm (``hardware.NODE_NM``): what these rules carry a figure to.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from ..units import DTYPE_BYTES, operand_bits  # noqa: F401 (operand_bits: energy's callers read it here)

# node (nm) → (a, b, c) of E(V) = aV² + bV + c (Stillmaker & Baas 2017), Accelergy's table as it is: 130, 90 and
# 65 nm the paper's only rows (one library); 45 and 32 nm its low-power (LP) library; 20 to 7 nm its
# high-performance (HP) one (checked against the paper's table as wromaszkan/nodeScale @a912c60 copies it). An
# HP-to-HP scaling (HP 45 nm: 1.018, -0.3107, 0.1539) would give 45 -> 7 nm x0.1174, not x0.0943: docs/energy.md,
# "Node scaling", says why the mixed rows are kept (probe p87 #5). The paper's 180 nm row (nodeScale's depCoeffDict
# '180': a = 0, E(V) = 24.64 V - 17.98) is left out, as Accelergy leaves it: in the 0.6-1.5 V an arch takes it is
# <= 0 below 0.73 V and below the 130 nm row's energy below 0.82 V (7.171 V² - 31.349 V + 20.884 = 0), so from 130
# to 180 nm energy goes as node (energy_scale's ``above``), a fit valid only near 180 nm's own supply voltage
ENERGY_POLY: dict[float, tuple[float, float, float]] = {
    130: (7.171, -6.709, 2.904), 90: (4.762, -4.781, 2.092), 65: (3.755, -4.398, 1.975),
    45: (1.103, -0.362, 0.2767), 32: (0.9559, -0.7823, 0.471), 20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024), 14: (0.2363, -0.09675, 0.02239), 10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
# node (nm) → area relative to 45 nm (Stillmaker & Baas 2017, the 45 nm row of the area table as
# wromaszkan/nodeScale @a912c60 `areaDict['45']` copies it, 180 nm's 19 included: probe p211 #3, node² from 130 nm
# gave 6.4 x (180/130)² = 12.27, 35 % low)
# and, below 7 nm, the transistor density of ../shared/reference/energy/README.md ("Area", Khan & Mann, "AI Chips",
# via PrincetonUniversity/ttm-cas @d98ac05 [P]: 7 nm 96.3, 5 nm 138.2 MTr/mm²): 5 nm is 7 nm's 0.059 x 96.3 / 138.2
# = 0.0411 (probe p111 #2: node² gave 0.059 x (5/7)² = 0.0301, 27 % below what the density allows; from 40 to 7 nm
# the table above and that density agree within 4 %)
AREA_FROM_45NM: dict[float, float] = {180: 19.0, 130: 6.4, 90: 2.8, 65: 1.5, 45: 1.0, 32: 0.46, 20: 0.21, 16: 0.19,
                                      14: 0.17, 10: 0.1, 7: 0.059, 5: 0.059 * 96.3 / 138.2}
# below 5 nm (the density table's last row) area follows the 7 -> 5 nm density trend, area ∝ node^1.074
# (ln(138.2 / 96.3) / ln(7 / 5)): an assumption, no denser node being listed; no node above 180 nm is taken
# (hardware.NODE_NM), so area_scale's node² above it is never reached
AREA_BELOW_EXPONENT = math.log(138.2 / 96.3) / math.log(7 / 5)
# Horowitz's 45 nm table is at 0.9 V (../shared/reference/energy/README.md, "45 nm, 0.9 V"; copies of the table say
# the same, e.g. PMC8934428 Table 3, "energy cost table for 45 nm at 0.9 V from Horowitz"): the built-in figures'
# supply voltage, and the default ``energy.reference_voltage`` of an arch's own figures at 45 nm (probe p152 #1;
# at the chip's own node or another, the chip's voltage: energy.model.reference_volts, probe p159 #1)
HOROWITZ_VOLTAGE = 0.9
# a chip's supply voltage where its preset gives none (``energy.voltage``): Accelergy's 0.8 V convention
# (get_tech_node_energy_scale evaluates every node at 0.8 V). An assumption: the sources in
# ../shared/reference/energy/ give no nominal voltage per node (docs/energy.md, "Node scaling")
DEFAULT_VOLTAGE = 0.8

# Horowitz ISSCC 2014 at 45 nm: (multiplier pJ, multiplier µm²) by operand format and width (integer bits, or a
# floating point's significand bits: fp16 11, fp32 24), and the accumulators' adders (pJ, µm²): int32 add 0.1 pJ /
# 137 µm², fp32 add 0.9 / 4184 (Horowitz also lists an fp16 add, 0.4 / 1360: no GEMM library accumulates in it).
MULTIPLIERS: dict[tuple[str, int], tuple[float, float]] = {("int", 8): (0.2, 282.0), ("int", 32): (3.1, 3495.0),
                                                          ("float", 11): (1.1, 1640.0), ("float", 24): (3.7, 7700.0)}
INT32_ADD = (0.1, 137.0)
FP32_ADD = (0.9, 4184.0)
# Horowitz's other adders (../shared/reference/energy/README.md): int8 add 0.03 pJ / 36 µm², fp16 add 0.4 / 1360: an
# array whose ``core.systolic.accumulator_dtype`` is narrower accumulates in them (probe p152 #3)
INT_ADDERS: dict[int, tuple[float, float]] = {8: (0.03, 36.0), 32: INT32_ADD}
FP16_ADD = (0.4, 1360.0)
# significand bits of the floating-point formats, by the width in the dtype's name: IEEE binary16/32/64, fp8 e4m3;
# "bf" (bfloat: fp32's exponent, 8 significand bits) and "tf" (TensorFloat-32: fp16's significand) by prefix
_SIGNIFICAND = {8: 4, 16: 11, 32: 24, 64: 53}


def _format(dtype: str) -> tuple[str, int]:
    """(``int`` or ``float``, integer bits or significand bits) of a dtype name of units.DTYPE_BYTES: the width is
    the first number in the name (else the dtype's bytes × 8); a float width not listed keeps half its bits."""
    m = re.search(r"\d+", dtype)
    bits = int(m.group()) if m else 8 * DTYPE_BYTES.get(dtype, 2)
    if dtype.startswith(("int", "uint")):
        return "int", bits
    if dtype.startswith("b"):
        return "float", 8
    if dtype.startswith("t"):
        return "float", 11
    return "float", _SIGNIFICAND.get(bits, max(bits // 2, 2))


def is_float(dtype: str) -> bool:
    """Whether ``dtype`` (a name of units.DTYPE_BYTES) is a floating-point format (:func:`_format`)."""
    return _format(dtype)[0] == "float"


def adder_45nm(accumulator: str) -> tuple[float, float]:
    """(pJ, µm²) at 45 nm of the adder that accumulates in ``accumulator`` (Horowitz ISSCC 2014): an integer one
    scales the nearest listed adder (int8 0.03 pJ / 36 µm², int32 0.1 / 137; a tie goes to int32) ∝ bits (the
    README's width rule, Accelergy's aladdin plug-in), so int16 0.05 pJ / 68.5 µm²; a float one is fp16's add
    (0.4 / 1360) up to 11 significand bits, fp32's (0.9 / 4184) up to 24, two fp32 adders' worth above."""
    kind, bits = _format(accumulator)
    if kind == "int":
        anchor = min(INT_ADDERS, key=lambda b: (abs(math.log(bits / b)), -b))
        pj, um2 = INT_ADDERS[anchor]
        return pj * bits / anchor, um2 * bits / anchor
    if bits <= 11:
        return FP16_ADD
    if bits <= 24:
        return FP32_ADD
    return 2 * FP32_ADD[0], 2 * FP32_ADD[1]


@lru_cache(maxsize=256)
def mac_45nm(dtype: str, accumulator: str | None = None) -> tuple[float, float]:
    """(pJ, µm²) of one MAC of ``dtype`` at 45 nm: its multiplier plus the accumulator's adder (Horowitz ISSCC
    2014). A width Horowitz does not list scales the nearest listed multiplier by width² (integers: int8 or
    int32) or significand width² (floats: fp16 or fp32), the width rules of the README (Accelergy's aladdin
    plug-in, LLMCompass); integers accumulate in int32, floats up to 32 bits in fp32 (fp8 and fp4 too: the GEMM
    libraries accumulate them in fp32, vllm_sm90_fp8's CUTLASS kernels with ElementAcc float and cuBLASLt only
    with CUBLAS_COMPUTE_32F, NVIDIA CUDALibrarySamples cuBLASLt/LtFp8Matmul and forums.developer.nvidia.com
    t/294400, where CUBLAS_COMPUTE_16F is refused), fp64 in two fp32 adders' worth. int8: 0.2 + 0.1 = 0.3 pJ
    (Timeloop's int8 MAC: 0.315), fp16 1.1 + 0.9 = 2.0 pJ, bf16 1.1·(8/11)² + 0.9 = 1.48 pJ, fp8 1.1·(4/11)² + 0.9
    = 1.05 pJ, fp32 3.7 + 0.9 = 4.6 pJ. An ``accumulator`` of the same kind (an array's
    ``core.systolic.accumulator_dtype``: int8 or int16 partial sums of an integer array) takes its own adder
    (:func:`adder_45nm`): int8 accumulating in int8 0.2 + 0.03 = 0.23 pJ, 282 + 36 = 318 µm² (probe p152 #3)."""
    kind, bits = _format(dtype)
    anchors = [b for k, b in MULTIPLIERS if k == kind]
    anchor = min(anchors, key=lambda b: (abs(math.log(bits / b)), b))
    pj, um2 = MULTIPLIERS[kind, anchor]
    scale = (bits / anchor) ** 2
    if accumulator is not None and _format(accumulator)[0] == kind:
        add = adder_45nm(accumulator)
    elif kind == "int":
        add = INT32_ADD
    elif bits > 24:
        add = (2 * FP32_ADD[0], 2 * FP32_ADD[1])
    else:
        add = FP32_ADD
    return pj * scale + add[0], um2 * scale + add[1]


SRAM_REF_BYTES = 8192  # Horowitz's 8 KB SRAM: 10 pJ per 64-bit access at 45 nm (32 KB 20 pJ, 1 MB 100 pJ)
SRAM_REF_BITS = 64
# The built-in 45 nm figures an arch's EnergySpec leaves at None (``sram_pj``, ``sram_bitcell_um2``,
# ``register_bit_um2``): carried from 45 nm to the node whatever ``reference_node`` says (docs/energy.md)
SRAM_PJ_45NM = 10.0  # pJ per 64-bit access of Horowitz's 8 KB SRAM (above)
SRAM_BITCELL_45NM_UM2 = 0.346  # µm² of a 45 nm 6T SRAM bit cell (docs/energy.md, "SRAM rule")
REGISTER_BIT_45NM_UM2 = 4.522  # µm² of one flip-flop bit: NanGate FreePDK45 Open Cell Library's DFF_X1


def _interp(table: dict[float, float], node: float, below: float, above: float) -> float:
    """``table`` (node → factor) at ``node``: log-log linear between listed nodes; outside them a power law
    in node with exponent ``below`` (smaller nodes) or ``above`` (larger)."""
    nodes = sorted(table)
    lo, hi = nodes[0], nodes[-1]
    if node <= lo:
        return table[lo] * (node / lo) ** below
    if node >= hi:
        return table[hi] * (node / hi) ** above
    for a, b in zip(nodes, nodes[1:], strict=False):
        if a <= node <= b:
            w = math.log(node / a) / math.log(b / a)
            return math.exp((1 - w) * math.log(table[a]) + w * math.log(table[b]))
    raise AssertionError(node)  # pragma: no cover


@lru_cache(maxsize=64)
def _energy_at(volts: float) -> dict[float, float]:
    """node (nm) → E(``volts``) of :data:`ENERGY_POLY` (Stillmaker & Baas's energy at that supply voltage)."""
    return {n: a * volts ** 2 + b * volts + c for n, (a, b, c) in ENERGY_POLY.items()}


@lru_cache(maxsize=256)
def energy_scale(from_nm: float, to_nm: float, from_v: float = DEFAULT_VOLTAGE,
                 to_v: float = DEFAULT_VOLTAGE) -> float:
    """Factor carrying an energy per operation at ``from_nm`` and ``from_v`` volts to ``to_nm`` and ``to_v``
    (Stillmaker & Baas; both ends at 0.8 V by default, Accelergy's convention): 45 nm at Horowitz's 0.9 V to
    65 nm at Eyeriss's 1.0 V is E65(1.0) / E45(0.9) = 1.3320 / 0.84433 = ×1.578."""
    return _interp(_energy_at(to_v), to_nm, 0.5, 1.0) / _interp(_energy_at(from_v), from_nm, 0.5, 1.0)


@lru_cache(maxsize=256)
def area_scale(from_nm: float, to_nm: float) -> float:
    """Factor carrying an area at ``from_nm`` to ``to_nm`` (Stillmaker & Baas's area table)."""
    below = AREA_BELOW_EXPONENT
    return _interp(AREA_FROM_45NM, to_nm, below, 2.0) / _interp(AREA_FROM_45NM, from_nm, below, 2.0)


# node (nm) → area (µm²) of the foundry's published high-density 6T SRAM bit cell, the nodes docs/energy.md
# ("SRAM rule") cites: TSMC N7 0.027 (J. Chang et al., "A 7nm 256Mb SRAM in high-k metal-gate FinFET technology",
# ISSCC 2017); N6 0.027, assumption: N6 keeps N7's design rules and cell (the mi210 preset's reading); TSMC N5
# 0.021 (TSMC IEDM 2019); N3E 0.021 (WikiChip, "IEDM 2022: did we just witness the death of SRAM?": N3E keeps N5's
# cell). Above 7 nm no foundry cell is cited (Chipworks' 0.16 µm² is one 28 nm HP GPU measured), so the logic rule
# carries N7's cell there; 3 nm is the smallest node an arch takes (hardware.NODE_NM)
SRAM_BITCELL_UM2: dict[float, float] = {3: 0.021, 5: 0.021, 6: 0.027, 7: 0.027}


def _sram_cell(node: float) -> float:
    """µm² of the published high-density SRAM cell at ``node``: :data:`SRAM_BITCELL_UM2` (log-log between its
    nodes, flat below 3 nm), above 7 nm N7's cell carried by the logic area rule."""
    top = max(SRAM_BITCELL_UM2)
    if node > top:
        return SRAM_BITCELL_UM2[top] * area_scale(top, node)
    return _interp(SRAM_BITCELL_UM2, node, 0.0, 0.0)


@lru_cache(maxsize=256)
def sram_cell_scale(from_nm: float, to_nm: float) -> float:
    """Factor carrying an SRAM bit cell at ``from_nm`` to ``to_nm``: the ratio of the published high-density cells
    (:func:`_sram_cell`), so TSMC N5's 0.021 µm² stays 0.021 at 3 nm and becomes N7's 0.027 at 7 nm; from or to a
    node above 7 nm, the logic area rule beyond 7 nm (probe p96 #1: area_scale carried N5's cell to 0.0076 µm² at
    3 nm and 0.041 µm² at 7 nm)."""
    return _sram_cell(to_nm) / _sram_cell(from_nm)


def sram_pj_per_bit(capacity_bytes: float, port_bits: int, pj_8kib_64b: float) -> float:
    """pJ per bit of one access to an SRAM of ``capacity_bytes`` with a ``port_bits``-wide port, at the node of
    ``pj_8kib_64b`` (the energy of a 64-bit access to 8 KiB): an access costs pj · √(C / 8 KiB) · √(w / 64).

    √capacity follows Horowitz's 8 KB / 32 KB / 1 MB figures (10 / 20 / 100 pJ: ×4 capacity → ×2, ×128 → ×11.3
    against ×10); √width follows CACTI's 64 KB 256-bit port (51.9 pJ read / 66.3 write through Accelergy, against
    10 · √8 · √4 = 56.6 pJ here)."""
    if capacity_bytes <= 0:
        return 0.0
    access = pj_8kib_64b * math.sqrt(capacity_bytes / SRAM_REF_BYTES) * math.sqrt(port_bits / SRAM_REF_BITS)
    return access / port_bits


def sram_area_mm2(capacity_bytes: float, bitcell_um2: float, efficiency: float) -> float:
    """mm² of an SRAM macro of ``capacity_bytes``: bits × bit-cell area ÷ array efficiency."""
    return capacity_bytes * 8 * bitcell_um2 / efficiency * 1e-6
