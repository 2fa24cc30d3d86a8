"""Probe p66's energy findings: the dtype an array without rates runs an op as, a collective's memory traffic and
reduction, the two TOPS/W figures, and a sweep's whole-system energy."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config.load import load_arch
from accelsim.energy import constants


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
    assert bf16["energy"]["mac_j"] == pytest.approx(512**3 * int8_j, rel=1e-12)
    assert bf16["energy"]["mac_j"] == pytest.approx(int8["energy"]["mac_j"], rel=1e-12)
    # one note, the base-rate one, which names the energy's dtype
    (note,) = [n for n in bf16["notes"] if "rate" in n]
    assert "their MAC energy is int8's" in note
