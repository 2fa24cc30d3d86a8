"""The PCIe-card presets a100-pcie and h100-pcie: what ``accelsim info`` prints for them (peaks, bandwidths, TDP) is
their datasheets' PCIe column, written out here (dense = the datasheet's "with sparsity" figure / 2), not read from
the presets; what they inherit through ``base:`` is their SXM sibling's; and a memory-bound decode step moves with
the HBM bandwidth the column changes."""

from __future__ import annotations

import json
import statistics

import pytest

from accelsim.cli import main
from accelsim.config import load_arch

# name: (SMs, {dtype: dense tensor TFLOPS}, HBM bytes, HBM B/s, host B/s a direction, TDP W)
PCIE_COLUMNS = {
    # NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4), "A100 80GB PCIe": BF16 / FP16 312 | TF32 156
    # TFLOPS | INT8 624 TOPS dense (the SXM's figures), 80 GB HBM2e at 1,935 GB/s, max TDP 300 W, PCIe Gen4 64 GB/s
    # (both directions): 16 GT/s x 128/130 x 16 lanes / 8 = 31.5 GB/s a direction. 108 SMs (NVIDIA A100 80GB PCIe
    # product brief PB-10577-001)
    "a100-pcie": (108, {"bf16": 312, "fp16": 312, "tf32": 156, "int8": 624}, 80 * 2**30, 1935e9,
                  16e9 * 128 / 130 * 16 / 8, 300),
    # NVIDIA H100 datasheet, "H100 PCIe": BF16 / FP16 1,513 | TF32 756 | FP8 3,026 TFLOPS | INT8 3,026 TOPS with
    # sparsity, so 756.5 / 378 / 1,513 / 1,513 dense; 80 GB HBM2e at 2 TB/s; PCIe Gen5 128 GB/s (both directions):
    # 32 GT/s x 128/130 x 16 / 8 = 63.0 GB/s a direction; 350 W (H100 PCIe product brief PB-11133-001: "maximum thermal
    # design power (TDP) level of 350 W"). 114 SMs (Hopper whitepaper, H100 PCIe)
    "h100-pcie": (114, {"bf16": 756.5, "fp16": 756.5, "tf32": 378, "fp8": 1513, "int8": 1513}, 80 * 2**30, 2000e9,
                  32e9 * 128 / 130 * 16 / 8, 350),
}


