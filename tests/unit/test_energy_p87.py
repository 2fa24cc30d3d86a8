"""Probe p87's energy findings, by hand: a composed row's zero MACs and collective adds counted once per execution
(#1, #2), `accelsim info`'s MAC energies on an array without rates (#4), which Stillmaker & Baas coefficient set each
node row is (#5), and SI prefixes read with their case (#6)."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import TypeAdapter, ValidationError

import accelsim
from accelsim.cli import main
from accelsim.config.load import load_arch
from accelsim.energy import constants, executed_flops, executed_macs
from accelsim.energy.model import reduce_flops
from accelsim.energy.resolved import mac_dtypes
from accelsim.energy.tech import ENERGY_POLY, energy_scale
from accelsim.hardware import Picojoules, PicojoulesPerBit, Watts


def _pruned_row(count: int | None) -> dict:
    """An op row of a 2:4-pruned linear on an array that runs the dense K (TPU v4: executed_k == k): one execution
    is a 64 x 32 GEMM over K = 128 of which 64 weights are kept; ``count`` executions (None: a plain run's row)."""
    m, n, k = 64, 32, 128
    runs = 1 if count is None else count
    row = {"unit": "core0.systolic", "kind": "linear", "macs": m * n * (k // 2) * runs,
           "flops": 2 * m * n * (k // 2) * runs, "bytes": {},
           "mapping": {"gemm": [m, n, k, 1], "sparsity": {"pattern": "2:4", "k": k, "executed_k": k,
                                                         "skips_zeros": False}}}
    if count is not None:
        row["count"] = count
    return row


@pytest.mark.parametrize("count", [None, 1, 10, 2528])
def test_a_composed_pruned_row_executes_the_dense_macs_of_every_execution(count):
    # macs count the kept 64 of K = 128 for each execution; the array multiplies all 128: 64 x 32 x 128 per
    # execution, x count (before: x 1, whatever the count: a 10-execution row executed 10 x 131,072 kept + 131,072
    # zeros = 1,441,792 MACs instead of 2,621,440)
    runs = 1 if count is None else count
    row = _pruned_row(count)
    assert executed_macs(row) == 64 * 32 * 128 * runs
    assert executed_flops(row) == 2 * 64 * 32 * 128 * runs


def test_a_collective_rows_adds_are_counted_for_every_execution():
    # a ring all-reduce over 8 chips of a 16 x 8192 decode activation: each execution adds (8 - 1)/8 x 16 x 8192 =
    # 114,688 elements (mapping.reduce_flops is one execution's); a composed row standing for 2,528 executions adds
    # 2,528 x 114,688 = 289,931,264 (probe p87 #2: it counted 114,688)
    adds = (8 - 1) * 16 * 8192 // 8
    assert adds == 114_688
    row = {"unit": "core0.link", "kind": "collective", "macs": 0, "flops": 0, "bytes": {},
           "mapping": {"reduce_flops": adds}, "count": 2528}
    assert reduce_flops(row) == 289_931_264 == executed_flops(row)
    assert reduce_flops({**row, "count": None}) == adds  # not a composed row: one execution
    assert reduce_flops({k: v for k, v in row.items() if k != "count"}) == adds


@pytest.mark.parametrize("arch", ["gemmini", "edge-npu", "eyeriss-like", "scalesim-32x32", "scalesim-128x128"])
def test_info_lists_only_the_dtype_an_array_without_rates_runs_every_dtype_as(arch):
    a = load_arch(arch)
    assert a.core.systolic is not None and not a.core.systolic.rates
    assert mac_dtypes(a) == [a.dtype]


def test_info_prices_a_mac_at_what_the_run_charges_on_gemmini_and_eyeriss(capsys):
    # gemmini (22 nm, int8, no rates): Horowitz's int8 MAC 0.2 + 0.1 pJ at 45 nm, carried to 22 nm by
    # Stillmaker & Baas at 0.8 V, log-log between 20 nm (E = 0.15320) and 32 nm (0.456936), from 45 nm at Horowitz's
    # 0.9 V, E = 1.103 x 0.81 - 0.362 x 0.9 + 0.2767 = 0.84433 (probe p152 #1: 45 nm was read at 0.8 V, 0.69302,
    # and the MAC was 0.0828 pJ)
    e20 = 0.373 * 0.64 - 0.1582 * 0.8 + 0.04104
    e32 = 0.9559 * 0.64 - 0.7823 * 0.8 + 0.471
    e45 = 1.103 * 0.81 - 0.362 * 0.9 + 0.2767
    w = math.log(22 / 20) / math.log(32 / 20)
    e22 = math.exp((1 - w) * math.log(e20) + w * math.log(e32))
    gemmini_int8 = 0.3 * e22 / e45  # 0.0679 pJ
    assert round(gemmini_int8, 4) == 0.0679
    # eyeriss-like (65 nm at 1.0 V, chen_jssc17; int16 accumulating in int16, mac_overhead 5): int16 = 0.2 x
    # (16/8)^2 + 0.05 (Horowitz's int32 add 0.1 pJ x 16/32, probe p152 #3) = 0.85 pJ at 45 nm, x 5, x 65 nm's E(1.0)
    # = 3.755 - 4.398 + 1.975 = 1.332 over 0.84433 (probe p152 #1; 5.583 pJ before both)
    eyeriss_int16 = 0.85 * 5 * (3.755 - 4.398 + 1.975) / e45  # 6.705 pJ
    assert round(eyeriss_int16, 3) == 6.705
    for arch, run_dtype, pj in (("gemmini", "bf16", gemmini_int8), ("eyeriss-like", "int8", eyeriss_int16)):
        assert main(["info", arch, "--json"]) == 0
        info = json.loads(capsys.readouterr().out)["energy"]["mac_pj"]
        assert list(info) == [load_arch(arch).dtype]  # before: 12 dtypes (gemmini bf16 0.4088, eyeriss int8 2.605)
        assert next(iter(info.values())) == pytest.approx(pj, rel=1e-4)
        r = accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64, "dtype": run_dtype}, arch).to_dict()
        assert r["energy"]["mac_j"] / r["macs"] == pytest.approx(pj * 1e-12, rel=1e-4, abs=0)
    assert main(["info", "gemmini"]) == 0
    text = capsys.readouterr().out
    assert "MAC int8" in text and "MAC bf16" not in text


def test_arrays_with_rates_still_list_the_dtypes_they_run():
    # tpu-v1 runs int8 and int16; a100's fp8 runs as bf16 (no fp8 entry)
    assert mac_dtypes(load_arch("tpu-v1")) == ["int8", "int16"]
    a100 = mac_dtypes(load_arch("a100"))
    assert a100[0] == "bf16" and "fp8" not in a100 and "fp16" in a100


def test_each_node_row_is_named_low_power_or_high_performance_and_the_factors_follow():
    # Stillmaker & Baas (Integration 58, 2017) fit E(V) per node; below 65 nm HP and LP apart. The README gives
    # HP 45 nm (1.018, -0.3107, 0.1539) and HP 7 nm (0.1776, -0.09097, 0.02447); the paper's LP 45 nm is
    # (1.103, -0.362, 0.2767) and LP 32 nm (0.9559, -0.7823, 0.471) (the same table in UCLA NanoCAD's nodeScale).
    # Accelergy's table, which accelsim uses, takes LP at 45 and 32 nm and HP from 20 to 7 nm (docs/energy.md).
    assert ENERGY_POLY[45] == (1.103, -0.362, 0.2767)  # LP 45 nm
    assert ENERGY_POLY[32] == (0.9559, -0.7823, 0.471)  # LP 32 nm
    assert ENERGY_POLY[7] == (0.1776, -0.09097, 0.02447)  # HP 7 nm
    assert ENERGY_POLY[20] == (0.373, -0.1582, 0.04104)  # HP 20 nm

    def at(a, b, c):
        return a * 0.64 + b * 0.8 + c

    lp45, hp45, hp7 = at(1.103, -0.362, 0.2767), at(1.018, -0.3107, 0.1539), at(0.1776, -0.09097, 0.02447)
    assert (round(lp45, 5), round(hp45, 5), round(hp7, 6)) == (0.69302, 0.55686, 0.065358)
    assert energy_scale(45, 7) == pytest.approx(hp7 / lp45, rel=1e-12)  # x0.0943, the model's
    assert round(hp7 / hp45, 4) == 0.1174  # the HP-consistent factor docs/energy.md gives beside it
    assert round((hp7 / lp45) / (hp7 / hp45), 3) == 0.804  # every 7 nm preset's on-chip energy vs HP to HP
    e65 = at(3.755, -4.398, 1.975)
    assert round(energy_scale(45, 65), 3) == round(e65 / lp45, 3) == 1.241
    assert round(e65 / hp45, 3) == 1.544


@pytest.mark.parametrize(("text", "watts"), [("1MW", 1e6), ("2mW", 2e-3), ("0.5kW", 500.0), ("400W", 400.0),
                                             ("400w", 400.0), ("400", 400.0), ("1.5KW", 1500.0)])
def test_watts_read_the_si_prefix_with_its_case(text, watts):
    assert TypeAdapter(Watts).validate_python(text) == pytest.approx(watts)


@pytest.mark.parametrize("text", ["1mw", "1Mw"])
def test_a_prefix_whose_case_decides_milli_or_mega_is_refused(text):
    with pytest.raises(ValidationError, match=r"could be 'mW' or 'MW'"):
        TypeAdapter(Watts).validate_python(text)


def test_energies_take_nj_fj_and_pj():
    pj = TypeAdapter(Picojoules)
    assert pj.validate_python("0.5nJ") == pytest.approx(500.0)
    assert pj.validate_python("300fJ") == pytest.approx(0.3)
    assert pj.validate_python("1.5pJ") == pj.validate_python("1.5PJ") == 1.5
    per_bit = TypeAdapter(PicojoulesPerBit)
    assert per_bit.validate_python("0.07nJ/bit") == pytest.approx(70.0)
    assert per_bit.validate_python("3.9pJ/bit") == 3.9
    with pytest.raises(ValidationError, match=r"expected a number of pJ such as '1.5pJ' \(units: 'pJ', 'fJ', 'nJ'\)"):
        pj.validate_python("1.5J")


def test_a_mega_watt_tdp_and_a_milli_watt_static_power_reach_the_arch(capsys):
    # tpu-v1's hbm level (its DDR3) gives no static power of its own; 2MW of it is 2e6 W, 2mW 0.002 W (before: both
    # 0.002 W); tdp 1MW is 1e6 W (before: 0.001 W, refused as below the 28 W idle power)
    assert main(["info", "tpu-v1", "--set", "arch.energy.tdp=1MW", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["energy"]["tdp_w"] == 1e6
    for text, watts in (("2MW", 2e6), ("2mW", 2e-3)):
        assert main(["info", "tpu-v1", "--set", f"arch.hbm.static_power={text}", "--json"]) == 0
        energy = json.loads(capsys.readouterr().out)["energy"]
        assert energy["static_w"] - energy["idle_power_w"] == pytest.approx(watts)
    assert main(["info", "tpu-v1", "--set", "arch.energy.tdp=1mw"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arch.energy.tdp" in err and "'mW' or 'MW'" in err


def test_the_constants_are_unchanged_by_the_fixes():
    # no preset energy moved by p87's fixes; probe p152 #1 moved it: tpu-v1's int8 MAC is 0.3 pJ x E28(0.8) /
    # E45(0.9) = 0.3 x 0.3349 / 0.84433 = 0.119 (was 0.3 x 0.483 = 0.145, Horowitz's 0.9 V figures read at 0.8 V).
    # E28(0.8): log-log between 20 nm (0.15320) and 32 nm (0.456936), the factor docs/energy.md gives (x0.483 of
    # E45(0.8) = 0.69302, so 0.33497)
    c = constants(load_arch("tpu-v1"))
    assert c is not None and round(c.mac_j / 1e-12, 3) == round(0.3 * 0.4834 * 0.69302 / 0.84433, 3) == 0.119
