"""Probe p185 finding 1: a training step's chips left over by whole data-parallel replicas (the run's note names
them idle) pay their static power only, in ``efficiency.j_per_step`` and a sweep's ``system_energy_j`` alike
(docs/energy.md: "an idle chip pays its static power, not the working chip's dynamic and activity energy")."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.energy.model import step_chips
from accelsim.sweep.store import metrics_from_report, system_energy_j, working_chips

GPT = {"model": "gpt", "mode": "training", "layers": 4, "tensor_parallel": 8}


def _step(chips: int, **params) -> dict:
    return api.simulate({**GPT, **params}, {"base": "dgx-a100", "chips": chips}, plots=False).to_dict()


def test_the_probes_twelve_chips_are_one_tp8_replica_and_four_idle_chips():
    # the probe's command: accelsim run -a dgx-a100 --mode training -w gpt --set workload.layers=4
    # --set workload.tensor_parallel=8 --set arch.chips=12. 12 // 8 = 1 replica of 8 chips, chips 8-11 idle.
    r12, r8 = _step(12), _step(8)
    assert r12["data_parallel"]["replicas"] == 1 and r12["data_parallel"]["chips_per_replica"] == 8
    assert any("4 of the arch's 12 chips (chips 8-11) are idle" in n for n in r12["notes"])
    assert step_chips(r12, 12) == 8 and working_chips(r12, 12) == 8
    # the same replica runs the same step: its one simulated chip's energy and seconds do not depend on the idlers
    total, seconds = r12["energy"]["total_j"], r12["seconds"]
    assert total == pytest.approx(r8["energy"]["total_j"], rel=1e-12)
    assert seconds == pytest.approx(r8["seconds"], rel=1e-12)
    # a100.yaml's idle_power 61 W is an A100's static power (the report covers one chip)
    assert r12["power"]["chips"] == 1 and r12["power"]["static_w"] == pytest.approx(61.0)
    # by hand: 8 working chips x total_j + 4 idle chips x 61 W x seconds. With the probe's figures (total_j 2.6285 J,
    # seconds 8.1024 ms): 8 x 2.6285 = 21.028 J + 4 x 61 x 0.0081024 = 1.977 J = 23.01 J (before: 12 x 2.6285 =
    # 31.54 J, each idle chip charged a working chip's dynamic and activity energy)
    hand = 8 * total + 4 * 61.0 * seconds
    assert r12["efficiency"]["j_per_step"] == pytest.approx(hand, rel=1e-12)
    assert r12["efficiency"]["j_per_step_per_chip"] == pytest.approx(total, rel=1e-12)
    # the sweep's system energy counts the same chips the same way
    assert system_energy_j(r12, 12) == pytest.approx(hand, rel=1e-12)
    assert metrics_from_report(r12)["system_energy_j"] == pytest.approx(hand, rel=1e-12)
    # 8 chips: one whole replica, nobody idle, 8 x total_j
    assert r8["efficiency"]["j_per_step"] == pytest.approx(8 * r8["energy"]["total_j"], rel=1e-12)
    assert system_energy_j(r8, 8) == pytest.approx(8 * r8["energy"]["total_j"], rel=1e-12)


def test_a_pipeline_replica_counts_its_stages_and_leaves_the_rest_idle():
    # TP 4 x PP 2 = 8 chips a replica; on 12 chips one replica and 4 idle. The report covers the 2 stage chips of
    # one tensor-parallel rank (power.chips 2, static_w 2 x 61 W), so the replica is total_j x 8 / 2
    r = _step(12, tensor_parallel=4, pipeline_parallel=2, micro_batches=2)
    assert r["power"]["chips"] == 2 and r["power"]["static_w"] == pytest.approx(2 * 61.0)
    assert step_chips(r, 12) == 8
    hand = r["energy"]["total_j"] * 8 / 2 + 4 * 61.0 * r["seconds"]
    assert r["efficiency"]["j_per_step"] == pytest.approx(hand, rel=1e-12)
    assert system_energy_j(r, 12) == pytest.approx(hand, rel=1e-12)


def test_step_chips_of_a_hand_made_report():
    # 2 replicas of 4 chips on 10 chips: 8 work, 2 idle; a report of one chip, 2 J over 0.1 s at 50 W static
    r = {"energy": {"total_j": 2.0}, "power": {"chips": 1, "static_w": 50.0}, "seconds": 0.1, "phases": {},
         "workload": {"model": "gpt", "params": {}}, "data_parallel": {"replicas": 2, "chips_per_replica": 4}}
    assert step_chips(r, 10) == 8 and step_chips(r, 4) == 4  # never more than the arch's chips
    assert system_energy_j(r, 10) == pytest.approx(8 * 2.0 + 2 * 50.0 * 0.1)  # 17 J (before: 10 x 2 = 20 J)
    # a training report without the record (older files): every chip works, as before
    assert step_chips({"phases": {}}, 10) == 10
