"""Probe p229 #2: ``energy.core_sram`` arrays sized per PE / row / column of the systolic array ("520B/pe",
"16KiB/col"), so an array-size sweep carries the PE scratchpads (eyeriss-like) and accumulators (tpu-v1) with it;
both presets keep their own size's area."""

from __future__ import annotations

import json
import re

import pytest

from accelsim import config
from accelsim.cli import main
from accelsim.energy.tech import area_scale
from accelsim.errors import AccelsimError

# the SRAM rule at the presets' nodes: bits x the built-in 0.346 µm² 45 nm cell (neither preset pins one) carried to
# the node by Stillmaker & Baas's area factor, / 0.33 array efficiency (docs/energy.md, "SRAM rule")
CELL_UM2 = 0.346
EFFICIENCY = 0.33


def _sram_mm2(nbytes: int, node: float) -> float:
    return nbytes * 8 * CELL_UM2 * area_scale(45, node) / EFFICIENCY * 1e-6


def _area(capsys, arch: str, *sets: str) -> dict:
    argv = ["info", arch, "--json"]
    for s in sets:
        argv += ["--set", f"arch.{s}"]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)["area"]


# the presets' own comments: eyeriss-like "168 PEs x (224 + 12 + 24) x 2 B = 87,360 B" (chen_jssc17), 520 B a PE;
# tpu-v1 "4096 x 256 32-bit accumulators = 4 MiB" (jouppi_isca17), 4096 x 4 B = 16 KiB a column
EYERISS_PE = (224 + 12 + 24) * 2  # 520 B
TPU_V1_COL = 4096 * 4  # 16,384 B


@pytest.mark.parametrize(("preset", "name", "per", "old", "node"), [
    ("eyeriss-like", "pe_scratchpads", f"{EYERISS_PE}B/pe", 12 * 14 * EYERISS_PE, 65),  # 87,360 B
    ("tpu-v1", "accumulators", "16384B/col", 256 * TPU_V1_COL, 28),  # 4,194,304 B = 4 MiB
])
def test_presets_keep_their_area_at_their_own_size(capsys, preset, name, per, old, node):
    arch = config.load_arch(preset, [])
    assert arch.energy.core_sram[name] == per
    assert arch.core_sram_bytes(name) == old
    area = _area(capsys, preset)
    assert area["units"][name] == pytest.approx(_sram_mm2(old, node), rel=1e-12)
    # the whole die as it was with the fixed byte count the preset wrote before (87360B, 4MiB)
    before = _area(capsys, preset, f"energy.core_sram.{name}={old}B")
    assert area["total_mm2"] == pytest.approx(before["total_mm2"], rel=1e-12)
    assert area["units"] == pytest.approx(before["units"], rel=1e-12)


def test_eyeriss_scratchpads_follow_the_pes(capsys):
    # 24 x 14 = 336 PEs x 520 B = 174,720 B: twice the 168 PEs' 87,360 B, twice its area (probe: 1.099 mm² stayed)
    arch = config.load_arch("eyeriss-like", ["core.systolic.rows=24"])
    assert arch.core_sram_bytes("pe_scratchpads") == 174_720
    at12 = _area(capsys, "eyeriss-like")["units"]["pe_scratchpads"]
    at24 = _area(capsys, "eyeriss-like", "core.systolic.rows=24")["units"]["pe_scratchpads"]
    assert at24 == pytest.approx(_sram_mm2(174_720, 65), rel=1e-12)
    assert at24 == pytest.approx(2 * at12, rel=1e-12)
    assert at12 == pytest.approx(1.099, abs=5e-4)  # info's 4 digits at the preset's size


