"""The energy accounting's speed-ups change no number (issue 13: it adds under 10 % to benchmarks/speed.py).

``constants`` is reused for the same or an equal Arch and dtype, never for a different one; ``_energy``'s inlined
loop gives every op row what :func:`op_energy` gives it; the peak window ignores idle tasks with or without copies.
"""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.energy import constants, op_energy, peak_dynamic_power
from accelsim.energy.tech import mac_45nm

# a made-up chip at 45 nm (no node scaling), 1 GHz, with a MAC energy written out: 2 pJ per fp16 MAC
TINY = {"name": "tiny-speed", "clock": "1GHz", "dtype": "fp16", "cores": 1,
        "core": {"systolic": {"rows": 4, "cols": 4}, "vector": {"lanes": 16}, "sram": {"unified": "8KiB"}},
        "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "energy_per_bit": 4.0},
        "energy": {"node": "45nm", "idle_power": "0.5W", "mac_pj": {"fp16": 2.0}}}


def test_constants_are_reused_for_an_equal_arch_and_recomputed_for_a_different_one():
    a, b = load_arch(TINY), load_arch(TINY)  # the same preset loaded twice: equal, not the same object
    assert a is not b and a == b
    assert constants(a) is constants(b)
    assert constants(a).mac_j == pytest.approx(2.0e-12)
    # one energy figure changed: 3 pJ per MAC, and mac_overhead 2 doubles it (docs/energy.md): 6 pJ
    c = load_arch({**TINY, "energy": {**TINY["energy"], "mac_pj": {"fp16": 3.0}, "mac_overhead": 2}})
    assert constants(c).mac_j == pytest.approx(6.0e-12)
    assert constants(a).mac_j == pytest.approx(2.0e-12)  # a's entry is still a's
    # the dtype is part of the key: int8 has no mac_pj here, so Horowitz's int8 MAC (0.2 + 0.1 pJ at 45 nm)
    assert constants(a, "int8").mac_j == pytest.approx(mac_45nm("int8")[0] * 1e-12) == pytest.approx(0.3e-12)
    assert constants(a, "fp16").mac_j == pytest.approx(2.0e-12)
    many = [load_arch({**TINY, "energy": {**TINY["energy"], "mac_pj": {"fp16": 1.0 + i}}}) for i in range(10)]
    assert [constants(x).mac_j for x in many] == pytest.approx([(1.0 + i) * 1e-12 for i in range(10)])
    assert constants(a).mac_j == pytest.approx(2.0e-12)  # evicted by ten others, then computed again


def test_each_row_energy_is_what_op_energy_gives_it():
    rep = accelsim.simulate("lenet5", "gemmini").to_dict()
    c = constants(load_arch("gemmini"), rep["workload"].get("dtype"))
    assert {row["unit"] for row in rep["ops"]} >= {"none", "core0.systolic0", "core0.vector"}  # every branch
    for row in rep["ops"]:
        compute, _, levels = op_energy(row, c)
        assert row["energy_j"] == compute + sum(levels.values())  # exactly: the same additions in the same order
    assert rep["energy"]["mac_j"] == sum(op_energy(row, c)[1] for row in rep["ops"])


def test_idle_tasks_do_not_change_the_peak():
    # two ops of 1 J and 3 J; op 0 busy cycles 0-10, op 1 cycles 10-20, a run of 20 cycles at 1 Hz: the window is
    # 1 % of the run but at least one cycle (1 s); one inside op 1 draws 3 J / 10 cycles × 1 cycle = 0.3 J: 0.3 W
    op_j = np.array([1.0, 3.0])
    busy = peak_dynamic_power(op_j, np.array([0, 1]), np.array([0, 10]), np.array([10, 10]), 20, 1.0)
    assert busy == pytest.approx(0.3)
    with_idle = peak_dynamic_power(op_j, np.array([0, 1, 1]), np.array([0, 10, 5]), np.array([10, 10, 0]), 20, 1.0)
    assert with_idle == busy


def test_the_speed_benchmark_times_a_run_without_energy_and_puts_everything_back():
    import importlib.util
    from pathlib import Path

    from accelsim.config import load
    from accelsim.energy import model
    from accelsim.report import summary

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("speed_bench", path)
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    before = (load.arch_from_doc, summary.account)
    timer = speed._EnergyTimer()
    *_, without = timer.run("gcn_ogbn_products_tpu_v4", energy=False)
    assert without["energy"] is None and without["area"] is None  # the arch's energy block was removed
    assert (load.arch_from_doc, summary.account) == before
    wall, cpu, with_energy = timer.run("gcn_ogbn_products_tpu_v4", energy=True)
    assert with_energy["energy"]["total_j"] > 0 and with_energy["total_cycles"] == without["total_cycles"]
    assert 0 < timer.seconds < wall  # the time inside account is part of the run's
    assert summary.account is model.account and load.arch_from_doc is before[0]


def test_no_busy_task_means_no_dynamic_peak():
    none = np.zeros(0, dtype=np.int64)
    assert peak_dynamic_power(np.array([1.0]), none, none, none, 20, 1.0) == 0.0  # no task at all
    idle = np.array([0])
    assert peak_dynamic_power(np.array([1.0]), idle, idle, np.array([0]), 20, 1.0) == 0.0  # only an idle one
