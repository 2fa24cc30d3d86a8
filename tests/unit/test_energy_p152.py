"""Probe p152 (energy and area on the accelerator presets): the scratchpad port of the arrays that left it at the
default 64 bits (#2), the accumulator's adder (#3), vector FLOPs at the dtype the hardware runs (#4) and the
supply voltage of the node scaling (#1)."""

from __future__ import annotations

import math

import pytest

from accelsim import config
from accelsim.energy import constants

PJ = 1e-12


def _c(arch: str, *sets: str, dtype: str | None = None):
    c = constants(config.load_arch(arch, list(sets)), dtype)
    assert c is not None
    return c


# p152 #2: the port is one row of operands per access, as tpu-v1's 256 int8 values = 2048 bits:
# edge-npu 32 rows x 8 bits; gemmini's sp_width = meshColumns * tileColumns * inputType.getWidth = 16 x 1 x 8
# (ucb-bar/gemmini GemminiConfigs.scala); SCALE-Sim one 1-byte word per column: 128 x 8 and 32 x 8
@pytest.mark.parametrize(("preset", "port"), [("edge-npu", 256), ("gemmini", 128), ("scalesim-128x128", 1024),
                                              ("scalesim-32x32", 256)])
def test_array_presets_size_the_scratchpad_port_by_a_row(preset, port):
    from accelsim.energy import scratchpad_port_bits

    # (probe p211 #1: the presets write the rule, sram_port_bits 'rows' / 'cols', so that an array-size sweep
    # carries the port; at each preset's own size it is the width it wrote before)
    arch = config.load_arch(preset, [])
    assert scratchpad_port_bits(arch) == port
    # the SRAM rule costs an access pj x sqrt(C / 8 KiB) x sqrt(w / 64), so per bit it goes as 1 / sqrt(w): the
    # row-wide port is sqrt(port / 64) cheaper per byte than the old 64-bit default (edge-npu 2x, gemmini 1.41x,
    # scalesim-128x128 4x, scalesim-32x32 2x)
    wide = _c(preset).level_j_per_bit["sram"]
    narrow = _c(preset, "energy.sram_port_bits=64").level_j_per_bit["sram"]
    assert narrow / wide == pytest.approx(math.sqrt(port / 64), rel=1e-12)


# p152 #1: Stillmaker & Baas's E(V) = aV^2 + bV + c at each end's own supply voltage, by hand:
#   45 nm (LP): E(0.9) = 1.103 x 0.81 - 0.362 x 0.9 + 0.2767 = 0.84433; E(0.8) = 0.69302
#   65 nm:      E(1.0) = 3.755 - 4.398 + 1.975 = 1.332;            E(0.8) = 3.755 x 0.64 - 4.398 x 0.8 + 1.975 = 0.8598
E45_09 = 1.103 * 0.81 - 0.362 * 0.9 + 0.2767
E45_08 = 1.103 * 0.64 - 0.362 * 0.8 + 0.2767
E65_10 = 3.755 - 4.398 + 1.975
E65_08 = 3.755 * 0.64 - 4.398 * 0.8 + 1.975


def test_energy_scale_takes_each_ends_voltage():
    from accelsim.energy import energy_scale

    assert (round(E45_09, 5), round(E45_08, 5), round(E65_10, 3)) == (0.84433, 0.69302, 1.332)
    assert energy_scale(45, 65, 0.9, 1.0) == pytest.approx(E65_10 / E45_09, rel=1e-12)  # x1.5776
    assert energy_scale(45, 65) == pytest.approx(E65_08 / E45_08, rel=1e-12)  # both ends 0.8 V: x1.2407
    assert energy_scale(45, 45, 0.9, 0.8) == pytest.approx(E45_08 / E45_09, rel=1e-12)  # x0.8208


