"""Probe p159: the default reference voltage of an arch's own figures (#1), vector FLOPs at the dtype their lanes ran
as (#2), the chip's voltage shown and written with a unit (#5).

Notation (Stillmaker & Baas's fitted energy, tech.ENERGY_POLY): E_n(V) = a·V² + b·V + c.
  E7(0.8) = 0.1776 × 0.64 − 0.09097 × 0.8 + 0.02447 = 0.065358; E7(0.9) = 0.143856 − 0.081873 + 0.02447 = 0.086453
  E45(0.9) = 1.103 × 0.81 − 0.362 × 0.9 + 0.2767 = 0.84433
so a 45 nm 0.9 V figure is ×0.065358 / 0.84433 = 0.077408 at 7 nm and 0.8 V.
"""

from __future__ import annotations

import pytest

from accelsim import config
from accelsim.energy import constants, flop_pricer
from accelsim.energy.model import reference_volts, runs_as

PJ = 1e-12
E7_08 = 0.1776 * 0.64 - 0.09097 * 0.8 + 0.02447  # 0.065358
E7_09 = 0.1776 * 0.81 - 0.09097 * 0.9 + 0.02447  # 0.086453
E45_09 = 1.103 * 0.81 - 0.362 * 0.9 + 0.2767  # 0.84433
FROM_45_TO_7 = E7_08 / E45_09  # 0.077408


def _arch(name: str, *sets: str):
    return config.load_arch(name, list(sets))


def test_a_figure_at_the_chips_own_node_is_taken_as_written():
    # p159 #1: tpu-v4 (7 nm, 0.8 V) with its bf16 MAC stated at 7 nm, 0.98 pJ, and no array overhead: 0.98 pJ, not
    # 0.98 × E7(0.8) / E7(0.9) = 0.98 × 0.756 = 0.741 (the fixed 0.9 V default of the energyv merge)
    arch = _arch("tpu-v4", "energy.reference_node=7nm", "energy.mac_pj={bf16: 0.98}", "energy.mac_overhead=1")
    assert reference_volts(arch.energy) == 0.8
    assert constants(arch).mac_j / PJ == pytest.approx(0.98, rel=1e-12)
    # written at 0.9 V on purpose, it is carried down by that factor: 0.98 × 0.065358 / 0.086453 = 0.7409
    at_09 = _arch("tpu-v4", "energy.reference_node=7nm", "energy.mac_pj={bf16: 0.98}", "energy.mac_overhead=1",
                  "energy.reference_voltage=0.9")
    assert constants(at_09).mac_j / PJ == pytest.approx(0.98 * E7_08 / E7_09, rel=1e-9)
    assert 0.98 * E7_08 / E7_09 == pytest.approx(0.7409, abs=5e-5)  # the probe's printed figure


def test_default_reference_voltage_by_reference_node():
    # 45 nm (the default reference_node, Horowitz's table's node) is read at his 0.9 V; the chip's node and any other
    # node at the chip's voltage (eyeriss-like gives 1.0 V)
    assert reference_volts(_arch("tpu-v4").energy) == 0.9
    assert reference_volts(_arch("eyeriss-like", "energy.reference_node=65nm").energy) == 1.0
    assert reference_volts(_arch("eyeriss-like", "energy.reference_node=28nm").energy) == 1.0
    # a 45 nm chip's own figures at 45 nm are its own: its voltage (scalesim gives 0.9 V; at 0.8 V, 0.8 V)
    assert reference_volts(_arch("scalesim-32x32", "energy.voltage=0.8").energy) == 0.8
    # the built-in 45 nm figures stay 0.9 V ones whatever reference_voltage says: tpu-v4's preset bf16 MAC,
    # 1.4818 pJ (Horowitz's bf16 multiply by significand bits plus the fp32 add) × 0.077408 × 8.54 = 0.9796 pJ
    for sets in ((), ("energy.reference_voltage=0.8",), ("energy.reference_node=7nm",)):
        assert constants(_arch("tpu-v4", *sets)).mac_j / PJ == pytest.approx(0.9796, abs=1e-4)


