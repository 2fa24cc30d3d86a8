"""A preset's pinned SRAM bit cell (``energy.sram_bitcell_at_node_um2``) is carried from the node it was published
at (``energy.sram_bitcell_node``) to the arch's ``node`` by the published cells' ratio (probe p96 #1; probe p87 #3: tpu-v4's SRAM stayed
22.0 mm² at 7, 16 and 28 nm), and a fused attention on a GPU-like array without per-dtype rates is charged as a GEMM
on it is (mapping.rate.runs_as: the arch's dtype)."""

from __future__ import annotations

import math

import pytest

from accelsim.cli import main
from accelsim.config.load import load_arch
from accelsim.energy import constants

MIB = 1024 * 1024
# Stillmaker & Baas's area factors from 45 nm (accelsim.energy.tech.AREA_FROM_45NM, docs/energy.md "Node
# scaling"), written out: 32 nm 0.46, 20 nm 0.21, 16 nm 0.19, 7 nm 0.059
A32, A20, A16, A7 = 0.46, 0.21, 0.19, 0.059


def _loglog(node: float, lo: float, a_lo: float, hi: float, a_hi: float) -> float:
    """The area factor at ``node`` between two listed nodes, log-log linear (docs/energy.md, "Node scaling")."""
    w = math.log(node / lo) / math.log(hi / lo)
    return a_lo ** (1 - w) * a_hi ** w


def _sram_mm2(arch: str, *sets: str) -> float:
    a = load_arch(arch, list(sets))
    return constants(a, a.dtype).level_area["sram"]


# tpu-v4's scratchpad by hand: 2 TensorCores × 16 MiB of vector memory (arch/tpu-v4.yaml, jouppi_isca23) = 32 MiB
# = 268,435,456 bits × TSMC N7's 0.027 µm² cell ÷ the array efficiency 0.33 = 21,962,900.9 µm² = 21.963 mm²
TPU_V4_SRAM_7NM = 2 * 16 * MIB * 8 * 0.027 / 0.33 * 1e-6


def test_tpu_v4_sram_at_its_own_node_is_the_pinned_n7_cell():
    assert TPU_V4_SRAM_7NM == pytest.approx(21.9629, abs=1e-4)
    assert _sram_mm2("tpu-v4") == pytest.approx(TPU_V4_SRAM_7NM, rel=1e-12)
    assert _sram_mm2("tpu-v4", "arch.energy.node=7nm") == pytest.approx(TPU_V4_SRAM_7NM, rel=1e-12)


def test_tpu_v4_sram_at_28nm_carries_the_n7_cell_by_the_area_rule():
    # area_scale(7, 28) = factor(28) / factor(7); 28 nm is not listed: log-log between 32 nm (0.46) and 20 nm (0.21),
    # w = ln(28/32) / ln(20/32) = -0.133531 / -0.470004 = 0.284107; 0.46^0.715893 · 0.21^0.284107
    # = exp(0.715893 · -0.776529 + 0.284107 · -1.560648) = exp(-0.999302) = 0.36814; / 0.059 = ×6.2396
    scale_7_to_28 = _loglog(28, 32, A32, 20, A20) / A7
    assert scale_7_to_28 == pytest.approx(6.2396, abs=1e-4)
    expected = TPU_V4_SRAM_7NM * scale_7_to_28  # 21.963 × 6.2396 = 137.04 mm² (before: 22.0)
    assert expected == pytest.approx(137.04, abs=0.01)
    assert _sram_mm2("tpu-v4", "arch.energy.node=28nm") == pytest.approx(expected, rel=1e-9)


def test_tpu_v4_sram_at_16nm():
    # 16 nm is listed (0.19): area_scale(7, 16) = 0.19 / 0.059 = ×3.220; 21.963 × 3.220 = 70.73 mm² (before: 22.0)
    assert _sram_mm2("tpu-v4", "arch.energy.node=16nm") == pytest.approx(TPU_V4_SRAM_7NM * A16 / A7, rel=1e-9)


def test_a100_core_srams_and_l2_move_with_the_node():
    # a100 at 7 nm: 128 SMs on the die (die_cores) × 164 KiB of shared memory × 8 × 0.027 / 0.33 = 14.070 mm²;
    # at 28 nm every SRAM array (shared memory, register file, the rest of L1, the 48 MB L2) is × 6.2396
    smem = 128 * 164 * 1024 * 8 * 0.027 / 0.33 * 1e-6
    assert smem == pytest.approx(14.070, abs=1e-3)
    a7, a28 = (load_arch("a100", sets) for sets in ([], ["arch.energy.node=28nm"]))
    c7, c28 = constants(a7, a7.dtype), constants(a28, a28.dtype)
    assert c7.level_area["sram"] == pytest.approx(smem, rel=1e-12)
    scale = _loglog(28, 32, A32, 20, A20) / A7
    for name in ("sram", "l2"):
        assert c28.level_area[name] == pytest.approx(c7.level_area[name] * scale, rel=1e-9)
    for name in ("register_file", "l1_rest"):
        assert c28.unit_area[name] == pytest.approx(c7.unit_area[name] * scale, rel=1e-9)