def test_horowitz_figures_leave_45nm_at_09v():
    # eyeriss-like: 65 nm at the chip's 1 V (chen_jssc17); int16 MAC accumulating in int16 (#3 below): 0.2 x
    # (16/8)^2 + 0.05 = 0.85 pJ at 45 nm, x mac_overhead 5, x 1.332 / 0.84433 = 6.705 pJ (was 5.583: both ends at
    # 0.8 V and an int32 adder)
    c = _c("eyeriss-like")
    assert c.mac_j / PJ == pytest.approx(0.85 * 5 * E65_10 / E45_09, rel=1e-9)
    assert round(c.mac_j / PJ, 3) == 6.705
    # its scratchpad: the preset's sram_pj 5.55 pJ (a 45 nm, 0.9 V figure, carried like the built-in one) x
    # sqrt(108 KiB / 8 KiB) x sqrt(64 / 64) per 64-bit access, x 1.5776, per byte 4.021 pJ (probe p253 #2 set
    # sram_pj from chen_isca16 Table IV's global buffer, 6x the ALU op; with the built-in 10 pJ it was 7.246 pJ)
    pad = 5.55 * (108 * 1024 / 8192) ** 0.5 / 64 * 8 * E65_10 / E45_09
    assert c.level_j_per_bit["sram"] * 8 / PJ == pytest.approx(pad, rel=1e-9)
    # a chip without a voltage is at 0.8 V: tpu-v1's int8 MAC 0.3 pJ x E28(0.8) / E45(0.9), where E28(0.8) is
    # 0.4834 x E45(0.8) (the log-log 28 nm factor tests/unit/test_energy.py pins): 0.119 pJ (was 0.145)
    assert _c("tpu-v1").mac_j / PJ == pytest.approx(0.3 * 0.4834 * E45_08 / E45_09, rel=1e-4)
    # scalesim gives 0.9 V at 45 nm: Horowitz's int8 MAC as it is, 0.2 + 0.1 = 0.3 pJ with an int32 adder (its own
    # int8 partial sums take 0.2 + 0.03 = 0.23: #3 below)
    assert _c("scalesim-32x32", "core.systolic.accumulator_dtype=int32").mac_j / PJ == pytest.approx(0.3, rel=1e-12)


