"""Probe p103's plug-in unit findings: a ``pieces`` op on a GPU's lock-step SMs (#1), ``mac_utilization`` above 1
when a plug-in MAC unit leaves matmuls on the lanes of a core without an array (#3), price details report.json
cannot hold (#4), the unit-kind hint (#5) and the price range error's bound (#6)."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_arch

# ---- 1. a plug-in's pieces on a GPU's lock-step SMs ------------------------------------------------------------------
H100_SMS = 132  # arch/h100.yaml cores (nv_h100_datasheet: 132 SMs), run as one lock-step unit core*.xbar


def _h100_xbars(mvm_cycles):
    return load_arch({"base": "h100", "core": {"units": {"xbar": {
        "kind": "cim_crossbar", "crossbars": 16, "mvm_cycles": mvm_cycles}}}})


def test_one_mvm_on_a_gpus_lockstep_sms_takes_its_whole_mvm(cim):
    arch = _h100_xbars(100_000)
    assert arch.cores == H100_SMS
    # cim_crossbar.price: m = 1 row on ceil(256/256) x ceil(256/256) = 1 tile, ceil(1/16) = 1 round: 1 MVM of
    # 100,000 cycles, pieces = 1. docs/configuration.md: it takes 100,000 cycles on one unit whatever count and
    # cores are (it was ceil(100,000 / 132) = 758 on h100: the MVM cut over the 132 SMs)
    rep = simulate({"model": "gemm", "m": 1, "n": 256, "k": 256, "dtype": "bf16"}, arch).to_dict()
    (op,) = rep["ops"]
    assert op["unit"] == f"core*.xbar ({H100_SMS})" and op["mapping"]["pieces"] == 1
    assert op["compute_cycles"] == 100_000
    assert op["mapping"]["units"] == 1  # one SM ran it (was 132)
    assert rep["total_cycles"] >= 100_000  # (was 42,412: the run shorter than its one indivisible MVM)
    # its stalls are the one working SM's, which cannot wait longer than the run (were x 132: 176,616 > 42,412)
    assert op["stall_cycles"] <= rep["total_cycles"]


@pytest.mark.parametrize("m, busiest, units", [
    # 64 rows x 1 round (16 tiles of 256 x 256 on 16 crossbars) = 64 MVMs of 100 cycles over 132 SMs: one each,
    # 100 cycles on 64 SMs (it was ceil(6,400 / 132) = 49, less than one MVM)
    (64, 100, 64),
    # 133 MVMs: ceil(133 / 132) = 2 on the busiest SM, ceil(13,300 x 2 / 133) = 200 cycles, every SM working
    (133, 200, H100_SMS),
    # 264 MVMs: 2 on each SM, 200 cycles
    (264, 200, H100_SMS),
])
def test_a_gpus_sms_take_whole_pieces(cim, m, busiest, units):
    rep = simulate({"model": "gemm", "m": m, "n": 1024, "k": 1024, "dtype": "bf16"}, _h100_xbars(100)).to_dict()
    (op,) = rep["ops"]
    assert op["mapping"]["pieces"] == m
    assert op["compute_cycles"] == busiest
    assert op["mapping"]["units"] == units
    assert op["mapping"]["work_cycles"] == m * 100  # every MVM's cycles, summed over the SMs
