"""A GPU op whose tiles are fewer than the SMs runs on that many SMs, and its stall counts those SMs alone (probe
p108 #1: h100's 64 × 128 × 8192 GEMM, 32 CTAs on 32 of 132 SMs, counted each active SM's stall 132 times)."""

from __future__ import annotations

import accelsim


def test_a_gemm_of_fewer_tiles_than_sms_stalls_on_the_sms_it_ran_on():
    rep = accelsim.simulate({"model": "gemm", "m": 64, "n": 128, "k": 8192, "dtype": "bf16"}, "h100").to_dict()
    (op,) = rep["ops"]
    m = op["mapping"]
    # one 64 × 128 output tile, split along K into split_k slices: ⌈64/64⌉·⌈128/128⌉·split_k CTAs, fewer than
    # h100's 132 SMs (arch/h100.yaml)
    assert m["tile"] == [64, 128] and m["output_tiles"] == m["split_k"] < 132
    assert m["units"] == m["output_tiles"]
    # every active SM waits alike (one CTA each): the op's stall is one SM's times the SMs that ran, and no SM
    # stalls longer than the op's span
    per_sm = op["stall_cycles"] / m["units"]
    assert per_sm == int(per_sm) and per_sm <= op["end_cycle"] - op["start_cycle"]
    assert rep["stall_cycles"] == op["stall_cycles"]
