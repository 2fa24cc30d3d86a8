"""Probe p90: what the reports add up around expert parallelism. An MoE's expert_parallel chips each route a batch
of their own, as the simulated chip does (docs/configuration.md), so they are working chips of one replica."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.sweep.store import metrics_from_report

# Mixtral-8x7B, 2 of its 32 layers, one decode step at 256 cached tokens (the probe's mixexp.yaml)
MIX = ["phase=decode", "kv_len=256", "attention=fused", "layers=2"]


def _run(chips: int, tp: int, ep: int, batch: int = 1) -> dict:
    work = load_workload("mixtral_8x7b", [*MIX, f"tensor_parallel={tp}", f"expert_parallel={ep}", f"batch={batch}"])
    return simulate(work, {"base": "dgx-h100", "chips": chips}, plots=False).to_dict()


def test_the_sweeps_system_energy_counts_every_expert_parallel_chip():
    # p90 #1: EP 8 on a DGX H100's 8 chips: every chip holds 1 of the 8 experts and routes a batch of its own, doing
    # the simulated chip's work, so the system's energy is 8 x the one chip's report (power.chips 1), no chip idle
    # (before: 1 x energy + 7 idle chips' static energy, 0.586 J against 8 x 0.2817 = 2.25 J)
    ep8 = _run(8, 1, 8)
    assert ep8["power"]["chips"] == 1
    assert metrics_from_report(ep8)["system_energy_j"] == pytest.approx(8 * ep8["energy"]["total_j"], rel=1e-12)
    # TP 4 x EP 2 = 8 working chips on 12: 8 x the chip's energy plus the 4 idle chips' static power over the run
    mixed = _run(12, 4, 2)
    idle = 4 * mixed["power"]["static_w"] * mixed["seconds"]
    assert metrics_from_report(mixed)["system_energy_j"] == pytest.approx(8 * mixed["energy"]["total_j"] + idle,
                                                                           rel=1e-12)

