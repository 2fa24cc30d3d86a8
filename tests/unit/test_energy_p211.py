"""Probe p211 (energy and area on the accelerator presets): the unit ``mm2`` (#2), Stillmaker & Baas's 180 nm
area row (#3), ``info`` on an arch without energy constants (#5) and a scratchpad port that follows the array (#1)."""

from __future__ import annotations

import json

import pytest

from accelsim import config
from accelsim.cli import main
from accelsim.errors import AccelsimError


def _info(capsys, *argv: str) -> dict:
    assert main(["info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# p211 #2: "mm2" is the unit SquareMm's message suggests ("expected a number of mm2 such as '1.5mm2'"), but the unit
# part of the quantity took no digits, so only "mm²" parsed
@pytest.mark.parametrize("text", ["1.5mm2", "1.5 mm2", "1.5mm²", "1.5MM2", "1.5", "0.15e1mm2"])
def test_mm2_reads_as_square_millimetres(capsys, text):
    info = _info(capsys, "tpu-v1", "--set", f"arch.host.area={text}")
    assert info["area"]["levels"]["host"] == pytest.approx(1.5, rel=1e-12)


def test_other_quantities_keep_their_units(tmp_path, capsys):
    # units with no digit still parse as before, and a unit that is not the key's is refused in one line
    assert config.load_arch("tpu-v1", ["energy.tdp=0.4kW"]).energy.tdp == pytest.approx(400.0)
    assert config.load_arch("tpu-v1", ["energy.node=28nm"]).energy.node == 28.0
    for bad in ("arch.host.area=0.5W", "arch.host.area=1.5mm3", "arch.energy.tdp=75W2"):
        with pytest.raises(AccelsimError, match="expected a number of"):
            config.load_arch("tpu-v1", [bad.removeprefix("arch.")])
    f = tmp_path / "a.yaml"
    f.write_text("base: tpu-v1\nenergy:\n  other_area: 150mm2\n")
    # tpu-v1's own other_area is replaced: the file's 150 mm² is what the area total adds beyond the units and levels
    info = _info(capsys, str(f))
    assert info["area"]["other_mm2"] == pytest.approx(150.0, rel=1e-12)


# p211 #3: Stillmaker & Baas's area table, 45 nm row as wromaszkan/nodeScale @a912c60 areaDict['45'] copies it:
# {'180': 19, '130': 6.4, '90': 2.8, '65': 1.5, ...}; 130 -> 180 nm is then 19 / 6.4 = 2.97 (the paper's own 130 nm
# row rounds it to 2.9). Node² from 130 nm gave 6.4 x (180/130)² = 12.27
def test_area_at_180nm_is_the_papers_row():
    from accelsim.energy.tech import area_scale

    assert area_scale(45, 180) == pytest.approx(19.0, rel=1e-12)
    assert area_scale(180, 45) == pytest.approx(1 / 19.0, rel=1e-12)
    assert area_scale(130, 180) == pytest.approx(19.0 / 6.4, rel=1e-12)
    assert area_scale(130, 180) == pytest.approx(2.9, rel=0.025)  # the paper's 130 nm row, to its 2 digits
    # 150 nm: log-log between 130 (6.4) and 180 (19): w = ln(150/130) / ln(180/130)
    import math

    w = math.log(150 / 130) / math.log(180 / 130)
    assert area_scale(45, 150) == pytest.approx(math.exp((1 - w) * math.log(6.4) + w * math.log(19.0)), rel=1e-12)
    # the listed nodes below are unchanged: 65 nm x1.5, 130 nm x6.4
    assert area_scale(45, 65) == pytest.approx(1.5, rel=1e-12) and area_scale(45, 130) == pytest.approx(6.4)


def test_an_arch_at_180nm_is_19x_its_45nm_area(capsys):
    # every on-chip area of eyeriss-like (figures at 45 nm, carried to the node) scales by the area factor, and it
    # has no PHY or other area given as written: at 180 nm its area is 19 x its area at 45 nm
    at45 = _info(capsys, "eyeriss-like", "--set", "arch.energy.node=45nm")["area"]["total_mm2"]
    at180 = _info(capsys, "eyeriss-like", "--set", "arch.energy.node=180nm")["area"]["total_mm2"]
    assert at180 / at45 == pytest.approx(19.0, rel=1e-9)


def test_node_range_message_names_the_papers_range():
    with pytest.raises(AccelsimError, match=r"outside the 3-180 nm .*Stillmaker & Baas's paper covers 180-7 nm"):
        config.load_arch("gemmini", ["energy.node=2nm"])


# p211 #5: `info` on an arch with no energy block printed nothing after the memory levels, where a run says why
# its energy is null; it prints the run's own note now (and --json lists it in notes)
def test_info_without_energy_says_so_as_a_run_does(capsys, tmp_path):
    from accelsim.energy import account, no_energy_note

    arch = config.load_arch("multicore-4", [])
    assert arch.energy is None
    line = no_energy_note(arch)
    assert "multicore-4 gives no 'energy' constants" in line
    # the run's note is this same text (energy.account of a report with no rows)
    assert account({"ops": [], "notes": [], "seconds": 1.0}, arch)["notes"] == [line]
    assert main(["info", "multicore-4"]) == 0
    assert f"note: {line}" in capsys.readouterr().out
    info = _info(capsys, "multicore-4")
    assert info["energy"] is None and info["area"] is None and line in info["notes"]
    # an arch with energy constants has no such note
    assert not any("'energy' constants" in n for n in _info(capsys, "tpu-v1").get("notes", []))


# p211 #1: the presets derive the scratchpad port from the array (edge-npu "32 rows x 8 bits = 256", tpu-v1 256 x 8,
# tpu-v4 128 x 16 (bf16), scalesim "128 columns x 8", gemmini "meshColumns 16 x 8"); an array-size sweep kept the
# preset's width. Written as the rule ('rows' / 'cols'), the port follows the array, the preset's width at its size
@pytest.mark.parametrize(("preset", "rule", "port"), [
    ("edge-npu", "rows", 32 * 8), ("tpu-v1", "rows", 256 * 8), ("tpu-v4", "rows", 128 * 16),
    ("tpu-v5e", "rows", 128 * 16), ("tpu-v5p", "rows", 128 * 16), ("tpu-v6e", "rows", 256 * 16),
    ("scalesim-128x128", "cols", 128 * 8), ("scalesim-32x32", "cols", 32 * 8), ("gemmini", "cols", 16 * 8)])
def test_presets_keep_their_port_at_their_own_size(preset, rule, port):
    from accelsim.energy import scratchpad_port_bits

    arch = config.load_arch(preset, [])
    assert arch.energy.sram_port_bits == rule and scratchpad_port_bits(arch) == port
    # the same constants as the width written as a number (what the preset wrote before)
    pinned = config.load_arch(preset, [f"energy.sram_port_bits={port}"])
    from accelsim.energy import constants

    assert constants(arch).level_j_per_bit == constants(pinned).level_j_per_bit


def _sram_pj_per_byte(arch: str, *sets: str) -> float:
    from accelsim.energy import constants

    return constants(config.load_arch(arch, list(sets))).level_j_per_bit["sram"] * 8 / 1e-12


def test_an_array_size_sweep_carries_the_port():
    from accelsim.energy import scratchpad_port_bits

    # edge-npu: 16 rows x 8 bits = 128-bit port, 64 rows 512 bits. The SRAM rule's access costs
    # sram_pj · √(C/8 KiB) · √(w/64), so a byte costs ∝ 1/√w: √(256/128) = √2 more at 16 rows, 1/√2 at 64 rows
    assert scratchpad_port_bits(config.load_arch("edge-npu", ["core.systolic.rows=16"])) == 128
    assert scratchpad_port_bits(config.load_arch("edge-npu", ["core.systolic.rows=64"])) == 512
    at32 = _sram_pj_per_byte("edge-npu")
    assert _sram_pj_per_byte("edge-npu", "core.systolic.rows=16") == pytest.approx(at32 * 2 ** 0.5, rel=1e-12)
    assert _sram_pj_per_byte("edge-npu", "core.systolic.rows=64") == pytest.approx(at32 / 2 ** 0.5, rel=1e-12)
    # cols leave a rows port alone; gemmini's follows its columns: 32 x 8 = 256 bits
    assert _sram_pj_per_byte("edge-npu", "core.systolic.cols=64") == pytest.approx(at32, rel=1e-12)
    assert scratchpad_port_bits(config.load_arch("gemmini", ["core.systolic.cols=32"])) == 256
    assert scratchpad_port_bits(config.load_arch("gemmini", ["core.systolic.rows=32"])) == 128
    # an explicit number still wins over the array
    pinned = config.load_arch("edge-npu", ["core.systolic.rows=16", "energy.sram_port_bits=256"])
    assert scratchpad_port_bits(pinned) == 256
    assert _sram_pj_per_byte("edge-npu", "core.systolic.rows=16", "energy.sram_port_bits=256") == pytest.approx(at32)


def test_a_gemm_on_a_16_row_edge_npu_prices_128_bit_ports():
    # the report's runs: 512³ int8 GEMM on edge-npu at 16 rows. Only the scratchpad's price per byte changes from
    # the old (preset's 256-bit) port to the derived 128-bit one, by √2; every byte count and second is the same
    import accelsim

    gemm = {"model": "gemm", "m": 512, "n": 512, "k": 512}
    derived = accelsim.simulate(gemm, config.load_arch("edge-npu", ["core.systolic.rows=16"])).to_dict()
    by_hand = accelsim.simulate(gemm, config.load_arch("edge-npu", ["core.systolic.rows=16",
                                                                    "energy.sram_port_bits=128"])).to_dict()
    old = accelsim.simulate(gemm, config.load_arch("edge-npu", ["core.systolic.rows=16",
                                                                "energy.sram_port_bits=256"])).to_dict()
    assert derived["energy"] == by_hand["energy"]
    assert derived["bytes"] == old["bytes"] and derived["seconds"] == old["seconds"]
    sram, sram_old = derived["energy"]["by_level"]["sram"], old["energy"]["by_level"]["sram"]
    assert sram == pytest.approx(sram_old * 2 ** 0.5, rel=1e-9)
    assert derived["energy"]["total_j"] == pytest.approx(old["energy"]["total_j"] + sram - sram_old, rel=1e-9)


def test_info_shows_the_port_and_its_rule(capsys):
    info = _info(capsys, "edge-npu", "--set", "arch.core.systolic.rows=16")
    assert (info["energy"]["sram_port_bits"], info["energy"]["sram_port_rule"]) == (128, "rows")
    info = _info(capsys, "eyeriss-like")
    assert (info["energy"]["sram_port_bits"], info["energy"]["sram_port_rule"]) == (64, None)
    assert main(["info", "edge-npu", "--set", "arch.core.systolic.rows=16"]) == 0
    assert "128 bits (core.systolic.rows 16 x 8 bits of int8)" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["wide", 4, 70000, 128.5])
def test_a_bad_port_is_one_line(value):
    with pytest.raises(AccelsimError, match=r"energy\.sram_port_bits: expected the port's width in bits "
                                            r"\(8 to 65536\), or 'rows' / 'cols'") as e:
        config.load_arch("edge-npu", [f"energy.sram_port_bits={value}"])
    assert "\n" not in str(e.value)


def test_a_port_by_the_array_needs_an_array(tmp_path):
    f = tmp_path / "nosys.yaml"
    f.write_text("base: edge-npu\ncore:\n  systolic: null\n")
    with pytest.raises(AccelsimError, match=r"nosys\.yaml:3: core\.systolic: null, but energy\.sram_port_bits "
                                            r"\('rows', .*edge-npu\.yaml:\d+\) sizes the scratchpad port"):
        config.load_arch(str(f), [])
    # with a width in bits the same arch is taken
    assert config.load_arch(str(f), ["energy.sram_port_bits=256"]).core.systolic is None


@pytest.mark.parametrize(("sets", "width"), [
    (["core.systolic.rows=1", "dtype=int4"], "1 x 4 bits of int4 = 4 bits"),  # below a written port's 8 bits
    (["core.systolic.rows=8192"], "8192 x 16 bits of bf16 = 131072 bits"),  # above its 65536
])
def test_a_port_by_the_array_keeps_the_written_ports_range(sets, width):
    # probe p224 #3: 'rows' on tpu-v4 (bf16) gave 4 or 131072 bits silently, widths a written port is refused
    with pytest.raises(AccelsimError, match=rf"core\.systolic\.rows: .*energy\.sram_port_bits 'rows' gives "
                                            rf"{width}, outside 8 to 65536") as e:
        config.load_arch("tpu-v4", sets)
    assert "\n" not in str(e.value)
    # the edge of the range is taken: 4096 rows x 16 bits = 65536
    assert config.load_arch("tpu-v4", ["core.systolic.rows=4096"]).core.systolic.rows == 4096
