"""A core without a systolic array (a vector DSP, probe 16 finding 3): ``core.systolic`` left out, its matmul-family
ops run on the vector lanes at one MAC per lane a cycle, or on a plug-in unit that takes them, and the chip's MAC
peak counts only the units it has."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch

DSP = {"name": "vdsp", "clock": "1.2GHz", "dtype": "fp16",
       "core": {"vector": {"lanes": 128}, "sram": {"unified": "256KiB"}},
       "hbm": {"capacity": "2GiB", "bandwidth": "34.1GB/s"}}


def test_a_core_may_leave_out_its_systolic_array_and_its_lanes_are_the_mac_peak():
    arch = load_arch(DSP)
    assert arch.core.systolic is None
    assert [u.name for u in arch.core.unit_specs()] == ["vector"]
    assert arch.peak_macs_per_cycle == 128  # the lanes, one MAC each a cycle; no array counted


def test_a_gemm_runs_on_the_lanes_at_one_mac_per_lane_a_cycle():
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256, "dtype": "fp16"}, DSP).to_dict()
    op = rep["ops"][0]
    assert op["unit"] == "core0.vector"
    compute = 256**3 // 128  # 131,072 cycles of MACs
    assert op["compute_cycles"] == compute
    # roofline by hand: at least A, B and C once, 3 x 256^2 x 2 B = 393,216 B at 34.1e9 / 1.2e9 = 28.4 B a cycle is
    # 13,837 cycles, below the compute: compute-bound; the run adds at most its memory time to the compute
    bpc = 34.1e9 / 1.2e9
    assert 3 * 256**2 * 2 / bpc < compute
    assert rep["roofline"]["peak_flops_per_s"] == pytest.approx(2 * 128 * 1.2e9)
    assert compute <= rep["total_cycles"] <= compute + rep["bytes"]["hbm"] / bpc
    assert rep["mac_utilization"] == pytest.approx(256**3 / (rep["total_cycles"] * 128))
    assert rep["arch"]["systolic"] is None


def test_a_cnn_runs_every_conv_and_linear_on_the_lanes():
    rep = simulate("resnet18", DSP).to_dict()
    gemms = [op for op in rep["ops"] if op["kind"] in ("conv", "linear")]
    assert gemms and all(op["unit"] == "core0.vector" for op in gemms)
    assert rep["total_cycles"] >= rep["macs"] / 128  # 1.814e9 MACs at 128 a cycle at best
    assert 0 < rep["mac_utilization"] <= 1


def test_vector_rates_set_the_lanes_gemm_rate():
    # fp32 at half the lanes' fp16 rate: the GEMM's MAC cycles double
    arch = {**DSP, "core": {**DSP["core"], "vector": {"lanes": 128, "rates": {"fp32": 0.5}}}}
    op = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256, "dtype": "fp32"}, arch).to_dict()["ops"][0]
    assert op["compute_cycles"] == 2 * 256**3 // 128



def test_with_a_plug_in_unit_its_macs_are_the_peak_and_it_takes_the_gemms(cim):
    # the crossbar (16 of 256 x 256 cells, one MVM per 100 cycles: 256 x 256 x 16 / 100 MACs a cycle) takes the
    # linear layers; the lanes, which run none, count no MACs
    arch = load_arch({**DSP, "core": {**DSP["core"], "units": {"xbar": {"kind": "cim_crossbar"}}}})
    assert arch.peak_macs_per_cycle == pytest.approx(256 * 256 * 16 / 100)
    rep = simulate({"model": "gemm", "m": 64, "n": 1024, "k": 1024, "dtype": "fp16"}, arch).to_dict()
    assert rep["ops"][0]["unit"] == "core0.xbar"
    # 16 tiles of 256 x 256, one round of 16 crossbars, 64 input rows of one 100-cycle MVM each
    assert rep["ops"][0]["compute_cycles"] == 64 * 100


def test_an_array_core_still_runs_its_gemms_on_the_array():
    # the lanes take a matmul at preference 0, below the array's 1
    rep = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, "edge-npu").to_dict()
    assert rep["ops"][0]["unit"].startswith("core0.systolic")