def test_voltage_out_of_range_is_one_line_exit_2(capsys):
    from accelsim.cli import main

    for bad in ("3", "0.1", "abc"):
        assert main(["info", "eyeriss-like", "--set", f"arch.energy.voltage={bad}"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "arch.energy.voltage" in err and "Traceback" not in err
def test_adders_by_accumulator_width():
    from accelsim.energy.tech import adder_45nm, mac_45nm
    # Horowitz ISSCC 2014 (../shared/reference/energy/README.md): int8 add 0.03 pJ / 36 um2, int32 add 0.1 / 137;
    # adder energy and area ∝ bits (the README's width rule): int16 from int32, 0.1 x 16/32 = 0.05 pJ, 68.5 um2
    assert adder_45nm("int8") == pytest.approx((0.03, 36.0))
    assert adder_45nm("int32") == pytest.approx((0.1, 137.0))
    assert adder_45nm("int16") == pytest.approx((0.05, 68.5))
    assert adder_45nm("fp16") == pytest.approx((0.4, 1360.0))
    assert adder_45nm("fp32") == pytest.approx((0.9, 4184.0))
    # int8 x int8 accumulating in int8: 0.2 + 0.03 = 0.23 pJ, 282 + 36 = 318 um2; none named: the int32 adder
    assert mac_45nm("int8", "int8") == pytest.approx((0.23, 318.0))
    assert mac_45nm("int8") == mac_45nm("int8", "int32") == pytest.approx((0.3, 419.0))
    # an accumulator of the other kind (a bf16 run on an int8-accumulating array) keeps the dtype's own adder
    assert mac_45nm("bf16", "int8") == mac_45nm("bf16")


def test_int8_accumulating_array_is_priced_with_an_int8_adder():
    # p152 #3: scalesim-128x128 accumulates in int8 (accumulator_dtype int8) at 45 nm and 0.9 V, no node scaling:
    # MAC 0.2 + 0.03 = 0.23 pJ (was 0.3); PE 282 + 36 = 318 um2 (was 419), 128 x 128 PEs = 5.210 mm2 (was 6.865)
    c = _c("scalesim-128x128")
    assert c.mac_j / PJ == pytest.approx(0.23, rel=1e-9)
    assert c.unit_area["systolic"] == pytest.approx(128 * 128 * 318 * 1e-6, rel=1e-9)
    # the same array told to accumulate in int32 is priced as before
    wide = _c("scalesim-128x128", "core.systolic.accumulator_dtype=int32")
    assert wide.mac_j / PJ == pytest.approx(0.3, rel=1e-9)
    assert wide.unit_area["systolic"] == pytest.approx(128 * 128 * 419 * 1e-6, rel=1e-9)
    # its vector lanes are not the array's accumulator: an int8 FLOP is half the int32-accumulating MAC, 0.15 pJ
    assert c.vector_j / PJ == pytest.approx(0.15, rel=1e-9) and c.vector_j == wide.vector_j


def test_eyeriss_int16_accumulation():
    # eyeriss-like accumulates in int16: MAC arithmetic 0.2 x (16/8)^2 + 0.05 = 0.85 pJ (int32 adder: 0.9) at 45 nm;
    # mac_overhead 5 scales both alike, so the MAC is 0.85 / 0.9 of the int32-adder one (-5.6 %)
    c = _c("eyeriss-like")
    wide = _c("eyeriss-like", "core.systolic.accumulator_dtype=int32")
    assert c.mac_j / wide.mac_j == pytest.approx(0.85 / 0.9, rel=1e-12)


def test_vector_flops_are_priced_at_the_dtype_the_hardware_runs():
    # p152 #4: gemmini's array lists no rates, so it runs every dtype as its int8 (docs/energy.md, "Actions"), and
    # its lanes are built as int8 MACs: a vector FLOP of a bf16 run is half the int8 MAC arithmetic, (0.2 + 0.1) / 2
    # = 0.15 pJ at 45 nm, the same as an int8 run's (was bf16's (1.1 x (8/11)^2 + 0.9) / 2 = 0.741 pJ at 45 nm)
    from accelsim.energy.model import runs_as

    gemmini = config.load_arch("gemmini", [])
    assert runs_as(gemmini, "bf16") == "int8"
    assert _c("gemmini", dtype="bf16").vector_j == _c("gemmini", dtype="int8").vector_j
    # gemmini's mac_overhead is 1: its int8 MAC is the arithmetic, 0.3 pJ at 45 nm, a FLOP half of it
    assert _c("gemmini", dtype="bf16").vector_j / _c("gemmini", dtype="int8").mac_j == pytest.approx(0.5, rel=1e-12)
    # eyeriss-like runs an int8 model as int16 (its MACs are charged at int16): its vector FLOPs too
    eyeriss = config.load_arch("eyeriss-like", [])
    assert runs_as(eyeriss, "int8") == "int16"
    assert _c("eyeriss-like", dtype="int8").vector_j == _c("eyeriss-like", dtype="int16").vector_j
    # a GPU's lanes list their own rates: an a100 runs fp16 as fp16 (no change), fp8 as what its lanes run it as
    a100 = config.load_arch("a100", [])
    assert runs_as(a100, "fp16") == "fp16"


def test_softmax_energy_is_the_same_for_a_bf16_and_an_int8_run_on_gemmini():
    import accelsim

    runs = {d: accelsim.simulate({"model": "softmax", "dtype": d}, "gemmini").to_dict() for d in ("bf16", "int8")}
    flops = {d: sum(o["flops"] for o in r["ops"]) for d, r in runs.items()}
    assert flops["bf16"] == flops["int8"]
    assert runs["bf16"]["energy"]["by_unit"]["vector"] == pytest.approx(runs["int8"]["energy"]["by_unit"]["vector"],
                                                                        rel=1e-12, abs=0)
