"""Probe p254 #1: a GEMM the array runs on the core's vector lanes (an NVIDIA GPU's fp32: its tensor cores have no
fp32 datapath, so cuBLAS runs it on the CUDA cores) is priced as a lane multiply-add, 2 of the lanes' FLOPs, not as
the tensor core's MAC at 32-bit operands (docs/energy.md, "Actions")."""

from __future__ import annotations

import math

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.energy import constants
from accelsim.energy.model import array_on_lanes
from accelsim.energy.resolved import arch_energy

# Stillmaker & Baas, E(V) = aV^2 + bV + c (docs/energy.md, "Node scaling"): 45 nm at Horowitz's 0.9 V, 7 nm at
# the presets' 0.8 V, 5 nm as 7 nm x sqrt(5/7) (below the table's last node energy goes as sqrt(node))
E45 = 1.103 * 0.9**2 - 0.362 * 0.9 + 0.2767          # 0.84433
E7 = 0.1776 * 0.8**2 - 0.09097 * 0.8 + 0.02447       # 0.065358
E5 = E7 * math.sqrt(5 / 7)
FP32_MAC_45NM = 3.7 + 0.9  # Horowitz ISSCC 2014: fp32 multiply 3.7 pJ + fp32 add 0.9 pJ = one FMA, 2 FLOPs
H100_LANE_MAC_PJ = FP32_MAC_45NM * E5 / E45  # 4.6 x 0.065422 = 0.30094 pJ (docs: 2 x 0.1505)
A100_LANE_MAC_PJ = FP32_MAC_45NM * E7 / E45  # 4.6 x 0.077408 = 0.35608 pJ


@pytest.mark.parametrize(("arch", "pj"), [("h100", H100_LANE_MAC_PJ), ("a100", A100_LANE_MAC_PJ),
                                          ("b200", H100_LANE_MAC_PJ)])
def test_an_fp32_mac_on_a_gpu_costs_its_cuda_cores_fma(arch, pj):
    # arch/h100.yaml:41 and a100.yaml:42: "a fp32 GEMM without TF32 runs on the CUDA cores"; b200.yaml's fp32 the
    # same (its energy.node is 5 nm at 0.8 V, as h100's, so the same lane FMA)
    a = load_arch(arch)
    assert array_on_lanes(a, "fp32")
    c = constants(a, "fp32")
    assert c.mac_j / 1e-12 == pytest.approx(pj, rel=1e-4)
    assert c.mac_j == pytest.approx(2 * c.vector_j, rel=1e-12)  # a multiply-add is 2 of the lanes' fp32 FLOPs
    assert "fp32" in arch_energy(a)["mac_on_lanes"]
    assert arch_energy(a)["mac_pj"]["fp32"] == pytest.approx(pj, rel=1e-4)


@pytest.mark.parametrize(("arch", "dtype"), [("h100", "bf16"), ("h100", "tf32"), ("h100", "fp64"),
                                             ("mi300x", "fp32"), ("mi210", "fp32"), ("tpu-v4", "fp32")])
def test_a_dtype_the_array_has_a_datapath_for_stays_an_array_mac(arch, dtype):
    # h100's fp64 tensor cores run 128 FMA/clk/SM (2048 x 0.0625) against its fp64 lanes' 64 (512 x 0.25 / 2);
    # mi300x's fp32 matrix cores 128 (1024 x 0.125) against the VALU's 64 (256 x 0.5 / 2); mi210 128 against 64;
    # tpu-v4's MXU runs fp32 as a bf16 pass (its rates list none of the vector unit's)
    a = load_arch(arch)
    assert not array_on_lanes(a, dtype)
    c = constants(a, dtype)
    assert c.mac_j > 2 * c.vector_j * 1.5  # the array's operand movement (mac_overhead) on top of the arithmetic


