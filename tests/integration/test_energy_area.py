"""Chip area against published dies (docs/energy.md, "Area against published dies").

The model builds a die from its parts (arrays with their PE flip-flops, SRAM arrays by bits × bit cell ÷ array
efficiency, PHYs per interface); what it does not build (control, schedulers, on-chip network, memory
controllers, I/O beyond the PHYs) is absent, so its total is a lower bound on the die.

Sources: TPU v1, Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit", ISCA 2017,
Figure 2 (floor plan: Unified Buffer 29 %, Matrix Multiply Unit 24 %, Accumulators 6 % of a die ≤ 331 mm²,
as ../shared/reference/energy/README.md and news.mynavi.jp's summary of the figure give them); A100 die 826 mm²
(NVIDIA's GA100 announcement, fudzilla.com), H100 die 814 mm² (NVIDIA's Hopper whitepaper, as screenhacker.com
reports it), AD102 (L40S) die 608.4 mm² (NVIDIA's Ada launch figures, as tweaktown.com reports them); LLMCompass's A100 breakdown (../shared/reference/hardware/llmcompass/die_area_A100_MI210.csv) is
used as a check only: no constant of the presets comes from it.
"""

from __future__ import annotations

import math

import pytest

from accelsim.config.load import load_arch
from accelsim.energy import constants

TPU_V1_DIE = 331.0  # mm², Jouppi et al. 2017: "less than half the size of a Haswell die" (≤ 331 mm²)
TPU_V1_FRACTIONS = {"unified buffer": 0.29, "matrix unit": 0.24, "accumulators": 0.06}  # Figure 2


def _tpu_v1_parts() -> tuple[dict[str, float], float]:
    c = constants(load_arch("tpu-v1"))
    parts = {"unified buffer": c.level_area["sram"], "matrix unit": c.unit_area["systolic"],
             "accumulators": c.unit_area["accumulators"]}
    return parts, c.area_total


def test_tpu_v1_parts_by_hand():
    # 28 nm: Stillmaker & Baas's area factor from 45 nm, log-log between 32 nm (0.46) and 20 nm (0.21)
    w = math.log(28 / 32) / math.log(20 / 32)
    scale = 0.46 ** (1 - w) * 0.21 ** w  # 0.368
    parts, _ = _tpu_v1_parts()
    # unified buffer: 24 MiB = 201,326,592 bits × 0.346 µm² × 0.368 / 0.33 array efficiency (NVDLA-measured,
    # tests/unit/test_energy.py) = 77.7 mm²
    assert parts["unified buffer"] == pytest.approx(24 * 2**20 * 8 * 0.346 * scale / 0.33 * 1e-6)
    # accumulators: 4096 × 256 × 32 bits = 4 MiB by the same rule = 12.95 mm²
    assert parts["accumulators"] == pytest.approx(4096 * 256 * 32 * 0.346 * scale / 0.33 * 1e-6)
    # matrix unit: 65,536 PEs × (int8 multiply 282 + int32 add 137 µm² + 48 flip-flop bits × 4.522 µm²) × 0.368
    # = 65,536 × 636.1 µm² × 0.368 = 15.3 mm² (48 bits: the int8 weight twice, the int8 input, a 24-bit sum)
    assert parts["matrix unit"] == pytest.approx(65536 * (282 + 137 + 48 * 4.522) * scale * 1e-6)


def test_tpu_v1_parts_are_no_larger_than_the_papers():
    # the model builds a subset of each part (cells without their wiring, control or test logic), so each part
    # and the whole are at most the paper's
    parts, total = _tpu_v1_parts()
    for name, fraction in TPU_V1_FRACTIONS.items():
        assert parts[name] < fraction * TPU_V1_DIE, name
    assert total < TPU_V1_DIE


_SHORT = "issue 13's check fails: no sourced layout factor closes the gap (docs/energy.md)"


@pytest.mark.parametrize("name", [
    "unified buffer",  # 23.5 % against 29 % (-19 %) since the NVDLA-measured array efficiency (was 15.5 %)
    pytest.param("matrix unit", marks=pytest.mark.xfail(strict=True, reason=_SHORT + ": 4.6 % against 24 %")),
    pytest.param("accumulators", marks=pytest.mark.xfail(strict=True, reason=_SHORT + ": 3.9 % against 6 %")),
])
def test_tpu_v1_area_fractions_within_25_percent_of_the_paper(name):
    parts, _ = _tpu_v1_parts()
    assert parts[name] / TPU_V1_DIE == pytest.approx(TPU_V1_FRACTIONS[name], rel=0.25)


@pytest.mark.parametrize(("arch", "die_mm2"), [("a100", 826.0), ("h100", 814.0), ("l40s", 608.4)])
def test_gpu_totals_sit_in_the_stated_band_below_the_die(arch, die_mm2):
    # the stated band (docs/energy.md): the parts the model builds are between a fifth of the die and the die
    total = constants(load_arch(arch)).area_total
    assert 0.2 * die_mm2 < total < die_mm2


def test_a100_memory_phy_matches_llmcompass_check():
    # 6 HBM2e PHYs (the full GA100) × 10.45 mm² per 1024-bit interface (LLMCompass cost_model.py) = 62.7 mm²,
    # against the 58 mm² of memory PHY in LLMCompass's A100 breakdown (the CSV, a check): +8 %
    c = constants(load_arch("a100"))
    assert c.level_area["hbm"] == pytest.approx(6 * 10.45)
    assert c.level_area["hbm"] == pytest.approx(58.0, rel=0.10)


