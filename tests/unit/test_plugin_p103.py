"""Probe p103's plug-in unit findings: a ``pieces`` op on a GPU's lock-step SMs (#1), ``mac_utilization`` above 1
when a plug-in MAC unit leaves matmuls on the lanes of a core without an array (#3), price details report.json
cannot hold (#4), the unit-kind hint (#5) and the price range error's bound (#6)."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.errors import MappingError
from accelsim.hardware import UNIT_KINDS
from accelsim.report.writers import json_text

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


# ---- 3. mac_utilization with matmuls left on the lanes of a core without an array -----------------------------------
# docs/configuration.md's vdsp ("A core without a systolic array": 128 lanes, 1.2 GHz) with one slow crossbar
VDSP_CIM = {"name": "vdsp-cim", "clock": "1.2GHz", "dtype": "fp16",
            "core": {"vector": {"lanes": 128}, "sram": {"unified": "256KiB"},
                     "units": {"xbar": {"kind": "cim_crossbar", "crossbars": 1, "mvm_cycles": 100_000}}},
            "hbm": {"capacity": "2GiB", "bandwidth": "34.1GB/s"}}
XBAR_MACS = 256 * 256 * 1 / 100_000  # cim_crossbar.macs_per_cycle: 0.65536
ATTENTION = {"model": "attention", "heads": 8, "kv_heads": 8, "q_len": 256, "kv_len": 256, "head_dim": 64}


def test_matmuls_left_on_the_lanes_count_the_lanes_in_the_peak(cim):
    arch = load_arch(VDSP_CIM)
    assert arch.peak_macs_per_cycle == pytest.approx(XBAR_MACS)  # what info gives: the lanes run no MACs there
    rep = simulate(ATTENTION, arch).to_dict()
    # the crossbar takes linear layers and convolutions only: both attention matmuls run on the lanes, each
    # 8 heads x 256 x 256 x 64 MACs
    macs = 2 * 8 * 256 * 256 * 64
    lanes = [op for op in rep["ops"] if op["kind"] == "matmul"]
    assert len(lanes) == 2 and all(op["unit"] == "core0.vector" for op in lanes)
    peak = 128 + XBAR_MACS  # the lanes' 128 MACs a cycle and the crossbar's
    assert rep["arch"]["peak_macs_per_cycle"] == pytest.approx(peak)
    assert rep["mac_utilization"] == pytest.approx(macs / (rep["total_cycles"] * peak))
    assert rep["mac_utilization"] <= 1  # (was 170.08: the lanes' MACs over the crossbar's 0.655 alone)
    assert rep["roofline"]["peak_flops_per_s"] == pytest.approx(2 * peak * 1.2e9)
    assert all(op["achieved_flops_per_s"] <= rep["roofline"]["peak_flops_per_s"] for op in rep["ops"])
    assert any("ran 67,108,864 MACs on the vector lanes" in n for n in rep["notes"])


def test_the_peak_stays_the_units_where_the_lanes_run_no_macs(cim):
    # the crossbar takes the linear layer: nothing runs on the lanes, the peak is the crossbar's (as info gives)
    rep = simulate({"model": "gemm", "m": 1, "n": 256, "k": 256, "dtype": "fp16"}, load_arch(VDSP_CIM)).to_dict()
    assert rep["ops"][0]["unit"] == "core0.xbar"
    assert rep["arch"]["peak_macs_per_cycle"] == pytest.approx(XBAR_MACS)
    # one MVM: 256 x 256 MACs in at least its 100,000 cycles
    assert rep["mac_utilization"] == pytest.approx(256 * 256 / (rep["total_cycles"] * XBAR_MACS))
    assert not any("on the vector lanes" in n for n in rep["notes"])


# ---- 4, 6. price results report.json cannot hold, cycles out of range ---------------------------------------------
ODD_UNIT = textwrap.dedent('''
    import math
    from fractions import Fraction
    import numpy as np
    from pydantic import BaseModel
    from accelsim.cost import Priced
    from accelsim.hardware import register_unit_kind
    from accelsim.ir import OpKind

    class Spec(BaseModel):
        mode: str = ""

    def accepts(op):
        return 3 if op.kind is OpKind.LINEAR else None

    def macs_per_cycle(spec):
        return 1024

    DETAILS = {"frac": {"util": Fraction(3, 4)}, "set": {"dims": {"m"}}, "nan": {"eff": math.nan},
               "inf": {"eff": [1.0, math.inf]}, "tuple_key": {"by": {(1, 2): 3}}, "obj": {"x": object()},
               "int_key": {"by": {3: 1}}, "none_key": {"by": [{None: 1}]},
               "numpy": {"tiles": np.int64(4), "eff": np.float32(0.5), "shape": (1, 2), "a": np.arange(3)}}

    def price(op, spec, arch):
        if spec.mode == "huge":
            return Priced(10**30, {})
        return Priced(op.macs // 1024, DETAILS.get(spec.mode, {}))

    register_unit_kind("odd_details", Spec, __name__)
''')


@pytest.fixture
def odd(tmp_path, monkeypatch):
    (tmp_path / "odd_details_mod.py").write_text(ODD_UNIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda mode: load_arch({"base": "edge-npu", "plugins": ["odd_details_mod"],
                                  "core": {"units": {"u": {"kind": "odd_details", "mode": mode}}}})
    UNIT_KINDS.pop("odd_details", None)
    sys.modules.pop("odd_details_mod", None)


GEMM = {"model": "gemm", "m": 64, "n": 1024, "k": 1024}


@pytest.mark.parametrize("mode, says", [
    ("frac", "details['util'] = Fraction(3, 4) for op 'gemm', which report.json cannot hold (TypeError: a Fraction "
             "is no JSON value"),
    ("set", "details['dims'] = {'m'} for op 'gemm', which report.json cannot hold (TypeError: a set is no JSON "
            "value"),
    ("nan", "details['eff'] = nan for op 'gemm', which report.json cannot hold (JSON has no NaN or Infinity"),
    ("inf", "details['eff'] = [1.0, inf] for op 'gemm', which report.json cannot hold (JSON has no NaN or Infinity"),
    ("tuple_key", "details['by'] = {(1, 2): 3} for op 'gemm', which report.json cannot hold (key (1, 2) is no string"),
    # json would write 3 as "3" and None as "null": the docs' "str keys" (probe p107 #8)
    ("int_key", "details['by'] = {3: 1} for op 'gemm', which report.json cannot hold (key 3 is no string"),
    ("none_key", "details['by'] = [{None: 1}] for op 'gemm', which report.json cannot hold (key None is no string"),
    ("obj", "details['x'] = <object object at"),
])
def test_details_report_json_cannot_hold_are_one_line_at_the_units_kind(odd, mode, says):
    # they passed the price check, then the run failed writing report.json: "internal error", exit 1
    with pytest.raises(MappingError) as e:
        simulate(GEMM, odd(mode))
    text = str(e.value)
    assert "\n" not in text and "arch.core.units.u.kind: unit kind 'odd_details': odd_details_mod.price gives " in text
    assert says in text


def test_numpy_details_are_held_as_numbers_and_lists(odd):
    # (the check converts as report.json's writer does: NumPy scalars and arrays are numbers and lists)
    rep = json.loads(json_text(simulate(GEMM, odd("numpy")).to_dict()))
    mapping = rep["ops"][0]["mapping"]
    assert mapping["tiles"] == 4 and mapping["eff"] == 0.5 and mapping["shape"] == [1, 2] and mapping["a"] == [0, 1, 2]


def test_bad_details_from_the_command_line_exit_2_at_the_arch_files_line_and_write_no_folder(odd, tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("base: edge-npu\nplugins: [odd_details_mod]\ncore:\n  units:\n"
                                     "    u: {kind: odd_details, mode: frac}\n")
    out = tmp_path / "r"
    assert main(["run", "-w", "gemm", "-a", str(tmp_path / "a.yaml"), "-o", str(out), "--no-plots", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "internal error" not in err
    assert f"{tmp_path / 'a.yaml'}:5: core.units.u.kind: unit kind 'odd_details'" in err  # line 5: u's kind
    assert not out.exists()  # (it was left with only INCOMPLETE)


def test_huge_cycles_are_told_the_real_bound(odd):
    with pytest.raises(MappingError) as e:
        simulate(GEMM, odd("huge"))
    # units.MAX_INT = 2**63 - 1 = 9,223,372,036,854,775,807 (pricing._whole); 10**30 is a whole number ≥ 0, the
    # message said that was what it needed
    assert "cycles a whole number from 0 to 9,223,372,036,854,775,807 (2**63 - 1)" in str(e.value)
    assert 10**30 > 2**63 - 1


# ---- 5. a unit without its kind -------------------------------------------------------------------------------
def test_a_unit_without_kind_is_told_only_the_kinds_core_units_takes(here, capsys):
    (here / "bad.yaml").write_text("name: x\nbase: tpu-v4\ncore:\n  units:\n    u: {lanes: 64}\n")
    assert main(["run", "-w", "gemm", "-a", "bad.yaml", "-o", "r", "--no-plots", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("accelsim: error: bad.yaml:5: core.units.u: give the unit's 'kind' ")
    # (it said "one of systolic, vector", which core.units then refuses: "unknown unit kind 'systolic'")
    assert "one of systolic" not in err and "none is registered: a plug-in module registers one" in err


def test_a_unit_without_kind_lists_the_registered_plug_in_kinds(cim):
    with pytest.raises(Exception) as e:
        load_arch({"base": "tpu-v4", "core": {"units": {"u": {"lanes": 64}}}})
    assert "give the unit's 'kind' (one of cim_crossbar;" in str(e.value)
    assert "one of cim_crossbar, systolic" not in str(e.value)
