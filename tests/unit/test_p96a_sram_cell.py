"""A pinned SRAM bit cell is carried to another node by the published SRAM cells, not by the logic area rule
(probe p96 #1: h100 at 3 nm shrank its SRAM ×(3/5)² = ×0.36 although N3E keeps N5's 0.021 µm² cell, and at 7 nm
took 0.021 × (7/5)² = 0.041 µm² against N7's 0.027 µm²). The cells, as docs/energy.md ("SRAM rule") cites them:
TSMC N7 0.027 µm² (Chang et al., ISSCC 2017), N5 0.021 µm² (TSMC IEDM 2019), N3E 0.021 µm² (WikiChip, IEDM 2022),
N6 taken as N7's (the mi210 preset's assumption)."""

from __future__ import annotations

import math

import pytest

from accelsim.config.load import load_arch
from accelsim.energy import constants
from accelsim.energy.tech import sram_cell_scale

KIB = 1024
EFF = 0.33  # sram_array_efficiency, the default the presets keep
N7, N5, N3E = 0.027, 0.021, 0.021
# die SMs, each with a 256 KB register file: GA100 128 (Ampere whitepaper), GH100 144 (Hopper whitepaper)
A100_SMS, H100_SMS = 128, 144
RF_BITS = 256 * KIB * 8


def _area(preset: str, *sets: str):
    a = load_arch(preset, list(sets))
    return constants(a, a.dtype)


def test_sram_cell_scale_follows_the_published_cells():
    assert sram_cell_scale(5, 3) == pytest.approx(N3E / N5)  # 1: N3E keeps N5's cell
    assert sram_cell_scale(5, 7) == pytest.approx(N7 / N5)  # 0.027 / 0.021 = ×1.2857
    assert sram_cell_scale(7, 5) == pytest.approx(N5 / N7)
    assert sram_cell_scale(6, 7) == pytest.approx(1.0)  # N6 keeps N7's cell
    # between 5 and 6 nm, log-log: at 5.5 nm w = ln(1.1) / ln(1.2) = 0.522758, 0.021^0.477242 · 0.027^0.522758
    w = math.log(5.5 / 5) / math.log(6 / 5)
    assert sram_cell_scale(5, 5.5) == pytest.approx(0.021 ** (1 - w) * 0.027 ** w / 0.021, rel=1e-12)
    # above 7 nm the logic area rule from N7: 16 nm is Stillmaker & Baas's 0.19 against 7 nm's 0.059
    assert sram_cell_scale(7, 16) == pytest.approx(0.19 / 0.059, rel=1e-12)
    assert sram_cell_scale(5, 16) == pytest.approx(N7 / N5 * 0.19 / 0.059, rel=1e-12)


def test_h100_at_7nm_takes_n7s_cell_so_its_register_file_costs_a100s_per_bit():
    # h100 at 7 nm: 144 × 256 KiB × 8 bits × 0.027 µm² ÷ 0.33 = 301,989,888 × 0.0818182 = 24.708 mm²
    # (before: 0.021 × (7/5)² = 0.04116 µm², 37.67 mm²)
    h100_rf = H100_SMS * RF_BITS * N7 / EFF * 1e-6
    assert h100_rf == pytest.approx(24.708, abs=1e-3)
    h7 = _area("h100", "arch.energy.node=7nm").unit_area["register_file"]
    assert h7 == pytest.approx(h100_rf, rel=1e-12)
    a100 = _area("a100").unit_area["register_file"]
    assert a100 == pytest.approx(A100_SMS * RF_BITS * N7 / EFF * 1e-6, rel=1e-12)
    assert h7 / (H100_SMS * RF_BITS) == pytest.approx(a100 / (A100_SMS * RF_BITS), rel=1e-12)


def test_h100_at_3nm_keeps_n5s_cell():
    # N3E keeps N5's 0.021 µm²: every SRAM of h100 at 3 nm is its 5 nm area (before: ×(3/5)² = ×0.36, register
    # file 19.22 → 6.92 mm²). By hand at 5 nm: 144 × 256 KiB × 8 × 0.021 / 0.33 = 19.217 mm²
    rf5 = H100_SMS * RF_BITS * N5 / EFF * 1e-6
    assert rf5 == pytest.approx(19.217, abs=1e-3)
    c5, c3 = _area("h100"), _area("h100", "arch.energy.node=3nm")
    assert c5.unit_area["register_file"] == pytest.approx(rf5, rel=1e-12)
    assert c3.unit_area["register_file"] == pytest.approx(rf5, rel=1e-12)
    for level in ("sram", "l2"):
        assert c3.level_area[level] == pytest.approx(c5.level_area[level], rel=1e-12)


def test_mi210_at_7nm_keeps_its_n7_cell():
    # mi210 takes N7's 0.027 µm² cell as N6's own: at 7 nm it is the same cell (before: ×(7/6)² = ×1.361)
    assert _area("mi210", "arch.energy.node=7nm").level_area["sram"] == pytest.approx(
        _area("mi210").level_area["sram"], rel=1e-12)


def test_a100_at_5nm_takes_n5s_cell():
    # a100 at 5 nm: shared memory 128 × 164 KiB × 8 × 0.021 / 0.33 = 10.943 mm² (N7's 14.070 × 0.021 / 0.027)
    smem = A100_SMS * 164 * KIB * 8 * N5 / EFF * 1e-6
    assert smem == pytest.approx(10.943, abs=1e-3)
    assert _area("a100", "arch.energy.node=5nm").level_area["sram"] == pytest.approx(smem, rel=1e-12)