def test_a100_sm_parts_by_hand():
    # per SM at 7 nm (area factor 0.059 from 45 nm; SRAM on TSMC N7's 0.027 µm² cell ÷ 0.33), over the die's 128 SMs
    c = constants(load_arch("a100"))
    bf16_mac = 1640 * (8 / 11) ** 2 + 4184  # Horowitz: fp16 multiply scaled to bf16's 8 significand bits + fp32 add
    assert c.unit_area["systolic"] == pytest.approx(128 * 1024 * bf16_mac * 0.059 * 1e-6)  # 39.1 mm²
    fp64_fma = 7700 * (53 / 24) ** 2 + 2 * 4184  # fp32 multiply scaled to 53 significand bits + two fp32 adders
    int32_mac = 3495 + 137
    assert c.unit_area["alus"] == pytest.approx(128 * (32 * fp64_fma + 64 * int32_mac) * 0.059 * 1e-6)
    # register file: 256 KiB = 2,097,152 bits × 0.027 µm² / 0.33 = 0.172 mm² per SM
    assert c.unit_area["register_file"] == pytest.approx(128 * 256 * 1024 * 8 * 0.027 / 0.33 * 1e-6)
    # L2: the full GA100's 48 MiB by the same rule = 32.9 mm² (LLMCompass's breakdown: 119 mm², tags, ECC and the
    # L2's crossbar included there and not here)
    assert c.level_area["l2"] == pytest.approx(48 * 2**20 * 8 * 0.027 / 0.33 * 1e-6)


def test_h100_and_h200_are_one_gh100_die():
    # the H200 is the H100 SXM5's GH100 die with all six HBM stacks enabled (nv_h200_datasheet, h200.yaml), so the
    # die's area is one figure: a100's rule on the full GH100 (NVIDIA's Hopper whitepaper: 60 MB of L2 and 6 HBM3
    # stacks; H100 SXM5 enables 50 MB and 5 stacks)
    h100, h200 = constants(load_arch("h100")), constants(load_arch("h200"))
    # the die's 6 HBM PHYs × 10.45 mm² per 1024-bit interface (LLMCompass cost_model.py) = 62.7 mm², enabled or not
    assert h100.level_area["hbm"] == h200.level_area["hbm"] == pytest.approx(6 * 10.45)
    # L2: 60 MiB = 503,316,480 bits × TSMC N5's 0.021 µm² cell / 0.33 array efficiency = 32.0 mm² on both
    assert h100.level_area["l2"] == h200.level_area["l2"] == pytest.approx(60 * 2**20 * 8 * 0.021 / 0.33 * 1e-6)
    assert h100.area_total == pytest.approx(h200.area_total)


def test_l40s_counts_the_full_ad102s_sms_with_their_register_files_and_l1():
    # probe p180 #1: l40s counted its 142 enabled SMs and no register file or L1 (106.4 mm², 17 % of the 608.4 mm²
    # AD102), where a100 / h100 count the full die's SMs with both. Now by their rule: the full AD102's 144 SMs
    # (Ada whitepaper: 12 GPCs x 6 TPCs x 2), each with 64K 32-bit registers = 256 KiB and 128 KB of L1 + shared
    # memory less the 100 KiB shared carve-out = 28 KiB (Ada tuning guide), on TSMC N5's 0.021 µm² cell / 0.33
    c = constants(load_arch("l40s"))
    rule = 8 * 0.021 / 0.33 * 1e-6  # mm² per byte by the SRAM rule at 5 nm
    assert c.unit_area["register_file"] == pytest.approx(144 * 256 * 1024 * rule)  # 19.22 mm², as h100's 144 SMs
    assert c.unit_area["l1_rest"] == pytest.approx(144 * 28 * 1024 * rule)  # 2.102 mm²
    assert c.level_area["sram"] == pytest.approx(144 * 100 * 1024 * rule)  # the shared memory of all 144 SMs
    # the L2 is the product's 96 MiB, the full AD102's (no die_capacity needed)
    assert c.level_area["l2"] == pytest.approx(96 * 2**20 * rule)
    # the same parts per SM as h100 (256 KiB and 28 KiB on one cell), over the same 144 SMs: the same mm²
    h100 = constants(load_arch("h100"))
    assert c.unit_area["register_file"] == pytest.approx(h100.unit_area["register_file"])
    assert c.unit_area["l1_rest"] == pytest.approx(h100.unit_area["l1_rest"])


def test_b200_hbm_phys_by_its_stacks():
    # two dies of 4 HBM3e stacks each, every one enabled: 8 × 10.45 mm² = 83.6 mm² (not 8 TB/s × 0.0255 = 204 mm²)
    assert constants(load_arch("b200")).level_area["hbm"] == pytest.approx(8 * 10.45)


def test_eyeriss_scratchpads_and_global_buffer_by_hand_under_the_published_core():
    # 65 nm: the rule's 45 nm cell 0.346 µm² × Stillmaker & Baas's 1.5 = 0.519 µm², ÷ 0.33 array efficiency
    cell = 0.346 * 1.5 / 0.33 * 1e-6  # mm² per bit
    c = constants(load_arch("eyeriss-like"))
    # the PE scratchpads (Chen et al., ISSCC 2016 / JSSC 2017): 168 PEs × (224 filter + 12 ifmap + 24 psum) 16-bit
    # words = 87,360 B = 1.10 mm²; the 108 KB global buffer 1.39 mm²
    assert c.unit_area["pe_scratchpads"] == pytest.approx(168 * (224 + 12 + 24) * 16 * cell)
    assert c.level_area["sram"] == pytest.approx(108 * 1024 * 8 * cell)
    # what the model builds (arrays, lanes, SRAM cells; no NoC, control or layout) stays under the 12.25 mm² core
    # (JSSC 2017, ../shared/reference/energy/README.md): 2.84 mm², 23 %
    assert 0.2 * 12.25 < c.area_total < 12.25
