"""Probe p120 #9: ``sram_pj``, ``sram_bitcell_um2`` and ``register_bit_um2`` left out (None) are the built-in 45 nm
figures; one the arch writes is its own, read at ``reference_node``, even when it equals the built-in value. Before,
the choice was made by value, so ``sram_pj: 10.0`` at ``reference_node: 7`` was scaled from 45 nm while
``sram_pj: 10.0001`` was read at 7 nm: a jump of ×10.6 for a change of 1e-5."""

from __future__ import annotations

import pytest

from accelsim import config
from accelsim.energy import constants
from accelsim.energy.model import unread_key_notes

# energy.tech's documented rule (Stillmaker & Baas via Accelergy, docs/energy.md "Node scaling"): energy per
# operation at a node is E(V) = aV² + bV + c with that node's coefficients, both ends at V = 0.8 V.
#   45 nm (low-power row): a = 1.103,  b = -0.362,   c = 0.2767
#                          E45 = 1.103 × 0.64 − 0.362 × 0.8 + 0.2767 = 0.70592 − 0.2896 + 0.2767 = 0.69302
#    7 nm (high-perf row): a = 0.1776, b = -0.09097, c = 0.02447
#                          E7 = 0.1776 × 0.64 − 0.09097 × 0.8 + 0.02447 = 0.113664 − 0.072776 + 0.02447 = 0.065358
# A figure read at 7 nm and carried to the chip's node N costs E(N)/E7; the built-in 45 nm figure E(N)/E45, so the
# two differ by E45 / E7 = 0.69302 / 0.065358 = 10.6035 whatever N is (tpu-v1's 28 nm here).
E45 = 1.103 * 0.8 ** 2 - 0.362 * 0.8 + 0.2767
E7 = 0.1776 * 0.8 ** 2 - 0.09097 * 0.8 + 0.02447
ENERGY_7_OVER_45 = E45 / E7  # 10.6035
# The arch's own figures are read at reference_node and, there being no reference_voltage, at the chip's voltage
# (0.8 V: 7 nm is neither 45 nm, Horowitz's table's node and 0.9 V, nor the chip's 28 nm; probe p159 #1, before
# which 0.9 V was the default at every node and this ratio was E45(0.9) / E7(0.9) = 9.7664), the built-in ones at
# 45 nm and 0.9 V (probe p152 #1), so the two differ by E45(0.9) / E7(0.8):
#   E45(0.9) = 1.103 × 0.81 − 0.362 × 0.9 + 0.2767 = 0.89343 − 0.3258 + 0.2767 = 0.84433
#   E7(0.8) = 0.065358 (above)
OWN_7_OVER_BUILT_IN = (1.103 * 0.81 - 0.362 * 0.9 + 0.2767) / E7  # 12.9186
# Area: Stillmaker & Baas's 45 nm row (docs/energy.md): 45 nm 1.0, 7 nm 0.059, so a 7 nm area is 1 / 0.059 = 16.95
# times a 45 nm one carried to the same node.
AREA_7_OVER_45 = 1.0 / 0.059

AT_7NM = "energy.reference_node=7nm"


def _c(*sets: str):
    c = constants(config.load_arch("tpu-v1", list(sets)), None)
    assert c is not None
    return c


def test_hand_ratio_is_the_documented_figure():
    # docs/energy.md: 45 -> 7 nm is x0.0943, so 7 nm -> 45 nm is 1 / 0.0943 = 10.60
    assert 1 / ENERGY_7_OVER_45 == pytest.approx(0.0943, abs=5e-5)


def test_sram_pj_equal_to_the_default_is_the_archs_own_figure_and_continuous():
    default = _c(AT_7NM).level_j_per_bit["sram"]  # no sram_pj: Horowitz's 10 pJ at 45 nm
    exact = _c(AT_7NM, "energy.sram_pj=10.0").level_j_per_bit["sram"]
    nudged = _c(AT_7NM, f"energy.sram_pj={10.0 * (1 + 1e-9)!r}").level_j_per_bit["sram"]
    # continuity: a 1e-9 change of the input moves the output by about 1e-9 (before: by x10.6)
    assert exact == pytest.approx(nudged, rel=1e-6, abs=0)
    # both are 10 pJ at 7 nm (and the chip's 0.8 V): E45(0.9) / E7(0.8) times the 45 nm default carried to the same node
    assert exact / default == pytest.approx(OWN_7_OVER_BUILT_IN, rel=1e-9)
    assert nudged / default == pytest.approx(OWN_7_OVER_BUILT_IN, rel=1e-6)


def test_area_figures_equal_to_the_default_are_the_archs_own():
    # the scratchpad's area is bits x bitcell / efficiency: linear in the cell, so the 7 nm cell is 1 / 0.059 times
    # the 45 nm default cell carried to 28 nm
    default = _c(AT_7NM).level_area["sram"]
    exact = _c(AT_7NM, "energy.sram_bitcell_um2=0.346").level_area["sram"]
    nudged = _c(AT_7NM, f"energy.sram_bitcell_um2={0.346 * (1 + 1e-9)!r}").level_area["sram"]
    assert exact == pytest.approx(nudged, rel=1e-6)
    assert exact / default == pytest.approx(AREA_7_OVER_45, rel=1e-9)
    # register bits: tpu-v1's 65,536 PEs hold 48 flip-flops each (arch/tpu-v1.yaml), so the systolic array grows by
    # 65,536 x 48 x 4.522 um2 x (a(7->28) - a(45->28)) = 65,536 x 48 x 4.522 x a(45->28) x (1/0.059 - 1) mm2 x 1e-6;
    # a(45->28) is the table's 28 nm factor, 0.368 (docs/energy.md)
    base = _c(AT_7NM).unit_area["systolic"]
    regs = _c(AT_7NM, "energy.register_bit_um2=4.522").unit_area["systolic"]
    grown = 65536 * 48 * 4.522 * 0.368 * (AREA_7_OVER_45 - 1) * 1e-6  # 182.4 mm2
    assert regs - base == pytest.approx(grown, rel=2e-3)  # 0.368 is the table's factor to 3 digits


def test_presets_leave_the_figures_unset_and_the_dump_round_trip_keeps_them():
    # an arch validated again from its dump reads the same: None (the default) and 10.0 (the arch's own) survive
    preset = config.load_arch("tpu-v1")
    assert (preset.energy.sram_pj, preset.energy.sram_bitcell_um2, preset.energy.register_bit_um2) == (None,) * 3
    own = config.load_arch("tpu-v1", [AT_7NM, "energy.sram_pj=10.0"])
    for arch in (preset, own):
        again = config.load_arch(arch)  # dumped and validated again
        assert again.energy == arch.energy
        assert constants(again, None).level_j_per_bit == constants(arch, None).level_j_per_bit


def test_a_written_cell_equal_to_the_default_beside_a_pinned_one_is_said_unread():
    # h100 pins a foundry cell (sram_bitcell_at_node_um2): a sram_bitcell_um2 written beside it is not read, even
    # one equal to the built-in 0.346 um2 (before: taken for the default, and not said)
    cell = config.load_arch("h100", ["energy.sram_bitcell_um2=0.346"]).energy
    assert any("sram_bitcell_um2 (0.346 µm²) is not read" in n for n in unread_key_notes(cell))
    assert not any("sram_bitcell_um2" in n for n in unread_key_notes(config.load_arch("h100").energy))
