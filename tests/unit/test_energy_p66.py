"""Probe p66's energy findings: the dtype an array without rates runs an op as, a collective's memory traffic and
reduction, the two TOPS/W figures, and a sweep's whole-system energy."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.cost import collective
from accelsim.energy import constants
from accelsim.sweep.store import metrics_from_report, system_energy_j, working_chips


@pytest.mark.parametrize("arch", ["edge-npu", "gemmini"])
def test_an_array_without_rates_charges_a_bf16_mac_as_the_int8_it_runs_as(arch):
    # both presets are int8 arrays listing no core.systolic.rates: `accelsim info` shows bf16 "(as int8)", and the
    # run now agrees: runs_as int8, and 512^3 = 134,217,728 MACs at int8's pJ (before: bf16's, 4.9x on edge-npu)
    gemm = {"model": "gemm", "m": 512, "n": 512, "k": 512}
    bf16 = accelsim.simulate({**gemm, "dtype": "bf16"}, arch).to_dict()
    int8 = accelsim.simulate({**gemm, "dtype": "int8"}, arch).to_dict()
    assert bf16["ops"][0]["mapping"]["rate"] == {"dtype": "bf16", "runs_as": "int8", "multiplier": 1.0}
    a = load_arch(arch)
    int8_j, bf16_j = constants(a, "int8").mac_j, constants(a, "bf16").mac_j
    assert bf16_j > 4 * int8_j  # the gap the wrong pricing made
    assert bf16["macs"] == 512**3
    assert bf16["energy"]["mac_j"] == pytest.approx(512**3 * int8_j, rel=1e-12, abs=0)
    assert bf16["energy"]["mac_j"] == pytest.approx(int8["energy"]["mac_j"], rel=1e-12, abs=0)
    # one note, the base-rate one, which names the energy's dtype
    (note,) = [n for n in bf16["notes"] if "rate" in n]
    assert "their MAC energy is int8's" in note


def _choice(algorithm: str, wire: float) -> collective.Choice:
    return collective.Choice(1e-3, algorithm, "Simple", wire)


def test_memory_traffic_of_each_algorithm_by_hand():
    s, n, e = 1_000_000_000, 8, 2  # nccl-tests' size, chips, fp16 elements: 5e8 elements
    # ring all-reduce: input read S + output written S + each received byte into the FIFO and back, 2 x 2(n-1)/n S
    # = 2 + 2 x 1.75 = 5.5 GB; the reduce-scatter half adds (n-1)/n of the elements: 7/8 x 5e8 = 437,500,000
    assert collective.memory_traffic(_choice("ring", 1.75e9), "all_reduce", s, n, e) == (5_500_000_000, 437_500_000)
    # NVLS: the switch reads each input once and multicasts the sum into each output: 2 GB, and the switch adds
    assert collective.memory_traffic(_choice("nvls", 1.2e9), "all_reduce", s, n, e) == (2_000_000_000, 0)
    # tree (a chain on one node): S up and S down received: 1 + 1 + 2 x 2 = 6 GB
    assert collective.memory_traffic(_choice("tree", 2e9), "all_reduce", s, n, e) == (6_000_000_000, 437_500_000)
    # reduce-scatter: input S, output S/8, FIFO 2 x 7/8 S: 1 + 0.125 + 1.75 = 2.875 GB; all-gather the mirror, no adds
    assert collective.memory_traffic(_choice("ring", 0.875e9), "reduce_scatter", s, n, e) == (2_875_000_000,
                                                                                              437_500_000)
    assert collective.memory_traffic(_choice("ring", 0.875e9), "all_gather", s, n, e) == (2_875_000_000, 0)
    # vLLM's one-shot over 4 chips of 1 MiB: its input read by all 4, its output written: 5 MiB; 3 x 2^19 adds
    mib = 2**20
    assert collective.memory_traffic(_choice("one_shot", 3 * mib), "all_reduce", mib, 4, e) == (5 * mib, 3 * 2**19)
    assert collective.memory_traffic(_choice("none", 0.0), "all_reduce", s, 1, e) == (0, 0)


def test_a_collective_run_charges_its_hbm_bytes_and_reduction_and_says_it_is_one_chip():
    gb = {"model": "collective", "op": "all_reduce", "bytes": 10**9}
    # dgx-a100 runs NCCL's ring: 5.5 GB of HBM, 437.5 M adds, 2 x 7/8 GB = 1.75 GB on the link
    r = accelsim.simulate(gb, "dgx-a100").to_dict()
    op = r["ops"][0]
    assert op["mapping"]["algorithm"] == "ring"
    assert r["bytes"]["hbm"] == 5_500_000_000 and r["bytes"]["link"] == 1_750_000_000
    assert r["flops"] == 0 and r["computed_flops"] == 437_500_000  # the model's count, then what ran
    c = constants(load_arch("dgx-a100"))
    # a100.yaml's HBM2E 6.0 pJ/bit, dgx-a100.yaml's NVLink 1.3 pJ/bit on each of the 2 links a byte crosses
    # (probe p234 #1: through the NVSwitch a byte crosses 2 links, the sender's into the switch and the receiver's out; was 1 link: 0.2822 J), the lanes' J per FLOP
    hand = 5.5e9 * 8 * 6.0e-12 + 1.75e9 * 2 * 8 * 1.3e-12 + 437_500_000 * c.vector_j
    assert r["energy"]["dynamic_j"] == pytest.approx(hand, rel=1e-9)  # 0.3004 J (before p66: the link's 0.0182 J)
    # the adds run on the SMs: filed under the vector unit, no unit named "link" (probe p234 #5)
    assert "link" not in r["energy"]["by_unit"]
    assert r["efficiency"]["tops_per_w"] == pytest.approx(437_500_000 / r["energy"]["total_j"] / 1e12)
    (note,) = [n for n in r["notes"] if n.startswith("chips:")]
    assert "runs on 8 of the 8 chips" in note and "one chip's" in note and "8 x energy.total_j" in note
    # dgx-h100 runs NVLS: 2 GB of HBM (the probe's "at least 2 GB"), no adds on the chip; 3.9 pJ/bit (h100.yaml)
    h = accelsim.simulate(gb, "dgx-h100").to_dict()
    assert h["ops"][0]["mapping"]["algorithm"] == "nvls" and h["bytes"]["hbm"] == 2_000_000_000
    # the link bytes at 2 links x 1.3 pJ/bit (through the NVSwitch, probe p234 #1)
    assert h["energy"]["dynamic_j"] == pytest.approx(2e9 * 8 * 3.9e-12 + h["bytes"]["link"] * 2 * 8 * 1.3e-12,
                                                     rel=1e-9)


@pytest.mark.parametrize(("arch", "executed"), [("a100", 1), ("tpu-v4", 2)])
def test_tops_per_w_counts_executed_flops_and_useful_tops_per_w_the_models(arch, executed):
    # a 1024^3 GEMM pruned 2:4: the model's flops are the kept weights' 2 x 1024^3 / 2 = 2^30; the A100's sparse
    # tensor cores execute those, TPU v4's array multiplies the zeros too (2^31); both figures over the same joules
    r = accelsim.simulate({"model": "gemm", "m": 1024, "n": 1024, "k": 1024, "sparsity": "2:4"}, arch).to_dict()
    total, eff = r["energy"]["total_j"], r["efficiency"]
    assert r["flops"] == 2**30 and r["computed_flops"] == executed * 2**30
    assert eff["tops_per_w"] == pytest.approx(executed * 2**30 / total / 1e12, rel=1e-12)
    assert eff["useful_tops_per_w"] == pytest.approx(2**30 / total / 1e12, rel=1e-12)
    assert eff["tops_definition"].startswith("tops_per_w: FLOPs executed")


def _report(model="gemm", params=None, chips=1, static_w=50.0, total_j=2.0, training=False):
    r = {"energy": {"total_j": total_j}, "power": {"chips": chips, "static_w": static_w}, "seconds": 0.1,
         "workload": {"model": model, "params": params or {}}}
    return {**r, "phases": {}} if training else r


def test_system_energy_charges_idle_chips_their_static_energy_only():
    # 8 chips, one chip's report of 2 J over 0.1 s at 50 W static a chip
    assert working_chips(_report(), 8) == 1
    assert system_energy_j(_report(), 8) == pytest.approx(2.0 + 7 * 50.0 * 0.1)  # 37 J (before: 8 x 2 = 16)
    tp4 = _report(params={"tensor_parallel": 4})  # 4 chips alike, 4 idle
    assert system_energy_j(tp4, 8) == pytest.approx(4 * 2.0 + 4 * 50.0 * 0.1)  # 28 J
    assert system_energy_j(_report(training=True), 8) == pytest.approx(8 * 2.0)  # every data-parallel replica
    assert system_energy_j(_report("collective"), 8) == pytest.approx(8 * 2.0)  # every chip of the call
    # a pipeline's report covers its 4 stages (their 8 J, 200 W static): the other 4 chips idle at 50 W each
    pipe = _report(chips=4, static_w=200.0, total_j=8.0)
    assert system_energy_j(pipe, 8) == pytest.approx(8.0 + 4 * 50.0 * 0.1)  # 28 J
    assert system_energy_j({"seconds": 1.0}, 8) is None


def test_sweep_metrics_of_a_one_chip_gemm_on_a_dgx():
    r = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "dgx-h100").to_dict()
    m = metrics_from_report(r)
    idle = 7 * r["power"]["static_w"] * r["seconds"]  # 7 idle H100s at their static (idle) power
    assert m["system_energy_j"] == pytest.approx(r["energy"]["total_j"] + idle, rel=1e-12)
    assert m["system_area_mm2"] == pytest.approx(8 * r["area"]["total_mm2"])  # the system is 8 chips