def test_h100_fp32_gemm_charges_lane_macs():
    # 2048^3 = 8,589,934,592 MACs, all on the CUDA cores: x 0.30094 pJ = 2.585 mJ (was 1.763 pJ a MAC, 15.14 mJ)
    r = accelsim.simulate({"model": "gemm", "m": 2048, "n": 2048, "k": 2048, "dtype": "fp32"}, "h100").to_dict()
    assert r["macs"] == 2048**3
    assert r["energy"]["mac_j"] == pytest.approx(2048**3 * H100_LANE_MAC_PJ * 1e-12, rel=1e-4)


def test_a100_fp32_gemm_row_is_on_the_array_unit_but_priced_as_lanes():
    # the mapper keeps the row on systolic0 at the CUDA-core rate (rates.fp32 0.0625); its 512^3 MACs cost
    # 0.35608 pJ each (was the tensor core's 2.086)
    r = accelsim.simulate({"model": "gemm", "m": 512, "n": 512, "k": 512, "dtype": "fp32"}, "a100").to_dict()
    row = next(op for op in r["ops"] if op["macs"])
    assert "systolic" in row["unit"] and row["mapping"]["rate"]["runs_as"] == "fp32"
    assert r["energy"]["mac_j"] == pytest.approx(512**3 * A100_LANE_MAC_PJ * 1e-12, rel=1e-4)


def test_info_says_the_fp32_mac_runs_on_the_lanes():
    from rich.console import Console

    from accelsim.cli import _energy_table
    from accelsim.energy.resolved import arch_area

    a = load_arch("h100")
    console = Console(width=200, record=True)
    console.print(_energy_table(arch_energy(a), arch_area(a), a))
    text = console.export_text()
    line = next(ln for ln in text.splitlines() if "MAC fp32" in ln)
    assert "0.3009 pJ" in line and "vector lanes" in line
    assert "vector lanes" not in next(ln for ln in text.splitlines() if "MAC bf16" in ln)


# Probe p254 #2: an optimizer step offloaded to the host's CPUs (options.offload: optimizer_cpu) has no sourced
# figure for its DRAM or CPU energy; the run says what it leaves out, with the DRAM's floor
GPT2_PARAMS = 124_439_808  # GPT-2 small with its tied LM head (Hugging Face gpt2 GPT2LMHeadModel.num_parameters())
CPU_BYTES = 30  # docs/training.md: the CPU reads and writes 30 B a parameter (tests/unit/test_cpu_adam.py)


def test_an_offloaded_step_says_its_host_dram_and_cpu_energy_are_not_counted():
    r = accelsim.simulate({"model": "gpt2", "mode": "training", "seq_len": 128}, {"base": "dgx-h100", "chips": 1},
                          offload="optimizer_cpu", plots=False).to_dict()
    note = next(n for n in r["notes"] if n.startswith("energy: ") and "optimizer_cpu" in n)
    dram = GPT2_PARAMS * CPU_BYTES  # 3,733,194,240 B
    assert f"{dram:,} B of host DRAM traffic" in note
    # the floor: 3,733,194,240 B x 8 bit x 8 pJ (LPDDR4, Accelergy's cacti_wrapper) = 0.239 J
    assert "add 0.239 J or more a chip" in note
    # the step's energy is still its link bytes alone (what the note says): 746,638,848 B x 8 x 6.5 pJ (h100.yaml
    # host.energy_per_bit, PCIe)
    steps = [op for op in r["ops"] if op["unit"] == "host_cpu"]
    assert sum(op["energy_j"] for op in steps) == pytest.approx(GPT2_PARAMS * 6 * 8 * 6.5e-12, rel=1e-9)


def test_a_step_on_the_chip_gives_no_such_note():
    r = accelsim.simulate({"model": "gpt2", "mode": "training", "seq_len": 128, "layers": 1}, "h100",
                          plots=False).to_dict()
    assert not any("optimizer_cpu" in n and n.startswith("energy: ") for n in r["notes"])
