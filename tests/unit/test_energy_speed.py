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
from accelsim.energy.profile import COMPUTE_PART, task_pools, window_energy
from accelsim.energy.tech import mac_45nm

# a made-up chip at 45 nm (no node scaling), 1 GHz, with a MAC energy written out: 2 pJ per fp16 MAC
TINY = {"name": "tiny-speed", "clock": "1GHz", "dtype": "fp16", "cores": 1,
        "core": {"systolic": {"rows": 4, "cols": 4}, "vector": {"lanes": 16}, "sram": {"unified": "8KiB"}},
        "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "energy_per_bit": 4.0},
        # voltage 0.9: the figures are read at 45 nm and 0.9 V, Horowitz's table's (probe p152 #1), as written
        "energy": {"node": "45nm", "idle_power": "0.5W", "mac_pj": {"fp16": 2.0}, "voltage": 0.9}}


def test_constants_are_reused_for_an_equal_arch_and_recomputed_for_a_different_one():
    a, b = load_arch(TINY), load_arch(TINY)  # the same preset loaded twice: equal, not the same object
    assert a is not b and a == b
    assert constants(a) is constants(b)
    assert constants(a).mac_j == pytest.approx(2.0e-12, rel=1e-6, abs=0)
    # one energy figure changed: 3 pJ per MAC, and mac_overhead 2 doubles it (docs/energy.md): 6 pJ
    c = load_arch({**TINY, "energy": {**TINY["energy"], "mac_pj": {"fp16": 3.0}, "mac_overhead": 2}})
    assert constants(c).mac_j == pytest.approx(6.0e-12, rel=1e-6, abs=0)
    assert constants(a).mac_j == pytest.approx(2.0e-12, rel=1e-6, abs=0)  # a's entry is still a's
    # the dtype is part of the key: int8 has no mac_pj here, so Horowitz's int8 MAC (0.2 + 0.1 pJ at 45 nm)
    assert constants(a, "int8").mac_j == pytest.approx(mac_45nm("int8")[0] * 1e-12, rel=1e-6, abs=0) == pytest.approx(0.3e-12, rel=1e-6, abs=0)
    assert constants(a, "fp16").mac_j == pytest.approx(2.0e-12, rel=1e-6, abs=0)
    many = [load_arch({**TINY, "energy": {**TINY["energy"], "mac_pj": {"fp16": 1.0 + i}}}) for i in range(10)]
    assert [constants(x).mac_j for x in many] == pytest.approx([(1.0 + i) * 1e-12 for i in range(10)], rel=1e-6, abs=0)
    assert constants(a).mac_j == pytest.approx(2.0e-12, rel=1e-6, abs=0)  # evicted by ten others, then computed again


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


def test_each_part_of_an_ops_energy_is_drawn_by_the_tasks_that_spend_it():
    # one op: 10 J of compute, 2 J of HBM bytes and 1 J at a level none of its tasks serves (the l2 column); at 1 Hz,
    # a run of 120 cycles: LOAD on HBM cycles 0-20, COMPUTE 10-110, STORE on HBM 100-120
    compute_j, level_j = np.array([10.0]), np.array([[2.0, 1.0]])  # columns: hbm, l2
    task_op, part = np.array([0, 0, 0]), np.array([1, COMPUTE_PART, 1])
    start, occ = np.array([0, 10, 100]), np.array([20, 100, 20])
    pool_j, pool, index = task_pools(compute_j, level_j, task_op, part, occ)
    # pools: compute 10 J, hbm 2 J, l2 0 J (no task of its own), and the op's leftover 1 J over all three tasks
    assert list(pool_j) == [10.0, 2.0, 0.0, 1.0]
    assert list(pool) == [1, 0, 1, 3, 3, 3] and list(index) == [0, 1, 2, 0, 1, 2]
    # while load and compute overlap (cycles 10-20): 10 J / 100 + 2 J / 40 busy HBM cycles, and each of the two
    # tasks 1 J / 140 busy cycles of the leftover: 0.1 + 0.05 + 0.0143 J per cycle; the window (1 % of the run,
    # 1.2 cycles) fits inside: that is the peak. The op's 13 J spread over all its busy cycles (the rule before)
    # drew 2 × 13 / 140 = 0.186 J per cycle there
    peak = peak_dynamic_power(pool_j, pool, start[index], occ[index], 120, 1.0)
    assert peak == pytest.approx(10 / 100 + 2 / 40 + 2 * 1 / 140)
    # every joule is drawn once: 120 one-cycle windows add up to the op's 13 J
    spent = window_energy(pool_j, pool, start[index], occ[index], np.arange(120.0), 1.0)
    assert spent.sum() == pytest.approx(13.0)
    # a task busy for no cycle draws nothing, and a part whose only task is idle is left to the op's other tasks
    pool_j, pool, index = task_pools(compute_j, level_j, task_op, part, np.array([0, 100, 20]))
    assert list(pool_j) == [10.0, 2.0, 0.0, 1.0] and 0 not in index


def test_a_compute_bound_gemm_peaks_near_its_average_and_every_window_adds_up(monkeypatch):
    # tpu-v4, 8192³ bf16: its 8 MXUs (2 cores × 4) busy ~99 % of the run, back to back, while HBM loads and stores
    # come in bursts. Drawn by the tasks that spend it, the compute part (MACs and the scratchpad accesses of the
    # arrays) is flat at its J over the arrays' busy time, and the HBM part, one bandwidth server, at most its J over
    # the server's busy time: the peak window draws at most their sum (each a share of the average power divided by
    # its busy fraction, read from the report below), which for this GEMM is within ~16 % of the average
    from accelsim.report import summary

    seen = {}

    def spy(*args):
        seen["args"] = args
        return peak_dynamic_power(*args)

    monkeypatch.setattr(summary, "peak_dynamic_power", spy)
    rep = accelsim.simulate({"model": "gemm", "m": 8192, "n": 8192, "k": 8192, "bias": False}, "tpu-v4").to_dict()
    c = constants(load_arch("tpu-v4"), rep["workload"].get("dtype"))
    seconds, dynamic = rep["seconds"], rep["energy"]["dynamic_j"]
    hbm_j = rep["bytes"]["hbm"] * 8 * c.level_j_per_bit["hbm"]
    compute_j = dynamic - hbm_j  # MACs and the scratchpad (no vector op, no host bytes)
    assert rep["bytes"].get("host", 0) == 0 and {row["unit"].split(".")[1][:8] for row in rep["ops"]} == {"systolic"}
    arrays = min(u for name, u in rep["utilization"].items() if "systolic" in name)
    assert arrays > 0.98  # compute-bound
    bound = compute_j / (arrays * seconds) + hbm_j / (rep["utilization"]["hbm"] * seconds)
    average = dynamic / seconds
    peak = rep["power"]["peak_w"] - rep["power"]["static_w"]  # tpu-v4 draws no activity power
    assert c.activity_w == 0.0
    assert average < peak <= bound * (1 + 1e-9)
    assert bound < 1.17 * average  # the structure's bound: the MXUs' 90.6 % of the energy / 0.988, HBM's 9.4 % / 0.387
    # the energy of 100 windows that tile the run is the run's dynamic energy
    pool_j, pool, start, occ, total, _ = seen["args"]
    spent = window_energy(pool_j, pool, start, occ, np.linspace(0.0, total, 101)[:-1], total / 100)
    assert spent.sum() == pytest.approx(dynamic, rel=1e-9)