def test_tpu_v1_accumulators_follow_the_columns(capsys):
    # 16 columns x 16 KiB = 256 KiB, 1/16 of the 4 MiB; the rest of the die is unchanged, so the total drops by
    # 15/16 of the 4 MiB's area (probe: 101 -> 88.9 mm², as with --set ...accumulators=256KiB)
    small = ["core.systolic.rows=16", "core.systolic.cols=16"]
    assert config.load_arch("tpu-v1", small).core_sram_bytes("accumulators") == 16 * 16384 == 256 * 1024
    area = _area(capsys, "tpu-v1", *small)
    pinned = _area(capsys, "tpu-v1", *small, "energy.core_sram.accumulators=4MiB")
    full = _sram_mm2(4 * 2**20, 28)
    assert area["units"]["accumulators"] == pytest.approx(full / 16, rel=1e-12)
    assert area["total_mm2"] == pytest.approx(pinned["total_mm2"] - full * 15 / 16, rel=1e-12)
    assert area == _area(capsys, "tpu-v1", *small, "energy.core_sram.accumulators=256KiB")  # the same bytes
    assert area["total_mm2"] == pytest.approx(88.86, abs=0.005)  # the probe's 88.9 mm²
    # rows leave a per-column size alone: 128 x 256 keeps 4 MiB; 128 columns 2 MiB
    assert config.load_arch("tpu-v1", ["core.systolic.rows=128"]).core_sram_bytes("accumulators") == 4 * 2**20
    assert config.load_arch("tpu-v1", ["core.systolic.cols=128"]).core_sram_bytes("accumulators") == 2 * 2**20


def test_per_row_and_the_arrays_count():
    # 'row': tpu-v1's 256 rows x 1 KiB = 256 KiB; two arrays a core have twice the PEs, rows and columns
    arch = config.load_arch("tpu-v1", ["energy.core_sram.accumulators=1KiB/row"])
    assert arch.energy.core_sram["accumulators"] == "1024B/row"
    assert arch.core_sram_bytes("accumulators") == 256 * 1024
    two = config.load_arch("eyeriss-like", ["core.systolic.count=2"])
    assert two.core_sram_bytes("pe_scratchpads") == 2 * 168 * 520


@pytest.mark.parametrize(("text", "held"), [
    ("16KiB/col", "16384B/col"), ("16384B/col", "16384B/col"), ("16384 B / col", "16384B/col"),
    ("4160b/pe", "520B/pe"),  # bits, as any size: 4160 / 8 = 520 B
    ("4MiB", 4 * 2**20), (4194304, 4 * 2**20),  # a plain size stays bytes
])
def test_one_size_is_held_one_way(text, held):
    # a point's id is the resolved config's hash: two spellings of one size give one held value
    arch = config.load_arch("tpu-v1", [f"energy.core_sram.accumulators={text}"])
    assert arch.energy.core_sram["accumulators"] == held


@pytest.mark.parametrize(("value", "says"), [
    ("520B/s", r"one per PE, row or column of the systolic array \('520B/pe', '1KiB/row', '16KiB/col'\), not per 's'"),
    ("abc/pe", r"the size per PE in 'abc/pe': expected a size such as '64KiB'"),
    ("1.5B/col", r"the size per column in '1.5B/col': size is not a whole number of bytes"),
    ("-1B/row", r"the size per row in '-1B/row': expected a size"),
])
def test_a_bad_form_is_one_line_at_its_file_line_and_key(tmp_path, capsys, value, says):
    f = tmp_path / "bad.yaml"
    f.write_text(f"base: tpu-v1\nenergy:\n  core_sram:\n    accumulators: {value}\n")
    assert main(["info", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "bad.yaml:4: energy.core_sram.accumulators: " in err
    assert re.search(says, err), err


def test_a_size_per_pe_needs_an_array(tmp_path):
    f = tmp_path / "nosys.yaml"
    f.write_text("base: tpu-v1\ncore:\n  systolic: null\nenergy:\n  sram_port_bits: 2048\n")
    with pytest.raises(AccelsimError, match=r"nosys\.yaml:3: core\.systolic: null, but energy\.core_sram\."
                                            r"accumulators \('16384B/col', .*tpu-v1\.yaml:\d+\) is a size per column"):
        config.load_arch(str(f), [])
    # with its size in bytes the same arch is taken
    assert config.load_arch(str(f), ["energy.core_sram.accumulators=4MiB"]).core.systolic is None


def test_a_size_past_max_int_is_refused_in_one_line():
    # 2**40 x 2**20 PEs x 16 MiB = 2**84 B, more than 2**63 - 1
    sets = ["energy.sram_port_bits=64", "core.sram.unified=4TiB", "hbm.capacity=8TiB",
            f"core.systolic.rows={2**40}", f"core.systolic.cols={2**20}", "energy.core_sram.accumulators=16MiB/pe"]
    with pytest.raises(AccelsimError, match=r"energy\.core_sram\.accumulators: 16,777,216 B per PE x "
                                            r"1,152,921,504,606,846,976 PEs .* more than 9,223,372,036,854,775,807") as e:
        config.load_arch("tpu-v1", sets)
    assert "\n" not in str(e.value)
