"""Probe p111 (energy and area): reference_node re-dates only the arch's own figures (#1), logic area below 7 nm
follows the reference's transistor density (#2), ignored energy keys are said (#4), scale-out link energy (#5)."""

from __future__ import annotations

import pytest

from accelsim import config
from accelsim.energy import area_scale, constants, energy_scale

PJ = 1e-12


def _c(arch: str, *sets: str, dtype: str | None = None):
    c = constants(config.load_arch(arch, list(sets)), dtype)
    assert c is not None
    return c


def test_reference_node_restating_tpu_v1_own_mac_changes_nothing():
    # p111 #1: tpu-v1's own int8 MAC (0.11902 pJ at 28 nm and the chip's 0.8 V) re-stated at its own node must
    # leave every other figure where it was: the defaults are Horowitz's / FreePDK45's, 45 nm (0.9 V) figures
    # whatever reference_node says. (Compared in pJ: pytest.approx's default abs of 1e-12 would pass any J figure.)
    # A figure stated at the chip's own node is read at the chip's own voltage by default (probe p159 #1): no
    # energy.reference_voltage=0.8 is needed (it was, while the default was 0.9 V at every node, x0.8203 here)
    preset = _c("tpu-v1")
    own = _c("tpu-v1", "energy.reference_node=28nm", "energy.mac_pj={int8: 0.11902}")
    assert own.mac_j == _c("tpu-v1", "energy.reference_node=28nm", "energy.reference_voltage=800mV",
                           "energy.mac_pj={int8: 0.11902}").mac_j
    # x0.3967: 45 nm at Horowitz's 0.9 V to 28 nm at 0.8 V (probe p152 #1; x0.4834 when 45 nm was read at 0.8 V,
    # tests/unit/test_energy.py pins it): 0.4834 x E45(0.8) / E45(0.9) = 0.4834 x 0.69302 / 0.84433
    e28 = energy_scale(45, 28, 0.9, 0.8)
    assert e28 == pytest.approx(0.4834 * 0.69302 / 0.84433, rel=1e-4)
    a28 = area_scale(45, 28)    # x0.368
    # int8: 0.2 + 0.1 = 0.3 pJ at 45 nm x 0.3967 = 0.11902 pJ; the re-stated 0.11902 is read as given
    assert preset.mac_j / PJ == pytest.approx(0.3 * e28, rel=1e-9)
    assert own.mac_j / PJ == pytest.approx(0.11902, rel=1e-9)
    # int16 runs as four int8 passes (rates int16 0.25; Jouppi et al. ISCA 2017: 16-bit/16-bit at quarter speed),
    # so it pays four int8 MACs: 4 x (0.2 + 0.1) = 1.2 pJ at 45 nm -> 0.476 pJ at 28 nm, not a native int16
    # multiplier's 0.2 x (16/8)^2 + 0.1 = 0.9 pJ -> 0.357 pJ (probe p279 #2); the re-stated int8 figure x 4
    assert _c("tpu-v1", dtype="int16").mac_j / PJ == pytest.approx(4 * 0.3 * e28, rel=1e-9)
    assert _c("tpu-v1", "energy.reference_node=28nm", "energy.mac_pj={int8: 0.11902}",
              dtype="int16").mac_j / PJ == pytest.approx(4 * 0.11902, rel=1e-9)
    # SRAM: 10 pJ x sqrt(24 MiB / 8 KiB) x sqrt(2048 / 64) per 2048-bit access = 1.5311 pJ/bit at 45 nm
    # x 0.3967 = 0.6074 pJ/bit (4.859 pJ/B; 5.92 before probe p152 #1; it was 12.25 pJ/B)
    pad = 10 * (24 * 2**20 / 8192) ** 0.5 * (2048 / 64) ** 0.5 / 2048 * e28
    assert own.level_j_per_bit["sram"] / PJ == pytest.approx(pad, rel=1e-9)
    assert preset.level_j_per_bit["sram"] / PJ == pytest.approx(pad, rel=1e-9)
    # systolic: 65,536 PEs x (282 + 137 um2 int8 MAC + 48 x 4.522 um2 flip-flops) x 0.368 = 15.35 mm2 (was 41.68)
    systolic = 65536 * (282 + 137 + 48 * 4.522) * a28 * 1e-6
    assert own.unit_area["systolic"] == pytest.approx(systolic, rel=1e-9) == preset.unit_area["systolic"]
    assert own.area_total == pytest.approx(preset.area_total, rel=1e-12)
    assert own.static_w == pytest.approx(preset.static_w, rel=1e-12)