def _info(capsys, name: str) -> dict:
    assert main(["info", name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(PCIE_COLUMNS))
def test_info_prints_the_datasheets_pcie_column(capsys, name):
    sms, peaks, capacity, bandwidth, host, tdp = PCIE_COLUMNS[name]
    info = _info(capsys, name)
    assert info["cores"] == sms and info["chips"] == 1 and info["interconnect"] is None
    systolic = info["peak_flops_per_s_by_dtype"]["systolic"]
    for dtype, tflops in peaks.items():
        # the datasheets round their peaks to 3-4 digits; the model's clock is the one that reproduces them
        assert systolic[dtype]["flops_per_s"] == pytest.approx(tflops * 1e12, rel=0.002), dtype
    levels = {level["name"]: level for level in info["levels"]}
    assert levels["hbm"]["capacity"] == capacity and levels["hbm"]["bandwidth"] == bandwidth
    assert levels["host"]["bandwidth"] == pytest.approx(host, rel=0.001)
    assert info["energy"]["tdp_w"] == tdp
    assert 0 < info["energy"]["idle_power_w"] < tdp


def test_h100_pcie_clock_is_the_one_that_reproduces_the_dense_bf16_peak(capsys):
    # 1,513 TFLOPS sparse / 2 = 756.5e12 = 2 x 2048 FMA/clk/SM (Hopper's dense fp16 tensor rate, as h100) x 114 SMs x
    # clock, so clock = 756.5e12 / 466,944 = 1620.1 MHz; the preset writes 1620 MHz
    info = _info(capsys, "h100-pcie")
    assert info["clock_hz"] == 1620e6
    assert 756.5e12 / (2 * 2048 * 114) == pytest.approx(1620.1e6, abs=0.05e6)
    # the CUDA cores' datasheet FP32 51 TFLOPS is quoted at the ~1755 MHz max boost (2 x 128 FMA x 114 SMs x 1.755 GHz
    # = 51.2 TFLOPS); the preset keeps h100's 128 FMA/clk/SM and runs them at the model clock: 51 x 1620 / 1755
    fp32 = info["peak_flops_per_s_by_dtype"]["systolic"]["fp32"]["flops_per_s"]
    assert fp32 == pytest.approx(51e12 * 1620 / 1755, rel=0.01)


@pytest.mark.parametrize(("name", "sxm"), [("a100-pcie", "a100"), ("h100-pcie", "h100")])
def test_the_pcie_card_is_its_sxm_siblings_die(name, sxm):
    card, sibling = load_arch(name), load_arch(sxm)
    # same SM: tensor array, per-dtype rates, vector lanes, shared memory, tiles, attention kernels
    assert card.core == sibling.core
    assert card.memory("l2").capacity == sibling.memory("l2").capacity  # 40 MB (A100), 50 MB (H100 PCIe and SXM5)
    assert card.memory("host").kind == sibling.memory("host").kind  # PCIe Gen4 x16 / Gen5 x16 on both form factors
    assert card.kernel_launch == sibling.kernel_launch and card.kernel_dispatch == sibling.kernel_dispatch
    if name == "a100-pcie":
        # the datasheet's PCIe peaks are the SXM's at the same 108 SMs: the same clock (boost 1,410 MHz on both)
        assert card.clock_hz == sibling.clock_hz == 1410e6
        assert card.memory("l2").bandwidth == sibling.memory("l2").bandwidth
    else:
        # h100's L2 rule, a100's 5120 B/clk per 108 SMs kept per SM: 5120 / 108 x 114 SMs x 1.62 GHz = 8.755 TB/s
        assert card.memory("l2").bandwidth == pytest.approx(5120 / 108 * 114 * 1.62e9, rel=1e-4)


@pytest.mark.parametrize(("name", "sxm", "ratio"), [
    # the rule of b200.yaml (docs/energy.md, "A MAC inherited at the same node"): a preset built on another at the same
    # node scales the MAC it inherits by the datasheets' board power per dense bf16 FLOP, this card's over its base's:
    # h100-pcie (350 W / 756.5) / (700 W / 989.4) = 0.6539, read as the lower voltage of its lower clock (1620 MHz)
    ("h100-pcie", "h100", (350 / 756.5) / (700 / 989.4)),
])
def test_pcie_mac_is_the_sxm_siblings_scaled_by_the_datasheets_watts_per_dense_flop(name, sxm, ratio):
    card, sibling = load_arch(name), load_arch(sxm)
    assert card.energy.node == sibling.energy.node  # the same die: node scaling leaves the MAC as it is
    assert sibling.energy.mac_overhead == 8.54
    assert card.energy.mac_overhead == pytest.approx(8.54 * ratio, abs=0.0051)  # to 2 decimals: 5.585 -> 5.58


def test_a100_pcie_keeps_the_sxm_mac_at_the_same_clock_and_pays_its_tdp_by_throttling():
    # the same GA100 at the same 1410 MHz (the datasheet's PCIe peaks are the SXM's): the same voltage, the same MAC;
    # the 300 W cap (400 W on the SXM) is a power limit, which throttle_to_tdp models, not a cheaper MAC
    card, sibling = load_arch("a100-pcie"), load_arch("a100")
    assert card.clock_hz == sibling.clock_hz and card.energy.mac_overhead == sibling.energy.mac_overhead == 8.54
    assert card.energy.tdp == 300 and sibling.energy.tdp == 400


def test_h100_pcie_hbm2e_efficiency_from_the_published_dram_plateau():
    # te42kyfo/gpu-benches gpu-l2-cache/h100_pcie.txt, the first data set past 256 MB (266,112 kB): 1971.0 GB/s of
    # the datasheet's 2,000 GB/s; h100's (the A100's calculon) curve 0.9 / 0.75 / 0.6 / 0.3 scaled by 0.986 / 0.9
    hbm = load_arch("h100-pcie").memory("hbm")
    assert hbm.kind == "HBM2e"
    assert hbm.efficiency == pytest.approx(1971.0 / 2000, abs=0.0005)
    scaled = [e * 0.986 / 0.9 for e in (0.9, 0.75, 0.6, 0.3)]
    assert [e for _, e in hbm.efficiency_by_size] == pytest.approx(scaled, abs=1e-4)
    # Micron's memory comparison: HBM2E 6.0 pJ/bit, as a100's HBM2e (h100's HBM3 3.9 does not apply)
    assert hbm.energy_per_bit == load_arch("a100").memory("hbm").energy_per_bit == 6.0


def test_a100_pcie_idle_is_the_median_of_the_cited_listings():
    # the 12 idle A100 80GB PCIe nvidia-smi listings a100-pcie.yaml cites (P0, no process, 300 W cap)
    listings = [40, 43, 45, 45, 45, 47, 47, 53, 54, 62, 63, 67]
    assert load_arch("a100-pcie").energy.idle_power == statistics.median(listings) == 47


@pytest.mark.parametrize(("name", "sxm", "most"), [
    # a decode step at batch 1 reads the 6.74 G bf16 weights once: HBM-bound, so the PCIe card is slower by at most the
    # ratio of sustained HBM bandwidths, less where kernel launches (the same on both) take part of the step:
    # a100: 2039 / 1935 GB/s (the same calculon efficiency on both) = 1.054;
    # h100: 3350 x 0.9 / (2000 x 0.986) = 1.529 (its 0.77x dense peak, 756.4 / 989.4, is a smaller ratio, 1.31)
    ("a100-pcie", "a100", 2039 / 1935),
    ("h100-pcie", "h100", 3350 * 0.9 / (2000 * 0.986)),
])
def test_llama2_7b_decode_step_slows_with_the_hbm_bandwidth(name, sxm, most):
    from accelsim import simulate

    workload = {"model": "llama2_7b", "phase": "decode"}
    card, sibling = simulate(workload, name).seconds, simulate(workload, sxm).seconds
    assert 1.0 < card / sibling <= most