def test_mi210_pins_the_n7_cell_as_n6s_own():
    # mi210 is a 6 nm chip whose preset takes N7's 0.027 µm² cell as N6's (N6 keeps N7's design rules): its cell
    # node is 6 nm, so at its own node the cell is taken as written, not carried 7 → 6 nm (×(6/7)², the node²
    # rule below 7 nm); at 7 nm it is carried 6 → 7 by the published cells (probe p96 #1: N6's cell is N7's
    # 0.027 µm², energy.tech.SRAM_BITCELL_UM2), ×1: the same area
    a = load_arch("mi210")
    assert (a.energy.node, a.energy.sram_bitcell_node, a.energy.sram_bitcell_at_node_um2) == (6, 6, 0.027)
    at6 = _sram_mm2("mi210")
    assert _sram_mm2("mi210", "arch.energy.node=7nm") == pytest.approx(at6, rel=1e-12)


# each preset pinning a cell, and the node of the cell its comment cites (N7 0.027 µm², N5 0.021 µm²; mi210's N7
# cell taken as N6's), with the presets that inherit it through base:
PINNED = {"a100": (7, 0.027), "dgx-a100": (7, 0.027), "h100": (5, 0.021), "h200": (5, 0.021),
          "dgx-h100": (5, 0.021), "dgx-h200": (5, 0.021), "b200": (5, 0.021), "dgx-b200": (5, 0.021),
          "l40s": (5, 0.021), "mi210": (6, 0.027), "mi300x": (5, 0.021), "mi300x-8": (5, 0.021),
          "tpu-v4": (7, 0.027), "tpu-v5e": (7, 0.027), "tpu-v5e-8": (7, 0.027), "tpu-v5p": (7, 0.027),
          "tpu-v5p-128": (7, 0.027), "tpu-v6e": (7, 0.027), "tpu-v6e-8": (7, 0.027)}


@pytest.mark.parametrize("preset", sorted(PINNED))
def test_every_pinned_cell_names_its_node_and_is_taken_as_written_at_the_chips(preset):
    a = load_arch(preset)
    node, cell = PINNED[preset]
    assert (a.energy.sram_bitcell_node, a.energy.sram_bitcell_at_node_um2) == (node, cell)
    assert a.energy.node == node  # so its area at its own node is the one before the cell's node was recorded
    pad = a.core.sram.total_bytes * (a.energy.die_cores or a.cores)
    assert constants(a, a.dtype).level_area["sram"] == pytest.approx(pad * 8 * cell / 0.33 * 1e-6, rel=1e-12)


def test_the_other_presets_pin_no_cell():
    for preset in ("tpu-v1", "edge-npu", "gemmini", "eyeriss-like", "scalesim-32x32"):
        e = load_arch(preset).energy
        assert (e.sram_bitcell_at_node_um2, e.sram_bitcell_node) == (None, None)


TINY = {"name": "tiny", "clock": "1GHz", "dtype": "int8", "core": {"systolic": {"rows": 8, "cols": 8},
        "vector": {"lanes": 8}, "sram": {"unified": "1MiB"}}, "hbm": {"bandwidth": "10GB/s", "capacity": "1GiB"}}


def test_a_cell_without_its_node_is_at_the_chips_node_and_a_node_without_a_cell_is_not_used():
    # 1 MiB = 8,388,608 bits
    bits = 8 * MIB
    no_node = load_arch({**TINY, "energy": {"node": 16, "sram_bitcell_at_node_um2": 0.05}})
    assert constants(no_node, "int8").level_area["sram"] == pytest.approx(bits * 0.05 / 0.33 * 1e-6, rel=1e-12)
    # a cell published at 7 nm on a 16 nm chip: × 0.19 / 0.059
    carried = load_arch({**TINY, "energy": {"node": 16, "sram_bitcell_at_node_um2": 0.05, "sram_bitcell_node": 7}})
    assert constants(carried, "int8").level_area["sram"] == pytest.approx(
        bits * 0.05 * A16 / A7 / 0.33 * 1e-6, rel=1e-9)
    # no pinned cell: the rule's 45 nm cell 0.346 µm² × 0.19, whatever sram_bitcell_node says
    rule = load_arch({**TINY, "energy": {"node": 16, "sram_bitcell_node": 7}})
    assert constants(rule, "int8").level_area["sram"] == pytest.approx(bits * 0.346 * A16 / 0.33 * 1e-6, rel=1e-9)


def test_a_bad_cell_node_is_a_one_line_error(tmp_path, capsys):
    assert main(["info", "tpu-v4", "--set", "arch.energy.sram_bitcell_node=2nm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "arch.energy.sram_bitcell_node" in err and "3-180 nm" in err
    path = tmp_path / "bad.yaml"
    path.write_text("base: tpu-v4\nname: bad\nenergy:\n  sram_bitcell_node: ten\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}:4" in err and "sram_bitcell_node" in err