def test_reference_node_still_reads_the_archs_own_figures_there():
    # an sram_pj the arch gives (20 pJ, not the 10 pJ default) is read at reference_node: at 28 nm, the chip's node,
    # as written (at the chip's 0.8 V: probe p159 #1), the preset's built-in 10 pJ at 45 nm and Horowitz's 0.9 V
    # (probe p152 #1), so the scratchpad costs 2 / (E28(0.8) / E45(0.9)) = 2 / 0.39673 = 5.041x the preset's (it
    # was 2 x E45(0.9) / E28(0.9) = 4.135x while the default reference_voltage was 0.9 V at every node)
    preset = _c("tpu-v1")
    own = _c("tpu-v1", "energy.reference_node=28nm", "energy.sram_pj=20")
    ratio = own.level_j_per_bit["sram"] / preset.level_j_per_bit["sram"]
    assert ratio == pytest.approx(2 / 0.39673, rel=1e-4)  # 0.39673: docs/energy.md's 45 nm 0.9 V -> 28 nm 0.8 V
    assert ratio == pytest.approx(2 / energy_scale(45, 28, 0.9, 0.8), rel=1e-9)
    # an explicit reference_voltage still rules: 0.9 V gives the old 2 x E45(0.9) / E28(0.9)
    at_09 = _c("tpu-v1", "energy.reference_node=28nm", "energy.sram_pj=20", "energy.reference_voltage=0.9V")
    assert at_09.level_j_per_bit["sram"] / preset.level_j_per_bit["sram"] == pytest.approx(
        2 / energy_scale(45, 28, 0.9, 0.9), rel=1e-9)
    # a register bit of 2.0 um2 given at 28 nm: the 65,536 PEs' 48 flip-flops take 65,536 x 48 x 2.0 um2 = 6.29 mm2
    regs = _c("tpu-v1", "energy.reference_node=28nm", "energy.register_bit_um2=2.0")
    logic = 65536 * (282 + 137) * area_scale(45, 28) * 1e-6
    assert regs.unit_area["systolic"] == pytest.approx(logic + 65536 * 48 * 2.0 * 1e-6, rel=1e-9)


def test_logic_area_below_7nm_follows_the_density_table():
    # p111 #2: ../shared/reference/energy/README.md, "Area": transistor density 7 nm 96.3, 5 nm 138.2 MTr/mm2, so
    # an area at 7 nm is x 96.3 / 138.2 = 0.6968 at 5 nm (node^2 gave (5/7)^2 = 0.5102)
    assert area_scale(7, 5) == pytest.approx(96.3 / 138.2, rel=1e-12)
    assert area_scale(45, 5) == pytest.approx(0.059 * 96.3 / 138.2, rel=1e-12)  # 0.0411
    # 40 -> 7 and 28 -> 7 nm are Stillmaker & Baas's table, as before (0.0772, 0.1603)
    assert area_scale(40, 7) == pytest.approx(0.0772, abs=5e-5)
    assert area_scale(28, 7) == pytest.approx(0.1603, abs=5e-5)
    # below 5 nm the 7 -> 5 trend goes on: area ∝ node^k, k = ln(138.2 / 96.3) / ln(7 / 5) = 1.0737
    k = 1.0737
    assert area_scale(5, 3) == pytest.approx((3 / 5) ** k, rel=1e-4)
    # h100's tensor cores at 5 nm against the same chip at 7 nm: the density ratio, 0.6968
    at5, at7 = _c("h100"), _c("h100", "energy.node=7nm")
    assert at5.unit_area["systolic"] / at7.unit_area["systolic"] == pytest.approx(96.3 / 138.2, rel=1e-9)



