"""Probe p141: a peak power above the TDP is said (#1), a decode step's J/token (#2), a vector FLOP's default
energy (#3). Hand calculations through the real accounting (accelsim.energy.account, docs/energy.md)."""

from __future__ import annotations

import copy

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.energy import account

# A made-up chip at 45 nm (no node scaling): 0.5 W of static power, a 1 W TDP, no activity power
TDP_CHIP = {"name": "tdp-e", "clock": "1GHz", "dtype": "fp16", "cores": 1,
            "core": {"systolic": {"rows": 4, "cols": 4}, "vector": {"lanes": 16}, "sram": {"unified": "8KiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "energy_per_bit": 4.0},
            "energy": {"node": "45nm", "idle_power": "0.5W", "tdp": "1W"}}
GEMM = {"model": "gemm", "m": 16, "n": 16, "k": 16}


def _accounted(arch: dict, window_w, seconds: float | None = None) -> dict:
    """The GEMM's report on ``arch`` accounted again with a busiest window of ``window_w(moved)`` W of dynamic
    power (``moved``: the levels whose bytes the window's tasks carry) and, given, ``seconds``."""
    rep = accelsim.simulate(GEMM, arch).to_dict()
    rep = copy.deepcopy(rep)
    if seconds is not None:
        rep["seconds"] = seconds
    return account(rep, load_arch(arch), peak_dynamic_w=lambda computes, moved: window_w(moved))


def _peak_notes(out: dict) -> list[str]:
    return [n for n in out["notes"] if n.startswith("energy: peak power ")]


def test_a_peak_above_the_tdp_with_the_average_within_it_is_said_and_changes_nothing():
    # static 0.5 W + a window of 0.8 W dynamic = 1.3 W per chip, above the 1 W TDP; the average is the static
    # 0.5 W plus the GEMM's few nJ over its seconds, well within it
    out = _accounted(TDP_CHIP, lambda moved: 0.8)
    assert out["power"]["peak_w_per_chip"] == pytest.approx(0.5 + 0.8)
    assert out["power"]["average_w"] < 1.0 and "tdp_clock_factor" not in out["power"]
    [note] = _peak_notes(out)
    assert "1.3 W per chip" in note and "TDP of 1 W" in note and "clock down" in note
    assert "options.throttle_to_tdp models the average only" in note
    # a window of 0.4 W: 0.9 W, within the TDP: no note
    assert _peak_notes(_accounted(TDP_CHIP, lambda moved: 0.4)) == []


def test_an_average_above_the_tdp_keeps_its_own_note_alone():
    # the GEMM's dynamic energy over 1 ps: an average far above 1 W, whose note (and clock factor) already says it
    out = _accounted(TDP_CHIP, lambda moved: 0.8, seconds=1e-12)
    assert "tdp_clock_factor" in out["power"]
    assert any(n.startswith("energy: average power") for n in out["notes"]) and _peak_notes(out) == []


def test_off_package_memory_in_the_window_is_not_the_packages_peak():
    # the window: 0.2 W of compute plus 0.6 W of HBM bytes. With the HBM inside the package that is 0.5 + 0.8 =
    # 1.3 W against the 1 W TDP; with its devices off the package (hbm.off_package) the package draws 0.5 + 0.2 =
    # 0.7 W in it, within the TDP, which rates the package alone: no note (power.peak_w still counts them)
    def window(moved):
        return 0.2 + (0.6 if "hbm" in moved else 0.0)
    inside = _accounted(TDP_CHIP, window)
    assert inside["power"]["peak_w_per_chip"] == pytest.approx(1.3) and len(_peak_notes(inside)) == 1
    off = _accounted({**TDP_CHIP, "hbm": {**TDP_CHIP["hbm"], "off_package": True}}, window)
    assert off["power"]["peak_w_per_chip"] == pytest.approx(1.3) and _peak_notes(off) == []
    # a window of 0.6 W of compute and 0.6 W of HBM bytes: 1.7 W for the chip, 0.5 + 0.6 = 1.1 W in its package
    off = _accounted({**TDP_CHIP, "hbm": {**TDP_CHIP["hbm"], "off_package": True}},
                     lambda moved: 0.6 + (0.6 if "hbm" in moved else 0.0))
    [note] = _peak_notes(off)
    assert "1.1 W per chip in its package" in note


def test_a_sampled_runs_peak_note_speaks_of_the_tdp_note_beside_it():
    from accelsim.scenarios.sampling import peak_note
    # probe p141 #1: Llama-2-7B serving on h100, the 2-layer sample's window 869 W (770 W with every layer)
    said = peak_note(869.0, 2, 32, over_tdp=True)
    assert "869 W" in said and "need not exceed the TDP" in said and "layer_samples=false" in said
    assert "TDP" not in peak_note(869.0, 2, 32)


SMALL_GPT = {"model": "gpt", "hidden": 64, "heads": 2, "layers": 2, "seq_len": 16, "vocab": 128, "batch": 4}
TP_CHIP = {**{k: v for k, v in TDP_CHIP.items() if k != "energy"}, "energy": {"node": "45nm", "idle_power": "0.5W"},
           "chips": 2, "interconnect": {"bandwidth": "10GB/s", "energy_per_bit": 1.3}}


def test_one_decode_step_reports_joules_per_token():
    # one decode step at batch 4 makes 4 tokens (one per sequence), on both chips of its tensor-parallel pair (the
    # report simulates one): J/token = total_j × 2 / 4, as a serving report's j_per_token counts every chip
    # (probe p141 #2: Llama-2-7B's step on h100 gave 3.40 J/sample and j_per_token null)
    step = accelsim.simulate({**SMALL_GPT, "phase": "decode", "kv_len": 8, "tensor_parallel": 2}, TP_CHIP).to_dict()
    eff = step["efficiency"]
    assert eff["j_per_token"] == pytest.approx(step["energy"]["total_j"] * 2 / 4, rel=1e-12, abs=0)
    assert eff["j_per_inference"] is None and eff["j_per_step"] is None
    # a prefill (no decode step) stays an inference: J per sample
    fill = accelsim.simulate({**SMALL_GPT, "tensor_parallel": 2}, TP_CHIP).to_dict()["efficiency"]
    assert fill["j_per_token"] is None and fill["j_per_inference"] is not None