def test_voltage_takes_a_unit():
    # p159 #5: "1V" and "800mV" as "65nm" and "75W" are: eyeriss-like's own 1.0 V written three ways
    a = constants(_arch("eyeriss-like")).mac_j
    assert constants(_arch("eyeriss-like", "energy.voltage=1V")).mac_j == a
    assert constants(_arch("eyeriss-like", "energy.voltage=1000mV")).mac_j == a
    assert _arch("tpu-v1", "energy.reference_voltage=800mV").energy.reference_voltage == pytest.approx(0.8)


def test_voltage_with_a_bad_unit_is_one_line_exit_2(capsys):
    from accelsim.cli import main

    for bad in ("2V", "500mV", "1kV", "1 volt"):
        assert main(["info", "eyeriss-like", "--set", f"arch.energy.voltage={bad}"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "arch.energy.voltage" in err and "Traceback" not in err


def test_info_and_report_show_node_and_voltage(tmp_path, capsys):
    from accelsim.cli import main

    assert main(["info", "eyeriss-like"]) == 0
    assert "at 65 nm and 1 V" in capsys.readouterr().out
    assert main(["info", "h100"]) == 0
    assert "at 5 nm and 0.8 V" in capsys.readouterr().out
    import json

    assert main(["run", "-w", "softmax", "-a", "eyeriss-like", "-o", str(tmp_path), "--quiet"]) == 0
    energy = json.loads((tmp_path / "report.json").read_text())["energy"]
    assert energy["node_nm"] == 65 and energy["voltage_v"] == 1.0


def test_tpu_vector_lanes_run_fp32_as_fp32():
    # p159 #2(b): the VPU lists no rates; the MXU's fp32 -> bf16 (JAX's default matmul precision) is not its lanes'.
    # Horowitz's fp32 multiply 3.7 + fp32 add 0.9 = 4.6 pJ a FMA at 45 nm, half a FLOP: 2.3 × 0.077408 = 0.17804 pJ
    # (it was bf16's: (1.1 x (8/11)^2 + 0.9) / 2 x 0.077408 = 0.0574)
    arch = _arch("tpu-v4")
    assert runs_as(arch, "fp32") == "fp32"
    assert constants(arch, "fp32").vector_j / PJ == pytest.approx(2.3 * FROM_45_TO_7, rel=1e-9)
    # one-dtype arrays (no rates) still run the lanes at the arch's dtype (probe p152 #4), and an integer-only
    # chip's rates stand for its lanes too (tpu-v1 has no floating-point hardware)
    assert runs_as(_arch("gemmini"), "bf16") == "int8"
    assert runs_as(_arch("tpu-v1"), "fp32") == "int16"


def test_vector_rows_are_priced_at_their_runs_as():
    # p159 #2(a): a vector row of an fp16 run on h100 that its lanes ran as fp32 (the SDXL VAE's upcast rows:
    # mapping.rate {'dtype': 'tf32', 'runs_as': 'fp32'}) is charged fp32's FLOP: 2.3 pJ at 45 nm × E5(0.8)/E45(0.9)
    # (5 nm by √node from 7 nm: 0.077408 × √(5/7) = 0.065422) = 0.15047 pJ, not fp16's (1.1 + 0.9)/2 × 0.065422
    arch = _arch("h100")
    c = constants(arch, "fp16")
    from_45_to_5 = FROM_45_TO_7 * (5 / 7) ** 0.5
    price = flop_pricer(c, arch)
    fp32_row = {"unit": "core*.vector (132)", "mapping": {"rate": {"dtype": "tf32", "runs_as": "fp32"}}}
    fp16_row = {"unit": "core*.vector (132)", "mapping": {"rate": {"dtype": "fp16", "runs_as": "fp16"}}}
    assert price(fp32_row) / PJ == pytest.approx(2.3 * from_45_to_5, rel=1e-9)
    assert price(fp16_row) / PJ == pytest.approx(1.0 * from_45_to_5, rel=1e-9)
    # a row on the tensor cores keeps the run's vector figure (its epilogue FLOPs)
    gemm_row = {"unit": "core*.tensor (132)", "mapping": {"rate": {"dtype": "fp32", "runs_as": "tf32"}}}
    assert price(gemm_row) == c.vector_j