def test_scale_out_bytes_priced_by_the_network_not_nvlink():
    # p111 #5: a 16-chip (two-node) all-reduce of 1 GB on dgx-h100: each chip's NIC sends 2 x 15/16 x 1e9 =
    # 1.875e9 B; dgx-h100's scale_out.energy_per_bit 103 pJ/bit (4 x 22.5 optics + 2 x 6.5 PCIe) -> 1.875e9 x 8 x
    # 103e-12 = 1.545 J under by_level.nic (was 0.0195 J at NVLink's 1.3 pJ/bit under by_level.link)
    from accelsim.energy.model import NIC, op_energy
    arch = config.load_arch("dgx-h100", ["chips=16"])
    assert arch.interconnect.scale_out.energy_per_bit == pytest.approx(4 * 9 / 400e9 / 1e-12 + 2 * 6.5)
    c = constants(arch)
    row = {"unit": NIC, "kind": "collective", "macs": 0, "flops": 0, "bytes": {"link": 1.875e9}}
    _, _, levels = op_energy(row, c, arch)
    assert levels == {NIC: pytest.approx(1.875e9 * 8 * 103e-12)}
    # a row on the chip's own links keeps NVLink's 1.3 pJ/bit, on each of 2 links (probe p234 #1: through the NVSwitch a byte crosses 2 links, the sender's into the switch and the receiver's out; was 1)
    _, _, levels = op_energy({**row, "unit": "link"}, c, arch)
    assert levels == {"link": pytest.approx(1.875e9 * 2 * 8 * 1.3e-12)}
    # the NIC's energy is off the package: the TDP rates the GPU, not the network
    assert NIC in c.off_package


def test_scale_out_without_a_figure_says_so():
    from accelsim.energy.model import NIC
    c = constants(config.load_arch("dgx-a100", ["chips=16"]))
    assert c.level_j_per_bit[NIC] == 0.0  # HDR: no sourced figure; the bytes cost 0 J and a note says so


def test_unread_energy_keys_are_said():
    # p111 #4: keys another key overrides change nothing: a note names each
    from accelsim.energy.model import unread_key_notes
    leak = config.load_arch("tpu-v1", ["energy.leakage_w_per_mm2=1"]).energy
    assert any("leakage_w_per_mm2 (1 W/mm²) is not read" in n and "idle_power (28 W)" in n
               for n in unread_key_notes(leak))
    cell = config.load_arch("h100", ["energy.sram_bitcell_um2=1.0"]).energy
    assert any("sram_bitcell_um2 (1 µm²) is not read" in n for n in unread_key_notes(cell))
    node = config.load_arch("tpu-v1", ["energy.sram_bitcell_node=7nm"]).energy
    assert any("sram_bitcell_node (7 nm) is not read" in n for n in unread_key_notes(node))
    # a preset as it is gives none of them
    for preset in ("tpu-v1", "h100", "a100", "gemmini", "b200"):
        assert unread_key_notes(config.load_arch(preset).energy) == []


def test_an_emulated_wide_mac_pays_its_narrow_passes_and_a_native_one_does_not():
    # Probe p279 #2: a bf16 GEMM on tpu-v1 runs as int16 (rates {int8: 1, int16: 0.25}), timed as 4 int8 passes;
    # its MACs cost 4 x the int8 MAC, (0.2 + 0.1) pJ at 45 nm x 0.3967 = 0.1190 pJ each: 0.4761 pJ (was 0.3571)
    from accelsim import api
    from accelsim.config import experiment_from_parts
    from accelsim.energy.model import narrow_passes

    e28 = energy_scale(45, 28, 0.9, 0.8)
    rep = api.run_experiment(experiment_from_parts("gemm", "tpu-v1", overrides=[
        "workload.dtype=bf16", "workload.m=256", "workload.n=256", "workload.k=256"])).to_dict()
    op = rep["ops"][0]
    assert op["mapping"]["rate"]["runs_as"] == "int16" and op["mapping"]["rate"]["multiplier"] == 0.25
    assert rep["energy"]["mac_j"] / op["macs"] / PJ == pytest.approx(4 * 0.3 * e28, rel=1e-9)
    assert narrow_passes(config.load_arch("tpu-v1"), "int16") == (16 // 8) ** 2 == 4
    # a rate that is no whole number of narrow passes is a datapath of its own: int16 at 0.5 is priced as int16
    half = _c("tpu-v1", "arch.core.systolic.rates={int8: 1, int16: 0.5}", dtype="int16")
    assert half.mac_j / PJ == pytest.approx((0.2 * 4 + 0.1) * e28, rel=1e-9)
    # a GPU's native rates (h100's fp64 tensor cores, its int8 at 2x bf16) are no emulation
    h100 = config.load_arch("h100")
    assert narrow_passes(h100, "fp64") == narrow_passes(h100, "int8") == 1
